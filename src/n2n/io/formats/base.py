"""What a format module provides (:class:`Format`), and what every format shares: the size
limit, NGFF axes, lazy images.

A format is described by data, not by branches elsewhere: its suffixes, a reader and writer of
whole images, the bit depths and alpha it can hold, its ownership mark (how n2n-lite tells a
file it wrote, :mod:`n2n.io.files`), its header checks, and where it has them, a stack reader,
a row-streaming reader and writer (:class:`Rows`), a plane-by-plane stack reader and writer
(:class:`Planes`), a block writer (:class:`Blocks`) and a lazy reader for Dask.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from n2n.errors import N2NError

MAX_PIXELS = 1 << 28  # 268 Mpx (16384^2): larger headers are refused before any allocation
STREAM_PIXELS = 1 << 24  # 16.8 Mpx (4096^2): from this size images stream where formats allow


def check_size(path: Path, height: int, width: int) -> None:
    """Refuse a header of more than :data:`MAX_PIXELS` pixels, before any allocation."""
    if height * width > MAX_PIXELS:
        raise N2NError(
            f"{path}: {width}x{height} pixels exceeds the limit of {MAX_PIXELS} "
            "(a decompression bomb or a corrupt header)"
        )


def unmarked(path: Path) -> None:
    """The ownership mark of a format that carries none (``.npy``): never n2n-lite's own, so an
    existing file is replaced only on request."""
    return None


@dataclass
class Axis:
    """One NGFF axis: its name, type, size and physical step."""

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


def ngff_letter(name: str) -> str:
    """The axis letter (T, C, Z, Y, X; Q for a name NGFF leaves to the writer) of an NGFF
    axis called ``name``, as :mod:`n2n.data.volumes` names a stack's axes."""
    return name.upper() if name.lower() in ("t", "c", "z", "y", "x") else "Q"


def ngff_letters(axes: list[Axis]) -> str:
    """The axis letters of an image's NGFF axes, in their order (e.g. TCZYX)."""
    return "".join(ngff_letter(a.name) for a in axes)


@dataclass
class LazyImage:
    """A lazy image, its NGFF axes, and which axis (if any) holds colours to keep together."""

    array: Any  # dask.array.Array
    axes: list[Axis]
    colour_axis: int | None  # RGB samples of a photo; fluorescence channels are separate planes


RowHeader = tuple[int, int, int, bool, int]  # width, height, planes, has alpha, bit depth


@dataclass(frozen=True)
class Rows:
    """Row streaming, for images too large for memory: ``streams(path, limit)`` says a file is
    large enough (and of a depth) to stream; ``decode`` gives its header and (W, planes) rows,
    refusing a header beyond :data:`MAX_PIXELS` (:func:`check_size`) before any row;
    ``write(target, width, height, colours, alpha, depth, flat rows)`` encodes atomically."""

    streams: Callable[[Path, int | None], bool]
    decode: Callable[[Path], tuple[RowHeader, Iterator[np.ndarray]]]
    write: Callable[..., None]


class PlaneSource(Protocol):
    """A stack's planes, read when taken: in order when iterated, plane ``k`` when called
    (each channels last, in the stack's dtype)."""

    def __iter__(self) -> Iterator[np.ndarray]: ...

    def __call__(self, k: int) -> np.ndarray: ...


@dataclass(frozen=True)
class Planes:
    """Stacks of planes kept with their layout and metadata: ``layout(path)`` (the stack's
    shape, axes, dtype, planes, y and x last), ``read_plane(path, layout, k)``,
    ``channels_last(plane, layout)``, ``open(path, layout)`` (a :class:`PlaneSource`),
    ``write(target, layout, blocks)`` (None: written through the format's block writer), and
    the stack's NGFF axes and blocks (``ngff_axes(path, layout)``, ``ngff_blocks(layout,
    order, blocks)``) for a block writer."""

    layout: Callable[[Path], Any]
    read_plane: Callable[[Path, Any, int], np.ndarray]
    channels_last: Callable[[np.ndarray, Any], np.ndarray]
    open: Callable[[Path, Any], PlaneSource]
    write: Callable[[Path, Any, Iterator[tuple[int, int, np.ndarray]]], None] | None
    ngff_axes: Callable[[Path, Any], tuple[list[Axis], list[int]]]
    ngff_blocks: Callable[..., Iterator[tuple[tuple, np.ndarray]]]


