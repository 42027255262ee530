"""Poisson-Gaussian noise models fitted to noise samples: variance = A x + B on the 0..255
scale, from a burst's differences or from one image's diagonal differences in flat areas.
The automatic treatment (:mod:`n2n.evaluation.treatment`) and ``n2n diagnose`` read the same
fit, so that "signal-dependent" means one thing everywhere."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from n2n.errors import N2NError


@dataclass
class NoiseModel:
    """Poisson-Gaussian noise: variance ``a * x + b`` at intensity x (0..255 scale)."""

    a: float
    b: float

    def variance(self, intensity: np.ndarray) -> np.ndarray:
        return np.maximum(self.a * intensity + self.b, 1e-6)

    @property
    def spec(self) -> str:
        """The ``poisson-gaussian:A,B`` noise spec that simulates this noise."""
        return f"poisson-gaussian:{max(self.a, 0):.4g},{max(self.b, 0):.4g}"


@dataclass
class VarianceCurve:
    """Noise variance measured in bins of intensity (the points the model is fitted to)."""

    intensity: list[float]
    variance: list[float]
    count: list[int]
    used: list[bool]  # False: bin left out of the fit (clipped near 0 or 255)



def fit_variance(intensity: np.ndarray, noise: np.ndarray, bins: int = 24,
                 robust: bool = False) -> tuple[NoiseModel, VarianceCurve]:
    """Fit variance = A x + B to noise samples binned by intensity (weighted least squares);
    ``robust`` takes each bin's variance from its median absolute deviation."""
    intensity, noise = intensity.ravel(), noise.ravel()
    edges = np.unique(np.quantile(intensity, np.linspace(0, 1, bins + 1)))
    which = np.clip(np.searchsorted(edges, intensity, side="right") - 1, 0, len(edges) - 2)
    means, variances, counts, flat = [], [], [], 0
    for b in range(len(edges) - 1):
        samples = noise[which == b]
        if len(samples) < 50:
            continue
        variance = float(samples.var())
        if robust:  # the median absolute deviation, unless quantised pixels make it 0
            mad = np.median(np.abs(samples - np.median(samples)))
            variance = float((1.4826 * mad) ** 2) or variance
        if variance <= 1e-9:
            flat += 1
            continue  # a constant bin (e.g. pixels clipped at 0) says nothing about the noise
        variances.append(variance)
        means.append(float(intensity[which == b].mean()))
        counts.append(len(samples))
    if len(means) < 2 and flat:
        raise N2NError("no noise to measure: the pixels do not vary where they should (a "
                       "noise-free, synthetic or saturated image?); diagnose a noisy capture")
    if len(means) < 2:
        raise N2NError("too few pixels to fit the noise (need an image of at least 32x32)")
    x, v, n = np.array(means), np.array(variances), np.array(counts)
    std = np.sqrt(np.maximum(v, 1e-9))
    used = (x - 2 * std > 0) & (x + 2 * std < 255)  # bins whose noise is cut at 0 or 255
    if used.sum() < 2:
        used = np.ones_like(used)
    weights = n[used] / np.maximum(v[used], 1e-6) ** 2  # 1 / variance of a variance estimate
    design = np.stack([x[used], np.ones(used.sum())], axis=1)
    sw = np.sqrt(weights)[:, None]
    (a, b), *_ = np.linalg.lstsq(design * sw, v[used] * sw[:, 0], rcond=None)
    if a < 0:  # no shot noise: a constant variance
        a, b = 0.0, float(np.average(v[used], weights=weights))
    curve = VarianceCurve(x.tolist(), v.tolist(), n.tolist(), used.tolist())
    return NoiseModel(float(a), float(b)), curve



def fit_diagonal(image: np.ndarray, step: int) -> tuple[NoiseModel, VarianceCurve]:
    """Poisson-Gaussian fit from (a - b - c + d) / 2 over squares of side ``step`` (variance
    sigma^2 for noise uncorrelated at that distance), in the flatter half of the image."""
    a, b = image[:-step, :-step], image[:-step, step:]
    c, d = image[step:, :-step], image[step:, step:]
    local = (a + b + c + d) / 4
    smooth = ndimage.gaussian_filter(local, (1.5, 1.5, 0))
    texture = np.hypot(*np.gradient(smooth, axis=(0, 1)))
    flat = texture <= np.quantile(texture, 0.5)  # edges and texture inflate the difference
    return fit_variance(local[flat], ((a - b - c + d) / 2)[flat], robust=True)


def signal_dependent(model: NoiseModel, mean_intensity: float) -> bool:
    """Shot noise dominates: at the image's mean intensity the signal-dependent part of the
    variance (``a x``) exceeds the constant part (``b``), as in fluorescence captures."""
    return model.a * mean_intensity > max(model.b, 0.0)
