"""Know the noise before training, and check a result after: ``n2n diagnose``.

* :func:`diagnose_burst` - from K >= 2 aligned captures of one scene, whose differences from
  their mean are pure noise; :func:`diagnose_image` - from one image, using the 2x2 diagonal
  difference (variance) and its flattest blocks (correlation). Both fit a Poisson-Gaussian
  model, variance = A * intensity + B (0..255 scale), measure the noise's spatial
  autocorrelation and recommend a training mode in plain words.
* :func:`check_residual` - what a denoiser removed (noisy - denoised) should look like noise:
  mean near zero, flat autocorrelation, variance as the fitted model predicts, and no image
  structure (no correlation with the denoised image's edges).
* :func:`check_stack_residual` - the same on one plane of a TIFF stack, with the correlation
  of neighbouring planes' residuals along Z (else T), read one plane at a time.

Arrays are (H, W, C) float on the 0..255 scale; bursts are (K, H, W, C).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from scipy import ndimage

from n2n.data.volumes import context_axis, resolve_axes
from n2n.errors import N2NError
from n2n.evaluation.noise_model import (  # noqa: F401  (re-exported: diagnose's vocabulary)
    NoiseModel,
    VarianceCurve,
    fit_diagonal,
    fit_variance,
    signal_dependent,
)
from n2n.io.formats import tiff
from n2n.io.formats.registry import known
from n2n.io.formats.tiff_layout import TiffLayout, read_layout, read_plane, read_planes
from n2n.io.values import decision_sample, white_level

CORRELATION_RADIUS = 3  # lags shown and searched, in pixels
CORRELATION_THRESHOLD = 0.1  # |normalised autocorrelation| above this at a lag = correlated
STRUCTURE_THRESHOLD = 0.1  # |correlation| of a residual with image edges above this = structure


@dataclass
class Diagnosis:
    """What ``n2n diagnose`` reports about one scene's noise."""

    source: str
    noise_model: NoiseModel
    noise_std: float  # sqrt of the model's variance averaged over the image
    curve: VarianceCurve
    correlation: list[list[float]]  # (2R+1)^2 normalised autocorrelation, centre = 1
    correlation_length: int  # largest lag (px) with |correlation| >= threshold; 0 = white
    white: bool
    recommendation: list[str] = field(default_factory=list)
    treatment: dict | None = None  # what 'n2n denoise' would choose for a single image

    def to_json(self) -> dict:
        return asdict(self)


# --------------------------------------------------------------------------- correlation


def autocorrelation(fields: np.ndarray, radius: int = CORRELATION_RADIUS) -> np.ndarray:
    """Normalised autocorrelation at lags -radius..radius of zero-mean (N, H, W) noise fields
    (through the FFT), averaged over the fields; the centre is 1."""
    fields = fields - fields.mean(axis=(1, 2), keepdims=True)
    spectrum = np.abs(np.fft.rfft2(fields)) ** 2
    corr = np.fft.irfft2(spectrum, s=fields.shape[1:]).mean(axis=0)
    corr = np.fft.fftshift(corr)
    cy, cx = corr.shape[0] // 2, corr.shape[1] // 2
    window = corr[cy - radius:cy + radius + 1, cx - radius:cx + radius + 1]
    return window / max(window[radius, radius], 1e-12)


def flat_block_autocorrelation(noise: np.ndarray, block: int = 16, keep: float = 0.25,
                               radius: int = CORRELATION_RADIUS) -> np.ndarray:
    """Autocorrelation of a single image's noise from its flattest blocks: each block minus its
    best-fitting plane is taken as noise; ``keep`` of the blocks, lowest variance first."""
    height, width = noise.shape[:2]
    rows, cols = height // block, width // block
    if rows * cols < 4:
        raise N2NError(f"image of {width}x{height} is too small to measure the noise's "
                       f"correlation (need at least {2 * block}x{2 * block})")
    blocks = noise[:rows * block, :cols * block].reshape(rows, block, cols, block, -1)
    blocks = blocks.transpose(0, 2, 4, 1, 3).reshape(-1, block, block)
    yy, xx = np.mgrid[:block, :block]
    design = np.stack([np.ones(block * block), yy.ravel(), xx.ravel()], axis=1)
    flat = blocks.reshape(len(blocks), -1)
    coeffs, *_ = np.linalg.lstsq(design, flat.T, rcond=None)
    residual = (flat - (design @ coeffs).T).reshape(blocks.shape)
    order = np.argsort(residual.var(axis=(1, 2)))
    chosen = residual[order[:max(4, int(len(order) * keep))]]
    chosen = chosen / np.sqrt(np.maximum(chosen.var(axis=(1, 2), keepdims=True), 1e-9))
    out = np.zeros((2 * radius + 1, 2 * radius + 1))
    for dy in range(-radius, radius + 1):
        for dx in range(-radius, radius + 1):
            a = chosen[:, max(dy, 0):block + min(dy, 0), max(dx, 0):block + min(dx, 0)]
            b = chosen[:, max(-dy, 0):block + min(-dy, 0), max(-dx, 0):block + min(-dx, 0)]
            out[dy + radius, dx + radius] = (a * b).mean()
    return out / out[radius, radius]


