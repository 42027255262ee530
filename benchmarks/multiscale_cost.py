"""What the flat-area take-over and --ensemble cost: seconds per image of the automatic
default against ``--no-multiscale`` and ``--ensemble``, interleaved in one process so that the
ratios share the machine's load.

Usage: ``python benchmarks/multiscale_cost.py NOISY_DIR [--limit 10] [--repeats 2]
[--threads 2]``
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from n2n.inference.auto import AutoDenoiser
from n2n.io.images import list_images, read_image


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("noisy", help="a folder of noisy photos (e.g. nam_cbdnet/noisy)")
    p.add_argument("--limit", type=int, default=10)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    images = [read_image(path).pixels for path in list_images([args.noisy])[:args.limit]]
    treatments = {"no-multiscale": AutoDenoiser(multiscale=False), "default": AutoDenoiser(),
                  "ensemble": AutoDenoiser(ensemble=True)}
    for denoiser in treatments.values():
        denoiser(images[0])  # loads the models, warms up
    seconds: dict[str, list[float]] = {name: [] for name in treatments}
    for _ in range(args.repeats):
        for pixels in images:
            for name, denoiser in treatments.items():
                start = time.perf_counter()
                denoiser(pixels)
                seconds[name].append(time.perf_counter() - start)
    base = np.mean(seconds["no-multiscale"])
    print(json.dumps({name: {"s_per_image": round(float(np.mean(s)), 3),
                             "ratio": round(float(np.mean(s) / base), 2)}
                      for name, s in seconds.items()}))


if __name__ == "__main__":
    main()
