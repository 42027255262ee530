"""The value convention: which value of an array is white, decided once for every door.

Networks and noise statistics work on the 0..255 scale; an array is brought there by dividing by
its white level and multiplying by 255. The white level is

* ``data_range`` where given;
* the dtype's for uint8 (255) and uint16 (65535); other integer types need ``data_range``;
* measured for floats on the decision sample (:func:`decision_sample`): 1.0 where the sample's
  99.9th percentile of |value| is at most :data:`UNIT_FLOATS` (a normalised 0..1 image, noise
  and all), 255 where it is at most :data:`BYTE_FLOATS` (floats on the 8-bit scale), else that
  percentile itself (raw counts of a camera or microscope: 220..2800 in a light-sheet volume).

The decision sample is also what the automatic treatment measures (:mod:`n2n.inference.policy`):
the central :data:`SAMPLE_SIDE` square of the middle plane, so that a stack, a huge image and
each of its strips or chunks are decided alike through every door.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from n2n.errors import N2NError

SAMPLE_SIDE = 1024  # side of the central square of the middle plane that decides
UNIT_FLOATS = 1.5  # floats up to this (99.9th percentile of |value|) are on the 0..1 scale
BYTE_FLOATS = 1.5 * 255  # floats up to this are on the 0..255 scale
PERCENTILE = 99.9  # a few hot pixels or outliers do not set the white level
# float pixels beyond this many white levels are no image values (uninitialised memory, a
# broken conversion): refused, since one of them spreads over the network's whole field of view
ABSURD = 1e6
# white levels beyond these overflow or vanish in float32 once scaled to 0..255 (all-NaN or
# all-black results): refused
WHITE_LIMITS = (1e-30, 1e30)


@dataclass(frozen=True)
class WhiteLevel:
    """The value of white for an array, and how it was found (for the choice line)."""

    value: float
    why: str

    def __str__(self) -> str:
        return f"white {self.value:g} ({self.why})"


def decision_sample(array: np.ndarray, spatial: int = 2) -> np.ndarray:
    """The central :data:`SAMPLE_SIDE` square of the middle plane of ``array`` (..., H, W) or,
    with ``spatial`` 3, (..., H, W, C): every axis before the spatial ones is a plane."""
    lead = array.shape[:array.ndim - spatial]
    return central_square(array[tuple(n // 2 for n in lead)] if lead else array, SAMPLE_SIDE)


def central_square(pixels: np.ndarray, side: int) -> np.ndarray:
    """The central ``side`` x ``side`` part of an (H, W, ...) array (all of a shorter side), as a
    view: a sample of an image that needs no more of it."""
    top, left = max(pixels.shape[0] - side, 0) // 2, max(pixels.shape[1] - side, 0) // 2
    return pixels[top:top + side, left:left + side]


def white_level(dtype: np.dtype | type, sample: np.ndarray | None = None,
                data_range: float | None = None, shape: tuple[int, ...] = (),
                where: str | None = None) -> WhiteLevel:
    """The white level of an array of ``dtype`` (and ``shape``, for messages) whose decision
    sample is ``sample`` (needed for floats without ``data_range``); an N2NError names what is
    wrong (not image pixels, an empty array, an integer type without ``data_range``, values
    beyond float32) and ``where`` the array came from (a file), if given."""
    dtype = np.dtype(dtype)
    kind, name = dtype.kind, f"{dtype} array of shape {tuple(shape)}"
    name = f"{where} ({name})" if where else name
    if kind not in "uif":  # bool, complex, strings, objects
        raise N2NError(f"{name}: not image pixels; give uint8, uint16, another integer type with "
                       "{data_range}, or floats", param="data_range")
    if 0 in shape:
        raise N2NError(f"{name}: the array is empty")
    if data_range is not None:
        return _checked_given(_given(data_range), sample, name)
    if kind == "u" and dtype.itemsize <= 2:
        return WhiteLevel(float(np.iinfo(dtype).max), f"{dtype}")
    if kind in "ui":
        raise N2NError(f"{name}: give {{data_range}}, the value of white (for example 4095 for "
                       "12-bit data); its dtype's range says nothing of the data's",
                       param="data_range")
    level = measured_white(sample)
    if level.value > WHITE_LIMITS[1]:
        raise N2NError(f"{name}: pixel values up to {level.value:.4g} are beyond float32 "
                       f"arithmetic (white at most {WHITE_LIMITS[1]:g}); scale them down first")
    return level


OVER_WHITE = 4.0  # a sample whose 99.9th percentile is this many given whites is a mistake


def _checked_given(white: float, sample: np.ndarray | None, name: str) -> WhiteLevel:
    """A given white level, refused where the decision sample's 99.9th percentile is over
    :data:`OVER_WHITE` times it: ``--data-range 1`` on 8-bit data came back all white."""
    if sample is not None and np.size(sample):
        top = _top(sample)
        if top > OVER_WHITE * white:
            raise N2NError(f"{name}: pixel values reach {top:.4g} (99.9th percentile), over "
                           f"{OVER_WHITE:g} times the given white {white:g}; give the data's "
                           "white level as {data_range}", param="data_range")
    return WhiteLevel(white, "given")


def measured_white(sample: np.ndarray | None) -> WhiteLevel:
    """The white level of float pixels, from their decision sample (see the module)."""
    if sample is None or not np.size(sample):
        return WhiteLevel(1.0, "floats, nothing measured: 0..1")
    top = _top(sample)
    if top <= UNIT_FLOATS:
        return WhiteLevel(1.0, "floats within 0..1")
    if top <= BYTE_FLOATS:
        return WhiteLevel(255.0, "floats on the 0..255 scale")
    return WhiteLevel(float(f"{top:.4g}"), f"floats up to {top:.4g}: their {PERCENTILE:g}th "
                      "percentile")


def _top(sample: np.ndarray) -> float:
    """The :data:`PERCENTILE` th percentile of a sample's finite magnitudes (0 for none)."""
    finite = np.abs(np.asarray(sample, np.float64))
    finite = finite[np.isfinite(finite)]
    return float(np.percentile(finite, PERCENTILE)) if finite.size else 0.0


def _given(data_range: float) -> float:
    try:
        white = float("nan") if isinstance(data_range, (bool, np.bool_)) else float(data_range)
    except (TypeError, ValueError):
        white = float("nan")
    if not (np.isfinite(white) and white > 0):
        raise N2NError(f"{{data_range}} {data_range!r} must be a number above 0",
                       param="data_range")
    if not WHITE_LIMITS[0] <= white <= WHITE_LIMITS[1]:
        raise N2NError(f"{{data_range}} {data_range!r} is beyond float32 arithmetic once scaled "
                       f"to 0..255; give a value from {WHITE_LIMITS[0]:g} to "
                       f"{WHITE_LIMITS[1]:g}", param="data_range")
    return white


def check_float_pixels(array: np.ndarray, white: float, where: str) -> None:
    """Refuse float pixels that are NaN or infinite (with their count) or beyond :data:`ABSURD`
    times the white level, rather than spread them; integer arrays pass."""
    if array.dtype.kind != "f":
        return
    if not np.isfinite(array).all():
        bad = int(np.count_nonzero(~np.isfinite(array)))
        raise N2NError(f"{where}: {bad} pixel(s) are NaN or infinite; mask or fill them first")
    top = float(np.abs(array).max()) if array.size else 0.0
    if top > ABSURD * white:
        raise N2NError(f"{where}: pixel values up to {top:.3g}, over {ABSURD:g} times the white "
                       f"level {white:g}: outliers or a broken conversion; clip or fill them, or "
                       "give {data_range}", param="data_range")
