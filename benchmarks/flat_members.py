"""Could the default's flat-area passes skip their refine? The default (camera ``--pd 2``
refined by photo, flat areas from ``--pd 3`` and ``4``, each refined by photo too) against the
same with the ``--pd 3`` and ``4`` members not refined (two photo passes fewer, about a fifth of
the default's cost), PSNR per image on noisy/clean pairs where the rule takes flat areas.

Usage: ``python benchmarks/flat_members.py NOISY_DIR CLEAN_DIR [--limit 25] [--threads 1]
[--json OUT.json]``
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from n2n.bench.measure import machine
from n2n.evaluation.metrics import psnr
from n2n.inference.multiscale import MultiScaleDenoiser
from n2n.inference.policy import TAKE_OVER
from n2n.inference.spec import InferenceSpec, build_denoiser
from n2n.io.files import write_text_atomic
from n2n.io.images import list_images, read_image
from n2n.io.values import decision_sample


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("noisy", type=Path)
    parser.add_argument("clean", type=Path)
    parser.add_argument("--limit", type=int, default=25)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    default = build_denoiser(InferenceSpec())
    rows = {}
    for path in list_images([args.noisy])[:args.limit]:
        noisy, clean = read_image(path).pixels, read_image(args.clean / path.name).pixels
        treatment, _ = default.decide(decision_sample(noisy, spatial=3))
        if not treatment.flat_pd:
            continue
        members = [default.denoiser_for(treatment)] + [
            default.denoiser_for(replace(treatment, pd=pd, refine=None))
            for pd in treatment.flat_pd]
        rows[path.name] = {"default": round(psnr(default(noisy), clean), 4),
                           "unrefined_flat": round(psnr(MultiScaleDenoiser(
                               members, TAKE_OVER)(noisy), clean), 4)}
        print(path.name, rows[path.name], flush=True)
        if args.json:  # after each image: a run cut short keeps what it measured
            write_text_atomic(args.json, json.dumps(
                {"machine": machine(), "rows": rows,
                 "mean_difference": round(float(np.mean(
                     [r["unrefined_flat"] - r["default"] for r in rows.values()])), 4)},
                indent=1) + "\n")


if __name__ == "__main__":
    main()
