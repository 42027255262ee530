"""The residual check on a stack (a Z-stack or time-lapse TIFF and its denoised result): the
2-D check of :func:`~n2n.evaluation.diagnose.check_residual` on one plane (the middle one by
default), plus what only a stack can show, whether the residuals of neighbouring planes along
Z (else T) correlate: a context model that smeared planes into each other, or noise correlated
between planes, leaves a correlation there that a single plane cannot reveal.

Both files are brought to one scale, the noisy stack's white level (:mod:`n2n.io.values`,
measured on its middle plane for floats): measured on each file apart, a float result's white
would differ from its input's and the residual would carry the difference.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from n2n.data.volumes import context_axis, resolve_axes
from n2n.errors import N2NError
from n2n.evaluation.diagnose import STRUCTURE_THRESHOLD, ResidualCheck, check_residual
from n2n.io.formats import tiff
from n2n.io.formats.registry import known
from n2n.io.formats.tiff_layout import TiffLayout, read_layout, read_plane, read_planes
from n2n.io.values import decision_sample, white_level


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
