"""Random-replacing refinement (R3; AP-BSN, Lee et al., CVPR 2022) of a blind-spot network.

A blind-spot network denoises camera noise on pixel-shuffled sub-images, which leaves aliasing
and loses fine detail. R3 runs it again at full resolution on its first result with a random
share of the pixels put back to their noisy values, and averages the runs: the replaced pixels
are too sparse to carry the noise's spatial correlation, and the blind spot keeps the network
from copying them. The masks are a fixed pattern of period :data:`PERIOD` from a window's first
pixel, and every tile, strip and chunk of a blind-spot network starts on that period (the
Denoiser's grid), so a tiled image gets exactly the untiled result.
"""

from __future__ import annotations

import torch

from n2n.models import PixelModel
from n2n.models.wrapper import memory_format

PASSES = 8  # AP-BSN's T
SHARE = 0.16  # AP-BSN's p: the share of pixels put back to their noisy values
PERIOD = 64  # the masks repeat every PERIOD pixels in both directions
SEED = 0


def replacement_masks(height: int, width: int, passes: int = PASSES, share: float = SHARE
                      ) -> torch.Tensor:
    """(passes, 1, height, width) bool: where each pass takes the noisy pixel."""
    pattern = torch.rand((passes, PERIOD, PERIOD),
                         generator=torch.Generator().manual_seed(SEED)) < share
    rows, cols = torch.arange(height) % PERIOD, torch.arange(width) % PERIOD
    return pattern[:, rows][:, :, cols][:, None]


def random_replacing(model: PixelModel, noisy: torch.Tensor, first: torch.Tensor
                     ) -> torch.Tensor:
    """The mean of ``model`` at full resolution over :data:`PASSES` copies of ``first`` (its
    pixel-shuffled result for (1, C, H, W) ``noisy``) with a share of pixels replaced."""
    masks = replacement_masks(*noisy.shape[-2:]).to(noisy.device)
    total = torch.zeros_like(first)
    for mask in masks:
        mixed = torch.where(mask, noisy, first).contiguous(memory_format=memory_format(noisy))
        total += model(mixed, split=False).float()
    return total / len(masks)