def correlation_length(corr: np.ndarray, threshold: float = CORRELATION_THRESHOLD) -> int:
    """The largest lag (Chebyshev distance, px) at which |correlation| reaches ``threshold``."""
    radius = corr.shape[0] // 2
    yy, xx = np.mgrid[-radius:radius + 1, -radius:radius + 1]
    distance = np.maximum(np.abs(yy), np.abs(xx))
    strong = (np.abs(corr) >= threshold) & (distance > 0)
    return int(distance[strong].max()) if strong.any() else 0


# --------------------------------------------------------------------------- diagnosis


def diagnose_burst(captures: np.ndarray, name: str = "burst") -> Diagnosis:
    """Diagnose from K >= 2 aligned captures (K, H, W, C) of one static scene."""
    captures = np.asarray(captures, dtype=np.float64)
    if captures.ndim != 4 or len(captures) < 2:
        raise N2NError(f"{name}: need at least 2 aligned captures (K, H, W, C), got shape "
                       f"{captures.shape}")
    k = len(captures)
    mean = captures.mean(axis=0)
    used = captures[:8]  # enough samples; keeps memory bounded for long bursts
    noise = (used - mean) * np.sqrt(k / (k - 1))  # each capture's deviation from the mean
    model, curve = fit_variance(np.broadcast_to(mean, noise.shape), noise)
    normalised = noise / np.sqrt(model.variance(mean))
    fields = normalised.transpose(0, 3, 1, 2).reshape(-1, *mean.shape[:2])
    corr = autocorrelation(fields[:16])
    return _finish(f"{name}: burst of {k} captures", model, curve, corr, mean, burst=True)


def diagnose_image(image: np.ndarray, name: str = "image", treatment: dict | None = None
                   ) -> Diagnosis:
    """Diagnose from one (H, W, C) image: the variance from diagonal differences in flat
    regions, the correlation from the flattest blocks of the noise-normalised image. Where the
    noise is correlated, the variance is measured again on pixels spaced beyond the correlation
    length, since adjacent correlated pixels cancel part of their noise in a difference."""
    image = np.asarray(image, dtype=np.float64)
    height, width = image.shape[:2]
    if height < 32 or width < 32:
        raise N2NError(f"{name}: image of {width}x{height} is too small to diagnose (need at "
                       "least 32x32)")
    if image.min() == image.max():
        raise N2NError(f"{name}: every pixel is {image.min():g}: a constant image holds no "
                       "noise to measure; diagnose a noisy capture")
    try:
        model, curve = fit_diagonal(image, step=1)
    except N2NError as err:
        raise N2NError(f"{name}: {err}") from None
    local_mean = ndimage.uniform_filter(image, (5, 5, 1))
    corr = flat_block_autocorrelation(image / np.sqrt(model.variance(local_mean)))
    length = correlation_length(corr)
    if length > 0:
        model, curve = fit_diagonal(image, step=min(length, CORRELATION_RADIUS) + 1)
    return _finish(f"{name}: single image", model, curve, corr, image, burst=False,
                   treatment=treatment)


def _finish(source: str, model: NoiseModel, curve: VarianceCurve, corr: np.ndarray,
            intensity: np.ndarray, burst: bool, treatment: dict | None = None
            ) -> Diagnosis:
    length = correlation_length(corr)
    std = float(np.sqrt(model.variance(intensity).mean()))
    diagnosis = Diagnosis(source, model, std, curve, corr.round(4).tolist(), length,
                          length == 0, treatment=treatment)
    diagnosis.recommendation = recommend(diagnosis, float(intensity.mean()), burst)
    return diagnosis


