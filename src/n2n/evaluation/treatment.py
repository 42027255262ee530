"""The noise statistics the automatic treatment reads (:mod:`n2n.inference.policy` holds the
rule), and the :class:`Treatment` record it produces, as reports print it.

* :func:`measure_noise`: correlated or white. The variance of the diagonal difference
  ``(a - b - c + d) / 2`` over squares of side 2 against side 1, in the image's flattest
  blocks. Planes and pure x^2, y^2 curvature cancel in that difference, so smooth content
  barely moves it; white noise gives 1, noise correlated at 1 pixel much more (2.0-3.1 on SIDD
  phone crops, 2.7-4.4 on Nam's DSLR photos; 0.9-1.7 on CBSD68 with gaussian sigma 5-50).
  For gray images also whether the noise is signal-dependent (shot noise), from the same
  Poisson-Gaussian fit ``n2n diagnose`` makes (:mod:`n2n.evaluation.noise_model`).
* :func:`residual_lag2`: whether what a ``pd`` 2 pass removed is correlated over 2 pixels too
  (DSLR photos: 0.13-0.52 at lag 2 in flat areas, phone photos 0.02-0.06).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
from scipy import ndimage

from n2n.errors import N2NError
from n2n.evaluation.noise_model import fit_diagonal

BLOCK = 16  # side of the blocks the statistic is measured in (px)
FLAT_SHARE = 0.02  # the flattest 2% of the blocks (at least MIN_FLAT) are taken as noise
MIN_FLAT = 16
MAX_BLOCKS = 4096  # blocks sampled evenly over larger images: the cost stays bounded
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
    # gray images: the share of the noise variance that grows with intensity (Poisson-Gaussian
    # fit at the mean intensity; NaN for colour or where nothing could be fitted)
    shot_share: float = math.nan

    @property
    def shot_noise(self) -> bool:
        """Signal-dependent noise dominates (as ``n2n diagnose`` says it): over half of it."""
        return self.shot_share > 0.5

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
    context: int = 1  # a context model's window of planes (each plane with its neighbours)

    def __str__(self) -> str:
        if self.context > 1:
            return (f"the bundled {self.model} model (each plane with a window of "
                    f"{self.context} planes) --pd {self.pd} ({self.reason})")
        refine = f" --refine (then {self.refine} at --pd 1)" if self.refine else ""
        return f"{self.model} --pd {self.pd}{refine}{flat_areas(self.flat_pd)} ({self.reason})"

    def to_json(self) -> dict:
        """Its fields; ``context`` only for a context model, so 2-D records keep their keys."""
        fields = asdict(self)
        if self.context == 1:
            del fields["context"]
        return fields


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
    return NoiseMeasure(ratio, math.sqrt(power2), len(fields), unclipped,
                        shot_share(pixels) if pixels.shape[2] == 1 else math.nan)


def shot_share(pixels: np.ndarray) -> float:
    """The share of an (H, W, 1) image's noise variance, at its mean intensity, that grows with
    intensity: ``a x / (a x + b)`` of the fit variance = a x + b in its flatter half (0 for
    gaussian noise, near 1 for fluorescence captures); NaN where nothing could be fitted."""
    image = np.asarray(pixels, np.float64)
    if min(image.shape[:2]) < 2 * BLOCK:
        return math.nan
    try:
        model, _ = fit_diagonal(image, step=1)
    except N2NError:  # too few distinct intensities (a constant or a binary image)
        return math.nan
    shot = model.a * float(image.mean())
    total = shot + max(model.b, 0.0)
    return shot / total if total > 1e-12 else math.nan


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


def _sample_blocks(pixels: np.ndarray) -> np.ndarray:
    """(N, BLOCK, BLOCK) float32 fields: blocks on a grid, evenly sampled, each channel alone."""
    height, width, channels = pixels.shape
    rows, cols = height // BLOCK, width // BLOCK
    if rows * cols == 0:
        return np.empty((0, BLOCK, BLOCK), np.float32)
    index = np.unique(np.linspace(0, rows * cols - 1, min(rows * cols, MAX_BLOCKS)).astype(int))
    grid = pixels[:rows * BLOCK, :cols * BLOCK].reshape(rows, BLOCK, cols, BLOCK, channels)
    # float64: a float image's outliers (1e30) square without overflowing
    blocks = grid[index // cols, :, index % cols].astype(np.float64)  # (N, BLOCK, BLOCK, C)
    fields = blocks.transpose(0, 3, 1, 2).reshape(-1, BLOCK, BLOCK)
    flat = fields.reshape(len(fields), -1)
    unclipped = np.mean((flat <= 0) | (flat >= 255), axis=1) < 0.02  # cut noise is no noise
    return fields[unclipped] if unclipped.sum() >= MIN_FLAT else fields


def _diagonal_difference(fields: np.ndarray, step: int) -> np.ndarray:
    """(a - b - c + d) / 2 over squares of side ``step``: variance sigma^2 for white noise."""
    return (fields[:, :-step, :-step] - fields[:, :-step, step:]
            - fields[:, step:, :-step] + fields[:, step:, step:]) / 2
