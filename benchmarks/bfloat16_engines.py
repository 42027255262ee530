"""float32 against bfloat16 autocast for the photo and camera networks, with the processor's own
kernels and held to lower instruction sets, to show where bfloat16 pays and where it is
emulated.

Each setting runs in a fresh process under ``ONEDNN_MAX_CPU_ISA`` (oneDNN's convolutions) and
``ATEN_CPU_CAPABILITY`` (PyTorch's other kernels): ``native``; ``AVX512_CORE``, an AVX-512
processor without AVX512-BF16, where oneDNN emulates bfloat16; ``AVX2``, an AVX2-only
processor (bfloat16 not run: oneDNN offers none). The networks alone, channels-last, photo on
1024 x 1024 and camera on 4 x 512 x 512 (its sub-images at ``--pd 2``), interleaved, best of
``--repeats`` after a warm-up.

Usage: ``python benchmarks/bfloat16_engines.py [--threads 2] [--out FILE.json]``
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import torch

from n2n.bench.machine_speed import processor_flags
from n2n.bench.measure import machine
from n2n.models.bundled import load_bundled

SETTINGS = {"native": {}, "AVX512_CORE": {"ONEDNN_MAX_CPU_ISA": "AVX512_CORE"},
            "AVX2": {"ONEDNN_MAX_CPU_ISA": "AVX2", "ATEN_CPU_CAPABILITY": "avx2"}}
INPUTS = {"photo": (1, 3, 1024, 1024), "camera": (4, 3, 512, 512)}


def measure(repeats: int, bfloat16: bool) -> dict:
    """MP/s of each network here, float32 and (if ``bfloat16``) bfloat16 autocast."""
    speeds = {}
    for name, shape in INPUTS.items():
        net = load_bundled(name).net.eval().to(memory_format=torch.channels_last)
        x = torch.randn(shape, generator=torch.Generator().manual_seed(0))
        seconds = best_seconds(net, x.contiguous(memory_format=torch.channels_last), repeats,
                               bfloat16)
        megapixels = shape[0] * shape[2] * shape[3] / 1e6
        speeds[name] = {engine: round(megapixels / s, 3) for engine, s in seconds.items()}
    return {"kernels": torch.backends.cpu.get_cpu_capability(), "mp_s": speeds}


def best_seconds(net: torch.nn.Module, x: torch.Tensor, repeats: int, bfloat16: bool
                 ) -> dict[str, float]:
    """Best seconds of ``net(x)`` in float32 and (if ``bfloat16``) under bfloat16 autocast,
    interleaved, after a warm-up of each."""
    def in_bfloat16() -> torch.Tensor:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return net(x)

    runs = {"float32": lambda: net(x), **({"bfloat16": in_bfloat16} if bfloat16 else {})}
    best = dict.fromkeys(runs, float("inf"))
    with torch.no_grad():
        for run in runs.values():
            run()
        for _ in range(repeats):
            for engine, run in runs.items():
                start = time.perf_counter()
                run()
                best[engine] = min(best[engine], time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", help="JSON file (default: print only)")
    parser.add_argument("--child", choices=list(SETTINGS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.child:
        print(json.dumps(measure(args.repeats, bfloat16=args.child != "AVX2")))
        return
    results = {}
    for setting, env in SETTINGS.items():
        command = [sys.executable, __file__, "--child", setting, "--threads", str(args.threads),
                   "--repeats", str(args.repeats)]
        done = subprocess.run(command, env={**os.environ, **env}, capture_output=True,
                              text=True, check=True)
        results[setting] = json.loads(done.stdout.splitlines()[-1])
        print(setting, json.dumps(results[setting]))
    record = {**machine(), "flags": processor_flags(), "threads": args.threads,
              "settings": results}
    if args.out:
        with open(args.out, "w") as f:
            json.dump(record, f, indent=1)


if __name__ == "__main__":
    main()
