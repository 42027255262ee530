"""Write images and TIFF stacks as OME-Zarr (NGFF 0.4 on Zarr v2), the chunked format that
napari (napari-ome-zarr), Fiji (MoBIE) and ome-zarr-py open without reading it whole.

Blocks arrive one at a time (a plane, or a strip of a large plane), so memory holds one block.
A TIFF's axes (T, C, Z; colour samples become the channel axis) and physical pixel sizes
(ImageJ or OME metadata, else the TIFF resolution) become the NGFF axes and scale. Needs the
``zarr`` extra.
"""

from __future__ import annotations

import asyncio
import json
import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from n2n.errors import N2NError
from n2n.io.files import MARK, ZARR, atomic_folder
from n2n.io.tiff_stacks import TiffLayout

ZARR_SUFFIX = ".zarr"
CHUNK_EDGE = 1024  # y and x chunk size: what viewers of large images fetch at a time
# TIFF axis letter -> NGFF axis name and type; any other letter is a custom axis
_NGFF_AXES = {"T": ("t", "time"), "C": ("c", "channel"), "S": ("c", "channel"),
              "Z": ("z", "space"), "Y": ("y", "space"), "X": ("x", "space")}
_TYPE_ORDER = {"time": 0, "channel": 1, None: 1, "space": 2}
_UNITS = {"micron": "micrometer", "um": "micrometer", "\u00b5m": "micrometer",
          "\u03bcm": "micrometer", "nm": "nanometer", "mm": "millimeter", "cm": "centimeter",
          "m": "meter", "inch": "inch", "s": "second", "sec": "second", "ms": "millisecond",
          "min": "minute", "h": "hour"}
_RESOLUTION_UNITS = {2: "inch", 3: "centimeter"}  # TIFF ResolutionUnit tag values


@dataclass
class Axis:
    """One NGFF axis of the output."""

    name: str
    type: str | None
    size: int
    scale: float = 1.0
    unit: str | None = None

    def metadata(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"name": self.name}
        if self.type:
            entry["type"] = self.type
        if self.unit:
            entry["unit"] = self.unit
        return entry


def write_zarr(target: Path, axes: list[Axis], dtype: np.dtype,
               blocks: Iterable[tuple[tuple, np.ndarray]], source: Path,
               overwrite: bool = False) -> None:
    """Write ``blocks`` (an index into the array, and its values) as the OME-Zarr image
    ``target`` with ``axes``, atomically; ``source`` is named in the metadata. An existing
    ``target`` is replaced only if it is an n2n-lite output holding nothing else
    (:func:`written_by_n2n`), or with ``overwrite``."""
    with zarr_output(target, axes, dtype, source, overwrite) as array:
        for index, block in blocks:
            array[index] = block


@contextmanager
def zarr_output(target: Path, axes: list[Axis], dtype: np.dtype, source: Path,
                overwrite: bool = False, chunks: tuple[int, ...] | None = None) -> Iterator[Any]:
    """Yield the empty level-0 array of the OME-Zarr image ``target`` to fill (``chunks``:
    default one plane, 1024 x 1024); its metadata is written and the folder put in place when
    the block ends, or the folder vanishes on an error or a signal (see :func:`write_zarr`)."""
    zarr = require_zarr()
    with atomic_folder(target, written_by_n2n, overwrite) as tmp:
        try:
            group = zarr.open_group(str(tmp), mode="w", zarr_format=2)
            if chunks is None:
                chunks = tuple(min(CHUNK_EDGE, a.size) if a.name in "yx" else 1 for a in axes)
            yield group.create_array("0", shape=tuple(a.size for a in axes), chunks=chunks,
                                     dtype=dtype, fill_value=0, compressors=_compressor(),
                                     chunk_key_encoding={"name": "v2", "separator": "/"})
            group.attrs["multiscales"] = [_multiscale(axes, source)]
            group.attrs["n2n"] = {"written_by": MARK, "kind": ZARR, "source": source.name}
        except BaseException:  # an error or a signal mid-write: the folder is about to go
            _settle_writes()
            raise


