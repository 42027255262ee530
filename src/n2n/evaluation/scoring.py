"""Score a denoiser on clean images with seeded synthetic noise, or on EE-559 (noisy, clean)
pairs: PSNR and SSIM of the noisy input and of the output, per image and mean."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from n2n.data.bursts import load_bursts
from n2n.data.ee559 import load_ee559_pairs
from n2n.data.noise import Noise
from n2n.errors import N2NError
from n2n.evaluation.metrics import psnr, ssim
from n2n.evaluation.treatment import short_label
from n2n.io.images import list_images, read_image


@dataclass
class Score:
    name: str
    noisy_psnr: float
    noisy_ssim: float
    psnr: float
    ssim: float
    treatment: dict | None = None  # model, pd and why, where chosen per image


def score_pairs(pairs: Iterable[tuple[str, np.ndarray, np.ndarray]],
                denoise: Callable[[np.ndarray], np.ndarray]) -> list[Score]:
    """Score each (name, noisy, clean) of (H, W, C) 0..255 arrays; a denoiser that chooses a
    treatment per image (its ``last``) has it recorded."""
    scores = []
    for name, noisy, clean in pairs:
        out = denoise(noisy)
        treatment = getattr(denoise, "last", None)
        scores.append(Score(name, psnr(noisy, clean), ssim(noisy, clean), psnr(out, clean),
                            ssim(out, clean), treatment.to_json() if treatment else None))
    return scores


def noisy_versions(paths: Iterable[Path], images: Iterable[np.ndarray], noise: Noise,
                   seed: int, clip: bool = False) -> Iterable[tuple[str, np.ndarray, np.ndarray]]:
    """(name, noisy, clean) with noise drawn from one seeded generator, image after image;
    with ``clip`` the noisy image is clipped to 0..255, as an 8-bit file would hold it (the
    same draws: clipped and unclipped runs score the same noise)."""
    generator = torch.Generator().manual_seed(seed)
    for path, clean in zip(paths, images, strict=True):
        x = torch.from_numpy(clean).permute(2, 0, 1)
        noisy = noise(x, generator)
        yield path.name, (noisy.clamp(0, 255) if clip else noisy).permute(1, 2, 0).numpy(), clean


def clean_pairs(inputs: Sequence[str | Path], noise: Noise, seed: int, clip: bool = False
                ) -> tuple[Iterable[tuple[str, np.ndarray, np.ndarray]], str]:
    """Scoring pairs from clean data, and what they are: one EE-559 ``val_data.pkl`` (its
    noisy images), else clean image files or folders with seeded ``noise`` added."""
    if len(inputs) == 1 and Path(inputs[0]).suffix.lower() == ".pkl":
        return ee559_val_pairs(inputs[0]), "EE-559 val pairs"
    paths = list_images(inputs)
    images = (read_image(p).pixels for p in paths)
    setting = f"{noise.spec}, clipped to 0..255" if clip else noise.spec
    return noisy_versions(paths, images, noise, seed, clip), setting


def ee559_val_pairs(path: str | Path) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
    """(name, noisy, clean) (H, W, C) arrays from an EE-559 ``val_data.pkl``, loaded safely."""
    noisy, clean = load_ee559_pairs(path)
    for i in range(len(noisy)):
        yield (f"{i:05d}", noisy[i].permute(1, 2, 0).float().numpy(),
               clean[i].permute(1, 2, 0).float().numpy())


def reference_pairs(noisy_dir: str | Path, reference_dir: str | Path
                    ) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
    """(name, noisy, reference) from two folders of real captures matched by file name: no
    noise is added, the reference (e.g. the mean of many captures) stands for the clean image."""
    noisy = {p.name: p for p in list_images([noisy_dir])}
    references = {p.name: p for p in list_images([reference_dir])}
    missing = sorted(noisy.keys() - references.keys())
    if missing:
        raise N2NError(f"{Path(noisy_dir) / missing[0]}: no reference of that name in "
                       f"{reference_dir}")
    for name in sorted(noisy):
        x, ref = read_image(noisy[name]).pixels, read_image(references[name]).pixels
        if x.shape != ref.shape:
            raise N2NError(f"{references[name]}: reference of shape {ref.shape} does not match "
                           f"{noisy[name]} ({x.shape})")
        yield name, x, ref


def burst_pairs(root: str | Path, reference_name: str, channels: int | None = None
                ) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
    """(scene/capture, capture, reference): every capture of every scene of a bursts folder
    (see :mod:`n2n.data.bursts`), each scored alone against its scene's reference."""
    for burst in load_bursts(root, reference_name, channels):
        reference = burst.reference.permute(1, 2, 0).numpy()
        for k, capture in enumerate(burst.captures):
            yield f"{burst.name}/{k:03d}", capture.permute(1, 2, 0).numpy(), reference


def mean_score(scores: list[Score]) -> Score:
    def avg(field: str) -> float:
        return float(np.mean([getattr(s, field) for s in scores]))

    return Score("mean", avg("noisy_psnr"), avg("noisy_ssim"), avg("psnr"), avg("ssim"))


def format_table(scores: list[Score]) -> str:
    """A plain-text table with the mean as its last row, and each image's treatment where one
    was chosen per image."""
    width = max(12, *(len(s.name) for s in scores))
    chosen = any(s.treatment for s in scores)
    lines = [f"{'image':<{width}}  noisy PSNR  noisy SSIM  n2n PSNR  n2n SSIM   gain dB"
             + ("  treatment" if chosen else ""), "-" * (width + (70 if chosen else 56))]
    for s in [*scores, mean_score(scores)]:
        row = (f"{s.name:<{width}}  {s.noisy_psnr:10.2f}  {s.noisy_ssim:10.4f}  "
               f"{s.psnr:8.2f}  {s.ssim:8.4f}  {s.psnr - s.noisy_psnr:+8.2f}")
        if s.treatment:
            row += "  " + short_label(s.treatment["model"], s.treatment["pd"],
                                      s.treatment.get("refine"), s.treatment.get("flat_pd", ()))
        lines.append(row)
    return "\n".join(lines)
