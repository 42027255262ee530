"""Where ``--model photo --pd 1`` spends its time on a real-size photo: seconds in all, seconds
inside the network, input pixels its windows read per image pixel, and the minor page faults
taken inside the network, ``--repeats`` times in one process.

The allocator is the process's: compare settings by running this once per setting, e.g.
``THP_MEM_ALLOC_ENABLE=1`` (PyTorch asks Linux for huge pages for blocks of 2 MiB or more) against
``THP_MEM_ALLOC_ENABLE=0``, alternating (docs/guides/speed.md, "Page faults: found, not fixed").

Usage: ``python benchmarks/page_faults.py CROPS... [--size 4000x3000] [--repeats 2]
[--out FILE.json]``, run from ``benchmarks/``; ``N2N_BACKEND=torch ONEDNN_MAX_CPU_ISA=AVX2
ATEN_CPU_CAPABILITY=avx2`` holds PyTorch to an AVX2 processor's kernels.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time

import numpy as np
from default_speed import mosaic, processor

from n2n.inference.spec import InferenceSpec, build_denoiser
from n2n.io.images import list_images, read_image


def faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("crops", nargs="+", help="noisy camera crops (files or folders)")
    parser.add_argument("--size", default="4000x3000")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--out", help="JSON file (default: print only)")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    pixels = mosaic([read_image(p).pixels for p in list_images(args.crops)], height, width)
    denoiser = build_denoiser(InferenceSpec(model="photo", pd=1))
    denoiser(pixels[:256, :256])  # loads the model, measures the engine
    calls: list[tuple[int, float, int]] = []  # per window: input pixels, seconds, faults
    forward = denoiser.model.forward

    def counted(x, *rest, **options):
        start, before = time.perf_counter(), faults()
        out = forward(x, *rest, **options)
        calls.append((int(np.prod(x.shape)) // x.shape[1], time.perf_counter() - start,
                       faults() - before))
        return out

    denoiser.model.forward = counted
    runs = []
    for _ in range(args.repeats):
        calls.clear()
        start = time.perf_counter()
        denoiser(pixels)
        seconds = time.perf_counter() - start
        runs.append({"seconds": round(seconds, 2),
                     "mp_s": round(width * height / 1e6 / seconds, 3),
                     "network_seconds": round(sum(c[1] for c in calls), 2),
                     "windows": len(calls),
                     "read_per_pixel": round(sum(c[0] for c in calls) / (width * height), 3),
                     "page_faults": sum(c[2] for c in calls)})
        print(json.dumps(runs[-1]), flush=True)
    record = {"processor": processor(), "size": args.size, "engine": denoiser.backend,
              "thp_mem_alloc_enable": os.environ.get("THP_MEM_ALLOC_ENABLE"), "runs": runs}
    if args.out:
        with open(args.out, "w") as f:
            json.dump(record, f, indent=1)


if __name__ == "__main__":
    main()
