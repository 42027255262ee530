"""TIFF: 8/16-bit or float32, gray, RGB or channels, with alpha; single images, stacks of
planes (Z, T, C, ...) kept with their layout and metadata (:mod:`.tiff_layout`), read lazily
for Dask, and mapped to NGFF axes for OME-Zarr. Marked by its ``Software`` tag, which also
names the kind (an image or a stack)."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import tifffile

from n2n.errors import N2NError, decoder_errors
from n2n.io.files import IMAGE, MARK, STACK, kind_of_mark, marked
from n2n.io.formats import tiff_layout
from n2n.io.formats.base import Axis, Format, LazyImage, Planes, check_size, ngff_letters
from n2n.io.formats.tiff_layout import TiffLayout

# what tifffile logs (and reads on past) when pages or their data are missing; an odd tag
# alone is no reason to refuse a file
_TIFF_STRUCTURE = ("page", "tag list", "circular reference", "reshape", "corrupted file",
                   "data offset", "ByteCounts", "StripOffsets", "does not match")
# TIFF axis letter -> NGFF axis name and type; any other letter is a custom axis
_NGFF_AXES = {"T": ("t", "time"), "C": ("c", "channel"), "S": ("c", "channel"),
              "Z": ("z", "space"), "Y": ("y", "space"), "X": ("x", "space")}
_TYPE_ORDER = {"time": 0, "channel": 1, None: 1, "space": 2}
_UNITS = {"micron": "micrometer", "um": "micrometer", "\u00b5m": "micrometer",
          "\u03bcm": "micrometer", "nm": "nanometer", "mm": "millimeter", "cm": "centimeter",
          "m": "meter", "inch": "inch", "s": "second", "sec": "second", "ms": "millisecond",
          "min": "minute", "h": "hour"}
_RESOLUTION_UNITS = {2: "inch", 3: "centimeter"}  # TIFF ResolutionUnit tag values


# --------------------------------------------------------------------------- whole images


def read_tiff(path: Path) -> np.ndarray:
    """A single-page TIFF as (H, W[, C]), samples last."""
    with tifffile.TiffFile(path) as tif:
        if len(tif.pages) > 1:
            raise N2NError(f"{path}: multi-page TIFF ({len(tif.pages)} pages): `n2n denoise` "
                           "denoises stacks plane by plane; here save one page")
        page = tif.pages[0]
        if page.photometric.name in ("SEPARATED", "CIELAB", "ICCLAB", "ITULAB"):
            raise N2NError(f"{path}: {page.photometric.name} TIFF is not supported; convert to RGB")
        check_size(path, page.imagelength, page.imagewidth)
        array = page.asarray()
        if array.ndim == 3 and page.planarconfig.name == "SEPARATE":
            array = np.moveaxis(array, 0, -1)
        return array


def write_tiff_image(path: Path, array: np.ndarray) -> None:
    """An (H, W, C) array as a marked TIFF, extra samples as unassociated alpha."""
    photometric = "minisblack" if array.shape[2] in (1, 2) else "rgb"
    extras = ["unassalpha"] if array.shape[2] in (2, 4) else None
    data = array[:, :, 0] if array.shape[2] == 1 else array
    tifffile.imwrite(path, data, photometric=photometric, extrasamples=extras,
                     software=marked(IMAGE))


def read_tiff_stack(path: Path) -> np.ndarray:
    """A stack of captures, one series of pages, as (K, H, W[, C])."""
    with tifffile.TiffFile(path) as tif:
        if len(tif.series) != 1:
            raise N2NError(f"{path}: holds {len(tif.series)} image series; a stack of "
                           "captures is one series (split the file, one per scene)")
        page = tif.pages[0]
        check_size(path, page.imagelength, page.imagewidth)
        array = tif.asarray()
        return array[None] if len(tif.pages) == 1 or array.ndim == 2 else array


def is_tiff_stack(path: Path) -> bool:
    """A TIFF of several pages."""
    with tifffile.TiffFile(path) as tif:
        return len(tif.pages) > 1


def tiff_mark(path: Path) -> str | None:
    """The kind its ``Software`` tag names; the bare mark of earlier versions: a stack for a
    TIFF of several pages, else an image. None for a TIFF n2n-lite did not write."""
    try:
        with tifffile.TiffFile(path) as tif:
            software = tif.pages.first.software or ""
            several = software == MARK and len(tif.pages) > 1  # pages counted if needed
            return kind_of_mark(software, STACK if several else IMAGE)
    except Exception:  # unreadable: not ours to replace
        return None


# --------------------------------------------------------------------------- header checks


def check_tiff(path: Path) -> None:
    """The first page's size, then the page chain and the first series' data in the file."""
    size = path.stat().st_size
    with _tifffile_complaints(path), tifffile.TiffFile(path) as tif:
        page = tif.pages.first
        check_size(path, page.imagelength, page.imagewidth)
        if not tif.series:
            raise N2NError(f"{path}: a TIFF with no image in it")
        end = _data_end(tif.series[0])
    if end > size:
        raise N2NError(f"{path}: cannot read image (truncated TIFF: its pixel data runs to "
                       f"byte {end}, past the end of the file, byte {size}); copy it again")


def _data_end(series: tifffile.TiffPageSeries) -> int:
    """Where the series' pixel data ends in the file."""
    if series.dataoffset is not None:  # contiguous: one extent
        return int(series.dataoffset) + int(series.nbytes)
    ends = [int(o) + int(c) for page in series.pages if page is not None
            for o, c in zip(page.dataoffsets, page.databytecounts, strict=False)]
    return max(ends, default=0)


