"""The default denoiser: each image's treatment (model, pixel-shuffle factor) chosen by the
rule of :mod:`n2n.inference.policy` from its decision sample, then run by a :class:`Denoiser`
kept for that treatment; where the first pass leaves noise correlated over 2 pixels, coarser
factors take over flat areas (:mod:`n2n.inference.multiscale`). Built from an
:class:`~n2n.inference.spec.InferenceSpec` by :func:`~n2n.inference.spec.build_denoiser`."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from n2n.errors import N2NError
from n2n.evaluation.treatment import UNMEASURED, Treatment, measure_noise, residual_lag2
from n2n.inference.denoiser import BLIND_SPOT_REFINED, Denoiser
from n2n.inference.multiscale import MultiScaleDenoiser
from n2n.inference.policy import (
    AUTO,
    PROBE_SIDE,
    TAKE_OVER,
    choose_treatment,
    for_stack,
    forced_flat_pd,
    with_flat_pd,
)
from n2n.inference.weights import load_refiner, load_weights
from n2n.io.values import central_square, decision_sample
from n2n.models import PixelModel

StackShape = tuple[str | None, tuple[int, ...]]  # a stack's axes (None: unknown), leading shape


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
                 multiscale: bool | None = None, tile: int | None = None, fast: bool = True,
                 ensemble: bool = False) -> None:
        self.model, self.pd, self.refine, self.multiscale = model, pd, refine, multiscale
        self.device, self.tile, self.fast, self.ensemble = device, tile, fast, ensemble
        self._denoisers: dict[tuple[str, int, str | None], Denoiser] = {}
        self.last: Treatment | None = None
        # the model of an image with no measurable noise: loaded now, to check it and to say
        # how many channels it takes
        unmeasured = choose_treatment(UNMEASURED, str(model), pd, refine)
        first = self.denoiser_for(unmeasured)
        self.channels = first.channels
        if first.replacing:  # a blind-spot network: random replacing is its refinement
            if refine:
                raise N2NError(BLIND_SPOT_REFINED, param="refine")
            self.refine = False

    def choose(self, sample: np.ndarray) -> Treatment:
        """The treatment for an (H, W, C) 0..255 image whose decision sample is ``sample``."""
        return choose_treatment(measure_noise(sample), str(self.model), self.pd, self.refine)

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
            refine = load_refiner(treatment.refine)
            self._denoisers[key] = Denoiser(network, self.device, tile=self.tile,
                                            pd=treatment.pd, refine=refine, fast=self.fast,
                                            ensemble=self.ensemble)
        return self._denoisers[key]

    def multiscale_for(self, treatment: Treatment) -> MultiScaleDenoiser:
        """The denoiser of a treatment with factors for flat areas (``flat_pd``)."""
        return MultiScaleDenoiser([self.denoiser_for(replace(treatment, pd=pd))
                                   for pd in (treatment.pd, *treatment.flat_pd)], TAKE_OVER)

    def _may_pick_flat_pd(self, treatment: Treatment) -> bool:
        """The rule chose ``pd`` 2 (and multiscale is not off): coarser factors may join."""
        return self.pd == AUTO and treatment.pd == 2 and self.multiscale is not False

    def decide(self, sample: np.ndarray, tiled: bool | None = None
               ) -> tuple[Treatment, np.ndarray | None]:
        """The treatment for data whose decision sample (0..255) is ``sample``, with flat areas
        decided on its central :data:`~n2n.inference.policy.PROBE_SIDE` square denoised alone;
        and that first pass where the probe is the whole sample (None otherwise)."""
        treatment = self.choose(sample)
        if not self._may_pick_flat_pd(treatment):
            return treatment, None
        if self.multiscale:
            return forced_flat_pd(treatment), None
        probe = central_square(sample, PROBE_SIDE)
        whole = probe.shape == sample.shape
        first = self.denoiser_for(treatment)(probe, tiled=tiled if whole else None, clip=False)
        return with_flat_pd(treatment, residual_lag2(probe, first)), first if whole else None

    def settle(self, sample: np.ndarray, stack: StackShape | None = None
               ) -> Denoiser | MultiScaleDenoiser:
        """The denoiser for a whole file, chosen from its decision ``sample`` (0..255): one
        treatment for all of a stack's planes or a streamed image's strips. ``stack``: a
        stack's (axes or None, leading shape), where a context model may take it
        (:func:`~n2n.inference.policy.for_stack`)."""
        treatment, _ = self.decide(sample)
        if stack is not None:
            treatment = for_stack(treatment, *stack, model=self.model)
        self.last = treatment
        return self._runner(treatment)

    def _runner(self, treatment: Treatment) -> Denoiser | MultiScaleDenoiser:
        return self.multiscale_for(treatment) if treatment.flat_pd else self.denoiser_for(
            treatment)

    def __call__(self, pixels: np.ndarray, tiled: bool | None = None, clip: bool = True
                 ) -> np.ndarray:
        """As :meth:`Denoiser.__call__`, with the treatment chosen from the decision sample
        of ``pixels`` (:func:`~n2n.io.values.decision_sample`), as every door chooses it."""
        sample = decision_sample(pixels, spatial=3)
        treatment, first = self.decide(sample, tiled)
        self.last = treatment
        if sample.shape != pixels.shape:
            first = None  # the probe's pass covers part of the image only
        if treatment.flat_pd:
            out = self.multiscale_for(treatment)(pixels, tiled=tiled, clip=False, first=first)
        elif first is not None:
            out = first  # the probe was the whole image: its pass is the result
        else:
            out = self.denoiser_for(treatment)(pixels, tiled=tiled, clip=False)
        return np.clip(out, 0, 255) if clip else out
