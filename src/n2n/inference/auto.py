"""The default denoiser: each image's treatment (model, pixel-shuffle factor) chosen from the
noise it measures (:mod:`n2n.evaluation.treatment`), then run by a :class:`Denoiser` kept for
that treatment; where the first pass leaves noise correlated over 2 pixels, coarser factors
take over flat areas (:mod:`n2n.inference.multiscale`)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from n2n.errors import N2NError
from n2n.evaluation.treatment import (
    AUTO,
    FLAT_PD,
    UNMEASURED,
    Treatment,
    choose_treatment,
    measure_noise,
    residual_lag2,
    with_flat_pd,
)
from n2n.inference.denoiser import BLIND_SPOT_REFINED, Denoiser
from n2n.inference.multiscale import MultiScaleDenoiser
from n2n.inference.weights import load_refiner, load_weights
from n2n.io.images import central_square
from n2n.models import PixelModel

# flat areas are decided from at most this central square of the first pass (for a whole
# file: of its sample, denoised alone): the cost stays bounded at any size, and every entry
# point decides alike; a 384 crop still put every Nam photo above the threshold, 256 did not
PROBE_SIDE = 512


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
    multiscale : bool, optional
        Where the rule pixel-shuffles by 2, results at factors 3 and 4 taking over flat areas
        (:class:`~n2n.inference.multiscale.MultiScaleDenoiser`, 3.4x the time); None: where the
        first pass leaves noise correlated over 2 pixels. Only with ``pd`` auto.
    device, tile, fast, ensemble
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
                 multiscale: bool | None = None, tile: int = 512, fast: bool = True,
                 ensemble: bool = False) -> None:
        if multiscale and pd != AUTO:
            raise N2NError("{multiscale}: pixel-shuffle factors that take over flat areas "
                           "come with {pd} auto; drop {pd} or {multiscale}",
                           param=("multiscale", "pd"))
        self.model, self.pd, self.refine, self.multiscale = model, pd, refine, multiscale
        self.device, self.tile, self.fast, self.ensemble = device, tile, fast, ensemble
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
                                            fast=self.fast, ensemble=self.ensemble)
        return self._denoisers[key]

    def multiscale_for(self, treatment: Treatment) -> MultiScaleDenoiser:
        """The denoiser of a treatment with factors for flat areas (``flat_pd``)."""
        return MultiScaleDenoiser([self.denoiser_for(replace(treatment, pd=pd))
                                   for pd in (treatment.pd, *treatment.flat_pd)])

    def with_flat_areas(self, treatment: Treatment, pixels: np.ndarray, first: np.ndarray
                        ) -> Treatment:
        """``treatment`` with coarser factors for flat areas where :attr:`multiscale` asks
        for them or, by default, the first pass's result ``first`` shows noise correlated over
        2 pixels; the same treatment elsewhere."""
        if not self._may_pick_flat_pd(treatment):
            return treatment
        if self.multiscale:
            return replace(treatment, flat_pd=FLAT_PD, reason=f"{treatment.reason}; "
                           "--multiscale given")
        return with_flat_pd(treatment, residual_lag2(central_square(pixels, PROBE_SIDE),
                                                     central_square(first, PROBE_SIDE)))

    def _may_pick_flat_pd(self, treatment: Treatment) -> bool:
        """The rule chose ``pd`` 2 (and multiscale is not off): coarser factors may join."""
        return self.pd == AUTO and treatment.pd == 2 and self.multiscale is not False

    def settle(self, sample: np.ndarray) -> Denoiser | MultiScaleDenoiser:
        """The denoiser for a whole file, chosen from ``sample`` (part of it, 0..255): one
        treatment for all of a stack's planes or a streamed image's strips."""
        treatment = self.choose(sample)
        denoiser = self.denoiser_for(treatment)
        if self._may_pick_flat_pd(treatment):
            probe = central_square(sample, PROBE_SIDE)  # its first pass only where it decides
            first = probe if self.multiscale else denoiser(probe, clip=False)
            treatment = self.with_flat_areas(treatment, probe, first)
        self.last = treatment
        return self.multiscale_for(treatment) if treatment.flat_pd else denoiser

    def __call__(self, pixels: np.ndarray, tiled: bool | None = None, clip: bool = True
                 ) -> np.ndarray:
        """As :meth:`Denoiser.__call__`, with the treatment chosen for ``pixels``."""
        treatment = self.choose(pixels)
        out = self.denoiser_for(treatment)(pixels, tiled=tiled, clip=False)
        treatment = self.with_flat_areas(treatment, pixels, out)
        if treatment.flat_pd:
            out = self.multiscale_for(treatment)(pixels, tiled=tiled, clip=False, first=out)
        self.last = treatment
        return np.clip(out, 0, 255) if clip else out