@contextmanager
def _tifffile_complaints(path: Path) -> Iterator[None]:
    """tifffile reports a broken page chain in its log, not as an exception, and reads on with
    fewer pages: a stack would come back short. Its errors become one N2NError here."""
    logger = logging.getLogger("tifffile")
    complaints: list[str] = []
    handler = logging.Handler(logging.ERROR)
    handler.emit = lambda record: complaints.append(record.getMessage())  # type: ignore
    propagate, logger.propagate = logger.propagate, False
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate
    structural = [c for c in complaints if any(m in c for m in _TIFF_STRUCTURE)]
    if structural:
        first = re.sub(r"^<[^>]*>\s*", "", structural[0])  # tifffile's object repr
        raise N2NError(f"{path}: cannot read image (truncated or corrupt TIFF: {first}); "
                       "tifffile would read a stack short, so nothing is read")


# --------------------------------------------------------------------------- lazy (Dask)


def lazy_tiff(path: Path, da: Any) -> LazyImage:
    """A TIFF series as planes read on demand, axes reordered as :func:`tiff_axes` says."""
    import dask

    layout = tiff_layout.read_layout(path)
    axes, order = tiff_axes(path, layout)
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


def _read_plane(path: Path, layout: TiffLayout, k: int) -> Any:
    with decoder_errors(path):
        return tiff_layout.read_plane(path, layout, k)


# --------------------------------------------------------------------------- NGFF axes


def tiff_axes(source: Path, layout: TiffLayout) -> tuple[list[Axis], list[int]]:
    """The NGFF axes of a TIFF series, and for each of them the series axis it comes from."""
    physical = physical_sizes(layout)
    axes = []
    for letter, size in zip(layout.axes, layout.shape, strict=True):
        name, kind = _NGFF_AXES.get(letter, (letter.lower(), None))
        axes.append(Axis(name, kind, size, *physical.get(letter, (1.0, None))))
    problem = _ngff_problem(axes)
    if problem:
        raise N2NError(f"{source}: axes {layout.axes} cannot be written as OME-Zarr "
                       f"({problem}); write a .tif instead")
    order = sorted(range(len(axes)), key=lambda i: (_TYPE_ORDER[axes[i].type],
                                                    "zyx".find(axes[i].name)))
    return [axes[i] for i in order], order


def _ngff_problem(axes: list[Axis]) -> str | None:
    """What NGFF 0.4 forbids in these axes: it allows one time axis, one channel or custom
    axis, and two or three space axes; None when they are fine."""
    kinds = [a.type for a in axes]
    if kinds.count("time") > 1:
        return "more than one time axis"
    if kinds.count("channel") + kinds.count(None) > 1:
        return "more than one channel-like axis (channels, colour samples or unnamed axes)"
    if len(axes) > 5:
        return "more than 5 axes"
    return None


