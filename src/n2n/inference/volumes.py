"""Windows of neighbouring planes for a context model (:mod:`n2n.models.context`): each plane
of a volume or time-lapse denoised with the ``context`` planes around it along the context axis
(Z, else T; :mod:`n2n.data.volumes`), mirrored at the ends of the stack.

Planes are read through a function of their index in file order, and only the planes that a
window still needs are held: memory is bounded by the window (``context`` planes, times the
planes of the axes inside the context axis where the file interleaves them) and the
denoiser's tile, not by the stack.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

from n2n.data.volumes import context_axis, resolve_axes, window_indices
from n2n.errors import N2NError

Reader = Callable[[int], np.ndarray]  # plane index in file order -> (H, W, C) plane


def denoiser_context(denoiser: object) -> int:
    """The planes a denoiser's model reads in a window; 1 for a 2-D model (or anything else)."""
    return int(getattr(denoiser, "context", 1) or 1)


def stack_axes(leading: tuple[int, ...], found: str | None, given: str | None,
               where: str) -> str:
    """The axes of a stack whose leading (non-spatial) shape is ``leading``: ``given``, else
    the file's ``found``, else, for a single leading axis, that axis as the context axis."""
    ndim = len(leading) + 2
    if not leading:
        raise N2NError(f"{where}: a single plane; a context model denoises a stack of planes "
                       "(Z or T): use a 2-D model for single images")
    if given is None and found is None:
        if len(leading) != 1:
            raise N2NError(f"{where}: a stack of shape {(*leading, 'H', 'W')} needs its axes "
                           "named for a context model, e.g. {axes} TZYX", param="axes")
        found = "QYX"
    return resolve_axes(found or "", ndim, given, where)


def named_stack(shape: tuple[int, ...], found: str | None, given: str | None, where: str
                ) -> tuple[str | None, tuple[int, ...]]:
    """A gray stack of ``shape`` as the automatic rule reads it (:func:`n2n.inference.policy.
    for_stack`): its axes, ``given`` else the file's ``found``, and its leading shape; None
    for axes that neither names (or that do not fit), so that it goes plane by plane."""
    try:
        names = resolve_axes(found or "", len(shape), given, where)
    except N2NError:
        return None, tuple(shape[:-2])
    return names, tuple(shape[: names.rindex("Y")])


def check_thickness(leading: tuple[int, ...], axes: str, context: int, where: str) -> int:
    """The index of the context axis in ``leading``; refuses a stack thinner than the window."""
    axis = context_axis(axes, where)
    if leading[axis] < context:
        name = "its first axis" if axes[axis] in "QI" else axes[axis]
        raise N2NError(f"{where}: {leading[axis]} plane(s) along {name} are too few for "
                       f"the model's window of {context} planes; give a stack of at least "
                       f"{context}, or denoise it with a 2-D model")
    return axis


def plane_windows(read: Reader, leading: tuple[int, ...], axis: int, context: int
                  ) -> Iterator[np.ndarray]:
    """For each plane in file order, the (H, W, context * C) window around it along
    ``axis`` of the ``leading`` shape, its planes read once each through ``read``."""
    inner = int(np.prod(leading[axis + 1:], dtype=np.int64))  # planes between two along axis
    radius = context // 2
    held: dict[int, np.ndarray] = {}
    for flat in range(int(np.prod(leading, dtype=np.int64))):
        index = list(np.unravel_index(flat, leading))
        wanted = []
        for i in window_indices(int(index[axis]), leading[axis], context):
            index[axis] = i
            wanted.append(int(np.ravel_multi_index(index, leading)))
        for k in wanted:
            if k not in held:
                held[k] = np.asarray(read(k))
        yield np.concatenate([_channels(held[k]) for k in wanted], axis=2)
        oldest = flat - radius * inner  # no later window reaches further back
        for k in [k for k in held if k < oldest]:
            del held[k]


def _channels(plane: np.ndarray) -> np.ndarray:
    return plane[:, :, None] if plane.ndim == 2 else plane
