"""Denoise PNGs too large for memory: rows stream in, full-width strips are denoised tile by
tile, rows stream out.

Memory is bounded by one strip (``tile`` rows plus a margin above and below, at full width),
not by the image's height. Strip borders follow the tiler's rule (corners on the network's
multiple, margins of at least the receptive radius), so the result equals ``n2n denoise`` on the
whole image. Rows are decoded by libvips (the optional ``vips`` extra: demand-driven, 17x
faster) or else by pure-Python pypng, and encoded by pypng (zlib does the work). Only images
above :data:`STREAM_PIXELS` take this path.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import png

from n2n.denoise import Denoiser
from n2n.errors import N2NError, conversion_errors
from n2n.files import atomic_path
from n2n.io import Image, check_size, to_array

STREAM_PIXELS = 1 << 24  # 16.8 Mpx (4096^2): from this size a PNG -> PNG denoise streams
_VIPS_STRIP = 256  # rows libvips decodes at a time


def png_header(path: Path) -> tuple[int, int, int]:
    """Width, height and bit depth from a PNG's header, reading nothing else."""
    reader = png.Reader(filename=str(path))
    try:
        reader.preamble()
    except Exception as err:  # pypng raises png.Error, EOFError, OSError...
        raise N2NError(f"{path}: cannot read image ({err or type(err).__name__})") from err
    return reader.width, reader.height, reader.bitdepth


def should_stream(source: Path, target: Path, limit: int | None = None) -> bool:
    """True for a PNG -> PNG denoise that :func:`streams_png` accepts."""
    if source.suffix.lower() != ".png" or target.suffix.lower() != ".png":
        return False
    try:
        return streams_png(source, limit)
    except N2NError:
        return False  # not streamable: reading it whole will name the problem


def streams_png(source: Path, limit: int | None = None) -> bool:
    """``source`` (a PNG) has at least ``limit`` (default :data:`STREAM_PIXELS`) pixels at 8 or
    16 bits, so it is denoised strip by strip; a bad header is an N2NError."""
    width, height, bitdepth = png_header(source)
    return width * height >= (STREAM_PIXELS if limit is None else limit) and bitdepth in (8, 16)


def denoise_png_streaming(denoiser: Denoiser, source: Path, target: Path) -> None:
    """Denoise ``source`` into ``target`` (written atomically) one strip at a time."""
    with conversion_errors(source, target):
        (width, height, planes, alpha, depth), pixel_rows = decode_rows(source)
        check_size(source, height, width)
        writer = png.Writer(width, height, greyscale=planes - alpha == 1, alpha=alpha,
                            bitdepth=depth)
        out_rows = denoised_rows(denoiser, pixel_rows, height, planes - alpha, depth)
        with atomic_path(target) as tmp, open(tmp, "wb") as stream:
            writer.write(stream, out_rows)


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


def row_blocks(rows: Iterator[np.ndarray], height: int, block_rows: int
               ) -> Iterator[tuple[int, np.ndarray]]:
    """(first row, the rows stacked) for consecutive blocks of ``block_rows`` of ``height``
    rows, so that a writer of chunks or strips gets whole ones."""
    for top in range(0, height, block_rows):
        yield top, np.stack([next(rows) for _ in range(min(block_rows, height - top))])


def denoised_rows(denoiser: Denoiser, rows: Iterator[np.ndarray], height: int, colors: int,
                  depth: int) -> Iterator[np.ndarray]:
    """Rows (W, planes) of ``depth``-bit integers (or float32 on the 0..255 scale for depth 32)
    in, denoised flat rows out, in order; planes beyond ``colors`` (alpha) pass through."""
    scale = 1.0 if depth == 32 else 255.0 / (2**depth - 1)
    tile, margin = denoiser.tile, denoiser.margin
    buffer: list[np.ndarray] = []
    first_buffered = 0
    for top in range(0, height, tile):
        bottom = min(top + tile, height)
        first, last = max(top - margin, 0), min(bottom + margin, height)
        while first_buffered + len(buffer) < last:
            buffer.append(next(rows))
        del buffer[: first - first_buffered]
        first_buffered = first
        strip = np.stack(buffer)  # (rows, W, planes) in the file's integers
        pixels = strip[:, :, :colors].astype(np.float32) * scale
        out = denoiser(pixels, tiled=True, clip=depth != 32)[top - first: bottom - first]
        alpha = strip[top - first: bottom - first, :, colors] if strip.shape[2] > colors else None
        array = to_array(Image(out, depth, alpha))
        yield from array.reshape(array.shape[0], -1)
