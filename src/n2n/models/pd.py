"""Pixel-shuffle down-sampling (PD; Zhou et al. 2020, Lee et al. 2022, AP-BSN).

Camera noise is spatially correlated by demosaicking and processing, which breaks the
independence of neighbouring pixels that Neighbor2Neighbor and zero-shot Noise2Noise assume.
Split an image into ``factor**2`` sub-images whose pixels lie ``factor`` apart, where the
noise is nearly white, denoise those, and put them back.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F


def pd_split(x: torch.Tensor, factor: int) -> torch.Tensor:
    """(N, C, H, W) -> (N * factor**2, C, H / factor, W / factor); H, W multiples of factor.

    Sub-image ``i * factor + j`` of image n holds pixels (factor * y + i, factor * x + j)."""
    if factor == 1:
        return x
    n, c, height, width = x.shape
    cells = F.pixel_unshuffle(x, factor)  # (N, C * f^2, h, w), channel-major
    h, w = height // factor, width // factor
    cells = cells.view(n, c, factor * factor, h, w).transpose(1, 2)
    return cells.reshape(n * factor * factor, c, h, w)


def pd_merge(x: torch.Tensor, factor: int) -> torch.Tensor:
    """The exact inverse of :func:`pd_split`."""
    if factor == 1:
        return x
    nf, c, h, w = x.shape
    n = nf // (factor * factor)
    cells = x.view(n, factor * factor, c, h, w).transpose(1, 2)
    return F.pixel_shuffle(cells.reshape(n, c * factor * factor, h, w), factor)
