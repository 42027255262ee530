"""The plugin's sample: a noisy confocal burst, generated (the same every time) rather than
shipped, so the package carries no image."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

# FMD confocal noise on the 0..255 scale, as `n2n diagnose` fits it on a real 50-capture burst
SHOT, READ = 4.25, -14.3  # variance = SHOT x intensity + READ


def confocal_scene(size: int = 256, seed: int = 0) -> np.ndarray:
    """A clean fluorescence-like scene on 0..255: blurred cells (blobs) and filaments."""
    rng = np.random.default_rng(seed)
    scene = np.zeros((size, size))
    ys, xs = rng.integers(0, size, (2, 40))
    scene[ys, xs] = rng.uniform(0.5, 1.0, 40)
    cells = ndimage.gaussian_filter(scene, 7) * 7 * 7 * 2 * np.pi
    lines = np.zeros((size, size))
    for _ in range(25):
        y, x, angle = *rng.uniform(0, size, 2), rng.uniform(0, np.pi)
        t = np.arange(-60, 60)
        rows = np.clip((y + t * np.sin(angle)).astype(int), 0, size - 1)
        cols = np.clip((x + t * np.cos(angle)).astype(int), 0, size - 1)
        lines[rows, cols] = 1.0
    filaments = ndimage.gaussian_filter(lines, 1.2) * 6
    return np.clip(15 + 150 * cells + 120 * filaments, 0, 235)


def noisy_burst(captures: int = 4, size: int = 256, seed: int = 0) -> np.ndarray:
    """(K, H, W) uint8 captures of one scene with Poisson-Gaussian noise at the FMD level."""
    rng = np.random.default_rng(seed)
    clean = confocal_scene(size, seed)
    std = np.sqrt(np.maximum(SHOT * clean + READ, 1.0))
    noisy = clean + std * rng.standard_normal((captures, size, size))
    return np.clip(np.rint(noisy), 0, 255).astype(np.uint8)


def confocal_burst() -> list[tuple]:
    """napari sample data: the burst as one image layer, captures along the first axis."""
    return [(noisy_burst(), {"name": "confocal burst (synthetic)"}, "image")]
