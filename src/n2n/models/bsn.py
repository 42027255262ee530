"""A blind-spot network: each output pixel is computed without the input pixel at its place.

Trained to reproduce its own noisy input (``--mode bsn``), such a network cannot copy the noise
and so learns the clean signal from single noisy images, provided the noise of neighbouring
pixels is independent; pixel-shuffled sub-images make camera noise nearly so (AP-BSN, Lee et
al., CVPR 2022). The design is AP-BSN's DBSN: a centre-masked convolution, then only dilated
and 1x1 convolutions, so that no path of offsets returns to the centre.

Why the centre stays blind: the masked k x k convolution reaches offsets d with 0 < |d|_inf <=
k // 2, and every later layer adds multiples of its dilation D > k // 2 in each coordinate; the
sum is 0 only for d = 0, which the mask removes.
"""

from __future__ import annotations

import torch
from torch import nn

from n2n.models.unet import full_precision


class CentreMaskedConv2d(nn.Conv2d):
    """A k x k convolution whose centre tap is always zero."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int) -> None:
        super().__init__(in_channels, out_channels, kernel_size, padding=kernel_size // 2)
        mask = torch.ones_like(self.weight)
        mask[:, :, kernel_size // 2, kernel_size // 2] = 0
        self.register_buffer("mask", mask, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._conv_forward(x, self.weight * self.mask, self.bias)


class DilatedBlock(nn.Module):
    """x + conv1x1(relu(dilated conv3x3(x))): keeps the blind spot (offsets multiples of D)."""

    def __init__(self, width: int, dilation: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(width, width, 3, padding=dilation, dilation=dilation),
            nn.ReLU(inplace=True), nn.Conv2d(width, width, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class Branch(nn.Sequential):
    """Masked k x k convolution, then ``blocks`` dilated blocks with dilation k // 2 + 1."""

    def __init__(self, width: int, kernel: int, blocks: int) -> None:
        dilation = kernel // 2 + 1
        super().__init__(CentreMaskedConv2d(width, width, kernel), nn.ReLU(inplace=True),
                         nn.Conv2d(width, width, 1), nn.ReLU(inplace=True),
                         *[DilatedBlock(width, dilation) for _ in range(blocks)],
                         nn.Conv2d(width, width, 1), nn.ReLU(inplace=True))
        self.radius = kernel // 2 + blocks * dilation


class BlindSpotNet(nn.Module):
    """AP-BSN's two-branch blind-spot network (3x3 and 5x5 masked convolutions, dilations 2 and
    3), ``width`` features and ``blocks`` dilated blocks per branch; no pooling, any size."""

    multiple = 1

    def __init__(self, channels: int = 3, width: int = 48, blocks: int = 5) -> None:
        super().__init__()
        self.head = nn.Sequential(nn.Conv2d(channels, width, 1), nn.ReLU(inplace=True))
        self.branches = nn.ModuleList(Branch(width, kernel, blocks) for kernel in (3, 5))
        self.tail = nn.Sequential(nn.Conv2d(2 * width, width, 1), nn.ReLU(inplace=True),
                                  nn.Conv2d(width, width // 2, 1), nn.ReLU(inplace=True))
        self.out = nn.Conv2d(width // 2, channels, 1)

    @property
    def receptive_radius(self) -> int:
        return max(branch.radius for branch in self.branches)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.head(x)
        features = torch.cat([branch(features) for branch in self.branches], 1)
        return full_precision(self.out, self.tail(features))
