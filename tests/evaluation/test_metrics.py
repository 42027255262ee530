"""PSNR and SSIM agree with scikit-image's reference implementations."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from n2n.evaluation.metrics import psnr, ssim


@pytest.mark.parametrize("channels", [1, 3])
def test_psnr_and_ssim_match_skimage(photo, channels):
    clean = photo[:, :, :channels].astype(np.float64)
    noisy = np.clip(clean + np.random.default_rng(0).normal(0, 20, clean.shape), 0, 255)
    assert psnr(noisy, clean) == pytest.approx(
        peak_signal_noise_ratio(clean, noisy, data_range=255), abs=1e-9)
    assert ssim(noisy, clean) == pytest.approx(
        structural_similarity(noisy, clean, data_range=255, channel_axis=2), abs=1e-9)