def recommend(d: Diagnosis, mean_intensity: float, burst: bool) -> list[str]:
    """Plain-words advice: how the image will be denoised, which data and mode to train
    with, and why. Correlated noise gets pixel-shuffle factor 2, the automatic rule's
    (:mod:`n2n.inference.policy`): 3 puts some camera photos below their input, whatever
    the correlation length."""
    lines = []
    if signal_dependent(d.noise_model, mean_intensity):
        lines.append(f"Noise is signal-dependent (Poisson-Gaussian, {d.noise_model.spec}): "
                     "brighter pixels are noisier. Train on your own captures rather than "
                     "relying on the bundled gaussian-trained photo model.")
    else:
        lines.append(f"Noise is close to signal-independent (std about {d.noise_std:.2g} on the "
                     "0..255 scale).")
    pd = 2  # for correlated noise, whatever its length (see the docstring)
    if d.treatment:
        refine = d.treatment.get("refine")
        then = f", then {refine} at full resolution (--refine)" if refine else ""
        lines.append(f"n2n denoise (by default) uses {d.treatment['model']} --pd "
                     f"{d.treatment['pd']}{then}: {d.treatment['reason']}.")
        if d.treatment["pd"] == 2:
            lines.append("Where that pass leaves noise correlated over 2 px too (DSLR photos), "
                         "--pd 3 and 4 results take over its flat areas (--no-multiscale: "
                         "not).")
    if burst:
        lines.append("You have aligned captures of the scene: train Noise2Noise on them, "
                     "n2n train RUN --bursts DIR (pairs of captures have independent noise "
                     "whatever its spatial correlation).")
        if not d.white:
            lines.append(f"The noise is spatially correlated (length {d.correlation_length} px): "
                         f"models for single images need --pd {pd}.")
    elif d.white:
        lines.append("The noise is spatially white: with single noisy images, train "
                     "Neighbor2Neighbor (n2n train RUN --mode ne2ne --noisy DIR) or fit one "
                     "image (n2n denoise IMAGE --zero-shot).")
    else:
        lines.append(f"The noise is spatially correlated (length {d.correlation_length} px), as "
                     "camera noise is after demosaicking: Neighbor2Neighbor and zero-shot need "
                     f"pixel-shuffle down-sampling, add --pd {pd} (n2n train RUN --mode ne2ne "
                     f"--noisy DIR --pd {pd}). Captures of the same scene (--bursts) avoid "
                     "the problem altogether.")
    return lines


# --------------------------------------------------------------------------- residual check


@dataclass
class ResidualCheck:
    """Whether noisy - denoised looks like noise, with the figures behind each verdict."""

    mean: float  # mean of the residual (0..255 scale)
    mean_ok: bool
    correlation: list[list[float]]
    correlation_length: int
    white: bool
    variance_ratio: float  # residual variance / the noise model's prediction (median of bins)
    variance_ok: bool
    edge_correlation: float  # correlation of the residual with the denoised image's edges
    structure_ok: bool
    noise_model: NoiseModel
    curve: VarianceCurve  # the residual's variance in bins of denoised intensity
    verdict: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.mean_ok and self.variance_ok and self.structure_ok

    def to_json(self) -> dict:
        return {**asdict(self), "passed": self.passed}


def check_residual(noisy: np.ndarray, denoised: np.ndarray,
                   noise_model: NoiseModel | None = None) -> ResidualCheck:
    """No-reference check of a denoising result; ``noise_model`` defaults to the one fitted
    on ``noisy`` alone (:func:`diagnose_image`)."""
    noisy, denoised = np.asarray(noisy, np.float64), np.asarray(denoised, np.float64)
    if noisy.shape != denoised.shape:
        raise N2NError(f"noisy image {noisy.shape} and denoised image {denoised.shape} differ "
                       "in shape")
    model = noise_model or diagnose_image(noisy).noise_model
    residual = noisy - denoised
    std = float(residual.std())
    mean = float(residual.mean())
    normalised = residual / np.sqrt(model.variance(denoised))
    corr = autocorrelation(normalised.transpose(2, 0, 1))
    length = correlation_length(corr)
    _, curve = fit_variance(denoised, residual)
    predicted = model.variance(np.array(curve.intensity))
    ratio = float(np.median(np.array(curve.variance) / predicted))
    smooth = ndimage.gaussian_filter(denoised, (2, 2, 0))
    edges = (denoised - smooth).ravel()
    edge_corr = float(np.corrcoef(residual.ravel(), edges)[0, 1]) if edges.std() > 0 else 0.0
    check = ResidualCheck(mean, abs(mean) < 0.1 * max(std, 1e-9) + 0.5, corr.round(4).tolist(),
                          length, length == 0, ratio, 0.5 <= ratio <= 1.5, edge_corr,
                          abs(edge_corr) < STRUCTURE_THRESHOLD, model, curve)
    check.verdict = [
        f"mean {mean:+.3f} ({'near zero' if check.mean_ok else 'biased: the output is shifted'})",
        f"variance {ratio:.2f}x the noise model's "
        + ("(consistent)" if check.variance_ok else
           "(too low: noise left in the output)" if ratio < 0.5 else
           "(too high: the denoiser removed more than noise)"),
        "autocorrelation " + ("flat (white)" if check.white else
                              f"not flat (length {length} px: the noise was correlated, or "
                              "structure was removed)"),
        f"correlation with the image's edges {edge_corr:+.3f} "
        + ("(no structure left)" if check.structure_ok else
           "(image structure in the residual: details were removed)"),
    ]
    return check

