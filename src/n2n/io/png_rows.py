"""PNGs row by row, for images too large for memory: the header alone, rows decoded lazily
(libvips where the optional ``vips`` extra loads, demand-driven and 17x faster; else pure-Python
pypng), rows encoded by pypng (zlib does the work). What is done to the rows is the caller's
(:mod:`n2n.inference.strips`); only images above :data:`STREAM_PIXELS` take this path.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np
import png

from n2n.errors import decoder_errors
from n2n.io.files import IMAGE, atomic_path, marked

STREAM_PIXELS = 1 << 24  # 16.8 Mpx (4096^2): from this size a PNG -> PNG denoise streams
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
    return width * height >= (STREAM_PIXELS if limit is None else limit) and bitdepth in (8, 16)


def png_dtype(depth: int) -> np.dtype:
    """The numpy dtype of a PNG's 8- or 16-bit samples."""
    return np.dtype(np.uint8 if depth == 8 else np.uint16)


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
    by libvips if ``vips`` (default: when pyvips and its library load), else by pypng."""
    if vips is None:
        vips = _libvips_loads()
    if not vips:
        width, height, rows, info = png.Reader(filename=str(path)).asDirect()
        planes = info["planes"]
        header = (width, height, planes, bool(info["alpha"]), info["bitdepth"])
        return header, (np.asarray(row).reshape(width, planes) for row in rows)
    import pyvips

    image = pyvips.Image.new_from_file(str(path), access="sequential", fail_on="error")
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
