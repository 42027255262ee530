"""Augmentation: the 8 flips and rotations of the square, drawn per pair."""

from __future__ import annotations

import torch

from n2n.data.pairs import Batch


def dihedral(x: torch.Tensor, k: int) -> torch.Tensor:
    """The k-th of the 8 flips/rotations of the square (k in 0..7) on the last two axes."""
    if k >= 4:
        x = x.flip(-1)
    return torch.rot90(x, k % 4, dims=(-2, -1))


def augment(batch: Batch, generator: torch.Generator) -> Batch:
    """Apply one random dihedral transform per pair, the same to input, target and clean."""
    codes = torch.randint(8, (len(batch.input),), generator=generator)
    square = batch.input.shape[-1] == batch.input.shape[-2]
    sources = (batch.input, batch.target, batch.clean)
    outs = [None if x is None else x.clone() for x in sources]
    for k in range(1, 8):
        if not square and k % 2 == 1:
            continue  # odd rotations would change a non-square patch's shape
        idx = (codes == k).nonzero().flatten()
        if len(idx) == 0:
            continue
        for out, src in zip(outs, sources, strict=True):
            if out is not None:
                out[idx] = dihedral(src[idx], k)
    return Batch(*outs)
