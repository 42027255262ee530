"""The two-hidden-layer network of zero-shot Noise2Noise (Mansour and Heckel, CVPR 2023).

It is fitted to one image at a time, so it must be small enough to train in seconds and too
small to memorise the noise: about 22k parameters at width 48.
"""

from __future__ import annotations

import torch
from torch import nn

from n2n.models.unet import full_precision


class ZeroShotNet(nn.Module):
    """conv3x3 -> LeakyReLU(0.2) -> conv3x3 -> LeakyReLU(0.2) -> conv1x1, any H x W."""

    multiple = 1
    receptive_radius = 2

    def __init__(self, channels: int = 3, width: int = 48) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Conv2d(channels, width, 3, padding=1), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(width, width, 3, padding=1), nn.LeakyReLU(0.2, inplace=True),
            nn.Conv2d(width, channels, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return full_precision(self.layers[-1], self.layers[:-1](x))
