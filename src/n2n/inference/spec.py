"""One inference spec and one builder: what every door (CLI, :func:`n2n.denoise_array`,
:func:`n2n.denoise_dask` and ``--dask``, the napari widget, ``n2n bench``) turns its options
into, and the one function that turns a spec, plus the decision sample of the data, into a
denoiser. The rule it applies lives in :mod:`n2n.inference.policy`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from n2n.device import resolve_device
from n2n.errors import N2NError
from n2n.evaluation.treatment import Treatment
from n2n.inference.auto import AutoDenoiser, StackShape
from n2n.inference.denoiser import Denoiser
from n2n.inference.multiscale import MultiScaleDenoiser
from n2n.inference.policy import AUTO, resolve_model
from n2n.inference.weights import load_weights, refiner_for
from n2n.inference.zeroshot import ZeroShot, ZeroShotDenoiser
from n2n.io.values import WhiteLevel, decision_sample, white_level
from n2n.models.bundled import is_bundled_name


@dataclass(frozen=True)
class InferenceSpec:
    """How to denoise, as every door states it.

    ``model``: ``auto`` (chosen from the noise), a bundled name, a checkpoint or export file, or
    a loaded model. ``pd``: a pixel-shuffle factor, ``auto`` (measured), or None: ``auto`` for
    bundled names, a file's or a loaded model's own factor otherwise. ``refine``: the second
    full-resolution pass after a pixel-shuffled one (None: where the rule pixel-shuffles).
    ``multiscale``: coarser factors taking over flat areas (None: where the rule finds noise
    correlated over 2 px; only with ``pd`` auto). ``ensemble``: every pass averaged over the 8
    flips and quarter turns. ``fast``: channels-last and, where native, bfloat16. ``tile``:
    tile side for large images (px); None: each pass's tiles from a memory budget.
    ``device``: ``auto`` takes a GPU where there is one.
    ``data_range``: the value of white (:mod:`n2n.io.values`; None: the dtype's, or measured
    for floats). ``zero_shot``: no trained model, a network fitted to each image with these
    settings (``model`` auto, ``pd`` a factor or None for 1, no second pass, no multiscale,
    no ensemble).
    """

    model: str | Path | torch.nn.Module = AUTO
    pd: int | str | None = None
    refine: bool | None = None
    multiscale: bool | None = None
    ensemble: bool = False
    fast: bool = True
    tile: int | None = None
    device: str | torch.device = "auto"
    data_range: float | None = None
    zero_shot: ZeroShot | None = None

    def __post_init__(self) -> None:
        """Refuse option values of the wrong type in one sentence, whatever the door (a
        keyword to :func:`n2n.denoise_array` reaches here unchecked): ``ensemble='no'`` would
        otherwise run the ensemble, ``pd=True`` pixel-shuffle by 1, ``model=None`` crash."""
        if not isinstance(self.model, (str, Path, torch.nn.Module)):
            raise N2NError(f"{{model}} {self.model!r}: give 'auto', a bundled model's name, a "
                           "checkpoint or export file, or a loaded model", param="model")
        if self.pd not in (None, AUTO) and not _is_int(self.pd):
            raise N2NError(f"{{pd}} {self.pd!r}: give a pixel-shuffle factor 1..8 or 'auto'",
                           param="pd")
        if self.tile is not None and not _is_int(self.tile):  # None: from a memory budget
            raise N2NError(f"{{tile}} {self.tile!r} must be a whole number of pixels",
                           param="tile")
        for name in ("refine", "multiscale", "ensemble", "fast"):
            value = getattr(self, name)
            if not (_is_flag(value) or value is None and name in ("refine", "multiscale")):
                raise N2NError(f"{{{name}}} {value!r} must be True or False", param=name)
        if self.zero_shot is not None:
            self._check_zero_shot()

    def _check_zero_shot(self) -> None:
        """Refuse, before any work, the options a zero-shot fit cannot apply."""
        if str(self.model) != AUTO:
            given = (f"{{model:{self.model}}}" if isinstance(self.model, str)
                     else "{weights}")
            raise N2NError(f"{{zero_shot}} trains its own network on each image; drop {given}",
                           param=("zero_shot", "model", "weights"))
        for name in ("refine", "multiscale", "ensemble"):
            if getattr(self, name):
                raise N2NError(f"{{{name}}} is for trained models; drop it with {{zero_shot}}",
                               param=(name, "zero_shot"))
        if self.pd == AUTO:
            raise N2NError("{zero_shot} fits each image at one pixel-shuffle factor: give {pd} "
                           "N (2 for camera photos), or leave it out for 1",
                           param=("zero_shot", "pd"))

    @property
    def chooses(self) -> bool:
        """Whether a treatment is chosen per image (or per file) from its noise."""
        if self.zero_shot is not None:
            return False
        return self.resolved_pd() == AUTO or str(self.model) == AUTO  # a module's str: its repr

    def resolved_pd(self) -> int | str | None:
        """``pd`` with None resolved: ``auto`` for ``auto`` and bundled names."""
        if self.pd is None and not isinstance(self.model, torch.nn.Module) and (
                str(self.model) == AUTO or is_bundled_name(self.model)):
            return AUTO
        return self.pd


def _is_int(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _is_flag(value: object) -> bool:
    return isinstance(value, (bool, np.bool_)) or _is_int(value) and value in (0, 1)


def build_denoiser(spec: InferenceSpec) -> Denoiser | AutoDenoiser | ZeroShotDenoiser:
    """The denoiser ``spec`` describes: a :class:`ZeroShotDenoiser` with zero-shot settings, an
    :class:`AutoDenoiser` where the model or the factor is chosen per image, else a
    :class:`Denoiser`; refuses combinations that cannot apply."""
    if spec.tile is not None and spec.tile < 1:
        raise N2NError(f"{{tile}} {spec.tile} must be at least 1", param="tile")
    pd = spec.resolved_pd()
    device = resolve_device(str(spec.device))
    if spec.zero_shot is not None:
        return spec.zero_shot.denoiser(device, int(spec.pd or 1))
    if spec.multiscale and pd != AUTO:
        raise N2NError("{multiscale}: pixel-shuffle factors that take over flat areas come "
                       "with {pd} auto; drop {pd} or {multiscale}", param=("multiscale", "pd"))
    options = {"tile": spec.tile, "fast": spec.fast, "ensemble": spec.ensemble}
    if spec.chooses:
        return AutoDenoiser(spec.model, pd, device, refine=spec.refine,
                            multiscale=spec.multiscale, **options)
    if isinstance(spec.model, torch.nn.Module):  # a loaded model refines itself
        model, refine = spec.model, spec.model if spec.refine else None
    else:
        name = resolve_model(spec.model, int(pd)) if pd is not None else spec.model
        model, refine = load_weights(name), refiner_for(name, spec.refine)
    return Denoiser(model, device, pd=None if pd is None else int(pd), refine=refine,
                    **options)


@dataclass(frozen=True)
class Decision:
    """What one file or array gets: the denoiser for all its parts, the treatment chosen (None
    for a fixed model) and its white level; printed as the choice line, kept in ``--json``."""

    denoiser: Denoiser | MultiScaleDenoiser
    treatment: Treatment | None
    white: WhiteLevel

    def __str__(self) -> str:
        context = getattr(self.denoiser, "context", 1)
        model = (f"the given context model (each plane with a window of {context} planes)"
                 if context > 1 else "the given model")
        if getattr(self.denoiser, "volumetric", False):
            model = "the given 3-D model (the stack in Z tiles, each with its halo of planes)"
        return f"{self.treatment or model}; {self.white}"

    def to_json(self) -> dict:
        return {"treatment": self.treatment.to_json() if self.treatment else None,
                "white": self.white.value, "white_reason": self.white.why}


def settle(denoiser: Denoiser | AutoDenoiser, sample: np.ndarray, white: WhiteLevel,
           stack: StackShape | None = None) -> Decision:
    """The one denoiser for every plane, strip or chunk of data whose decision sample (h, w, C)
    in the data's own values is ``sample``: an AutoDenoiser's choice made once, from the
    sample brought to 0..255 by ``white``; any other denoiser as it is. ``stack``: a stack's
    (axes, leading shape), for the rule's context model (Z-stacks and time-lapses)."""
    if not isinstance(denoiser, AutoDenoiser):
        return Decision(denoiser, None, white)
    scaled = np.asarray(sample, np.float32) * np.float32(255.0 / white.value)
    settled = denoiser.settle(scaled, stack)
    return Decision(settled, denoiser.last, white)


def weights_name(model: str | Path | torch.nn.Module | InferenceSpec) -> str:
    """What denoised, for a JSON record: a file, or a bundled model (auto: chosen per image),
    or, for a spec, ``zero-shot`` where it fits each image."""
    if isinstance(model, InferenceSpec):
        return "zero-shot" if model.zero_shot is not None else weights_name(model.model)
    return f"bundled {model}" if isinstance(model, str) else str(model)


def array_white(data, spec: InferenceSpec, shape: tuple[int, ...] | None = None
                ) -> WhiteLevel:
    """The white level for ``spec`` of (..., H, W, C) ``data`` (numpy or dask): measured, for
    floats, on the decision sample only (a dask array reads that square, nothing more);
    ``shape``: the array's as its user gave it, for messages."""
    sample = None
    if (data.dtype.kind == "f" or spec.data_range is not None) and 0 not in data.shape:
        sample = np.asarray(decision_sample(data, spatial=3))  # measured, or checked
    return white_level(data.dtype, sample, spec.data_range, tuple(shape or data.shape))
