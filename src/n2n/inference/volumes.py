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


def denoiser_volumetric(denoiser: object) -> bool:
    """Whether a denoiser runs a 3-D model (:mod:`n2n.models.unet3d`) on Z tiles."""
    return bool(getattr(denoiser, "volumetric", False))


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


Z_CORE = 32  # planes a 3-D model's Z tile keeps by default (rounded up to its Z multiple)


def mirrored(index: int, length: int) -> int:
    """``index`` reflected into 0..length-1 as often as needed (-1 reads 1, ``length`` reads
    ``length - 2``), so a halo deeper than the stack still reads planes of it."""
    if length == 1:
        return 0
    period = 2 * (length - 1)
    index %= period
    return index if index < length else period - index


def z_tiles(planes: int, halo: int, multiple: int, core: int) -> list[tuple[int, int]]:
    """[first, end) of each Z tile's core in a stack of ``planes`` padded by ``halo`` mirrored
    planes before it (and after it, up to the Z multiple plus ``halo``): cores of ``core``
    planes (a multiple of ``multiple``, as ``halo`` is) start on the Z pooling grid, so that
    each tile read with its halo gives what the whole stack at once gives."""
    padded = -(-planes // multiple) * multiple
    core = max(multiple, -(-core // multiple) * multiple)
    return [(halo + start, halo + min(start + core, padded)) for start in range(0, padded, core)]


def volume_planes(read: Reader, planes: int, denoise: Callable[[np.ndarray], np.ndarray],
                  halo: int, multiple: int, core: int = Z_CORE) -> Iterator[np.ndarray]:
    """Each of the ``planes`` (H, W, C) planes of a run, in order, denoised by a 3-D model:
    ``denoise`` takes (H, W, n * C) tiles of n planes, each the core of a Z tile with
    ``halo`` planes either side (mirrored at the ends), and returns them denoised. Only the
    planes of one tile are held; a plane two tiles share is read once."""
    held: dict[int, np.ndarray] = {}
    for first, end in z_tiles(planes, halo, multiple, core):
        wanted = [mirrored(v - halo, planes) for v in range(first - halo, end + halo)]
        held = {k: held[k] if k in held else _channels(np.asarray(read(k)))
                for k in dict.fromkeys(wanted)}
        out = denoise(np.concatenate([held[k] for k in wanted], axis=2))
        channels = out.shape[2] // len(wanted)
        for v in range(first, min(end, halo + planes)):
            k = v - first + halo
            yield out[:, :, k * channels:(k + 1) * channels]
