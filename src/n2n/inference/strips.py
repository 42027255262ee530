"""Denoise an image arriving row by row, one full-width strip at a time.

Memory is bounded by one strip (:func:`strip_rows` plus a margin above and below, at full
width), not by the image's height; a strip's core is several margins high where memory allows,
so that its margins (``pd`` 4 reads 4 times the network's radius) cost at most half its rows.
Strip borders follow the tiler's rule (corners on the network's multiple, margins of at least
the receptive radius), so the result equals denoising the whole image. The rows come from and
go to a format that streams them (:mod:`n2n.io.formats.png`) or a stack's memory map
(:mod:`n2n.io.formats.tiff_layout`).
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import chain

import numpy as np

from n2n.inference.denoiser import Denoiser
from n2n.io.images import Image, to_array

# the most pixels one strip reads, margins included (384 MB as float32 RGB)
STRIP_PIXELS = 1 << 25
STRIP_MARGINS = 4  # a strip's core rows: this many margins, where STRIP_PIXELS allows


def strip_rows(denoiser: Denoiser, width: int) -> int:
    """The core rows of each strip of a ``width``-pixel-wide image: the denoiser's tile where
    it was given, else :data:`STRIP_MARGINS` margins within :data:`STRIP_PIXELS`, on the grid
    and at least the tile."""
    if getattr(denoiser, "tile_given", True):
        return denoiser.tile
    fit = STRIP_PIXELS // max(width, 1) - 2 * denoiser.margin
    rows = min(STRIP_MARGINS * denoiser.margin, fit) // denoiser.grid * denoiser.grid
    return max(rows, denoiser.tile)


def denoised_rows(denoiser: Denoiser, rows: Iterator[np.ndarray], height: int, colors: int,
                  depth: int, white: float | None = None) -> Iterator[np.ndarray]:
    """Rows (W, planes) of ``depth``-bit integers (or float32 for depth 32) whose value of
    white is ``white`` (default: the depth's, 255 for floats) in, denoised flat rows out, in
    order; planes beyond ``colors`` (alpha) pass through."""
    white = white or (255.0 if depth == 32 else float(2**depth - 1))
    scale = np.float32(255.0 / white)
    if height == 0:
        return
    head = next(rows)  # its width sets the strips' height
    rows, tile = chain([head], rows), strip_rows(denoiser, head.shape[0])
    margin, buffer, first_buffered = denoiser.margin, [], 0
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
        array = to_array(Image(out, depth, alpha, white))
        yield from array.reshape(array.shape[0], -1)
