"""One image denoised at several pixel-shuffle factors, each taking over where it does best.

Noise correlated over more than a pixel (DSLR photos) needs a large factor to come apart in
the sub-images, but a large factor also splits fine texture into sub-images too coarse to hold
it. The ``pd`` 2 result is kept where the image has texture; in flatter areas the ``pd`` 3
result takes over, and in the flattest the ``pd`` 4 one, with soft weights on the local
texture of the ``pd`` 2 result (:func:`~n2n.evaluation.treatment.texture_energy`); the
factors and their take-over textures are the policy's (:data:`n2n.inference.policy.FLAT_AREAS`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np

from n2n.evaluation.treatment import TEXTURE_WINDOW, texture_energy
from n2n.inference.denoiser import Denoiser


def take_over_weight(texture: np.ndarray, half: float) -> np.ndarray:
    """Weight 0..1 of a coarser result, 1 / (1 + (texture / half)^2): 1/2 at ``half``, near 1 on
    flatter areas, near 0 on texture."""
    return 1.0 / (1.0 + (texture / half) ** 2)


def fuse(finest: np.ndarray, coarser: Iterable[np.ndarray], take_over: Sequence[float]
         ) -> np.ndarray:
    """(H, W, C) results at growing factors -> one: each coarser result (taken one at a time,
    never all at once, and used up: changed in place) taking over the flatter areas of the
    finest one, half its weight at the texture ``take_over`` gives it (squared gradient, 0..255
    scale; :data:`n2n.inference.policy.FLAT_AREAS`)."""
    texture = texture_energy(finest)
    fused = np.array(finest, np.float32)
    for result, half in zip(coarser, take_over, strict=True):
        result -= fused  # the coarser result is ours: its difference is made in place
        result *= take_over_weight(texture, half)[..., None]
        fused += result
    return fused


class MultiScaleDenoiser:
    """Denoise as ``denoisers`` (finest factor first) do together (:func:`fuse`), each coarser
    one taking over with its texture in ``take_over``.

    Has the :class:`Denoiser` interface (tiles, strips), and its result equals the untiled one:
    its margin adds the texture window to the members' largest.
    """

    streams = True

    def __init__(self, denoisers: Sequence[Denoiser], take_over: Sequence[float]) -> None:
        if len(denoisers) != len(take_over) + 1:
            raise ValueError(f"{len(take_over) + 1} denoisers, finest factor first")
        self.denoisers, self.take_over = list(denoisers), tuple(take_over)
        finest = self.denoisers[0]
        self.model, self.refine = finest.model, finest.refine  # what runs first, for reports
        self.flat_pd = tuple(d.model.config.pd for d in self.denoisers[1:])
        self.grid = math.lcm(*(d.grid for d in self.denoisers))
        self.tile = -(-max(d.tile for d in self.denoisers) // self.grid) * self.grid
        self.tile_given = any(d.tile_given for d in self.denoisers)
        reach = max(d.margin for d in self.denoisers) + TEXTURE_WINDOW // 2 + 1
        self.margin = -(-reach // self.grid) * self.grid

    @property
    def channels(self) -> int:
        return self.denoisers[0].channels

    def __call__(self, pixels: np.ndarray, tiled: bool | None = None, clip: bool = True,
                 first: np.ndarray | None = None) -> np.ndarray:
        """As :meth:`Denoiser.__call__`; ``first`` is the finest denoiser's unclipped result on
        ``pixels`` when the caller has it already."""
        if first is None:
            first = self.denoisers[0](pixels, tiled=tiled, clip=False)
        out = fuse(first, (d(pixels, tiled=tiled, clip=False) for d in self.denoisers[1:]),
                   self.take_over)
        return np.clip(out, 0, 255) if clip else out
