"""PNG: 8 or 16 bits, gray or RGB, with alpha; marked by a ``Software`` text chunk.

8-bit files are read and written by Pillow, 16-bit ones by pypng (Pillow would cut them to 8
bits). Images too large for memory stream row by row: the header alone, rows decoded lazily
(libvips where the optional ``vips`` extra loads, demand-driven and 17x faster; else pure-Python
pypng), rows encoded by pypng (zlib does the work). What is done to the rows is the caller's
(:mod:`n2n.inference.strips`); only images above :data:`.base.STREAM_PIXELS` take this path.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np
import png
from PIL import PngImagePlugin

from n2n.errors import N2NError, decoder_errors
from n2n.io.files import IMAGE, atomic_path, marked
from n2n.io.formats import base
from n2n.io.formats.base import Format, Rows, check_size
from n2n.io.formats.pillow import check_pillow, pillow_mark, read_pillow, write_pillow

SIGNATURE = b"\x89PNG\r\n\x1a\n"
_VIPS_STRIP = 256  # rows libvips decodes at a time


def png_header(path: Path) -> tuple[int, int, int]:
    """Width, height and bit depth from a PNG's header, reading nothing else."""
    reader = png.Reader(filename=str(path))
    with decoder_errors(path):  # pypng raises png.Error, EOFError, OSError...
        reader.preamble()
    return reader.width, reader.height, reader.bitdepth


def streams_png(source: Path, limit: int | None = None) -> bool:
    """``source`` (a PNG) has at least ``limit`` (default :data:`STREAM_PIXELS`) pixels at 8 or
    16 bits, so it is denoised strip by strip; a bad header is an N2NError."""
    width, height, bitdepth = png_header(source)
    large = width * height >= (base.STREAM_PIXELS if limit is None else limit)
    return large and bitdepth in (8, 16)


def write_png_rows(target: Path, width: int, height: int, colors: int, alpha: bool, depth: int,
                   rows: Iterable[np.ndarray]) -> None:
    """Encode flat rows (W * planes integers each) into the PNG ``target``, atomically."""
    writer = png.Writer(width, height, greyscale=colors == 1, alpha=alpha, bitdepth=depth)
    with atomic_path(target) as tmp, open(tmp, "wb") as stream:
        writer.write(MarkedStream(stream), rows)


class MarkedStream:
    """A binary stream that slips a ``tEXt`` chunk, Software = n2n-lite image, in after the PNG
    header chunk as pypng writes a file (pypng writes no text chunks itself)."""

    HEADER_END = 8 + 25  # the signature, then IHDR: length, type, 13 bytes of data, CRC

    def __init__(self, stream: BinaryIO) -> None:
        self.stream, self.written, self.marked = stream, 0, False

    def write(self, data: bytes) -> None:
        self.stream.write(data)
        self.written += len(data)
        if not self.marked and self.written >= self.HEADER_END:
            png.write_chunk(self.stream, b"tEXt", b"Software\0" + marked(IMAGE).encode())
            self.marked = True


def decode_rows(path: Path, vips: bool | None = None
                ) -> tuple[tuple[int, int, int, bool, int], Iterator[np.ndarray]]:
    """(width, height, planes, has alpha, bit depth) and a lazy iterator of (W, planes) rows;
    by libvips if ``vips`` (default: when pyvips and its library load), else by pypng. A
    header beyond :data:`~n2n.io.formats.base.MAX_PIXELS` is refused before any row."""
    if vips is None:
        vips = _libvips_loads()
    if not vips:
        width, height, rows, info = png.Reader(filename=str(path)).asDirect()
        check_size(path, height, width)
        planes = info["planes"]
        header = (width, height, planes, bool(info["alpha"]), info["bitdepth"])
        return header, (np.asarray(row).reshape(width, planes) for row in rows)
    import pyvips

    image = pyvips.Image.new_from_file(str(path), access="sequential", fail_on="error")
    check_size(path, image.height, image.width)
    depth = 16 if image.format == "ushort" else 8
    header = (image.width, image.height, image.bands, image.hasalpha(), depth)
    return header, _vips_rows(image)


def _libvips_loads() -> bool:
    """pyvips is installed and finds a libvips library (its binary wheel or the system's)."""
    try:
        import pyvips  # noqa: F401  (raises OSError when no libvips library is found)
    except (ImportError, OSError):
        return False
    return True


def _vips_rows(image) -> Iterator[np.ndarray]:
    """Rows of a libvips image, decoded one strip at a time, top to bottom."""
    for top in range(0, image.height, _VIPS_STRIP):
        strip = image.crop(0, top, image.width, min(_VIPS_STRIP, image.height - top)).numpy()
        yield from strip.reshape(strip.shape[0], image.width, image.bands)


# --------------------------------------------------------------------------- whole images


def read_png(path: Path) -> np.ndarray:
    """A PNG as (H, W[, C]): 16-bit files by pypng, the rest by Pillow."""
    with open(path, "rb") as f:
        head = f.read(26)
    if not (head[:8] == SIGNATURE and len(head) == 26 and head[24] == 16):
        return read_pillow(path)
    width, height, rows, info = png.Reader(filename=str(path)).asDirect()
    check_size(path, height, width)
    array = np.vstack([np.asarray(row, dtype=np.uint16) for row in rows])
    return array.reshape(height, width, info["planes"])


def write_png(path: Path, array: np.ndarray) -> None:
    """An (H, W, C) uint8 or uint16 array as a marked PNG at its own depth."""
    if array.dtype == np.uint16:
        height, width, planes = array.shape
        writer = png.Writer(width, height, greyscale=planes in (1, 2), alpha=planes in (2, 4),
                            bitdepth=16)
        with open(path, "wb") as stream:
            writer.write(MarkedStream(stream), array.reshape(height, width * planes))
        return
    info = PngImagePlugin.PngInfo()
    info.add_text("Software", marked(IMAGE))
    write_pillow(path, array, "PNG", pnginfo=info)


def check_png(path: Path) -> None:
    """The header's size, then every chunk whole up to IEND (a seek per chunk), with data."""
    with open(path, "rb") as f:
        if f.read(len(SIGNATURE)) != SIGNATURE:  # another format under a .png name
            return check_pillow(path)
        size, seen = path.stat().st_size, set()
        while True:
            head = f.read(8)
            if len(head) < 8:
                raise N2NError(f"{path}: cannot read image (truncated PNG: the file ends at "
                               f"byte {size}, before its IEND chunk); copy it again")
            length, kind = struct.unpack(">I4s", head)
            if not seen:
                if kind != b"IHDR" or length != 13:
                    raise N2NError(f"{path}: not a valid PNG (no IHDR header first)")
                width, height = struct.unpack(">II", f.read(8))
                check_size(path, height, width)
                f.seek(-8, 1)
            seen.add(kind)
            if kind == b"IEND":
                break
            end = f.seek(length + 4, 1)  # the data and its CRC
            if end > size:
                raise N2NError(f"{path}: cannot read image (truncated PNG: a "
                               f"{kind.decode(errors='replace')} chunk runs past the end of "
                               f"the file, byte {size}); copy it again")
    if b"IDAT" not in seen:
        raise N2NError(f"{path}: cannot read image (a PNG header with no pixel data: no IDAT "
                       "chunk)")


FORMAT = Format("PNG", (".png",), IMAGE, pillow_mark, check_png, read_png, write_png,
                depths=(8, 16), alpha=True, signature=SIGNATURE,
                rows=Rows(streams_png, decode_rows, write_png_rows))
