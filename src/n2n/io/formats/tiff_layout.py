"""TIFF stacks and large TIFFs: the layout of a file's first series, its planes one at a time,
and writing planes (or strips of them) back with the same dtype, shape, axes and metadata.

A TIFF's first series is read with tifffile as planes of Y x X (gray) or Y x X x S (RGB, with
alpha if any); every other axis (Z, T, C, ...) is a stack of planes. An uncompressed file is
memory-mapped, so a plane can be read and written in strips. What is kept: dtype, shape and
axes, planar layout, resolution, ImageJ metadata (spacing, unit, frame interval, ranges,
labels), OME physical sizes, time increment and channel names. Compressed input is written back
deflate-compressed; uncompressed input uncompressed.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import tifffile

from n2n.errors import N2NError, decoder_errors
from n2n.io.files import IMAGE, STACK, atomic_path, marked, reserve_space
from n2n.io.formats.base import check_size

TIFF_SUFFIXES = (".tif", ".tiff")
# ImageJ keys that describe the layout: tifffile writes them again from the shape and axes
_IMAGEJ_LAYOUT_KEYS = {"ImageJ", "images", "channels", "slices", "frames", "hyperstack", "axes"}
BIT_DEPTHS = {np.dtype(np.uint8): 8, np.dtype(np.uint16): 16, np.dtype(np.float32): 32}


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
    def samples_are_channels(self) -> bool:
        """Samples of a grayscale (MINISBLACK) file without alpha are independent channels
        (fluorescence, spectra), never colours with alpha."""
        alpha = any(int(e) in (1, 2) for e in self.write_options.get("extrasamples") or ())
        gray = self.write_options.get("photometric") == "minisblack"
        return "S" in self.axes and gray and not alpha

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
    with decoder_errors(path), tifffile.TiffFile(path) as tif:  # many error types
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
    # a shape tifffile had to guess from ("Q" axes) is written back as the shape itself, so
    # that an N-D array without axes metadata keeps its dimensions
    return {"metadata": {"axes": axes, **shaped} if "Q" not in axes else shaped}


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


def write_tiff(target: Path, layout: TiffLayout,
               blocks: Iterator[tuple[int, int, np.ndarray]]) -> None:
    """Write ``blocks`` (plane index, first row, rows of that plane, channels last, in the
    layout's dtype) into ``target`` atomically, with ``layout``'s shape, axes and metadata:
    through a memory map when uncompressed, else plane by plane as they come."""
    mark = marked(STACK if layout.planes > 1 else IMAGE)
    with atomic_path(target) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tifffile warns about metadata it rewrites
        if layout.memory_mappable:
            out = tifffile.memmap(tmp, shape=layout.shape, dtype=layout.dtype, software=mark,
                                  **_without_compression(layout.write_options))
            reserve_space(tmp, target)  # a full disk is an error now, not a SIGBUS later
            out_planes = _planes(out, layout)
            for k, top, block in blocks:
                channels_last(out_planes[k], layout)[top: top + len(block)] = block
            out.flush()
            del out, out_planes
        else:  # compressed: blocks are whole planes, encoded as they come
            tifffile.imwrite(tmp, (_stored(block, layout) for _, _, block in blocks),
                             shape=layout.shape, dtype=layout.dtype, software=mark,
                             **layout.write_options)


def read_planes(source: Path, layout: TiffLayout) -> Iterator[np.ndarray]:
    """Each plane of the first series, channels last: memory-mapped views of an uncompressed
    file (read lazily, a strip at a time if the caller wishes), else decoded one by one."""
    for plane in _source_planes(source, layout):
        yield channels_last(plane, layout)


def _without_compression(options: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in options.items() if k != "compression"}


def _planes(array: np.ndarray, layout: TiffLayout) -> np.ndarray:
    """A (planes, *plane_shape) view of a whole series array."""
    return array.reshape((layout.planes, *layout.plane_shape))


def channels_last(plane: np.ndarray, layout: TiffLayout) -> np.ndarray:
    """A plane in storage layout, its samples last."""
    return np.moveaxis(plane, 0, -1) if layout.samples_first else plane


def _stored(plane: np.ndarray, layout: TiffLayout) -> np.ndarray:
    """The inverse of :func:`channels_last`: a plane in the file's own sample layout."""
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


class StackPlanes:
    """The planes of a stack's first series, read when taken: in file order when iterated
    (:func:`read_planes`: channels last, memory-mapped views of an uncompressed file, else
    decoded one by one), or plane ``k`` alone when called (a window's reader: a copy out of
    one memory map, else decoded alone, :func:`read_plane`)."""

    def __init__(self, source: Path, layout: TiffLayout) -> None:
        self.source, self.layout = source, layout
        self._mapped: list[np.ndarray] | None = None

    def __iter__(self) -> Iterator[np.ndarray]:
        return read_planes(self.source, self.layout)

    def __call__(self, k: int) -> np.ndarray:
        if not self.layout.memory_mappable:
            return read_plane(self.source, self.layout, k)
        if self._mapped is None:
            self._mapped = list(read_planes(self.source, self.layout))
        return np.array(self._mapped[k])


def read_plane(source: Path, layout: TiffLayout, k: int) -> np.ndarray:
    """Plane ``k`` of the first series in storage layout, read alone (a lazy reader's unit)."""
    if layout.memory_mappable:
        return np.array(_planes(tifffile.memmap(source, series=0, mode="r"), layout)[k])
    with tifffile.TiffFile(source) as tif:
        if len(tif.series[0].pages) == layout.planes:
            return tif.asarray(key=k, series=0)
        return _planes(tif.series[0].asarray(), layout)[k]  # pages are not planes: read all
