"""OME-Zarr: a folder, written as NGFF 0.4 on Zarr v2 (the chunked format that napari
(napari-ome-zarr), Fiji (MoBIE) and ome-zarr-py open without reading it whole), read as NGFF
0.4 or 0.5, lazily for Dask. Marked by its ``n2n`` attributes. Needs the ``zarr`` extra.

Blocks arrive one at a time (a plane, or a strip of a large plane), so memory holds one block;
a stack's axes and physical sizes come from its format (:attr:`Planes.ngff_axes`). Reading
takes the first multiscale image's full-resolution level; axes are found by name and type, not
by position, so files whose writers put them in an unusual order are read as they are. An
image is denoised as a stack of its planes (:class:`NgffPlanes`, y and x last), through the
same plane route as a TIFF stack.
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

from n2n.errors import N2NError, decoder_errors
from n2n.io.files import MARK, ZARR, atomic_folder
from n2n.io.formats.base import (
    MAX_PIXELS,
    Axis,
    Blocks,
    Format,
    LazyImage,
    Planes,
)
from n2n.io.formats.tiff import ngff_layout
from n2n.io.formats.tiff_layout import TiffLayout

ZARR_SUFFIX = ".zarr"
CHUNK_EDGE = 1024  # y and x chunk size: what viewers of large images fetch at a time
VERSIONS = ("0.4", "0.5")  # NGFF versions read


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


# --------------------------------------------------------------------------- reading


@dataclass
class NgffImage:
    """An OME-Zarr image's level 0: where its array is and what its axes mean."""

    path: Path  # the image group
    level: str  # the array's path inside the group, e.g. "0"
    axes: list[Axis]
    dtype: np.dtype
    chunks: tuple[int, ...]
    version: str

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(a.size for a in self.axes)

    def axis(self, name: str) -> int:
        """The position of the axis called ``name``, or an error naming the axes there are."""
        names = [a.name for a in self.axes]
        if name not in names:
            raise N2NError(f"{self.path}: no '{name}' axis among {names}; an image needs y and x")
        return names.index(name)


def is_ngff(path: Path) -> bool:
    """A folder with Zarr group metadata (v2 ``.zattrs`` or v3 ``zarr.json``)."""
    return path.is_dir() and ((path / ".zattrs").is_file() or (path / "zarr.json").is_file())


def read_ngff(path: str | Path) -> NgffImage:
    """The first multiscale image of the OME-Zarr group ``path``, level 0."""
    zarr, path = require_zarr(), Path(path)
    if not is_ngff(path):
        raise N2NError(f"{path}: not an OME-Zarr image (no .zattrs or zarr.json in a folder)")
    try:
        group = zarr.open_group(str(path), mode="r")
        attrs = dict(group.attrs)
    except Exception as err:
        raise N2NError(f"{path}: not a readable Zarr group ({err})") from err
    meta = attrs.get("ome", attrs)  # 0.5 nests the OME metadata under "ome"
    multiscales = meta.get("multiscales")
    if not multiscales:
        raise N2NError(f"{path}: a Zarr group without OME 'multiscales' metadata; a plate, a "
                       "labels group or a plain array is not an image")
    scale = multiscales[0]
    version = str(meta.get("version") or scale.get("version") or "")
    if version not in VERSIONS:
        raise N2NError(f"{path}: OME-Zarr version {version or 'unknown'}; n2n-lite reads "
                       f"{' and '.join(VERSIONS)}")
    level = scale["datasets"][0]["path"]
    try:
        array = group[level]
    except KeyError:
        raise N2NError(f"{path}: level '{level}' named in the metadata is missing") from None
    axes = _axes(path, scale, array.shape)
    return NgffImage(path, level, axes, np.dtype(array.dtype), tuple(array.chunks), version)


def _axes(path: Path, multiscale: dict[str, Any], shape: tuple[int, ...]) -> list[Axis]:
    """The axes with their level-0 scale (the dataset's times the multiscale's own)."""
    entries = multiscale.get("axes") or []
    if len(entries) != len(shape):
        raise N2NError(f"{path}: {len(entries)} axes in the metadata for an array of shape "
                       f"{tuple(shape)}")
    scale = np.ones(len(shape))
    for transforms in (multiscale["datasets"][0].get("coordinateTransformations", []),
                       multiscale.get("coordinateTransformations", [])):
        for t in transforms:
            if t.get("type") == "scale" and "scale" in t:
                scale = scale * np.asarray(t["scale"], dtype=float)
    axes = []
    for entry, size, step in zip(entries, shape, scale, strict=True):
        entry = {"name": entry} if isinstance(entry, str) else entry
        axes.append(Axis(str(entry["name"]), entry.get("type"), int(size), float(step),
                         entry.get("unit")))
    return axes


