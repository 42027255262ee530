"""Decoder blocks compute their first convolution over an upsampled and concatenated input in
phases (``up_conv``), and the Lite U-Net's tail its convolution over the concatenated input as
two (``tail_conv``): the same sums as the plain formulation, in every layout, under autograd
and in TorchScript."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from n2n.models.unet import LiteUNet, UpBlock, full_precision, tail_conv, up_conv


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


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_the_tail_equals_its_convolution_over_the_concatenation(layout):
    torch.manual_seed(3)
    layer = torch.nn.Conv2d(8 + 3, 3, 3, padding=1).to(memory_format=layout)
    h = torch.randn(2, 8, 9, 14).contiguous(memory_format=layout)
    x = torch.randn(2, 3, 9, 14).contiguous(memory_format=layout)
    expected = layer(torch.cat([h, x], 1))
    torch.testing.assert_close(tail_conv(layer, h, x), expected, rtol=1e-5, atol=1e-5)
    with torch.autocast("cpu", dtype=torch.bfloat16):  # full precision under autocast too
        got = tail_conv(layer, h.bfloat16(), x)
        plain = full_precision(layer, torch.cat([h.bfloat16().float(), x], 1))
    assert got.dtype == torch.float32
    torch.testing.assert_close(got, plain, rtol=1e-5, atol=1e-5)


class Tail(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.layer = torch.nn.Conv2d(6 + 3, 3, 3, padding=1)

    def forward(self, h: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return tail_conv(self.layer, h, x)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch.jit, as the exporters use it
def test_a_traced_tail_and_lite_unet_compute_what_the_eager_ones_do():
    """Exports trace the network (n2n.export.portable), which takes the plain graph."""
    torch.manual_seed(4)
    tail, h, x = Tail().eval(), torch.randn(1, 6, 7, 5), torch.randn(1, 3, 7, 5)
    net, image = LiteUNet(width=8, depth=2).eval(), torch.randn(1, 3, 16, 12)
    with torch.no_grad():
        traced = torch.jit.trace(tail, (h, x))
        assert "aten::cat" in str(traced.graph)  # the plain graph, as exported
        torch.testing.assert_close(traced(h, x), tail(h, x), rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(torch.jit.trace(net, image)(image), net(image), rtol=1e-5,
                                   atol=1e-5)
