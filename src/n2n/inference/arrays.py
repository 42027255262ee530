"""Denoise numpy arrays and stacks in the style of scikit-image's ``restoration`` functions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from n2n.device import resolve_device
from n2n.errors import N2NError
from n2n.inference.denoiser import Denoiser
from n2n.inference.weights import load_weights


def denoise_array(array: np.ndarray, model: str | Path | torch.nn.Module = "photo", *,
                  channel_axis: int | None = None, data_range: float | None = None,
                  device: str = "auto", tile: int = 512) -> np.ndarray:
    """Denoise a numpy image or stack of images with a bundled or trained model.

    Parameters
    ----------
    array : ndarray
        (..., H, W) gray images, or with a ``channel_axis`` of 1 or 3 channels; every axis
        besides the last two spatial ones (and the channel axis) is a plane of a stack, denoised
        one by one (Z, T, a batch).
    model : str, path or model
        A bundled model's name (``photo``, ``photo-plus``, ``confocal``), a checkpoint or
        export file, or a loaded model.
    channel_axis : int, optional
        The axis holding the channels, as in scikit-image; None for gray images.
    data_range : float, optional
        The value of white: by default 255 for uint8, 65535 for uint16, 1.0 for floats.
    device, tile
        Where to run ('auto' takes a GPU if there is one) and the tile size for large images.

    Returns
    -------
    ndarray
        The same shape and dtype; integer results are rounded and clipped to their range.

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
    if data.ndim < (3 if channel_axis is not None else 2):
        raise N2NError(f"array of shape {data.shape}: expected (..., H, W) images"
                       + (" with a channel axis" if channel_axis is not None else ""))
    data = np.moveaxis(data, channel_axis, -1) if channel_axis is not None else data[..., None]
    if data.shape[-1] not in (1, 3):
        raise N2NError(f"array of shape {np.shape(array)}: channel axis {channel_axis} has "
                       f"{data.shape[-1]} channels; expected 1 or 3")
    if data_range is None:
        data_range = float(np.iinfo(data.dtype).max) if data.dtype.kind in "ui" else 1.0
    network = model if isinstance(model, torch.nn.Module) else load_weights(model)
    denoiser = Denoiser(network, resolve_device(device), tile=tile)
    scale = 255.0 / data_range
    planes = data.reshape((-1,) + data.shape[-3:]).astype(np.float32) * scale
    out = np.stack([denoiser(plane, clip=False) for plane in planes]) / scale
    out = out.reshape(data.shape)
    if data.dtype.kind in "ui":
        limits = np.iinfo(data.dtype)
        out = np.clip(np.rint(out), limits.min, limits.max)
    out = out.astype(data.dtype)
    return np.moveaxis(out, -1, channel_axis) if channel_axis is not None else out[..., 0]
