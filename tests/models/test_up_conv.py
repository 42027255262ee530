"""Decoder blocks compute their first convolution over an upsampled and concatenated input in
phases (``up_conv``): the same sums as the plain formulation, in every layout, under autograd
and in TorchScript."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from n2n.models.unet import UpBlock, up_conv


def concatenated(h: torch.Tensor, skip: torch.Tensor, weight: torch.Tensor,
                 bias: torch.Tensor | None) -> torch.Tensor:
    upsampled = F.interpolate(h, scale_factor=2.0, mode="nearest")
    return F.conv2d(torch.cat([upsampled, skip], 1), weight, bias, padding=1)


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
@pytest.mark.parametrize(("up", "own", "out", "height", "width"),
                         [(4, 4, 8, 1, 1), (6, 3, 5, 3, 7), (8, 1, 16, 8, 5)])
def test_phases_equal_the_upsampled_concatenated_convolution(layout, up, own, out, height,
                                                              width):
    torch.manual_seed(0)
    h = torch.randn(2, up, height, width).contiguous(memory_format=layout)
    skip = torch.randn(2, own, 2 * height, 2 * width).contiguous(memory_format=layout)
    weight, bias = torch.randn(out, up + own, 3, 3), torch.randn(out)
    expected = concatenated(h, skip, weight, bias)
    got = up_conv(h, skip, weight, bias)
    assert got.shape == expected.shape
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(up_conv(h, skip, weight, None),
                               concatenated(h, skip, weight, None), rtol=1e-5, atol=1e-4)


def test_gradients_equal_the_plain_formulation():
    torch.manual_seed(1)
    tensors = [torch.randn(1, 3, 4, 6), torch.randn(1, 2, 8, 12), torch.randn(5, 5, 3, 3),
               torch.randn(5)]
    grads = []
    for function in (up_conv, concatenated):
        inputs = [t.clone().requires_grad_() for t in tensors]
        function(*inputs).square().sum().backward()
        grads.append([t.grad for t in inputs])
    for phased, plain in zip(*grads, strict=True):
        torch.testing.assert_close(phased, plain, rtol=1e-4, atol=1e-4)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch.jit, as the exporters use it
def test_a_scripted_block_computes_what_the_eager_one_does():
    torch.manual_seed(2)
    block = UpBlock(torch.nn.Conv2d(6, 4, 3, padding=1), torch.nn.ReLU(),
                    torch.nn.Conv2d(4, 4, 3, padding=1)).eval()
    h, skip = torch.randn(1, 3, 5, 4), torch.randn(1, 3, 10, 8)
    with torch.no_grad():
        expected = block(h, skip)
        torch.testing.assert_close(torch.jit.script(block)(h, skip), expected)
        torch.testing.assert_close(torch.jit.trace(block, (h, skip))(h, skip), expected)
