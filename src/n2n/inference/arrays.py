"""Denoise numpy arrays and stacks in the style of scikit-image's ``restoration`` functions."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from n2n.data.volumes import from_runs, resolve_axes, to_runs
from n2n.errors import N2NError
from n2n.inference.auto import StackShape
from n2n.inference.denoiser import Denoiser
from n2n.inference.policy import AUTO
from n2n.inference.spec import Decision, InferenceSpec, array_white, build_denoiser, settle
from n2n.inference.volumes import (
    check_thickness,
    denoiser_context,
    denoiser_volumetric,
    named_stack,
    plane_windows,
    stack_axes,
    volume_planes,
)
from n2n.io.values import WhiteLevel, check_float_pixels, decision_sample


def denoise_array(array: np.ndarray, model: str | Path | torch.nn.Module = AUTO, *,
                  channel_axis: int | None = None, data_range: float | None = None,
                  device: str = "auto", tile: int | None = None, pd: int | str | None = None,
                  refine: bool | None = None, multiscale: bool | None = None,
                  ensemble: bool = False, fast: bool = True, axes: str | None = None
                  ) -> np.ndarray:
    """Denoise a numpy image or stack of images with a bundled or trained model.

    Parameters
    ----------
    array : ndarray
        (..., H, W) gray images, or with a ``channel_axis`` of 1 or 3 channels; every axis
        besides the last two spatial ones (and the channel axis) is a plane of a stack, denoised
        one by one (Z, T, a batch).
    model : str, path or model
        ``auto`` (the default: chosen from the noise, as ``n2n denoise`` does), a bundled
        model's name (``photo``, ``photo-plus``, ``camera``, ``confocal``), a checkpoint or
        export file, or a loaded model.
    channel_axis : int, optional
        The axis holding the channels, as in scikit-image; None for gray images.
    data_range : float, optional
        The value of white: by default 255 for uint8, 65535 for uint16, and measured for floats
        (1.0 for 0..1 data, 255 for 8-bit-scale data; :mod:`n2n.io.values`). Other integer
        types (int8..int64, uint32, uint64) need it: their range says nothing of the data's.
    device, tile
        Where to run ('auto' takes a GPU if there is one) and the tile side for large images
        (None: from a memory budget, see :class:`~n2n.inference.denoiser.Denoiser`).
    pd, refine, multiscale, ensemble, fast
        As :class:`~n2n.inference.spec.InferenceSpec` states them, the same options as
        ``n2n denoise``. A stack gets one choice, from its decision sample (the central
        1024 x 1024 of its middle plane), as every door takes it.
    axes : str, optional
        The array's axes, e.g. ``ZYX``, ``TYX``, ``TZYX`` (``C`` for channels, each denoised
        as its own stack). A context model (:mod:`n2n.models.context`) denoises each plane
        with the window of its neighbours along Z (else T), mirrored at the ends; a 3-D model
        (:mod:`n2n.models.unet3d`) denoises each run along Z (else T) in Z tiles with its
        halo, exactly as the whole; a 3-D array needs no axes (its first axis is the stack).
        2-D models go plane by plane.

    Returns
    -------
    ndarray
        The same shape and dtype; integer results are rounded and clipped to their range.

    Raises
    ------
    N2NError
        For bool, complex, string or object arrays, an integer type without ``data_range``,
        NaN or infinite pixels (refused with their count rather than spread by the network),
        an empty array, a channel axis out of range, or ``data_range`` not above 0.

    Examples
    --------
    >>> from skimage import data
    >>> noisy = data.camera()[:64, :64]  # uint8, (64, 64)
    >>> denoise_array(noisy).shape
    (64, 64)
    >>> denoise_array(data.astronaut()[:32, :32] / 255.0, channel_axis=-1).dtype
    dtype('float64')
    """
    spec = InferenceSpec(model, pd, refine, multiscale, ensemble, fast, tile, device,
                         data_range)
    given = np.asarray(array)
    data = channels_last(given, channel_axis)
    white = array_white(data, spec, given.shape)
    check_float_pixels(data, white.value, f"{given.dtype} array of shape {given.shape}")
    planes = data.reshape((-1,) + data.shape[-3:])
    stack = gray_stack(given.shape, axes, channel_axis, f"array of shape {given.shape}")
    denoiser = decide(spec, planes, white, stack).denoiser
    if denoiser_context(denoiser) > 1 or denoiser_volumetric(denoiser):
        return _denoise_volume(denoiser, given, channel_axis, axes, white.value)
    if axes is not None:
        resolve_axes(axes, given.ndim, axes, f"array of shape {given.shape}")  # checked
    out = np.stack([denoise_plane(denoiser, plane, white.value) for plane in planes])
    out = out.reshape(data.shape)
    return np.moveaxis(out, -1, channel_axis) if channel_axis is not None else out[..., 0]


def _denoise_volume(denoiser: Denoiser, array: np.ndarray, channel_axis: int | None,
                    axes: str | None, white: float) -> np.ndarray:
    """Every plane of a gray stack denoised with the window of its neighbours, or by a 3-D
    model in Z tiles."""
    where = f"array of shape {array.shape}"
    if channel_axis is not None:
        raise N2NError(f"{where}: a context model takes gray stacks; name a channel axis C "
                       "in {axes} instead of {channel_axis}", param=("axes", "channel_axis"))
    return np.stack(list(stack_planes(denoiser, array, axes, white, where))).reshape(
        array.shape)


def stack_planes(denoiser: Denoiser, array: np.ndarray, axes: str | None, white: float,
                 where: str) -> Iterator[np.ndarray]:
    """Each (H, W) plane of a gray (..., H, W) stack in order, denoised with the window of its
    neighbours along Z (else T), mirrored at the ends, or by a 3-D model in Z tiles (all at
    once); the axes and the stack's thickness are checked here, before the first plane (a
    caller may then show progress plane by plane)."""
    names = stack_axes(array.shape[:-2], None, axes, where)
    context = denoiser_context(denoiser)
    axis = check_thickness(array.shape[:-2], names, context, where)
    if denoiser_volumetric(denoiser):
        runs = to_runs(array, names, where)  # (R, P, H, W, 1)
        out = np.stack([np.stack(list(volume_planes(
            lambda k, run=run: run[k], len(run), lambda x: denoise_plane(denoiser, x, white),
            *denoiser.z_grid))) for run in runs])
        return iter(from_runs(out, array.shape, names).reshape((-1, *array.shape[-2:])))
    planes = array.reshape((-1, *array.shape[-2:]))
    windows = plane_windows(lambda k: planes[k][..., None], array.shape[:-2], axis, context)
    return (denoise_plane(denoiser, window, white)[..., 0] for window in windows)


def gray_stack(shape: tuple[int, ...], axes: str | None, channel_axis: int | None,
               where: str) -> StackShape | None:
    """What the automatic rule may read as a stack (:func:`n2n.inference.policy.for_stack`,
    a context model for Z-stacks and time-lapses): a gray array of more than one plane whose
    ``axes`` are named; None otherwise (planes one by one). Every array door asks here."""
    if axes is None or channel_axis is not None or len(shape) <= 2:
        return None
    return named_stack(tuple(shape), None, axes, where)


def decide(spec: InferenceSpec, planes, white: WhiteLevel, stack: StackShape | None = None
           ) -> Decision:
    """What every plane of (N, H, W, C) ``planes`` (numpy or dask) whose white level is
    ``white`` gets: ``spec`` built, its choice made from the decision sample; ``stack``: a
    stack's (axes, leading shape), where the rule may take a context model."""
    return settle(build_denoiser(spec), np.asarray(decision_sample(planes, spatial=3)), white,
                  stack)