def open_level(image: NgffImage) -> Any:
    """The zarr array of an image's level 0, opened for reading (sliced as numpy is)."""
    return require_zarr().open_group(str(image.path), mode="r")[image.level]


def check_zarr(path: Path) -> None:
    """The OME metadata, and no chunk too large to decode in memory."""
    if not path.is_dir():
        raise N2NError(f"{path}: not an OME-Zarr image (a .zarr folder)")
    with decoder_errors(path, "OME-Zarr image"):
        image = read_ngff(path)
    chunk = int(np.prod(image.chunks, dtype=np.int64))
    if chunk > MAX_PIXELS:
        raise N2NError(f"{path}: a chunk of {image.chunks} holds {chunk} values, over the limit "
                       f"of {MAX_PIXELS} (a corrupt header?); rechunk the image")


def zarr_mark(path: Path) -> str | None:
    """:data:`ZARR` for an OME-Zarr image n2n-lite wrote that holds nothing else."""
    return ZARR if written_by_n2n(path) else None


def lazy_zarr(path: Path, da: Any) -> LazyImage:
    """Level 0 of an OME-Zarr image, read chunk by chunk."""
    image = read_ngff(path)
    return LazyImage(da.from_array(_CheckedChunks(path, image.level), chunks=image.chunks),
                     image.axes, None)


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


class NgffPlanes:
    """The 2-D planes of an OME-Zarr image's level 0 (a :class:`~n2n.io.formats.base.
    PlaneSource`), in the order of its axes with y and x moved last: ``leading`` their shape,
    ``axes`` their NGFF axes; ``order[i]``: the stored axis that the i-th of them is."""

    def __init__(self, source: Path) -> None:
        self.image = read_ngff(source)
        self.array = open_level(self.image)
        y, x = self.image.axis("y"), self.image.axis("x")
        self.order = [i for i in range(len(self.image.axes)) if i not in (y, x)] + [y, x]
        self.axes = [self.image.axes[i] for i in self.order]
        self.leading = tuple(a.size for a in self.axes[:-2])
        self.count = int(np.prod(self.leading, dtype=np.int64))

    def __iter__(self) -> Iterator[np.ndarray]:
        return (self(k) for k in range(self.count))

    def __call__(self, k: int) -> np.ndarray:
        """Plane ``k`` as (H, W)."""
        index, transposed = plane_index(self.order, self.leading, k)
        plane = np.asarray(self.array[index])
        return plane.T if transposed else plane


def plane_index(order: list[int], leading: tuple[int, ...], k: int,
                rows: slice = slice(None)) -> tuple[tuple, bool]:
    """Plane ``k``'s index (its ``rows``) into an array stored in the axis order that
    ``order`` names (y and x last in ``order``), and whether x is stored before y."""
    index: list[Any] = [slice(None)] * len(order)
    for axis, i in zip(order, np.unravel_index(k, leading), strict=False):
        index[axis] = int(i)
    index[order[-2]] = rows
    return tuple(index), order[-1] < order[-2]


def stack_layout(source: Path) -> TiffLayout:
    """An OME-Zarr image as the stack of its planes, y and x last: the layout it is denoised
    by (the same plane route as a TIFF stack) and an OME-TIFF of it is written with."""
    planes = NgffPlanes(source)
    return ngff_layout(planes.axes, planes.image.dtype)


def stored_axes(source: Path, layout: TiffLayout) -> tuple[list[Axis], list[int]]:
    """The image's NGFF axes as stored, and the stored axis of each of its planes' axes."""
    planes = NgffPlanes(source)
    return planes.image.axes, planes.order


def stored_blocks(layout: TiffLayout, order: list[int],
                  blocks: Iterable[tuple[int, int, np.ndarray]]
                  ) -> Iterator[tuple[tuple, np.ndarray]]:
    """(plane index, first row, rows) of the planes -> (index into the stored array, block)."""
    leading = layout.shape[:-2]
    for k, top, block in blocks:
        index, transposed = plane_index(order, leading, k, slice(top, top + len(block)))
        yield index, block.T if transposed else block


FORMAT = Format("OME-Zarr", (ZARR_SUFFIX,), ZARR, zarr_mark, check_zarr, claims=is_ngff,
                lazy=lazy_zarr, blocks=Blocks(write_zarr, require_zarr, lambda: CHUNK_EDGE),
                planes=Planes(stack_layout, lambda path, layout, k: NgffPlanes(path)(k),
                              lambda plane, layout: plane, lambda path, layout: NgffPlanes(path),
                              None, stored_axes, stored_blocks))
