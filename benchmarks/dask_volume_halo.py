"""The Dask door with a Z halo against the single-process volume door, on a generated ZYX
volume with an untrained context model (seed 1): bit equality and the time ratio, both doors
in one process, one torch thread, Dask's synchronous scheduler. ``--dask-first`` swaps the
order (on a shared machine the order matters more than the door). Writes one JSON line to
``--out`` (appended), e.g. docs/results/volumes/dask_halo.json."""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import dask.array as da
import numpy as np
import torch

import n2n
from n2n.models import ModelConfig, build_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--shape", type=int, nargs=3, default=(16, 384, 384))
    parser.add_argument("--tile", type=int, default=128)
    parser.add_argument("--dask-first", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    model = build_model(ModelConfig(channels=1, width=32, depth=4, context=5, residual=True,
                                    linear_output=True), seed=1).eval()
    volume = np.random.default_rng(0).integers(0, 65535, args.shape, dtype=np.uint16)
    runs = {"single": lambda: n2n.denoise_array(volume, model, axes="ZYX", tile=args.tile),
            "dask": lambda: n2n.denoise_dask(
                da.from_array(volume, chunks=(1, *args.shape[1:])), model, axes="ZYX",
                tile=args.tile).compute(scheduler="synchronous")}
    seconds, outputs = {}, {}
    for name in (["dask", "single"] if args.dask_first else ["single", "dask"]):
        start = time.perf_counter()
        outputs[name] = runs[name]()
        seconds[name] = round(time.perf_counter() - start, 1)
    record = {"shape": args.shape, "tile": args.tile, "threads": 1, "order": list(seconds),
              "processor": platform.processor() or platform.machine(), "seconds": seconds,
              "dask_over_single": round(seconds["dask"] / seconds["single"], 2),
              "equal": bool(np.array_equal(outputs["dask"], outputs["single"]))}
    with open(args.out, "a") as f:
        f.write(json.dumps(record) + "\n")
    print(json.dumps(record))


if __name__ == "__main__":
    main()
