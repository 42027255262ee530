"""The automatic treatment: which bundled model plays which role, the rule that picks one and
a pixel-shuffle factor from an image's noise, and the part of a file that decides. Every door
(``n2n denoise``/``eval``/``bench``, :func:`n2n.denoise_array`, :func:`n2n.denoise_dask`,
``--dask``, the napari widget) reaches it through :mod:`n2n.inference.spec`; the noise
statistics it reads stay in :mod:`n2n.evaluation.treatment`.

* Camera photos carry noise that demosaicking correlates between neighbouring pixels: a
  network trained on white noise leaves it in place unless the image is pixel-shuffled (``pd``
  2), then refined at full resolution (:data:`REFINERS`), which removes the 2-px grid.
* Where that noise is correlated over 2 pixels too (DSLR photos), ``pd`` 3 and 4 results take
  over flat areas (:data:`FLAT_AREAS`, :mod:`n2n.inference.multiscale`).
* White noise is denoised at full resolution: by the fluorescence model where a gray capture's
  noise is signal-dependent (shot noise, as in microscopy), by the unclipped-noise model where
  pixels lie beyond 0..255 (float data), else by the white-noise photo model.
* A Z-stack or time-lapse (its axes, from the file or given, name Z or T) of at least a
  window of planes that would get the fluorescence model gets its context counterpart
  (:data:`CONTEXT_MODELS`): each plane denoised with the planes around it.
* A file is decided once, from its decision sample (:func:`n2n.io.values.decision_sample`:
  the central 1024 x 1024 of its middle plane), so that every plane and strip is treated alike
  and every door decides alike; the flat-area probe is the sample's central 512 x 512.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np

from n2n.evaluation.treatment import NoiseMeasure, Treatment, measure_noise
from n2n.io.values import decision_sample
from n2n.models.bundled import CONTEXT_MODELS as BUNDLED_CONTEXT

AUTO = "auto"
# the catalogue: what 'auto' means, the best measured bundled model for each kind of noise
WHITE_MODEL = "photo-plus"  # at pd 1: above CBM3D on clipped gaussian noise
CAMERA_MODEL = "camera"  # at pd 2, then photo: best of seven candidates on real camera photos
UNCLIPPED_MODEL = "camera"  # at pd 1 for pixels beyond 0..255 (float data): trained on unclipped
# noisy inputs, where photo-plus, which clips its input, lost 0.04-0.10 dB and clips away data
FLUORESCENCE_MODEL = "confocal"  # at pd 1 for gray captures with shot noise: +5 dB over
# photo-plus on the FMD test field (docs/development/measurements/real-noise.md, "Microscopy in the
# automatic rule")
# a 2-D model's bundled context counterparts for Z-stacks and time-lapses, the widest window
# first: each is taken where the stack runs along one of its axes with a window of planes
# along it (docs/guides/volumes.md: on held-out FMD frames, +0.69 dB (5 frames) and +0.93 dB
# (9 frames, time-lapses only) over 'confocal' on the mean of the same window)
CONTEXT_MODELS = {FLUORESCENCE_MODEL: ("confocal-timelapse", "confocal-context")}
STACK_AXES = "ZT"  # the axes along which a window of planes is taken, the first found
# the full-resolution pass after a pixel-shuffled one; any other model refines its own result.
# photo after camera: +1.1 dB on SIDD over camera alone, +0.2 on Nam, faster than itself
REFINERS = {"camera": "photo", "photo-plus": "photo"}
CORRELATED_RATIO = 1.75  # step-2 / step-1 difference variance above this: correlated noise
# noise correlated over 2 px: the pd-2 residual's lag-2 correlation in flat areas above this
# (phone photos: 0.02-0.06; DSLR photos 0.13-0.52), then coarser factors take over flat areas
CORRELATED_LAG2 = 0.1
# (factor, texture at which its result takes half the weight from the finer ones), finest
# first; chosen on Nam's photos, checked on CBSD68 with simulated camera noise
FLAT_AREAS = ((3, 32.0), (4, 4.0))
FLAT_PD = tuple(pd for pd, _ in FLAT_AREAS)
TAKE_OVER = tuple(half for _, half in FLAT_AREAS)
# flat areas are decided from this central square of the decision sample, denoised alone: the
# cost stays bounded at any size; a 384 crop still put every Nam photo above the threshold,
# 256 did not
PROBE_SIDE = 512


def resolve_model(model: str | Path, pd: int, measure: NoiseMeasure | None = None
                  ) -> str | Path:
    """The model ``model`` names at pixel-shuffle factor ``pd`` for noise ``measure``: ``auto``
    is the camera model where it pixel-shuffles; at pd 1 the fluorescence model for gray shot
    noise, the unclipped-noise one for pixels beyond 0..255, else the white-noise one; any
    other name is itself."""
    if str(model) != AUTO:
        return model
    if pd > 1:
        return CAMERA_MODEL
    if measure is not None and measure.shot_noise:
        return FLUORESCENCE_MODEL
    return UNCLIPPED_MODEL if measure is not None and measure.unclipped else WHITE_MODEL


def refiner_of(model: str) -> str:
    """The model that refines ``model``'s pixel-shuffled result: :data:`REFINERS`, else itself."""
    return REFINERS.get(model, model)


