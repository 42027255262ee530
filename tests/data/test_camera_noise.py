"""The camera noise spec: a Bayer-mosaic, demosaicked, colour-processed noise whose statistics
match real camera photos, zero-mean so that two draws make a Noise2Noise pair."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage import data as skdata

from n2n.data.noise import Camera, parse_noise
from n2n.errors import N2NError
from n2n.evaluation.diagnose import diagnose_image
from n2n.evaluation.treatment import measure_noise
from n2n.inference.policy import CORRELATED_RATIO, choose_treatment


def clean_photo() -> torch.Tensor:
    """(3, 192, 192) float 0..255: a crop of scikit-image's coffee (smooth regions and edges)."""
    return torch.from_numpy(skdata.coffee()[100:292, 200:392].astype(np.float32)).permute(2, 0, 1)


def draw(spec: str, clean: torch.Tensor, seed: int = 0) -> torch.Tensor:
    return parse_noise(spec)(clean, torch.Generator().manual_seed(seed))


def lag_correlation(noise: np.ndarray, lag: int) -> float:
    """Normalised correlation of (C, H, W) noise with itself ``lag`` pixels away, both axes."""
    noise = noise - noise.mean(axis=(1, 2), keepdims=True)
    along_x = (noise[:, :, lag:] * noise[:, :, :-lag]).mean()
    along_y = (noise[:, lag:] * noise[:, :-lag]).mean()
    return float((along_x + along_y) / 2 / noise.var())


def test_spec_parses_round_trips_and_refuses_bad_values():
    noise = parse_noise("camera:0.0001-0.01,70-95")
    assert isinstance(noise, Camera) and noise.shot == (0.0001, 0.01)
    assert noise.jpeg == (70, 95) and parse_noise(noise.spec) == noise
    assert parse_noise("camera:0.002").jpeg is None
    for bad in ("camera:2", "camera:x", "camera:0.001,0", "camera:0.001,101"):
        with pytest.raises(N2NError, match="camera"):
            parse_noise(bad)


def test_without_noise_the_pipeline_returns_the_clean_image():
    clean = clean_photo()
    assert torch.equal(draw("camera:0", clean), clean)


def test_noise_is_zero_mean_and_two_draws_are_independent():
    clean = clean_photo()[:, :64, :64].expand(256, -1, -1, -1)  # 256 draws of one scene
    noisy = draw("camera:0.002", clean)
    noise = noisy - clean
    standard_error = noise.std(dim=0) / 16
    assert (noise.mean(dim=0).abs() < 5 * standard_error + 1e-3).float().mean() > 0.99
    a, b = noise[0].flatten(), noise[1].flatten()
    assert abs(float(torch.corrcoef(torch.stack([a, b]))[0, 1])) < 0.05


def test_noise_is_correlated_between_neighbours_and_white_beyond():
    clean = clean_photo()
    noise = (draw("camera:0.003", clean) - clean).numpy()
    assert 0.4 < lag_correlation(noise, 1) < 0.75  # bilinear demosaicking of an RGGB mosaic
    assert lag_correlation(noise, 2) < 0.25 and abs(lag_correlation(noise, 4)) < 0.05
    jpeg = (draw("camera:0.003,80", clean) - clean).numpy()
    assert lag_correlation(jpeg, 2) > lag_correlation(noise, 2)  # JPEG smooths it further


def diagnosed_lags(noisy: np.ndarray) -> tuple[float, float]:
    """``n2n diagnose``'s correlation of one noisy image at lags 1 and 2 (mean of both axes)."""
    corr, r = np.array(diagnose_image(noisy).correlation), 3
    return (corr[r, r + 1] + corr[r + 1, r]) / 2, (corr[r, r + 2] + corr[r + 2, r]) / 2


@pytest.mark.parametrize("spec, lag1, lag2", [
    ("camera:0.003", (0.29, 0.55), (-0.07, 0.2)),  # diagnose on SIDD phone crops (sRGB)
    ("camera:0.003,85", (0.54, 0.69), (0.06, 0.36)),  # on Nam's DSLR JPEGs
])
def test_diagnose_measures_what_it_measures_on_real_camera_photos(spec, lag1, lag2):
    """The ranges ``n2n diagnose`` measured on every image of ../shared/data/real/sidd_mini and
    nam_cbdnet (docs/development/measurements/camera.md), widened by 0.05."""
    c1, c2 = diagnosed_lags(draw(spec, clean_photo()).permute(1, 2, 0).numpy())
    assert lag1[0] - 0.05 < c1 < lag1[1] + 0.05 and lag2[0] - 0.05 < c2 < lag2[1] + 0.05


def test_noise_is_signal_dependent():
    ramp = torch.linspace(10, 245, 256).expand(3, 128, -1).contiguous()
    noise = (draw("camera:0.004", ramp) - ramp).numpy()
    dark, bright = noise[:, :, 16:80].std(), noise[:, :, 176:240].std()
    assert dark != pytest.approx(bright, rel=0.2)  # shot noise and the tone curve's slope


def test_diagnose_and_the_automatic_rule_see_camera_noise():
    noisy = draw("camera:0.003", clean_photo()).permute(1, 2, 0).numpy()
    diagnosis = diagnose_image(noisy)
    assert not diagnosis.white and diagnosis.correlation_length >= 1
    measure = measure_noise(noisy)
    assert measure.ratio > CORRELATED_RATIO and choose_treatment(measure).pd == 2


def test_jpeg_output_is_8_bit_and_gray_images_stay_gray():
    clean = clean_photo()
    out = draw("camera:0.002,60-90", clean[None].expand(3, -1, -1, -1))
    assert out.shape == (3, 3, 192, 192)
    assert torch.equal(out, out.round()) and out.min() >= 0 and out.max() <= 255
    gray = draw("camera:0.002", clean[:1])
    assert gray.shape == (1, 192, 192) and not torch.equal(gray, clean[:1])
