"""Denoise TIFF stacks and large TIFFs: plane by plane with a 2-D model, strip by strip when a
plane is large, written back with the same dtype, shape, axes and metadata.

A TIFF's first series is read with tifffile as planes of Y x X (gray) or Y x X x S (RGB, with
alpha if any); every other axis (Z, T, C, ...) is a stack of planes. Memory is bounded by one
plane, or by one strip of a plane when the file is uncompressed (memory-mapped, the way
:mod:`n2n.stream` streams PNGs). What is kept: dtype, shape and axes, planar layout, resolution,
ImageJ metadata (spacing, unit, frame interval, ranges, labels), OME physical sizes, time
increment and channel names. Compressed input is written back deflate-compressed; uncompressed
input uncompressed.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import tifffile

from n2n.denoise import Denoiser, denoise_image
from n2n.errors import N2NError, conversion_errors
from n2n.files import atomic_path
from n2n.io import array_to_image, check_size, to_array
from n2n.stream import STREAM_PIXELS, denoised_rows, row_blocks

TIFF_SUFFIXES = (".tif", ".tiff")
# ImageJ keys that describe the layout: tifffile writes them again from the shape and axes
_IMAGEJ_LAYOUT_KEYS = {"ImageJ", "images", "channels", "slices", "frames", "hyperstack", "axes"}
_BIT_DEPTHS = {np.dtype(np.uint8): 8, np.dtype(np.uint16): 16, np.dtype(np.float32): 32}


@dataclass
class TiffLayout:
    """What a TIFF's first series holds, and what writing it back the same way needs."""

    shape: tuple[int, ...]  # the series' shape, as tifffile reports it
    axes: str  # tifffile's axes letters, e.g. "ZYX", "TZCYX", "YXS", "SYX"
    dtype: np.dtype
    memory_mappable: bool  # uncompressed and contiguous: planes can be read in strips
    write_options: dict[str, Any] = field(default_factory=dict)  # for tifffile.imwrite

    @property
    def samples_first(self) -> bool:
        """Planar (S, Y, X) storage of colour samples."""
        return self.axes.endswith("SYX")

    @property
    def plane_shape(self) -> tuple[int, ...]:
        return self.shape[-3:] if "S" in self.axes[-3:] else self.shape[-2:]

    @property
    def height_width(self) -> tuple[int, int]:
        y = self.axes.rindex("Y")
        return self.shape[y], self.shape[y + 1]

    @property
    def planes(self) -> int:
        return int(np.prod(self.shape[: len(self.shape) - len(self.plane_shape)], dtype=np.int64))


