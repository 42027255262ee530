"""Where a network sees nothing but one value, the answer is that value.

A trained network is not exactly the identity on a constant input: it carries small biases,
and near the image's edge its zero-padded convolutions read a dark frame (an all-white image
came back with corners at 243). A pixel whose whole receptive field, clipped at the image's
edge, holds one value in every channel has no noise to remove, so it keeps its input. The test
is local (a window of the receptive radius), so tiles, strips and Dask chunks, each read with
that margin, decide every pixel as the whole image does. Noisy pixels never pass it: the rule
changes nothing on a real capture, only constant images and clipped or padded areas.
"""

from __future__ import annotations

import numpy as np


def constant_windows(pixels: np.ndarray, radius: int) -> np.ndarray:
    """(H, W) bool: the pixels of (H, W, C) ``pixels`` whose (2 radius + 1)² window, clipped at
    the edge, holds a single value in each channel."""
    height, width = pixels.shape[:2]
    across = np.any(pixels[:, 1:] != pixels[:, :-1], axis=2)  # (H, W-1): x differs from x+1
    row_flat = ~_any_in_window(across, radius, axis=1, length=width)  # (H, W)
    if not row_flat.any():  # a noisy image: no row holds a run of one value that long
        return row_flat
    down = np.any(pixels[1:] != pixels[:-1], axis=2)  # (H-1, W): y differs from y+1
    # a window is constant when each of its rows is, and its centre column runs flat
    return (~_any_in_window(~row_flat, radius, axis=0, length=height, edges=False)
            & ~_any_in_window(down, radius, axis=0, length=height))


def _any_in_window(marks: np.ndarray, radius: int, axis: int, length: int,
                   edges: bool = True) -> np.ndarray:
    """Along ``axis``, whether any mark lies in each position's window of ``radius``: ``marks``
    are between neighbours (length - 1 of them) when ``edges``, on positions otherwise."""
    shape = list(marks.shape)
    shape[axis] += 1
    counts = np.zeros(shape, np.int32)  # counts[k]: the marks before k (int32: along one axis)
    after_first = tuple(slice(1, None) if a == axis else slice(None) for a in range(2))
    np.cumsum(marks, axis=axis, out=counts[after_first])
    position = np.arange(length)
    first = np.clip(position - radius, 0, length)
    last = np.clip(position + radius + (0 if edges else 1), 0, counts.shape[axis] - 1)
    return (np.take(counts, last, axis=axis) - np.take(counts, first, axis=axis)) > 0
