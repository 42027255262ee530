"""Peak bytes of activations per input pixel of the bundled networks, per engine: the figures
behind the tile budget (:data:`n2n.inference.tiling.ACTIVATION_BYTES`). Each measurement runs in
a fresh process: the network is loaded and run once on a small input (weights, kernels and
engine warmed up), then once on a ``--side`` square; the growth of the peak resident memory
(``ru_maxrss``) over that second run, divided by its input pixels, is the figure.

Usage: ``python benchmarks/activation_memory.py [--side 1024] [--threads 2]
[--out docs/results/speed/activation_memory.json]``
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
from pathlib import Path

import torch

from n2n.bench.machine_speed import describe
from n2n.io.files import write_text_atomic
from n2n.models.bundled import load_bundled

NETWORKS = ("photo", "camera", "confocal-timelapse")
ENGINES = ("torch channels-last", "torch NCHW", "onnxruntime")


def one(name: str, engine: str, side: int) -> int:
    """Bytes per input pixel of ``name`` under ``engine`` (in this process)."""
    model = load_bundled(name)
    net, planes = model.net.eval(), model.config.channels * model.config.context
    layout = torch.channels_last if engine == "torch channels-last" else torch.contiguous_format
    if engine == "onnxruntime":
        from n2n.inference.backends import OnnxNet

        net = OnnxNet(net)
    else:
        net = net.to(memory_format=layout)
    with torch.inference_mode():
        net(torch.rand(1, planes, 64, 64).contiguous(memory_format=layout))
        x = torch.rand(1, planes, side, side).contiguous(memory_format=layout)
        start = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        net(x)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round((peak - start) * 1024 / side**2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", type=int, default=1024)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--networks", default=",".join(NETWORKS))
    parser.add_argument("--out", type=Path)
    parser.add_argument("--one", nargs=2, metavar=("NETWORK", "ENGINE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.one:
        print(one(*args.one, args.side))
        return
    rows: dict[str, dict[str, int]] = {}
    for name in args.networks.split(","):
        for engine in ENGINES:
            run = subprocess.run([sys.executable, __file__, "--one", name, engine, "--side",
                                  str(args.side), "--threads", str(args.threads)],
                                 capture_output=True, text=True, check=True)
            rows.setdefault(name, {})[engine] = int(run.stdout.split()[-1])
        print(name, rows[name], flush=True)
    result = {"machine": describe(), "side": args.side, "threads": args.threads,
              "bytes_per_input_pixel": rows}
    if args.out:
        write_text_atomic(args.out, json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
