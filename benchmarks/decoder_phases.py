"""How much faster are the bundled networks with their decoders' upsampling folded into phase
convolutions (:func:`n2n.models.unet.up_conv`)? Each network alone on one input, the decoder
blocks run as before (nearest upsampling, concatenation, 3x3 convolution: rebuilt here for the
comparison) and as now, under PyTorch eager channels-last and ONNX Runtime float32 (the two
engines n2n-lite chooses between). Interleaved, best of ``--repeats``, so that ratios share the
machine's load; the largest difference between the two is recorded.

Usage: ``python benchmarks/decoder_phases.py [--sides photo=1024,camera=512x4] [--threads 2]
[--repeats 3] [--out docs/results/speed/decoder_phases.json]``
"""

from __future__ import annotations

import argparse
import json
import time
from contextlib import contextmanager
from pathlib import Path

import torch
from torch.nn import functional as F

from n2n.bench.machine_speed import describe
from n2n.inference.backends import OnnxNet
from n2n.io.files import write_text_atomic
from n2n.models.bundled import load_named
from n2n.models.unet import UpBlock


def concatenated(self: UpBlock, h: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
    """The decoder block as it ran before: on the upsampled and concatenated tensor."""
    x = torch.cat([F.interpolate(h, scale_factor=2.0, mode="nearest"), skip], 1)
    for layer in self:
        x = layer(x)
    return x


@contextmanager
def as_before():
    """Decoder blocks run as :func:`concatenated` inside."""
    now = UpBlock.forward
    UpBlock.forward = concatenated
    try:
        yield
    finally:
        UpBlock.forward = now


def engines(net: torch.nn.Module) -> dict[str, object]:
    """Each (engine, formulation) pair's callable; ONNX graphs are exported under each."""
    eager = net.to(memory_format=torch.channels_last)
    with as_before():
        onnx_before = OnnxNet(net)
    onnx_now = OnnxNet(net)

    def eager_before(x: torch.Tensor) -> torch.Tensor:
        with as_before():
            return eager(x)

    return {"torch, before": eager_before, "torch, phases": eager,
            "onnxruntime, before": onnx_before, "onnxruntime, phases": onnx_now}


def measure(name: str, shape: tuple[int, ...], repeats: int) -> dict:
    net = load_named(name).eval().net
    x = (torch.rand(*shape) * 4 - 2).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        runs = engines(net)
        outputs = {k: run(x) for k, run in runs.items()}  # the first call warms up
        best = {k: float("inf") for k in runs}
        for _ in range(repeats):
            for k, run in runs.items():
                start = time.perf_counter()
                run(x)
                best[k] = min(best[k], time.perf_counter() - start)
    pixels = shape[0] * shape[2] * shape[3]
    rows = {k: {"seconds": round(s, 3), "MP_per_s": round(pixels / s / 1e6, 3)}
            for k, s in best.items()}
    for engine in ("torch", "onnxruntime"):
        rows[f"{engine}, phases"]["speedup"] = round(
            best[f"{engine}, before"] / best[f"{engine}, phases"], 2)
        rows[f"{engine}, phases"]["max_difference"] = float(
            (outputs[f"{engine}, before"] - outputs[f"{engine}, phases"]).abs().max())
    return {"input": list(shape), "rows": rows}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sides", default="photo=1024,camera=512x4",
                        help="network=SIDE or network=SIDExBATCH (pd 2 sub-images), "
                        "comma-separated")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    results = {"machine": describe(), "threads": args.threads, "repeats": args.repeats}
    for item in args.sides.split(","):
        name, size = item.split("=")
        side, _, batch = size.partition("x")
        results[name] = measure(name, (int(batch or 1), 3, int(side), int(side)), args.repeats)
        print(name, json.dumps(results[name]["rows"]), flush=True)
    if args.out:
        write_text_atomic(args.out, json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
