"""The default denoiser: each image's treatment (model, pixel-shuffle factor) chosen from the
noise it measures (:mod:`n2n.evaluation.treatment`), then run by a :class:`Denoiser` kept for
that treatment."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from n2n.errors import N2NError
from n2n.evaluation.treatment import (
    AUTO,
    UNMEASURED,
    Treatment,
    choose_treatment,
    measure_noise,
)
from n2n.inference.denoiser import BLIND_SPOT_REFINED, Denoiser
from n2n.inference.weights import load_refiner, load_weights
from n2n.models import PixelModel


class AutoDenoiser:
    """Denoise (H, W, C) 0..255 arrays as :class:`Denoiser` does, choosing per image.

    Parameters
    ----------
    model : str or Path
        ``auto`` (the rule's bundled model), a bundled model's name or a checkpoint: its
        pixel-shuffle factor is then the one chosen.
    pd : int or "auto"
        A number fixes the factor (only the model is chosen).
    refine : bool, optional
        The second full-resolution pass after a pixel-shuffled one; None: where the rule
        pixel-shuffles.
    device, tile, fast
        As for :class:`Denoiser`.

    :attr:`last` holds the treatment of the last image, for reports.

    Examples
    --------
    >>> auto = AutoDenoiser()  # doctest: +SKIP
    >>> clean = auto(noisy_pixels); print(auto.last)  # doctest: +SKIP
    camera --pd 2 --refine (then photo at --pd 1) (noise correlated between neighbours, ...)
    """

    streams = False  # the treatment is chosen from the whole image, not strip by strip

    def __init__(self, model: str | Path = AUTO, pd: int | str = AUTO,
                 device: str | torch.device = "cpu", *, refine: bool | None = None,
                 tile: int = 512, fast: bool = True) -> None:
        self.model, self.pd, self.refine = model, pd, refine
        self.device, self.tile, self.fast = device, tile, fast
        self._denoisers: dict[tuple[str, int, str | None], Denoiser] = {}
        self.last: Treatment | None = None
        # the model of an image with no measurable noise: loaded now, to check it and to say
        # how many channels it takes
        first = self.denoiser_for(choose_treatment(UNMEASURED, str(model), pd, refine))
        self.channels = first.channels
        if first.replacing:  # a blind-spot network: random replacing is its refinement
            if refine:
                raise N2NError(BLIND_SPOT_REFINED, param="refine")
            self.refine = False

    def choose(self, pixels: np.ndarray) -> Treatment:
        """The treatment for an (H, W, C) 0..255 image."""
        return choose_treatment(measure_noise(pixels), str(self.model), self.pd, self.refine)

    def denoiser_for(self, treatment: Treatment) -> Denoiser:
        """The Denoiser of ``treatment``, made once (each holds its own model: a Denoiser sets
        its model's pixel-shuffle factor)."""
        key = (treatment.model, treatment.pd, treatment.refine)
        if key not in self._denoisers:
            network = load_weights(treatment.model)
            if not isinstance(network, PixelModel):
                raise N2NError(f"{treatment.model}: an exported model keeps the pixel-shuffle "
                               "factor it was exported with; give --pd with it, or use the "
                               "checkpoint", param="pd")
            self._denoisers[key] = Denoiser(network, self.device, tile=self.tile,
                                            pd=treatment.pd,
                                            refine=load_refiner(treatment.refine),
                                            fast=self.fast)
        return self._denoisers[key]

    def settle(self, sample: np.ndarray) -> Denoiser:
        """The Denoiser for a whole file, chosen from ``sample`` (part of it, 0..255): one
        treatment for all of a stack's planes or a streamed image's strips."""
        self.last = self.choose(sample)
        return self.denoiser_for(self.last)

    def __call__(self, pixels: np.ndarray, tiled: bool | None = None, clip: bool = True
                 ) -> np.ndarray:
        """As :meth:`Denoiser.__call__`, with the treatment chosen for ``pixels``."""
        treatment = self.choose(pixels)
        out = self.denoiser_for(treatment)(pixels, tiled=tiled, clip=clip)
        self.last = treatment
        return out
