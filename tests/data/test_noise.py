"""Noise models: statistics on the 0..255 scale, reproducibility, spec parsing."""

from __future__ import annotations

import pytest
import torch

from n2n.data.noise import Gaussian, Impulse, Poisson, Text, parse_noise, quantize
from n2n.errors import N2NError


def flat(value: float, size: int = 128) -> torch.Tensor:
    return torch.full((4, 3, size, size), value)


def test_gaussian_is_zero_mean_with_the_given_sigma():
    clean = flat(100.0)
    noisy = Gaussian((25.0, 25.0))(clean, torch.Generator().manual_seed(0))
    residual = noisy - clean
    assert abs(float(residual.mean())) < 0.3
    assert float(residual.std()) == pytest.approx(25.0, rel=0.01)


def test_gaussian_range_draws_one_sigma_per_image():
    noisy = Gaussian((5.0, 50.0))(flat(100.0), torch.Generator().manual_seed(1)) - 100.0
    sigmas = noisy.std(dim=(1, 2, 3))
    assert sigmas.min() >= 4.5 and sigmas.max() <= 51
    assert sigmas.max() - sigmas.min() > 5


def test_poisson_mean_and_variance_follow_the_peak():
    clean, peak = flat(128.0), 30.0
    noisy = Poisson((peak, peak))(clean, torch.Generator().manual_seed(0))
    assert float(noisy.mean()) == pytest.approx(128.0, rel=0.01)
    expected_var = 128.0 * 255.0 / peak  # photons ~ Poisson(128/255*peak), rescaled
    assert float(noisy.var()) == pytest.approx(expected_var, rel=0.03)


def test_impulse_replaces_the_given_fraction_of_pixels():
    clean = flat(-1.0)  # impossible value: every replaced pixel differs from it
    noisy = Impulse((0.3, 0.3))(clean, torch.Generator().manual_seed(0))
    changed = (noisy != clean).any(dim=1).float().mean()
    assert float(changed) == pytest.approx(0.3, abs=0.01)
    assert noisy[noisy != -1.0].min() >= 0 and noisy.max() <= 255


def test_text_covers_at_least_the_requested_fraction():
    clean = flat(-1.0, 64)
    noisy = Text((0.2, 0.2))(clean, torch.Generator().manual_seed(0))
    coverage = (noisy != clean).any(dim=1).float().mean(dim=(1, 2))
    assert (coverage >= 0.18).all() and (coverage < 0.6).all()


@pytest.mark.parametrize("spec", ["gaussian:5-50", "poisson:30", "impulse:0.5", "text:0.2"])
def test_same_seed_same_noise_and_spec_round_trips(spec):
    noise = parse_noise(spec)
    clean = flat(90.0, 32)
    a = noise(clean, torch.Generator().manual_seed(3))
    b = noise(clean, torch.Generator().manual_seed(3))
    c = noise(clean, torch.Generator().manual_seed(4))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert parse_noise(noise.spec) == noise


@pytest.mark.parametrize("spec", ["gaussian:abc", "gaussian", "blur:3", "impulse:1.5",
                                  "gaussian:50-5", "poisson:0", "gaussian:nan", "text:0.1-0.2-0.3"])
def test_bad_specs_are_refused_with_the_spec_named(spec):
    with pytest.raises(N2NError, match="noise spec"):
        parse_noise(spec)


def test_quantize_rounds_and_clips_to_uint8():
    out = quantize(torch.tensor([-3.0, 0.4, 0.6, 254.6, 300.0]))
    assert out.dtype == torch.uint8 and out.tolist() == [0, 0, 1, 255, 255]
