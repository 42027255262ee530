"""How much do margins cost ``--model photo --pd 1`` on a large photo? The same mosaic of real
camera crops (as ``default_speed.py`` builds it) denoised with the memory-budget tiles (the
default) and with given larger or smaller cores, interleaved in one process, each result
checked equal to the default's (tiled equals untiled, so any tile gives the same pixels).

Usage: ``python benchmarks/tile_sizes.py CROPS... [--size 4000x3000] [--tiles none,2048,1536]
[--repeats 1] [--threads 2] [--json OUT.json]``
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from default_speed import mosaic, processor

from n2n.inference.spec import InferenceSpec, build_denoiser
from n2n.io.files import write_text_atomic
from n2n.io.images import list_images, read_image


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("crops", nargs="+")
    parser.add_argument("--size", default="4000x3000")
    parser.add_argument("--tiles", default="none,2048,1536")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    width, height = (int(v) for v in args.size.split("x"))
    pixels = mosaic([read_image(p).pixels for p in list_images(args.crops)], height, width)
    tiles = [None if t == "none" else int(t) for t in args.tiles.split(",")]
    runners = {t: build_denoiser(InferenceSpec(model="photo", pd=1, tile=t)) for t in tiles}
    for runner in runners.values():
        runner(pixels[:256, :256])  # loads the model
    best: dict[str, float] = {}
    reference = None
    for _ in range(args.repeats):
        for tile, runner in runners.items():
            start = time.perf_counter()
            out = runner(pixels)
            seconds = time.perf_counter() - start
            reference = out if reference is None else reference
            if not np.array_equal(out, reference):
                raise SystemExit(f"tile {tile}: the result differs from the default's")
            key = "memory budget (default)" if tile is None else f"tile {tile}"
            best[key] = min(best.get(key, float("inf")), seconds)
            print(key, round(seconds, 2), flush=True)
    megapixels = width * height / 1e6
    rows = {k: {"seconds": round(s, 2), "mp_s": round(megapixels / s, 3)}
            for k, s in best.items()}
    print(json.dumps(rows))
    if args.json:
        write_text_atomic(args.json, json.dumps({"processor": processor(), "size": args.size,
                                                 "repeats": args.repeats, "rows": rows},
                                                indent=1) + "\n")


if __name__ == "__main__":
    main()
