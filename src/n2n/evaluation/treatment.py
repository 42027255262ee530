"""Which bundled model and pixel-shuffle factor suit an image's noise: the rule behind the
default ``--model auto --pd auto``.

Camera photos carry noise that demosaicking and in-camera processing correlate between
neighbouring pixels; a network trained on white noise leaves it in place unless the image is
pixel-shuffled (``pd`` 2) so that neighbours land in different sub-images. White noise (gaussian,
shot noise of raw captures) is best denoised at full resolution (``pd`` 1). The rule tells them
apart with one cheap statistic, measured in the image's flattest blocks: the variance of the
diagonal difference ``(a - b - c + d) / 2`` over squares of side 2 against side 1. Planes and
pure x^2, y^2 curvature cancel in that difference, so smooth image content barely moves it;
white noise gives 1, noise correlated at 1 pixel gives much more (2.0-3.1 on SIDD phone crops,
2.7-4.4 on Nam's DSLR photos; 0.9-1.7 on CBSD68 with gaussian sigma 5-50). A pixel-shuffled
result is refined by a second model at full resolution (:data:`REFINERS`), which removes the
2-px grid that sub-images denoised apart leave.

``pd`` 3 wins on some DSLR photos and loses on others by up to 1 dB (below the input on
textured ones), with nothing in the noise that tells which in advance, so the rule stops at 2:
every measured camera image ends above its input (docs/benchmarks.md, "Camera photos").
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

AUTO = "auto"
# what 'auto' means: the best measured bundled model for each kind of noise (docs/benchmarks.md)
WHITE_MODEL = "photo-plus"  # at pd 1: above CBM3D on clipped gaussian noise
CAMERA_MODEL = "camera"  # at pd 2, then photo: best of seven candidates on real camera photos
UNCLIPPED_MODEL = "camera"  # at pd 1 for pixels beyond 0..255 (float data): trained on unclipped
# noisy inputs, where photo-plus, which clips its input, lost 0.04-0.10 dB and clips away data
# the full-resolution pass after a pixel-shuffled one; any other model refines its own result.
# photo after camera: +1.1 dB on SIDD over camera alone, +0.2 on Nam, faster than itself
REFINERS = {"camera": "photo", "photo-plus": "photo"}
CORRELATED_RATIO = 1.75  # step-2 / step-1 difference variance above this: correlated noise
BLOCK = 16  # side of the blocks the statistic is measured in (px)
FLAT_SHARE = 0.02  # the flattest 2% of the blocks (at least MIN_FLAT) are taken as noise
MIN_FLAT = 16
MAX_BLOCKS = 4096  # blocks sampled evenly over larger images: the cost stays bounded


@dataclass(frozen=True)
class NoiseMeasure:
    """What the rule reads from an image: ``ratio`` (1 for white noise, well above 2 for
    camera noise; NaN when nothing was measurable) and the noise ``std`` on the 0..255 scale
    from the 2-pixel difference (less attenuated by correlation than the 1-pixel one)."""

    ratio: float
    std: float
    blocks: int  # (block, channel) fields the figures come from
    unclipped: bool = False  # pixels beyond 0..255: noise not clipped as 8-bit files clip it

    @property
    def measured(self) -> bool:
        return math.isfinite(self.ratio)


UNMEASURED = NoiseMeasure(math.nan, math.nan, 0)


@dataclass(frozen=True)
class Treatment:
    """A bundled model (or a model file's name) and a pixel-shuffle factor, with why."""

    model: str
    pd: int
    reason: str
    refine: str | None = None  # the model of a second pass at pd 1 after the pixel-shuffled one

    def __str__(self) -> str:
        refine = f" --refine (then {self.refine} at --pd 1)" if self.refine else ""
        return f"{self.model} --pd {self.pd}{refine} ({self.reason})"

    def to_json(self) -> dict:
        return asdict(self)


def measure_noise(pixels: np.ndarray) -> NoiseMeasure:
    """The rule's statistic for an (H, W, C) image on the 0..255 scale, from at most
    :data:`MAX_BLOCKS` blocks of :data:`BLOCK` pixels (a few milliseconds at any size);
    blocks with pixels clipped at 0 or 255 are left out while enough others remain."""
    pixels = np.asarray(pixels)
    unclipped = bool(pixels.size) and bool(pixels.min() < 0 or pixels.max() > 255)
    fields = _sample_blocks(pixels)
    if len(fields) < 4:
        return NoiseMeasure(math.nan, math.nan, len(fields), unclipped)
    step1, step2 = _diagonal_difference(fields, 1), _diagonal_difference(fields, 2)
    # flatness from the 3-px difference: the most sensitive to image content, the least to
    # the noise's own correlation (short-range in camera photos)
    content = np.mean(_diagonal_difference(fields, 3).reshape(len(fields), -1) ** 2, axis=1)
    flattest = np.argsort(content)[:max(MIN_FLAT, int(len(fields) * FLAT_SHARE))]
    power1 = float(np.mean(step1[flattest] ** 2))
    power2 = float(np.mean(step2[flattest] ** 2))
    ratio = power2 / power1 if power1 > 1e-12 else math.nan  # a constant image: no noise
    return NoiseMeasure(ratio, math.sqrt(power2), len(fields), unclipped)


def resolve_model(model: str | Path, pd: int, unclipped: bool = False) -> str | Path:
    """The model ``model`` names at pixel-shuffle factor ``pd``: ``auto`` is the camera model
    where it pixel-shuffles, at pd 1 the white-noise one (the unclipped-noise one for pixels
    beyond 0..255); any other name is itself."""
    if str(model) != AUTO:
        return model
    if pd > 1:
        return CAMERA_MODEL
    return UNCLIPPED_MODEL if unclipped else WHITE_MODEL


def refiner_of(model: str) -> str:
    """The model that refines ``model``'s pixel-shuffled result: :data:`REFINERS`, else itself."""
    return REFINERS.get(model, model)


def choose_treatment(measure: NoiseMeasure, model: str = AUTO, pd: int | str = AUTO,
                     refine: bool | None = None) -> Treatment:
    """The rule: ``model`` (``auto``: :func:`resolve_model`) at ``pd`` 2, refined, where the
    noise is correlated, else 1. A ``pd`` given as a number wins over the measurement, and so
    does ``refine`` given (None: refined where the rule pixel-shuffles)."""
    if pd != AUTO:
        name = str(resolve_model(model, int(pd)))
        refiner = refiner_of(name) if refine and int(pd) > 1 else None
        return Treatment(name, int(pd), "--pd given", refiner)
    white = str(resolve_model(model, 1, measure.unclipped))
    beyond = ("; pixels beyond 0..255, so a model trained on unclipped noise"
              if measure.unclipped and str(model) == AUTO else "")
    if not measure.measured:
        return Treatment(white, 1, "no noise measured (image too small, constant or clipped)"
                         + beyond)
    figure = f"2-px/1-px difference variance {measure.ratio:.2f}"
    if measure.ratio > CORRELATED_RATIO:
        name = str(resolve_model(model, 2))
        return Treatment(name, 2, f"noise correlated between neighbours, as in camera photos: "
                         f"{figure}, above {CORRELATED_RATIO:g}",
                         None if refine is False else refiner_of(name))
    return Treatment(white, 1, f"spatially white noise: {figure}, white gives 1{beyond}")


def _sample_blocks(pixels: np.ndarray) -> np.ndarray:
    """(N, BLOCK, BLOCK) float32 fields: blocks on a grid, evenly sampled, each channel alone."""
    height, width, channels = pixels.shape
    rows, cols = height // BLOCK, width // BLOCK
    if rows * cols == 0:
        return np.empty((0, BLOCK, BLOCK), np.float32)
    index = np.unique(np.linspace(0, rows * cols - 1, min(rows * cols, MAX_BLOCKS)).astype(int))
    grid = pixels[:rows * BLOCK, :cols * BLOCK].reshape(rows, BLOCK, cols, BLOCK, channels)
    blocks = grid[index // cols, :, index % cols].astype(np.float32)  # (N, BLOCK, BLOCK, C)
    fields = blocks.transpose(0, 3, 1, 2).reshape(-1, BLOCK, BLOCK)
    flat = fields.reshape(len(fields), -1)
    unclipped = np.mean((flat <= 0) | (flat >= 255), axis=1) < 0.02  # cut noise is no noise
    return fields[unclipped] if unclipped.sum() >= MIN_FLAT else fields


def _diagonal_difference(fields: np.ndarray, step: int) -> np.ndarray:
    """(a - b - c + d) / 2 over squares of side ``step``: variance sigma^2 for white noise."""
    return (fields[:, :-step, :-step] - fields[:, :-step, step:]
            - fields[:, step:, :-step] + fields[:, step:, step:]) / 2
