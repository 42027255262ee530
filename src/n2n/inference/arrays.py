"""Denoise numpy arrays and stacks in the style of scikit-image's ``restoration`` functions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from n2n.device import resolve_device
from n2n.errors import N2NError
from n2n.evaluation.treatment import AUTO, resolve_model
from n2n.inference.auto import AutoDenoiser
from n2n.inference.denoiser import Denoiser
from n2n.inference.multiscale import MultiScaleDenoiser
from n2n.inference.weights import load_weights, refiner_for
from n2n.models.bundled import is_bundled_name


def denoise_array(array: np.ndarray, model: str | Path | torch.nn.Module = AUTO, *,
                  channel_axis: int | None = None, data_range: float | None = None,
                  device: str = "auto", tile: int = 512, pd: int | str | None = None,
                  refine: bool | None = None) -> np.ndarray:
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
        The value of white: by default 255 for uint8, 65535 for uint16, 1.0 for floats. Other
        integer types (int8..int64, uint32, uint64) need it: their range says nothing of the
        data's (12-bit data in int64 is common).
    device, tile
        Where to run ('auto' takes a GPU if there is one) and the tile size for large images.
    pd : int or "auto", optional
        Pixel-shuffle factor; default: ``auto`` (measured) for ``auto`` and bundled names, the
        model's own for files and loaded models. A stack gets one choice, from its first plane.
    refine : bool, optional
        A second full-resolution pass after a pixel-shuffled one (photo after camera or
        photo-plus, any other model after itself; see
        :class:`~n2n.inference.denoiser.Denoiser`); default: where ``pd`` auto picks 2.

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
    data = np.asarray(array)
    data_range = _check_values(data, data_range)
    data = channels_last(data, channel_axis)
    planes = data.reshape((-1,) + data.shape[-3:])
    denoiser = plane_denoiser(model, pd, resolve_device(device), tile, planes[0], data_range,
                              refine)
    out = np.stack([denoise_plane(denoiser, plane, data_range) for plane in planes])
    out = out.reshape(data.shape)
    return np.moveaxis(out, -1, channel_axis) if channel_axis is not None else out[..., 0]


def plane_denoiser(model: str | Path | torch.nn.Module, pd: int | str | None,
                   device: str | torch.device, tile: int, first: np.ndarray, white: float,
                   refine: bool | None = None) -> Denoiser | MultiScaleDenoiser:
    """The Denoiser for every plane of a stack whose ``first`` plane is (H, W, C) with
    ``white`` given: the treatment chosen from that plane where ``model`` or ``pd`` is auto
    (as :func:`denoise_array` takes them)."""
    if isinstance(model, torch.nn.Module):
        return Denoiser(model, device, tile=tile, pd=None if pd in (None, AUTO) else int(pd),
                        refine=model if refine else None)  # split=False: its pd is not used
    if pd is None and (str(model) == AUTO or is_bundled_name(model)):
        pd = AUTO
    if pd == AUTO:
        auto = AutoDenoiser(model, AUTO, device, refine=refine, tile=tile)
        return auto.settle(first.astype(np.float32) * (255.0 / white))
    name = resolve_model(model, int(pd)) if pd is not None else model
    return Denoiser(load_weights(name), device, tile=tile, pd=pd,
                    refine=refiner_for(name, refine))


def denoise_plane(denoiser: Denoiser, plane: np.ndarray, white: float,
                  tiled: bool | None = None) -> np.ndarray:
    """One (H, W, C) plane whose ``white`` is given, denoised into its own dtype: the
    arithmetic every array entry shares, so that its results agree to the bit."""
    scale = 255.0 / white
    out = denoiser(plane.astype(np.float32) * scale, tiled=tiled, clip=False) * (white / 255)
    if plane.dtype.kind in "ui":
        limits = np.iinfo(plane.dtype)
        out = np.clip(np.rint(out), limits.min, limits.max)
    return out.astype(plane.dtype)


def _check_values(data: np.ndarray, data_range: float | None) -> float:
    """The dtype policy: the value of white for ``data``, or an N2NError saying what is wrong."""
    white = value_of_white(data.dtype, data.shape, data_range)
    if data.dtype.kind == "f":
        check_finite(data, f"{data.dtype} array of shape {data.shape}")
    return white


def check_finite(data: np.ndarray, name: str) -> None:
    """Refuse NaN or infinite pixels with their count, rather than spread them."""
    if not np.isfinite(data).all():
        bad = int(np.count_nonzero(~np.isfinite(data)))
        raise N2NError(f"{name}: {bad} pixel(s) are NaN or infinite; mask or fill them first")


def value_of_white(dtype: np.dtype, shape: tuple[int, ...], data_range: float | None) -> float:
    """What ``data_range`` means for an array of ``dtype`` and ``shape``, read from them alone
    (no pixel): 255 for uint8, 65535 for uint16, 1.0 for floats, else ``data_range``."""
    dtype = np.dtype(dtype)
    kind, name = dtype.kind, f"{dtype} array of shape {tuple(shape)}"
    if kind not in "uif":  # bool, complex, strings, objects
        raise N2NError(f"{name}: not image pixels; give uint8, uint16, another integer type with "
                       "{data_range}, or floats", param="data_range")
    if 0 in shape:
        raise N2NError(f"{name}: the array is empty")
    if data_range is None and kind in "ui" and not (kind == "u" and dtype.itemsize <= 2):
        raise N2NError(f"{name}: give {{data_range}}, the value of white (for example 4095 for "
                       "12-bit data); its dtype's range says nothing of the data's",
                       param="data_range")
    if data_range is None:
        white = float(np.iinfo(dtype).max) if kind in "ui" else 1.0
    else:
        try:
            white = float(data_range)
        except (TypeError, ValueError):
            white = float("nan")
    if not (np.isfinite(white) and white > 0):
        raise N2NError(f"{{data_range}} {data_range!r} must be a number above 0",
                       param="data_range")
    return white


def channels_last(data: np.ndarray, channel_axis: int | None) -> np.ndarray:
    """(..., H, W, C) from (..., H, W) gray images or images with channels at ``channel_axis``."""
    if data.ndim < (3 if channel_axis is not None else 2):
        raise N2NError(f"array of shape {data.shape}: expected (..., H, W) images"
                       + (" with a channel axis" if channel_axis is not None else ""))
    if channel_axis is None:
        return data[..., None]
    if not -data.ndim <= channel_axis < data.ndim:
        raise N2NError(f"{{channel_axis}} {channel_axis} is out of range for an array of shape "
                       f"{data.shape}", param="channel_axis")
    moved = np.moveaxis(data, channel_axis, -1)
    if moved.shape[-1] not in (1, 3):
        raise N2NError(f"array of shape {data.shape}: channel axis {channel_axis} has "
                       f"{moved.shape[-1]} channels; expected 1 or 3")
    return moved