def read_layout(path: Path) -> TiffLayout:
    """The layout of ``path``'s first series; refuses files it could not write back whole."""
    if not path.is_file():
        raise N2NError(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise N2NError(f"{path}: file is empty (0 bytes)")
    try:
        with tifffile.TiffFile(path) as tif:
            if len(tif.series) != 1:
                raise N2NError(f"{path}: holds {len(tif.series)} image series; only a single "
                               "series (one stack) can be denoised and written back whole")
            series, page = tif.series[0], tif.pages.first
            axes = series.axes
            if not (axes.endswith("YX") or axes.endswith("YXS")):
                raise N2NError(f"{path}: axes {axes} do not end in Y, X (and samples); "
                               "not a stack of 2-D planes")
            photometric = tifffile.PHOTOMETRIC(page.photometric)
            if photometric not in (tifffile.PHOTOMETRIC.MINISBLACK, tifffile.PHOTOMETRIC.RGB):
                raise N2NError(f"{path}: {photometric.name} TIFF is not supported; "
                               "convert to grayscale or RGB")
            check_size(path, page.imagelength, page.imagewidth)
            compressed = page.compression != tifffile.COMPRESSION.NONE
            options: dict[str, Any] = {
                "photometric": photometric.name.lower(),
                "planarconfig": "separate" if axes.endswith("SYX") else None,
                "extrasamples": page.extrasamples or None,
                "compression": "zlib" if compressed else None,
                "resolution": page.resolution,
                "resolutionunit": page.resolutionunit,
                **_metadata_options(tif, axes),
            }
            return TiffLayout(tuple(series.shape), axes, np.dtype(series.dtype),
                              not compressed and series.dataoffset is not None, options)
    except N2NError:
        raise
    except Exception as err:  # tifffile raises many types on corrupt files
        raise N2NError(f"{path}: cannot read image ({err or type(err).__name__})") from err


def _metadata_options(tif: tifffile.TiffFile, axes: str) -> dict[str, Any]:
    """imwrite options that carry the ImageJ, OME or shaped metadata over."""
    if tif.is_imagej:
        kept = {k: v for k, v in (tif.imagej_metadata or {}).items()
                if k not in _IMAGEJ_LAYOUT_KEYS}
        return {"imagej": True, "metadata": {"axes": axes, **kept}}
    if tif.is_ome:
        return {"ome": True, "metadata": {"axes": axes, **_ome_physical(tif.ome_metadata)}}
    shaped = dict(tif.shaped_metadata[0]) if tif.is_shaped and tif.shaped_metadata else {}
    shaped.pop("shape", None)
    return {"metadata": {"axes": axes, **shaped} if "Q" not in axes else shaped or None}


def _ome_physical(ome_xml: str | None) -> dict[str, Any]:
    """Physical sizes, time increment, image and channel names from OME-XML."""
    image = tifffile.xml2dict(ome_xml or "<OME/>").get("OME", {}).get("Image", {})
    if isinstance(image, list):
        image = image[0]
    pixels = image.get("Pixels", {})
    kept = {k: v for k, v in pixels.items()
            if k.startswith("PhysicalSize") or k.startswith("TimeIncrement")}
    channels = pixels.get("Channel")
    channels = channels if isinstance(channels, list) else [channels] if channels else []
    names = [c.get("Name") for c in channels if isinstance(c, dict)]
    if names and all(names):
        kept["Channel"] = {"Name": names}
    if image.get("Name"):
        kept["Name"] = image["Name"]
    return kept


def handles(source: Path, target: Path) -> bool:
    """True when :func:`denoise_tiff` should denoise ``source`` into ``target``: TIFF to TIFF
    (layout and metadata kept), and a TIFF stack to anything (to say it must be TIFF)."""
    if source.suffix.lower() not in TIFF_SUFFIXES:
        return False
    if target.suffix.lower() in TIFF_SUFFIXES:
        return True
    try:
        return read_layout(source).planes > 1
    except N2NError:
        return False  # reading it as one image will name the problem


def denoise_tiff(denoiser: Denoiser, source: Path, target: Path,
                 stream_pixels: int | None = None) -> TiffLayout:
    """Denoise every plane of ``source`` into ``target`` (written atomically, same layout).

    Planes of at least ``stream_pixels`` pixels (default :data:`n2n.stream.STREAM_PIXELS`) of
    an uncompressed file are denoised in strips, with the same result as a whole plane.
    """
    layout = read_layout(source)
    if layout.planes > 1 and target.suffix.lower() not in TIFF_SUFFIXES:
        raise N2NError(f"{source} -> {target}: a stack of {layout.planes} planes is written as "
                       "TIFF or OME-Zarr; name the output .tif or .zarr")
    with conversion_errors(source, target), atomic_path(target) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tifffile warns about metadata it rewrites
        blocks = denoised_blocks(denoiser, source, layout, stream_pixels)
        if layout.memory_mappable:
            out = tifffile.memmap(tmp, shape=layout.shape, dtype=layout.dtype,
                                  **_without_compression(layout.write_options))
            out_planes = _planes(out, layout)
            for k, top, block in blocks:
                _channels_last(out_planes[k], layout)[top: top + len(block)] = block
            out.flush()
            del out, out_planes
        else:  # compressed: blocks are whole planes, encoded as they come
            tifffile.imwrite(tmp, (_stored(block, layout) for _, _, block in blocks),
                             shape=layout.shape, dtype=layout.dtype, **layout.write_options)
    return layout


def denoised_blocks(denoiser: Denoiser, source: Path, layout: TiffLayout,
                    stream_pixels: int | None = None, strip_rows: int = 256
                    ) -> Iterator[tuple[int, int, np.ndarray]]:
    """(plane index, first row, block) for every plane of ``source`` in order, each block
    denoised rows of its plane, channels last, in the file's dtype. A plane comes whole, or,
    from at least ``stream_pixels`` pixels in an uncompressed file, in blocks of ``strip_rows``
    rows, so that memory holds one strip."""
    height, width = layout.height_width
    large = height * width >= (STREAM_PIXELS if stream_pixels is None else stream_pixels)
    streams = large and layout.memory_mappable and layout.dtype in _BIT_DEPTHS
    for k, plane in enumerate(_source_planes(source, layout)):
        if not streams:
            yield k, 0, _denoise_plane(denoiser, source, k, plane, layout)
            continue
        pixels = _channels_last(plane, layout)
        channels = pixels.shape[2] if pixels.ndim == 3 else 1
        colors = channels - (1 if channels in (2, 4) else 0)
        rows = (row.reshape(width, channels) for row in pixels)
        out_rows = denoised_rows(denoiser, rows, height, colors, _BIT_DEPTHS[layout.dtype])
        for top, block in row_blocks(out_rows, height, strip_rows):
            block = block.reshape(len(block), *pixels.shape[1:])
            yield k, top, block.astype(layout.dtype, copy=False)


def _without_compression(options: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in options.items() if k != "compression"}


def _planes(array: np.ndarray, layout: TiffLayout) -> np.ndarray:
    """A (planes, *plane_shape) view of a whole series array."""
    return array.reshape((layout.planes, *layout.plane_shape))


def _channels_last(plane: np.ndarray, layout: TiffLayout) -> np.ndarray:
    return np.moveaxis(plane, 0, -1) if layout.samples_first else plane


def _stored(plane: np.ndarray, layout: TiffLayout) -> np.ndarray:
    """The inverse of :func:`_channels_last`: a plane in the file's own sample layout."""
    return np.moveaxis(plane, -1, 0) if layout.samples_first else plane


def _source_planes(source: Path, layout: TiffLayout) -> Iterator[np.ndarray]:
    """Each plane of the first series in storage layout: memory-mapped views of an uncompressed
    file, else decoded one page at a time (the whole series when pages are not planes)."""
    if layout.memory_mappable:
        yield from _planes(tifffile.memmap(source, series=0, mode="r"), layout)
        return
    with tifffile.TiffFile(source) as tif:
        pages = len(tif.series[0].pages)
        whole = None if pages == layout.planes else _planes(tif.series[0].asarray(), layout)
        for k in range(layout.planes):
            yield tif.asarray(key=k, series=0) if whole is None else whole[k]


def _denoise_plane(denoiser: Denoiser, source: Path, k: int, plane: np.ndarray,
                   layout: TiffLayout) -> np.ndarray:
    """One plane in the file's sample layout -> denoised, channels last, in its dtype."""
    where = source if layout.planes == 1 else Path(f"{source}[plane {k}]")
    pixels = _channels_last(np.asarray(plane), layout)
    out = to_array(denoise_image(denoiser, array_to_image(where, pixels)))
    return out.reshape(pixels.shape).astype(layout.dtype, copy=False)
