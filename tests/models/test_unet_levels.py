"""The U-Nets cut at a level (``Levels``): encode, middle and decode compute what the whole
network computes, and no input beyond a stage's stated radius changes its output."""

from __future__ import annotations

import pytest
import torch

from n2n.models import ModelConfig, build_model
from n2n.models.context import ContextUNet
from n2n.models.unet import LiteUNet, N2NUNet

NETS = [lambda: LiteUNet(3, 8, 4), lambda: LiteUNet(3, 8, 3), lambda: LiteUNet(1, 8, 2),
        lambda: ContextUNet(1, 3, 8, 4), lambda: N2NUNet(3, 8)]


@pytest.fixture(params=range(len(NETS)), ids=["lite4", "lite3", "lite2", "context", "n2n"])
def net(request):
    torch.manual_seed(request.param)
    return NETS[request.param]().eval()


def _input(net, height=96, width=128):
    return torch.randn(2, net.head[0].in_channels if hasattr(net, "head") else 3, height, width)


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_the_stages_compute_the_whole_network(net, layout):
    net = net.to(memory_format=layout)
    x = _input(net).contiguous(memory_format=layout)
    with torch.no_grad():
        staged = net.decode(x, net.middle(net.encode(x)))
        assert torch.equal(staged, net(x))


def _reach(run, x, scale_in=1, scale_out=1):
    """The farthest output pixel, in input pixels, that one input pixel changes."""
    with torch.no_grad():
        row, col = x.shape[2] // 2, x.shape[3] // 2
        moved = x.clone()
        moved[..., row, col] += 50
        changed = (run(moved) - run(x)).abs().sum((0, 1)).nonzero()
    return int(max((changed[:, 0] * scale_out - row * scale_in).abs().max(),
                   (changed[:, 1] * scale_out - col * scale_in).abs().max()))


def test_no_input_beyond_a_stages_radius_changes_it(net):
    levels, x = net.levels, _input(net, 128, 128)
    scale = 2**levels.level
    with torch.no_grad():
        coarse_in = net.encode(x)
        coarse = net.middle(coarse_in)
    assert _reach(net.encode, x, scale_out=scale) <= levels.encode_radius
    assert _reach(net.middle, coarse_in) <= levels.middle_radius
    assert _reach(lambda v: net.decode(v, coarse), x) <= levels.decode_radius
    # the coarse result reaches no farther either (in input pixels)
    assert _reach(lambda h: net.decode(x, h), coarse, scale_in=scale) <= levels.decode_radius
    assert 3 * levels.decode_radius < net.receptive_radius  # the point of the cut


def test_only_pytorch_u_nets_have_levels():
    assert build_model(ModelConfig(arch="lite", depth=1)).levels is None  # nothing to cut
    for arch in ("halfres", "bsn", "zs"):
        assert build_model(ModelConfig(arch=arch, width=4, depth=2)).levels is None
    assert build_model(ModelConfig(arch="n2n", width=4)).levels.level == 3