# --------------------------------------------------------------------------- residual of a stack
# The 2-D check on one plane (the middle one by default), plus what only a stack shows: whether
# the residuals of neighbouring planes along Z (else T) correlate (a context model that smeared
# planes into each other, or noise correlated between planes). Both files are brought to one
# scale, the noisy stack's white level (io/values.py): measured on each file apart, a float
# result's white would differ from its input's and the residual would carry the difference.


@dataclass
class StackResidual:
    """The check of one plane of a stack, and the residual correlation between neighbours."""

    check: ResidualCheck
    residual: np.ndarray  # the checked plane's residual (H, W, 1), 0..255 scale
    plane: int  # in file order
    planes: int
    along: str  # the axis neighbours are taken along (Z, T, or the file's single axis)
    neighbour_correlation: float  # mean correlation of residuals of neighbouring planes

    @property
    def independent(self) -> bool:
        return abs(self.neighbour_correlation) < STRUCTURE_THRESHOLD

    @property
    def passed(self) -> bool:
        return self.check.passed and self.independent

    @property
    def verdict(self) -> list[str]:
        return [*self.check.verdict,
                f"residuals of neighbouring planes along {self.along} correlate "
                f"{self.neighbour_correlation:+.3f} "
                + ("(independent between planes)" if self.independent else
                   "(correlated between planes: planes were smeared into each other, or the "
                   "noise is correlated along the stack)")]

    def to_json(self) -> dict:
        return {**self.check.to_json(), "verdict": self.verdict, "passed": self.passed,
                "stack": {"plane": self.plane, "planes": self.planes, "along": self.along,
                          "neighbour_correlation": self.neighbour_correlation,
                          "independent": self.independent}}


def stack_layout(path: str | Path) -> TiffLayout | None:
    """The layout of a TIFF holding more than one plane, else None (an image)."""
    path = Path(path)
    if known(path) is not tiff.FORMAT:
        return None
    layout = read_layout(path)
    return layout if layout.planes > 1 else None


def check_stack_residual(noisy: str | Path, denoised: str | Path, plane: int | None = None,
                         axes: str | None = None) -> StackResidual:
    """The residual check of ``plane`` (file order; default the middle one) of the stacks
    ``noisy`` and ``denoised``, with the neighbour correlation over the whole stack, read one
    plane at a time. ``axes``: the stack's axes where the file does not say them."""
    noisy, denoised = Path(noisy), Path(denoised)
    first, second = stack_layout(noisy), stack_layout(denoised)
    if first is None or second is None or first.shape != second.shape:
        raise N2NError(f"{noisy} and {denoised}: not two TIFF stacks of one shape "
                       f"({first.shape if first else 'no stack'} and "
                       f"{second.shape if second else 'no stack'})")
    if "S" in first.axes:
        raise N2NError(f"{noisy}: the stack check takes gray planes, not planes of "
                       f"{first.plane_shape[-1]} samples")
    names = resolve_axes(first.axes, len(first.shape), axes, str(noisy))
    leading = first.shape[: names.rindex("Y")]
    axis = context_axis(names, str(noisy))
    plane = first.planes // 2 if plane is None else plane
    if not 0 <= plane < first.planes:
        raise N2NError(f"{{plane}} {plane}: {noisy} has planes 0..{first.planes - 1}",
                       param="plane")
    inner = int(np.prod(leading[axis + 1:], dtype=np.int64))  # planes between neighbours
    held: dict[int, np.ndarray] = {}
    correlations, scale, checked = [], None, None
    for k, (a, b) in enumerate(zip(read_planes(noisy, first), read_planes(denoised, second),
                                   strict=True)):
        if scale is None:  # one white level, the noisy stack's (its middle plane's sample)
            scale = 255.0 / _white(noisy, first)
        a, b = np.asarray(a, np.float64) * scale, np.asarray(b, np.float64) * scale
        held[k] = a - b
        if k == plane:
            checked = (a[..., None], b[..., None])
        previous = held.pop(k - inner, None)
        if previous is not None and np.unravel_index(k, leading)[axis] > 0:
            correlations.append(_correlation(previous, held[k]))
    check = check_residual(*checked)
    return StackResidual(check, checked[0] - checked[1], plane, first.planes,
                         names[axis] if names[axis] not in "QI" else "its first axis",
                         round(float(np.mean(correlations)), 4) if correlations else 0.0)


def _white(path: Path, layout: TiffLayout) -> float:
    middle = np.asarray(read_plane(path, layout, layout.planes // 2))
    sample = decision_sample(middle[..., None], spatial=3)
    return white_level(layout.dtype, sample, None, layout.shape).value


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a - a.mean(), b - b.mean()
    norm = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / norm) if norm > 0 else 0.0
