"""Training losses of Lehtinen et al. (2018): L2 for zero-mean noise, L1 for impulse (median
seeking), annealed L0 for text (mode seeking). All take pixels on the 0..255 scale."""

from __future__ import annotations

import torch

LOSSES = ("l2", "l1", "l0")


def loss_value(name: str, output: torch.Tensor, target: torch.Tensor,
               progress: float = 0.0) -> torch.Tensor:
    """Mean loss on the 0..1 scale; ``progress`` in 0..1 anneals L0's exponent from 2 to 0."""
    diff = (output - target) / 255.0
    if name == "l2":
        return diff.square().mean()
    if name == "l1":
        return diff.abs().mean()
    if name == "l0":
        gamma = 2.0 * (1.0 - min(max(progress, 0.0), 1.0))
        return (diff.abs() + 1e-8).pow(gamma).mean()
    raise ValueError(f"unknown loss '{name}': choose one of {LOSSES}")