def physical_sizes(layout: TiffLayout) -> dict[str, tuple[float, str | None]]:
    """Axis letter -> (size of one step, NGFF unit) from ImageJ, OME or TIFF resolution."""
    options = layout.write_options
    meta = options.get("metadata") or {}
    sizes: dict[str, tuple[float, str | None]] = {}
    if options.get("ome"):
        for letter in "XYZ":
            if f"PhysicalSize{letter}" in meta:
                unit = meta.get(f"PhysicalSize{letter}Unit", "\u00b5m")
                sizes[letter] = (float(meta[f"PhysicalSize{letter}"]), _UNITS.get(unit))
        if "TimeIncrement" in meta:
            unit = meta.get("TimeIncrementUnit", "s")
            sizes["T"] = (float(meta["TimeIncrement"]), _UNITS.get(unit))
        return sizes
    resolution = options.get("resolution")
    if options.get("imagej"):
        unit = _UNITS.get(str(meta.get("unit", "")))
        if "spacing" in meta:
            sizes["Z"] = (float(meta["spacing"]), unit)
        if "finterval" in meta:
            sizes["T"] = (float(meta["finterval"]), _UNITS.get(str(meta.get("tunit", "s"))))
    else:
        unit = _RESOLUTION_UNITS.get(int(options.get("resolutionunit") or 0))
    if resolution and all(r > 0 for r in resolution):
        sizes["X"], sizes["Y"] = (1.0 / resolution[0], unit), (1.0 / resolution[1], unit)
    return sizes


_OME_UNITS = {"micrometer": "\u00b5m", "nanometer": "nm", "millimeter": "mm",
              "centimeter": "cm", "meter": "m", "second": "s", "millisecond": "ms",
              "minute": "min", "hour": "h"}
_CENTIMETRES = {"micrometer": 1e-4, "nanometer": 1e-7, "millimeter": 0.1, "centimeter": 1.0,
                "meter": 100.0}


def ngff_layout(axes: list[Axis], dtype: np.dtype) -> TiffLayout:
    """An OME-TIFF layout for a gray stack with NGFF ``axes`` (y and x last), written plane by
    plane: the axes as letters (t, c, z, y, x; any other as Q) and the physical sizes as OME
    PhysicalSize / TimeIncrement, with the X/Y resolution tag in pixels per centimetre where
    the unit is a length, so that viewers keep the voxel's anisotropy."""
    letters = ngff_letters(axes)
    meta: dict[str, Any] = {"axes": letters}
    options: dict[str, Any] = {"ome": True, "metadata": meta, "photometric": "minisblack"}
    for axis in axes:
        key = {"x": "PhysicalSizeX", "y": "PhysicalSizeY", "z": "PhysicalSizeZ",
               "t": "TimeIncrement"}.get(axis.name)
        if key is None or axis.scale == 1.0 and axis.unit is None:
            continue
        meta[key] = float(axis.scale)
        if axis.unit in _OME_UNITS:
            meta[f"{key}Unit"] = _OME_UNITS[axis.unit]
    x, y = axes[-1], axes[-2]
    if x.unit in _CENTIMETRES and y.unit in _CENTIMETRES and x.scale > 0 and y.scale > 0:
        options["resolution"] = (1.0 / (x.scale * _CENTIMETRES[x.unit]),
                                 1.0 / (y.scale * _CENTIMETRES[y.unit]))
        options["resolutionunit"] = "CENTIMETER"
    return TiffLayout(tuple(a.size for a in axes), letters, np.dtype(dtype), False, options)


def tiff_blocks(layout: TiffLayout, order: list[int],
                blocks: Iterable[tuple[int, int, np.ndarray]]
                ) -> Iterator[tuple[tuple, np.ndarray]]:
    """(plane index, first row, rows channels last) of a TIFF series -> (index into the NGFF
    array whose axes are the series' in ``order``, block with samples first)."""
    leading = layout.shape[: len(layout.shape) - len(layout.plane_shape)]
    letters = [layout.axes[i] for i in order]
    for k, top, block in blocks:
        position = dict(zip(layout.axes, np.unravel_index(k, leading), strict=False))
        rows = slice(top, top + len(block))
        index = tuple(rows if a == "Y" else slice(None) if a in "XS" else int(position[a])
                      for a in letters)
        yield index, block if block.ndim == 2 else np.moveaxis(block, -1, 0)



FORMAT = Format("TIFF", (".tif", ".tiff"), IMAGE, tiff_mark, check_tiff, read_tiff,
                write_tiff_image, depths=(8, 16, 32), alpha=True, read_stack=read_tiff_stack,
                is_stack=is_tiff_stack, lazy=lazy_tiff,
                planes=Planes(tiff_layout.read_layout, tiff_layout.read_plane,
                              tiff_layout.channels_last, tiff_layout.StackPlanes,
                              tiff_layout.write_tiff, tiff_axes, tiff_blocks))
