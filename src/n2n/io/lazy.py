"""Images as lazy dask arrays in NGFF axis order, for chunked work on a Dask cluster: an
OME-Zarr image's level 0 read chunk by chunk, a TIFF stack plane by plane.

Each task opens the file itself, so workers read from a shared file system and nothing but
the file's name travels through the scheduler. Needs the ``dask`` extra.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from n2n.errors import N2NError, decoder_errors, optional_module
from n2n.io import ngff, tiff_stacks, zarr_images
from n2n.io.checks import check_input
from n2n.io.zarr_images import Axis


@dataclass
class LazyImage:
    """A lazy image, its NGFF axes, and which axis (if any) holds colours to keep together."""

    array: Any  # dask.array.Array
    axes: list[Axis]
    colour_axis: int | None  # RGB samples of a photo; fluorescence channels are separate planes


def open_lazy(path: str | Path) -> LazyImage:
    """An OME-Zarr image (NGFF 0.4 or 0.5) or a TIFF file, lazily."""
    path = Path(path)
    da = dask_array(f"{path}: reading it in chunks for Dask")
    if ngff.is_ngff(path) or path.suffix.lower() in tiff_stacks.TIFF_SUFFIXES:
        check_input(path)  # headers, limits, truncation, as for every other path
    if ngff.is_ngff(path):
        image = ngff.read_ngff(path)
        array = da.from_array(_CheckedChunks(path, image.level), chunks=image.chunks)
        return LazyImage(array, image.axes, None)
    if path.suffix.lower() in tiff_stacks.TIFF_SUFFIXES:
        return _lazy_tiff(da, path)
    raise N2NError(f"{path}: --dask reads an OME-Zarr image (a .zarr folder) or a TIFF stack")


def dask_array(purpose: str) -> Any:
    """The ``dask.array`` module, or an error saying which extra installs it."""
    optional_module("dask", "dask", purpose)
    import dask.array

    return dask.array


def _lazy_tiff(da: Any, path: Path) -> LazyImage:
    """A TIFF series as planes read on demand, axes reordered as :func:`tiff_axes` writes."""
    import dask

    layout = tiff_stacks.read_layout(path)
    axes, order = zarr_images.tiff_axes(path, layout)
    colour = "S" in layout.axes and not layout.samples_are_channels
    if colour and layout.write_options.get("extrasamples"):
        raise N2NError(f"{path}: a TIFF with alpha is denoised without --dask (alpha is kept "
                       "aside there); or drop the alpha channel first")
    read = dask.delayed(_read_plane, pure=True)
    planes = [da.from_delayed(read(path, layout, k), layout.plane_shape, layout.dtype)
              for k in range(layout.planes)]
    array = da.stack(planes).reshape(layout.shape).transpose(order)
    colour_axis = next(i for i, a in enumerate(axes) if a.name == "c") if colour else None
    return LazyImage(array, axes, colour_axis)


def _read_plane(path: Path, layout: tiff_stacks.TiffLayout, k: int) -> Any:
    with decoder_errors(path):
        return tiff_stacks.read_plane(path, layout, k)


class _CheckedChunks:
    """An OME-Zarr level read chunk by chunk (on any worker: only the path travels), each
    chunk's decoder errors (a corrupt or cut chunk file) one N2NError naming the image."""

    def __init__(self, path: Path, level: str) -> None:
        self.path, self.level, self._opened = path, level, None
        array = self._array()
        self.shape, self.dtype, self.ndim = array.shape, array.dtype, array.ndim

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_opened": None}  # each process opens the array itself

    def _array(self) -> Any:
        import zarr

        if self._opened is None:
            self._opened = zarr.open_group(str(self.path), mode="r")[self.level]
        return self._opened

    def __getitem__(self, key: Any) -> Any:
        with decoder_errors(self.path):
            return self._array()[key]