def require_zarr() -> Any:
    """The zarr module (3 or later), or an error saying how to install it."""
    try:
        import zarr
    except ImportError:
        raise N2NError("OME-Zarr output needs zarr 3 (Python 3.11 or later): "
                       "pip install 'n2n-lite[zarr]'") from None
    if int(zarr.__version__.split(".")[0]) < 3:
        raise N2NError(f"OME-Zarr output needs zarr 3, found {zarr.__version__}: "
                       "pip install 'n2n-lite[zarr]'")
    return zarr


def _settle_writes(timeout: float = 60.0) -> None:
    """Wait for chunk writes already under way on zarr's I/O thread, so that none lands in the
    temporary folder after it is removed (and none complains at interpreter exit)."""
    try:
        from zarr.core.sync import _get_loop  # zarr 3's one I/O loop; private, hence guarded

        # a signal between creating a coroutine and scheduling it leaves one never awaited
        warnings.filterwarnings("ignore", "coroutine .* was never awaited", RuntimeWarning)

        async def settle() -> None:
            others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            await asyncio.gather(*others, return_exceptions=True)

        asyncio.run_coroutine_threadsafe(settle(), _get_loop()).result(timeout)
    except Exception:  # a zarr without that loop, or writes that never end: nothing to wait
        pass


def _compressor() -> Any:
    """Blosc with zstd, as ome-zarr-py writes: every Zarr v2 reader decodes it."""
    from numcodecs import Blosc

    return Blosc(cname="zstd", clevel=5, shuffle=Blosc.SHUFFLE)


def written_by_n2n(path: Path) -> bool:
    """An OME-Zarr image n2n-lite wrote (its attributes say so) that holds nothing besides what
    it wrote: a labels group or a second image someone added since keeps it from replacement."""
    try:
        attrs = json.loads((path / ".zattrs").read_text())
        entries = {p.name for p in path.iterdir()}
        methods = [m["metadata"]["method"] for m in attrs.get("multiscales", [])]
        marked = attrs.get("n2n", {}).get("written_by") == MARK or "n2n-lite denoise" in methods
    except Exception:  # not JSON, or not shaped as n2n-lite writes it: not ours
        return False
    return marked and entries <= {".zgroup", ".zattrs", "0"}


def _multiscale(axes: list[Axis], source: Path) -> dict[str, Any]:
    """NGFF 0.4 multiscales metadata for one full-resolution level, "0"."""
    return {"version": "0.4", "name": source.stem, "axes": [a.metadata() for a in axes],
            "datasets": [{"path": "0", "coordinateTransformations": [
                {"type": "scale", "scale": [a.scale for a in axes]}]}],
            "metadata": {"method": "n2n-lite denoise", "source": source.name}}


# ---- TIFF stacks


def tiff_axes(source: Path, layout: TiffLayout) -> tuple[list[Axis], list[int]]:
    """The NGFF axes of a TIFF series, and for each of them the series axis it comes from."""
    physical = _physical_sizes(layout)
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


def _physical_sizes(layout: TiffLayout) -> dict[str, tuple[float, str | None]]:
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


# ---- single images (PNG, JPEG, NumPy)


def image_blocks(axes: list[Axis], blocks: Iterable[tuple[int, np.ndarray]]
                 ) -> Iterator[tuple[tuple, np.ndarray]]:
    """(first row, rows (rows, W, C)) of one image -> (index into its NGFF array, block with
    channels first)."""
    for top, block in blocks:
        yield _image_index(axes, top, len(block)), _channels_first(block)


def image_axes(height: int, width: int, channels: int) -> list[Axis]:
    axes = [Axis("c", "channel", channels)] if channels > 1 else []
    return [*axes, Axis("y", "space", height), Axis("x", "space", width)]


def _image_index(axes: list[Axis], top: int, count: int) -> tuple:
    return tuple(slice(top, top + count) if a.name == "y" else slice(None) for a in axes)


def _channels_first(block: np.ndarray) -> np.ndarray:
    """(rows, W, C) -> (C, rows, W), or (rows, W) for one channel."""
    return block[:, :, 0] if block.shape[2] == 1 else np.moveaxis(block, -1, 0)
