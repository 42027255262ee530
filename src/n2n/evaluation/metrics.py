"""Image quality on the 0..255 scale: PSNR and SSIM, per image."""

from __future__ import annotations

import math

import numpy as np
import torch
from skimage.metrics import structural_similarity


def psnr(estimate: torch.Tensor | np.ndarray, clean: torch.Tensor | np.ndarray,
         data_range: float = 255.0) -> float:
    """Peak signal-to-noise ratio in dB of one image (any shape), estimate clipped to the range."""
    est = torch.as_tensor(estimate, dtype=torch.float64).clamp(0, data_range)
    ref = torch.as_tensor(clean, dtype=torch.float64)
    mse = float(((est - ref) ** 2).mean())
    return math.inf if mse == 0 else 10.0 * math.log10(data_range**2 / mse)


def batch_psnr(estimates: torch.Tensor, clean: torch.Tensor) -> list[float]:
    """PSNR of each image of an (N, C, H, W) batch."""
    return [psnr(e, c) for e, c in zip(estimates, clean, strict=True)]


def ssim(estimate: np.ndarray, clean: np.ndarray, data_range: float = 255.0) -> float:
    """Structural similarity of (H, W, C) images (mean over channels), estimate clipped."""
    est = np.clip(np.asarray(estimate, dtype=np.float64), 0, data_range)
    ref = np.asarray(clean, dtype=np.float64)
    window = min(7, *ref.shape[:2]) // 2 * 2 + 1 if min(ref.shape[:2]) < 7 else 7
    if window < 3:
        return float("nan")  # too small for any SSIM window
    return float(structural_similarity(est, ref, data_range=data_range, channel_axis=2,
                                       win_size=window))