@dataclass(frozen=True)
class Blocks:
    """A format written block by block from any source (a chunked folder: OME-Zarr):
    ``write(target, axes, dtype, blocks, source, overwrite)``; ``require()`` raises before any
    work when its optional extra is missing; ``strip_rows`` is the rows a block spans."""

    write: Callable[..., None]
    require: Callable[[], Any]
    strip_rows: Callable[[], int]


@dataclass(frozen=True)
class Format:
    """One image format: what n2n-lite reads and writes through it, and how."""

    name: str
    suffixes: tuple[str, ...]  # lower case, the usual one first
    kind: str  # what an output of this format is by default (files.IMAGE, files.ZARR)
    mark: Callable[[Path], str | None]  # the kind n2n-lite wrote there; None: not its own
    check: Callable[[Path], None]  # header checks, before any pixel is decoded
    read: Callable[[Path], np.ndarray] | None = None  # (H, W[, C]) in the file's dtype
    write: Callable[[Path, np.ndarray], None] | None = None  # (H, W, C) to a temporary path
    depths: tuple[int, ...] = ()  # the bit depths ``write`` holds: 8, 16, 32 (float32)
    alpha: bool = False  # ``write`` keeps an alpha channel
    lossless: bool = True  # ``write`` then ``read`` gives every value back (JPEG does not)
    signature: bytes = b""  # the file's first bytes: its content wins over a wrong suffix
    read_stack: Callable[[Path], np.ndarray] | None = None  # (K, H, W[, C]) captures
    is_stack: Callable[[Path], bool] | None = None  # holds several captures
    rows: Rows | None = None
    planes: Planes | None = None
    blocks: Blocks | None = None
    lazy: Callable[[Path, Any], LazyImage] | None = None  # (path, dask.array) for Dask
    claims: Callable[[Path], bool] | None = None  # recognises a path by content (a folder)

    @property
    def folder(self) -> bool:
        """Written as a folder (OME-Zarr), not as one file."""
        return self.blocks is not None


def image_axes(height: int, width: int, channels: int) -> list[Axis]:
    """The NGFF axes of one image: (c,) y, x."""
    axes = [Axis("c", "channel", channels)] if channels > 1 else []
    return [*axes, Axis("y", "space", height), Axis("x", "space", width)]


def row_blocks(rows: Iterator[np.ndarray], height: int, block_rows: int
               ) -> Iterator[tuple[int, np.ndarray]]:
    """(first row, the rows stacked) for consecutive blocks of ``block_rows`` of ``height``
    rows, so that a writer of chunks or strips gets whole ones."""
    for top in range(0, height, block_rows):
        yield top, np.stack([next(rows) for _ in range(min(block_rows, height - top))])


def rows_as_blocks(rows: Iterator[np.ndarray], height: int, width: int, channels: int,
                   block_rows: int) -> tuple[list[Axis], Iterator[tuple[tuple, np.ndarray]]]:
    """One image arriving as flat rows, for a block writer: its NGFF axes, and its blocks of
    ``block_rows`` rows each (:func:`image_blocks`)."""
    axes = image_axes(height, width, channels)
    strips = ((top, block.reshape(len(block), width, channels))
              for top, block in row_blocks(rows, height, block_rows))
    return axes, image_blocks(axes, strips)


def image_blocks(axes: list[Axis], blocks: Iterable[tuple[int, np.ndarray]]
                 ) -> Iterator[tuple[tuple, np.ndarray]]:
    """(first row, rows (rows, W, C)) of one image -> (index into its NGFF array, block with
    channels first)."""
    for top, block in blocks:
        index = tuple(slice(top, top + len(block)) if a.name == "y" else slice(None)
                      for a in axes)
        yield index, block[:, :, 0] if block.shape[2] == 1 else np.moveaxis(block, -1, 0)
