"""Networks built from the framework's modules.

* :func:`course_net` - the EE-559 required network: Conv stride 2, ReLU, Conv stride 2, ReLU,
  Upsampling, ReLU, Upsampling, Sigmoid.
* :class:`LiteUNet` - the project's weight-shared Lite U-Net, the same architecture as
  ``n2n.models.unet.LiteUNet``, as an explicit graph module: its backward routes gradients
  through the skip concatenations by hand, and its shared blocks are plain modules called
  several times (their cache stacks make that correct).
"""

from __future__ import annotations

import torch
from torch import Tensor

from n2n.scratch.activations import LeakyReLU, ReLU, Sigmoid
from n2n.scratch.layers import Conv2d, MaxPool2d, NearestUpsampling, Upsampling
from n2n.scratch.module import Module, Sequential, check_input


def course_net(channels: int = 3, width: int = 48) -> Sequential:
    """The course's required architecture; maps 0..1 images to 0..1 (sigmoid output)."""
    return Sequential(
        Conv2d(channels, width, 3, stride=2, padding=1), ReLU(),
        Conv2d(width, width, 3, stride=2, padding=1), ReLU(),
        Upsampling(width, width, 3), ReLU(),
        Upsampling(width, channels, 3), Sigmoid(),
    )


class LiteUNet(Module):
    """U-Net with one encoder and one decoder block shared across ``depth`` scales.

    Input (N, C, H, W) with H, W multiples of 2**depth; output the same shape. ``residual``
    adds the input to the output (the network predicts the noise).
    """

    def __init__(self, channels: int = 3, width: int = 24, depth: int = 4,
                 residual: bool = True) -> None:
        super().__init__()
        self.channels, self.width, self.depth, self.residual = channels, width, depth, residual
        self.head = Sequential(Conv2d(channels, width, 3, padding=1), ReLU())
        self.down = Sequential(MaxPool2d(2), Conv2d(width, width, 3, padding=1), ReLU())
        self.upsample = NearestUpsampling(2)
        self.up = Sequential(Conv2d(2 * width, 2 * width, 3, padding=1), ReLU(),
                             Conv2d(2 * width, width, 3, padding=1), ReLU())
        self.tail = Conv2d(width + channels, channels, 3, padding=1)
        self.out_act = None if residual else LeakyReLU(0.1)
        self.share_buffers()

    @property
    def multiple(self) -> int:
        return 2**self.depth

    def forward(self, x: Tensor) -> Tensor:
        check_input("LiteUNet", x, self.channels)
        skips = [self.head.forward(x)]  # (N, w, H, W)
        for _ in range(self.depth):
            skips.append(self.down.forward(skips[-1]))  # (N, w, H/2^k, W/2^k)
        h = skips.pop()
        for skip in reversed(skips):
            h = self.up.forward(torch.cat([self.upsample.forward(h), skip], 1))
        out = self.tail.forward(torch.cat([h, x], 1))
        if self.residual:
            return out + x
        return self.out_act.forward(out)

    def backward(self, grad: Tensor) -> Tensor:
        w = self.width
        if not self.residual:
            grad = self.out_act.backward(grad)
        grad_cat = self.tail.backward(grad)
        grad_h, grad_x = grad_cat[:, :w], grad_cat[:, w:]
        if self.residual:
            grad_x = grad_x + grad
        grad_skips = []  # gradient reaching skip k through its concatenation, k = 0, 1, ...
        for _ in range(self.depth):
            grad_cat = self.up.backward(grad_h)
            grad_skips.append(grad_cat[:, w:])
            grad_h = self.upsample.backward(grad_cat[:, :w])
        for k in range(self.depth - 1, -1, -1):  # back down the encoder
            grad_h = self.down.backward(grad_h) + grad_skips[k]
        return self.head.backward(grad_h) + grad_x
