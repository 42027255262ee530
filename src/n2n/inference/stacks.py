"""Denoise a stack (a TIFF's planes, an OME-Zarr image's) plane by plane with a 2-D model, a
large plane strip by strip; window by window with a context model, Z tile by Z tile with a
3-D one.

Memory is bounded by one plane, or by one strip of a plane when the file is uncompressed
(memory-mapped, streamed the way :mod:`n2n.inference.strips` streams PNG rows).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from n2n.errors import N2NError
from n2n.inference.arrays import denoise_plane
from n2n.inference.denoiser import Denoiser, denoise_image
from n2n.inference.strips import denoised_rows
from n2n.inference.volumes import (
    check_thickness,
    denoiser_context,
    denoiser_volumetric,
    plane_windows,
    stack_axes,
    volume_planes,
)
from n2n.io.formats import base
from n2n.io.formats.base import PlaneSource, row_blocks
from n2n.io.formats.tiff_layout import BIT_DEPTHS, TiffLayout
from n2n.io.images import array_to_image, to_array
from n2n.io.values import check_float_pixels

BIT_WHITE = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}


def denoised_blocks(denoiser: Denoiser, source: Path, layout: TiffLayout,
                    planes: PlaneSource, stream_pixels: int | None = None, strip_rows: int = 256,
                    white: float | None = None, axes: str | None = None
                    ) -> Iterator[tuple[int, int, np.ndarray]]:
    """(plane index, first row, block) for every plane of ``source`` in order, each block
    denoised rows of its plane, channels last, in the file's dtype. A plane comes whole, or,
    from at least ``stream_pixels`` pixels in an uncompressed file and with a denoiser that
    streams, in blocks of ``strip_rows`` rows, so that memory holds one strip. ``white``: the
    stack's value of white, one for every plane (default: the dtype's; floats need it).
    A context model's planes come whole, each with the window of its neighbours along the
    stack's Z (else T) axis, ``axes`` naming them where the file does not."""
    if denoiser_context(denoiser) > 1 or denoiser_volumetric(denoiser):
        yield from _windowed_planes(denoiser, source, layout, planes, white, axes)
        return
    height, width = layout.height_width
    large = height * width >= (base.STREAM_PIXELS if stream_pixels is None else stream_pixels)
    streams = (large and denoiser.streams and layout.memory_mappable
               and layout.dtype in BIT_DEPTHS and not layout.samples_are_channels)
    for k, pixels in enumerate(planes):
        if not streams:
            yield k, 0, _denoise_plane(denoiser, source, k, pixels, layout, white)
            continue
        channels = pixels.shape[2] if pixels.ndim == 3 else 1
        colors = channels - (1 if channels in (2, 4) else 0)
        rows = (row.reshape(width, channels) for row in pixels)
        out_rows = denoised_rows(denoiser, rows, height, colors, BIT_DEPTHS[layout.dtype], white)
        for top, block in row_blocks(out_rows, height, strip_rows):
            block = block.reshape(len(block), *pixels.shape[1:])
            yield k, top, block.astype(layout.dtype, copy=False)


def _windowed_planes(denoiser: Denoiser, source: Path, layout: TiffLayout,
                     plane: PlaneSource, white: float | None, axes: str | None
                     ) -> Iterator[tuple[int, int, np.ndarray]]:
    """Every plane of a gray stack denoised with its window, memory bounded by the window."""
    if "S" in layout.axes:
        raise N2NError(f"{source}: a context model denoises gray stacks, not planes of "
                       f"{layout.plane_shape[-1]} samples")
    leading = layout.shape[:-2]
    names = stack_axes(leading, layout.axes, axes, str(source))
    context = denoiser_context(denoiser)
    axis = check_thickness(leading, names, context, str(source))
    white = white if white is not None else BIT_WHITE.get(layout.dtype, 1.0)

    def read(k: int) -> np.ndarray:  # each plane's floats checked once, as it is read
        pixels = plane(k)
        if layout.dtype.kind == "f":
            check_float_pixels(pixels, white, f"{source}[plane {k}]")
        return pixels

    if denoiser_volumetric(denoiser):
        yield from _z_tiled_planes(denoiser, read, leading, axis, white)
        return
    for k, window in enumerate(plane_windows(read, leading, axis, context)):
        yield k, 0, denoise_plane(denoiser, window, white)[..., 0]


def _z_tiled_planes(denoiser: Denoiser, read, leading: tuple[int, ...], axis: int,
                    white: float) -> Iterator[tuple[int, int, np.ndarray]]:
    """Every plane of a gray stack denoised by a 3-D model, in file order, each run along the
    context axis in Z tiles (:func:`n2n.inference.volumes.volume_planes`). Where Z is not
    innermost (ZTYX), the runs that share a Z range advance together, so that planes come out
    in the order the file stores them: memory is bounded by one Z tile per run of a plane
    (one per frame of a ZTYX stack)."""
    planes = leading[axis]
    inner = int(np.prod(leading[axis + 1:], dtype=np.int64))  # planes between two Z steps

    def denoise(tile: np.ndarray) -> np.ndarray:  # planes' floats checked as they were read
        return denoise_plane(denoiser, tile, white)

    for outer in range(int(np.prod(leading[:axis], dtype=np.int64))):
        first = outer * planes * inner
        runs = [volume_planes(lambda z, start=first + i: read(start + z * inner), planes,
                              denoise, *denoiser.z_grid) for i in range(inner)]
        for z in range(planes):
            for i, run in enumerate(runs):
                yield first + z * inner + i, 0, next(run)[..., 0]


def _denoise_plane(denoiser: Denoiser, source: Path, k: int, pixels: np.ndarray,
                   layout: TiffLayout, white: float | None) -> np.ndarray:
    """One plane, channels last -> denoised, channels last, in its dtype."""
    where = source if layout.planes == 1 else Path(f"{source}[plane {k}]")
    pixels = np.asarray(pixels)
    if layout.samples_are_channels:  # each sample alone, as a gray image
        return np.stack([_denoise_image(denoiser, Path(f"{where}[sample {s}]"),
                                        pixels[..., s], layout.dtype, white)
                         for s in range(pixels.shape[-1])], axis=-1)
    return _denoise_image(denoiser, where, pixels, layout.dtype, white)


def _denoise_image(denoiser: Denoiser, where: Path, pixels: np.ndarray, dtype: np.dtype,
                   white: float | None) -> np.ndarray:
    out = to_array(denoise_image(denoiser, array_to_image(where, pixels, white)))
    return out.reshape(pixels.shape).astype(dtype, copy=False)
