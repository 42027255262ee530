"""``--model photo --pd 1`` on a real-size photo with the Lite U-Net's tail as before (one
convolution over the concatenation of the features and the input) and as two convolutions
summed (:func:`n2n.models.unet.tail_conv`), interleaved in one process, best of ``--repeats``.

Usage: ``python benchmarks/tail_conv.py CROPS... [--size 4000x3000] [--out FILE.json]``, run
from ``benchmarks/``; ``N2N_BACKEND=torch ONEDNN_MAX_CPU_ISA=AVX2 ATEN_CPU_CAPABILITY=avx2``
holds PyTorch to an AVX2 processor's kernels (ONNX Runtime ignores those variables and would
keep its AVX-512 ones, and runs the plain graph anyway).
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np
import torch
from default_speed import mosaic, processor

from n2n.inference.spec import InferenceSpec, build_denoiser
from n2n.io.images import list_images, read_image
from n2n.models import unet


def concatenated_tail(layer: torch.nn.Conv2d, h: torch.Tensor, x: torch.Tensor
                      ) -> torch.Tensor:
    """The tail as it was: the full-resolution concatenation, then one convolution."""
    return unet.full_precision(layer, torch.cat([h.to(x.dtype), x], 1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("crops", nargs="+", help="noisy camera crops (files or folders)")
    parser.add_argument("--size", default="4000x3000")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", help="JSON file (default: print only)")
    args = parser.parse_args()
    width, height = (int(v) for v in args.size.split("x"))
    pixels = mosaic([read_image(p).pixels for p in list_images(args.crops)], height, width)
    denoiser = build_denoiser(InferenceSpec(model="photo", pd=1))
    denoiser(pixels[:256, :256])  # loads the model, measures the engine
    tails = {"before": concatenated_tail, "after": unet.tail_conv}
    best, results = dict.fromkeys(tails, float("inf")), {}
    try:
        for _ in range(args.repeats):
            for name, tail in tails.items():
                unet.tail_conv = tail
                start = time.perf_counter()
                results[name] = denoiser(pixels)
                best[name] = min(best[name], time.perf_counter() - start)
    finally:
        unet.tail_conv = tails["after"]
    megapixels = width * height / 1e6
    record = {"processor": processor(), "size": args.size, "engine": denoiser.backend,
              "onednn_max_isa": os.environ.get("ONEDNN_MAX_CPU_ISA"),
              "seconds": {k: round(v, 2) for k, v in best.items()},
              "mp_s": {k: round(megapixels / v, 3) for k, v in best.items()},
              "ratio": round(best["before"] / best["after"], 3),
              "max_difference": float(np.abs(results["before"] - results["after"]).max())}
    print(json.dumps(record))
    if args.out:
        with open(args.out, "w") as f:
            json.dump(record, f, indent=1)


if __name__ == "__main__":
    main()
