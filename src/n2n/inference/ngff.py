"""Denoise an OME-Zarr image in one process (no Dask): plane by plane with a 2-D model, or each
plane with its window of neighbours along z (else t) with a context model
(:mod:`n2n.inference.volumes`), into OME-Zarr or an OME-TIFF stack that keeps the axes and the
physical sizes (NGFF scale, OME PhysicalSize and the TIFF resolution).

Planes are read one at a time from the image's level 0 (channels are separate planes, as
``--dask`` reads them), so memory holds a window of planes and the denoiser's tile.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from n2n.errors import N2NError
from n2n.inference.arrays import denoise_plane
from n2n.inference.denoiser import Denoiser
from n2n.inference.volumes import check_thickness, denoiser_context, plane_windows, stack_axes
from n2n.io.formats import ome_zarr, tiff, tiff_layout
from n2n.io.formats.base import Format
from n2n.io.formats.ome_zarr import NgffPlanes
from n2n.io.values import check_float_pixels


def denoise_ngff(denoiser: Denoiser, source: Path, target: Path, dst: Format, white: float,
                 overwrite: bool = False, axes: str | None = None) -> None:
    """Every plane of the OME-Zarr image ``source`` denoised into ``target`` (OME-Zarr or
    TIFF, written atomically) with the input's axes and physical sizes; ``axes`` renames the
    axes (y, x last) where the metadata's names do not say which is Z or T."""
    planes = NgffPlanes(source)
    results = _denoised(denoiser, planes, white, axes, source)
    if dst is ome_zarr.FORMAT:
        with ome_zarr.zarr_output(target, planes.image.axes, planes.image.dtype, source,
                                  overwrite) as out:
            for k, plane in enumerate(results):
                planes.write(out, k, plane)
    elif dst is tiff.FORMAT:
        layout = tiff.ngff_layout(planes.axes, planes.image.dtype)
        tiff_layout.write_tiff(target, layout, ((k, 0, p) for k, p in enumerate(results)))
    else:
        raise N2NError(f"{source} -> {target}: an OME-Zarr image is written as OME-Zarr or "
                       "TIFF; name the output .zarr or .tif")


def _denoised(denoiser: Denoiser, planes: NgffPlanes, white: float, axes: str | None,
              source: Path) -> Iterator[np.ndarray]:
    """Each plane denoised, (H, W), in order: alone, or with its window of neighbours."""
    context = denoiser_context(denoiser)

    def read(k: int) -> np.ndarray:  # each plane's floats checked once, as it is read
        plane = planes.read(k)[..., None]
        if plane.dtype.kind == "f":
            check_float_pixels(plane, white, f"{source}[plane {k}]")
        return plane

    if context > 1:
        names = stack_axes(planes.leading, planes.letters, axes, str(source))
        axis = check_thickness(planes.leading, names, context, str(source))
        inputs: Iterator[np.ndarray] = plane_windows(read, planes.leading, axis, context)
    else:
        inputs = (read(k) for k in range(planes.count))
    for window in inputs:
        yield denoise_plane(denoiser, window, white)[..., 0]