def denoise_plane(denoiser: Denoiser, plane: np.ndarray, white: float,
                  tiled: bool | None = None) -> np.ndarray:
    """One (H, W, C) plane whose ``white`` is given, denoised into its own dtype: the
    arithmetic every array entry shares, so that its results agree to the bit."""
    pixels = plane.astype(np.float32) * np.float32(255.0 / white)  # as io.images reads files
    out = denoiser(pixels, tiled=tiled, clip=False) * np.float32(white / 255.0)
    if plane.dtype.kind in "ui":
        limits = np.iinfo(plane.dtype)
        out = np.clip(np.rint(out), limits.min, limits.max)
    return out.astype(plane.dtype)


def channels_last(data: np.ndarray, channel_axis: int | None) -> np.ndarray:
    """(..., H, W, C) from (..., H, W) gray images or images with channels at ``channel_axis``."""
    if data.ndim < (3 if channel_axis is not None else 2):
        raise N2NError(f"array of shape {data.shape}: expected (..., H, W) images"
                       + (" with a channel axis" if channel_axis is not None else ""))
    if channel_axis is None:
        return data[..., None]
    if isinstance(channel_axis, (bool, np.bool_)) or not isinstance(channel_axis,
                                                                     (int, np.integer)):
        raise N2NError(f"{{channel_axis}} {channel_axis!r} must be an integer axis (or None for "
                       "gray images)", param="channel_axis")
    if not -data.ndim <= channel_axis < data.ndim:
        raise N2NError(f"{{channel_axis}} {channel_axis} is out of range for an array of shape "
                       f"{data.shape}", param="channel_axis")
    moved = np.moveaxis(data, channel_axis, -1)
    if moved.shape[-1] not in (1, 3):
        raise N2NError(f"array of shape {data.shape}: channel axis {channel_axis} has "
                       f"{moved.shape[-1]} channels; expected 1 or 3")
    return moved
