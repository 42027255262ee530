"""Which exact engine is fastest here: the candidates of issue 39's "fastest exact path on every
processor", timed in one process, interleaved, so that ratios share the machine's load.

``speed``: ``denoise_array``-equivalent runs (a :class:`Denoiser` with the memory-budget tiles)
of the bundled ``photo`` network at ``--pd 1`` and ``camera`` at ``--pd 2`` (no refine) on
generated photos of the given sizes, under PyTorch float32 channels-last (the baseline),
PyTorch plain NCHW (``fast=False``) and ONNX Runtime float32, at each of ``--threads``;
each candidate's best of ``--repeats`` runs, interleaved, and its speed-up over the baseline at
the same size and thread count. The largest difference of each candidate's result from the
baseline's is recorded too (float rounding only: every candidate is float32).

Usage: ``python benchmarks/fast_path.py [--sizes 1024x1024,2000x1500] [--threads 2,1]
[--repeats 2] [--out docs/results/speed/fast_path.json]``
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from n2n.bench.machine_speed import describe
from n2n.bench.measure import smooth_photo
from n2n.inference.denoiser import Denoiser
from n2n.io.files import write_text_atomic
from n2n.models.bundled import load_bundled

NETWORKS = {"photo --pd 1": ("photo", 1), "camera --pd 2": ("camera", 2)}
CANDIDATES = {"torch float32 channels-last": {"backend": "torch"},
              "torch float32 NCHW": {"backend": "torch", "fast": False},
              "onnxruntime float32": {"backend": "onnxruntime"}}
BASELINE = "torch float32 channels-last"


def time_candidates(pixels: np.ndarray, name: str, pd: int, repeats: int) -> dict:
    """Best seconds, MP/s, speed-up and largest difference from the baseline per candidate."""
    denoisers = {label: Denoiser(load_bundled(name), "cpu", pd=pd, **options)
                 for label, options in CANDIDATES.items()}
    best, results = dict.fromkeys(denoisers, float("inf")), {}
    for denoiser in denoisers.values():  # warm-up
        denoiser(pixels[:128, :128])
    for _ in range(repeats):
        for label, denoiser in denoisers.items():
            start = time.perf_counter()
            results[label] = denoiser(pixels)
            best[label] = min(best[label], time.perf_counter() - start)
    megapixels = pixels.shape[0] * pixels.shape[1] / 1e6
    return {label: {"seconds": round(seconds, 2), "mp_s": round(megapixels / seconds, 3),
                    "speedup": round(best[BASELINE] / seconds, 2),
                    "max_abs_diff": float(np.abs(results[label] - results[BASELINE]).max())}
            for label, seconds in best.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1024x1024,2000x1500")
    parser.add_argument("--threads", default="2,1")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("docs/results/speed/fast_path.json"))
    args = parser.parse_args()
    record = {"machine": describe("cpu"), "baseline": BASELINE, "rows": []}
    for threads in (int(t) for t in args.threads.split(",")):
        torch.set_num_threads(threads)
        for size in args.sizes.split(","):
            width, height = (int(v) for v in size.split("x"))
            noisy, _ = smooth_photo(height, width)
            for network, (name, pd) in NETWORKS.items():
                row = {"network": network, "size": size, "threads": threads,
                       "started": time.strftime("%H:%M:%S"),
                       "load": Path("/proc/loadavg").read_text().split()[:3],
                       "candidates": time_candidates(noisy, name, pd, args.repeats)}
                record["rows"].append(row)
                print(json.dumps(row), flush=True)
                write_text_atomic(args.out, json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