def choose_treatment(measure: NoiseMeasure, model: str = AUTO, pd: int | str = AUTO,
                     refine: bool | None = None) -> Treatment:
    """The rule: ``model`` (``auto``: :func:`resolve_model`) at ``pd`` 2, refined, where the
    noise is correlated, else 1. A ``pd`` given as a number wins over the measurement, and so
    does ``refine`` given (None: refined where the rule pixel-shuffles)."""
    if pd != AUTO:
        name = str(resolve_model(model, int(pd), measure))
        refiner = refiner_of(name) if refine else None  # at pd 1 the Denoiser refuses it
        return Treatment(name, int(pd), "--pd given", refiner)
    white = str(resolve_model(model, 1, measure))
    if not measure.measured:
        return Treatment(white, 1, "no noise measured (image too small, constant or clipped)"
                         + _white_noise_kind(measure, model))
    figure = f"2-px/1-px difference variance {measure.ratio:.2f}"
    if measure.ratio > CORRELATED_RATIO:
        name = str(resolve_model(model, 2))
        return Treatment(name, 2, f"noise correlated between neighbours, as in camera photos: "
                         f"{figure}, above {CORRELATED_RATIO:g}",
                         None if refine is False else refiner_of(name))
    return Treatment(white, 1, f"spatially white noise: {figure}, white gives 1"
                     + _white_noise_kind(measure, model))


def _white_noise_kind(measure: NoiseMeasure, model: str) -> str:
    """Why ``auto`` took the fluorescence or the unclipped-noise model, for the reason."""
    if str(model) != AUTO:
        return ""
    if measure.shot_noise:
        return (f"; gray capture with signal-dependent (shot) noise, as in fluorescence "
                f"microscopy: {measure.shot_share:.0%} of its variance grows with intensity")
    return "; pixels beyond 0..255, so a model trained on unclipped noise" if (
        measure.unclipped) else ""


def for_stack(treatment: Treatment, axes: str | None, leading: tuple[int, ...],
              model: str | Path = AUTO) -> Treatment:
    """``treatment`` for a stack whose leading (non-spatial) shape is ``leading`` and whose
    axes are ``axes`` (None: unknown): where ``auto`` chose a model with context counterparts
    at pd 1, and the axes name Z or T, the first counterpart made for that axis with at least
    its window of planes along it; else ``treatment`` as it is (planes one by one)."""
    names = CONTEXT_MODELS.get(treatment.model, ())
    if (str(model) != AUTO or not names or treatment.pd != 1 or treatment.flat_pd
            or treatment.refine or axes is None or "S" in axes):
        return treatment
    letters = axes[: len(leading)]
    along = next((a for a in STACK_AXES if a in letters), None)
    if along is None:
        return treatment
    planes = leading[letters.index(along)]
    name = next((n for n in names if along in BUNDLED_CONTEXT[n].along
                 and planes >= BUNDLED_CONTEXT[n].context), None)
    if name is None:
        return treatment
    kind = "Z-stack" if along == "Z" else "time-lapse"
    return replace(treatment, model=name, context=BUNDLED_CONTEXT[name].context,
                   reason=f"{treatment.reason}; a {kind} of {planes} planes along {along}: "
                   "each plane read with its neighbours")


def with_flat_pd(treatment: Treatment, lag2: float) -> Treatment:
    """``treatment`` (a pd-2 one) with :data:`FLAT_PD` taking over flat areas where the noise
    is correlated over 2 pixels (``lag2``, :func:`~n2n.evaluation.treatment.residual_lag2`,
    above :data:`CORRELATED_LAG2`); else as it is."""
    if not lag2 > CORRELATED_LAG2:
        return treatment
    return replace(treatment, flat_pd=FLAT_PD,
                   reason=f"{treatment.reason}; residual correlated over 2 px too: {lag2:.2f}, "
                   f"above {CORRELATED_LAG2:g}")


def forced_flat_pd(treatment: Treatment) -> Treatment:
    """``treatment`` with :data:`FLAT_PD` taking over flat areas because it was asked for."""
    return replace(treatment, flat_pd=FLAT_PD, reason=f"{treatment.reason}; --multiscale given")


def first_choice(pixels: np.ndarray) -> Treatment:
    """What ``auto`` picks for (H, W, C) 0..255 ``pixels`` from their decision sample, before
    any pass runs (flat areas are decided after the first): what ``n2n diagnose`` reports."""
    return choose_treatment(measure_noise(decision_sample(pixels, spatial=3)))
