"""Colour augmentation of clean patches, before noise is drawn on them."""

from __future__ import annotations

import torch


def recolor(clean: torch.Tensor, fraction: float, generator: torch.Generator) -> torch.Tensor:
    """Give ``fraction`` of the (N, C, H, W) 0..255 patches new colours: channels permuted and
    saturation multiplied by 1..3 around each pixel's channel mean, clipped to 0..255. Photo
    sets hold few strongly saturated colours; without these a model meets them only at test."""
    if fraction <= 0 or clean.shape[1] < 2:
        return clean
    chosen = (torch.rand(len(clean), generator=generator) < fraction).nonzero().flatten()
    if len(chosen) == 0:
        return clean
    orders = torch.rand(len(chosen), clean.shape[1], generator=generator).argsort(1)
    gains = 1 + 2 * torch.rand(len(chosen), 1, 1, 1, generator=generator)
    out = clean.clone()
    picked = clean[chosen[:, None], orders.to(clean.device)]  # (k, C, H, W), channels permuted
    gray = picked.mean(1, keepdim=True)
    out[chosen] = (gray + gains.to(clean.device) * (picked - gray)).clamp(0, 255)
    return out
