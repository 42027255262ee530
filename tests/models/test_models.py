"""Networks: any size in and out, the receptive radius is a true bound, normalisation axes."""

from __future__ import annotations

import pytest
import torch

from n2n.errors import N2NError
from n2n.models import ModelConfig, build_model


@pytest.mark.parametrize("config", [ModelConfig(), ModelConfig(arch="n2n", width=8),
                                    ModelConfig(arch="halfres", width=8, depth=2),
                                    ModelConfig(channels=1, residual=True, linear_output=True)])
@pytest.mark.parametrize("size", [(1, 1), (7, 13), (32, 32), (33, 50)])
def test_any_size_in_same_size_out(config, size):
    model = build_model(config).eval()
    x = torch.rand(2, config.channels, *size) * 255
    with torch.no_grad():
        assert model(x).shape == x.shape


@pytest.mark.parametrize("config", [ModelConfig(width=4), ModelConfig(arch="n2n", width=4),
                                    ModelConfig(arch="halfres", width=4, depth=3)])
def test_receptive_radius_bounds_the_influence_of_a_pixel(config):
    torch.manual_seed(0)
    model = build_model(config).eval()
    size = 2 * model.receptive_radius + 64
    x = torch.rand(1, 3, size, size) * 255
    center = size // 2
    far = x.clone()
    far[..., center, center + model.receptive_radius + 1:] += 50.0  # beyond the radius
    with torch.no_grad():
        diff = (model(far) - model(x))[..., center, center]
    assert diff.abs().max() < 1e-4


def test_normalisation_is_per_channel_over_batch_and_space():
    model = build_model(ModelConfig())
    images = torch.stack([torch.stack([torch.full((8, 8), 10.0 * c + n) for c in range(3)])
                          for n in range(4)])  # (4, 3, 8, 8): channel c, image n -> 10c + n
    model.set_normalization(images)
    torch.testing.assert_close(model.mean, torch.tensor([1.5, 11.5, 21.5]))
    assert model.std.shape == (3,)


def test_wrong_channel_count_is_a_clear_error():
    with pytest.raises(N2NError, match=r"expects \(N, 3, H, W\)"):
        build_model(ModelConfig())(torch.zeros(1, 1, 8, 8))
    with pytest.raises(N2NError, match="arch"):
        ModelConfig(arch="resnet")
