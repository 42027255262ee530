"""Inference speed on a volume, in voxels per second, of the three ways to denoise it: a 2-D
model plane by plane, a 2.5-D context model (5 planes in) and a 3-D U-Net (Z tiles with its
halo), on 1 and 2 threads, each through ``n2n.denoise_array(..., axes="ZYX")``. The models are
the light-sheet benchmark's architectures (``benchmarks/context_lightsheet.py``), untrained:
speed does not depend on the weights. Each figure is the best of ``--repeats`` runs, the three
models taking turns, so that a shared machine's load falls on all of them alike; quote them as
ratios to the 2-D model's.

Usage: ``python benchmarks/volume_speed.py VOLUME [--repeats 2] [--json OUT.json]``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import tifffile
import torch

from n2n.bench.measure import machine
from n2n.inference.arrays import denoise_array
from n2n.models import ModelConfig, build_model

MODELS = {
    "2-D per plane": {"width": 32, "depth": 3, "residual": True, "linear_output": True},
    "2.5-D (5 planes)": {"width": 32, "depth": 3, "residual": True, "linear_output": True,
                         "context": 5},
    "3-D U-Net": {"arch": "unet3d", "width": 16, "depth": 3, "z_pool": 1, "residual": True},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("volume", type=Path)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    raw = tifffile.imread(args.volume).astype(np.float32)
    volume = raw / np.percentile(raw, 99.9) * 176.0  # the benchmark's level (FMD's)
    models = {name: build_model(ModelConfig(channels=1, **config), seed=0).eval()
              for name, config in MODELS.items()}
    best = {(name, threads): float("inf") for name in models for threads in (1, 2)}
    for threads in (1, 2):
        torch.set_num_threads(threads)
        for _ in range(args.repeats):
            for name, model in models.items():
                start = time.perf_counter()
                denoise_array(volume, model, axes="ZYX", data_range=255.0)
                best[name, threads] = min(best[name, threads], time.perf_counter() - start)
    result = {"machine": machine(), "volume": str(args.volume), "shape": list(volume.shape),
              "repeats": args.repeats, "voxels_per_second": {}, "ratio_to_2d": {}}
    for (name, threads), seconds in best.items():
        rate = volume.size / seconds
        base = volume.size / best["2-D per plane", threads]
        result["voxels_per_second"].setdefault(name, {})[f"{threads}_threads"] = round(rate)
        result["ratio_to_2d"].setdefault(name, {})[f"{threads}_threads"] = round(rate / base, 3)
    print(json.dumps(result, indent=1))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
