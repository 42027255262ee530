"""Which model the automatic rule gives gray captures, and what it costs or gains: the default
(``auto``) against ``confocal`` and ``photo-plus`` on gray images with added noise, scored
against the images themselves.

* a microscopy modality the fluorescence model never saw: planes of a light-sheet volume
  (``../shared/data/volumes/lightsheet_nuclei_124x86x94.tif``, each scaled to 0..255 by its
  99.9th percentile; itself mildly noisy, so a test bench) with Poisson-Gaussian noise at the
  FMD confocal level (variance 4.25 x + 1);
* gray photos (Set12) with gaussian noise (the rule must keep photo-plus) and with Poisson
  noise (shot noise on a photo: the rule takes the fluorescence model; measured here).

Usage: ``python benchmarks/microscopy_rule.py --volume VOLUME.tif --photos SET12_DIR
[--planes 20] [--json out.json]``.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

import numpy as np
import tifffile

from n2n.bench.measure import machine
from n2n.data.noise import parse_noise
from n2n.evaluation.scoring import mean_score, noisy_versions, score_pairs
from n2n.inference.spec import InferenceSpec, build_denoiser
from n2n.io.images import list_images, read_image

MODELS = ("auto", "confocal", "photo-plus")


def volume_planes(path: Path, count: int) -> tuple[list[Path], list[np.ndarray]]:
    """``count`` evenly spaced planes of a (Z, Y, X) volume, each (Y, X, 1) on 0..255."""
    volume = tifffile.imread(path).astype(np.float64)
    picks = np.linspace(0, len(volume) - 1, count).astype(int)
    planes = [np.clip(volume[z] / np.percentile(volume[z], 99.9), 0, 1)[..., None] * 255
              for z in picks]
    return [Path(f"{path.name}[z={z}]") for z in picks], [p.astype(np.float32) for p in planes]


def score(names, images, noise: str, seed: int = 0) -> dict:
    """Mean PSNR of each model, and what auto chose, on ``images`` with ``noise`` (clipped to
    0..255, as an 8-bit capture holds it)."""
    row: dict = {"noise": noise, "images": len(images)}
    for model in MODELS:
        denoiser = build_denoiser(InferenceSpec(model, device="cpu"))
        pairs = noisy_versions(names, images, parse_noise(noise), seed, clip=True)
        scores = score_pairs(pairs, denoiser)
        mean = mean_score(scores)
        row[model] = round(mean.psnr, 2)
        row["noisy"] = round(mean.noisy_psnr, 2)
        if model == "auto":
            row["auto_chose"] = dict(Counter(s.treatment["model"] for s in scores))
    print(json.dumps(row), flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--volume", type=Path, required=True)
    parser.add_argument("--photos", type=Path, required=True)
    parser.add_argument("--planes", type=int, default=20)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    names, planes = volume_planes(args.volume, args.planes)
    photos = list_images([args.photos])
    gray = [read_image(p).pixels.mean(axis=2, keepdims=True) for p in photos]
    rows = {"light-sheet planes": score(names, planes, "poisson-gaussian:4.25,1"),
            "Set12 gaussian 25": score(photos, gray, "gaussian:25"),
            "Set12 poisson 30": score(photos, gray, "poisson:30")}
    if args.json:
        args.json.write_text(json.dumps({"machine": machine(), "sets": rows}, indent=1))


if __name__ == "__main__":
    main()
