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

Where the noise is correlated over 2 pixels too (DSLR photos: the first pass's residual
correlates 0.13-0.52 at lag 2, phone photos 0.02-0.06), ``pd`` 2 leaves blotches in flat
areas and ``pd`` 3 or 4, which would remove them, blurs texture. The rule then also denoises at
:data:`FLAT_PD` and takes their results over where the ``pd`` 2 result is flat
(:mod:`n2n.inference.multiscale`): +0.9 dB on Nam's DSLR photos, where ``pd`` 3 alone wins on
some photos and loses up to 1 dB on textured ones (docs/benchmarks.md, "Camera photos").
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
from scipy import ndimage

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
# noise correlated over 2 px: the pd-2 residual's lag-2 correlation in flat areas above this
# (phone photos: 0.02-0.06; DSLR photos 0.13-0.52), then pd 3 and 4 take over flat areas
CORRELATED_LAG2 = 0.1
FLAT_PD = (3, 4)
TEXTURE_WINDOW = 15  # side of the window the local texture is averaged over (px)
FLAT_PIXELS = 0.3  # the flattest 30% of the pixels hold the residual's correlation
NEAR_BOUND = 10.0  # denoised pixels this close to 0 or 255 are left out of it (clipped noise)


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
    flat_pd: tuple[int, ...] = ()  # factors whose results take over flat areas, in turn

    def __str__(self) -> str:
        refine = f" --refine (then {self.refine} at --pd 1)" if self.refine else ""
        return f"{self.model} --pd {self.pd}{refine}{flat_areas(self.flat_pd)} ({self.reason})"

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


def flat_areas(flat_pd: tuple[int, ...]) -> str:
    """', flat areas from --pd 3 and 4' (nothing without factors): how reports say it."""
    return f", flat areas from --pd {' and '.join(map(str, flat_pd))}" if flat_pd else ""


def short_label(model: str, pd: int, refine: str | None = None,
                flat_pd: tuple[int, ...] | list[int] = ()) -> str:
    """A treatment in a table: 'camera pd 2 + photo', with ', flat areas pd 3, 4'."""
    flat = f", flat areas pd {', '.join(map(str, flat_pd))}" if flat_pd else ""
    return f"{model} pd {pd}" + (f" + {refine}" if refine else "") + flat


def texture_energy(image: np.ndarray) -> np.ndarray:
    """(H, W) local texture of an (H, W, C) 0..255 image: the squared gradient of its channel
    mean, averaged over :data:`TEXTURE_WINDOW` pixels (0 on flat areas, hundreds on edges)."""
    gray = np.asarray(image, np.float32).mean(axis=2)
    dx = np.diff(gray, axis=1, append=gray[:, -1:])
    dy = np.diff(gray, axis=0, append=gray[-1:])
    return ndimage.uniform_filter(dx * dx + dy * dy, TEXTURE_WINDOW)


def residual_lag2(noisy: np.ndarray, denoised: np.ndarray) -> float:
    """Correlation at 2 pixels of what a first pass removed (``noisy - denoised``, (H, W, C)),
    over the flattest :data:`FLAT_PIXELS` of the pixels, where it is noise (pixels within
    :data:`NEAR_BOUND` of 0 or 255 left out); NaN when nothing was measurable (an image under
    3 px, a noiseless or an all-saturated one)."""
    noisy = np.asarray(noisy, np.float32)
    residual = noisy - denoised
    texture = texture_energy(denoised)
    if min(texture.shape) < 3:
        return math.nan
    # where the scene lies near 0 or 255 the noise is clipped, cut or gone: never counted as
    # flat (a blown-out sky left in made phone photos look correlated over 2 px)
    bound = np.any((denoised < NEAR_BOUND) | (denoised > 255 - NEAR_BOUND), axis=2)
    flat = (texture <= np.quantile(texture, FLAT_PIXELS)) & ~bound
    across, down = flat[:, :-2] & flat[:, 2:], flat[:-2] & flat[2:]  # flat pixel pairs
    a = np.concatenate([residual[:, :-2][across], residual[:-2][down]]).ravel()
    b = np.concatenate([residual[:, 2:][across], residual[2:][down]]).ravel()
    if a.size < 2:
        return math.nan
    a, b = a - a.mean(), b - b.mean()
    scale = math.sqrt(float(np.mean(a * a)) * float(np.mean(b * b)))
    return float(np.mean(a * b)) / scale if scale > 1e-12 else math.nan


def with_flat_pd(treatment: Treatment, lag2: float) -> Treatment:
    """``treatment`` (a pd-2 one) with :data:`FLAT_PD` taking over flat areas where the noise
    is correlated over 2 pixels (``lag2``, :func:`residual_lag2`, above
    :data:`CORRELATED_LAG2`); else as it is."""
    if not lag2 > CORRELATED_LAG2:
        return treatment
    return replace(treatment, flat_pd=FLAT_PD,
                   reason=f"{treatment.reason}; residual correlated over 2 px too: {lag2:.2f}, "
                   f"above {CORRELATED_LAG2:g}")


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
