"""Do graph compilers make the bundled networks faster on this processor? The networks alone
(no tiling, no pixel-shuffle) on one square input, under PyTorch eager channels-last (the
engine n2n-lite runs), TorchScript frozen and optimised for inference
(``torch.jit.optimize_for_inference``), ``torch.compile`` (Inductor, C++ code generation: it
needs a compiler and compiles again for every new tile shape) and ONNX Runtime float32 (the
engine n2n-lite picks where measured faster). Interleaved, best of ``--repeats``, each thread
count in turn, so that ratios share the machine's load; the largest difference from eager and
the compile seconds are recorded too.

Usage: ``python benchmarks/network_compilers.py [--side 512] [--threads 1,2] [--repeats 3]
[--out docs/results/speed/network_compilers.json]``
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from n2n.bench.machine_speed import describe
from n2n.inference.backends import OnnxNet
from n2n.io.files import write_text_atomic
from n2n.models.bundled import load_named

NETWORKS = ("photo", "camera")


def seconds(run, x: torch.Tensor) -> float:
    start = time.perf_counter()
    run(x)
    return time.perf_counter() - start


def candidates(net: torch.nn.Module, x: torch.Tensor) -> dict[str, tuple[object, float]]:
    """Each engine's callable on ``x``'s shape, and the seconds it took to build."""
    eager = net.to(memory_format=torch.channels_last)
    built: dict[str, tuple[object, float]] = {"eager channels-last": (eager, 0.0)}
    for name, build in (
            ("TorchScript optimize_for_inference", lambda: torch.jit.optimize_for_inference(
                torch.jit.freeze(torch.jit.trace(eager, x).eval()))),
            ("torch.compile (Inductor)", lambda: torch.compile(eager, dynamic=False)),
            ("ONNX Runtime float32", lambda: OnnxNet(net))):
        start = time.perf_counter()
        engine = build()
        engine(x)  # the first call compiles
        built[name] = (engine, time.perf_counter() - start)
    return built


def measure(name: str, side: int, repeats: int) -> dict:
    net = load_named(name).eval().net
    x = torch.rand(1, 3, side, side).contiguous(memory_format=torch.channels_last) * 4 - 2
    with torch.inference_mode():
        built = candidates(net, x)
        reference = built["eager channels-last"][0](x)
        best = {k: float("inf") for k in built}
        for _ in range(repeats):
            for key, (engine, _) in built.items():
                best[key] = min(best[key], seconds(engine, x))
        rows = {}
        for key, (engine, build_s) in built.items():
            rows[key] = {"seconds": round(best[key], 4),
                         "speedup": round(best["eager channels-last"] / best[key], 2),
                         "build_s": round(build_s, 1),
                         "max_abs_diff": float((engine(x) - reference).abs().max())}
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", type=int, default=512)
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    result = {"processor": describe(), "side": args.side, "repeats": args.repeats, "runs": {}}
    for threads in (int(t) for t in args.threads.split(",")):
        torch.set_num_threads(threads)
        for name in NETWORKS:
            rows = measure(name, args.side, args.repeats)
            result["runs"][f"{name}, {threads} thread(s)"] = rows
            for key, row in rows.items():
                print(f"{name} {threads}t {key}: {row}", flush=True)
    if args.out:
        write_text_atomic(args.out, json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
