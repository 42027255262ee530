"""Loading any model n2n-lite makes, by name or file: the one rule for "a bundled model's name
or a path"."""

from __future__ import annotations

from pathlib import Path

from torch import nn

from n2n.errors import N2NError
from n2n.evaluation.treatment import refiner_of
from n2n.inference.exported import SUFFIXES, load_exported
from n2n.models import PixelModel
from n2n.models.bundled import is_bundled_name, load_named


def load_weights(path: str | Path) -> nn.Module:
    """A bundled model's name (``photo``, unless a file of that name exists), or any model file
    n2n-lite writes, by suffix: a TorchScript or ONNX export, else a checkpoint (``.pt``)."""
    if not is_bundled_name(path) and Path(path).suffix.lower() in SUFFIXES:
        return load_exported(path)
    return load_named(path)


def load_refiner(name: str | Path | None) -> PixelModel | None:
    """The second-pass model a treatment names (:attr:`Treatment.refine`), or None."""
    if name is None:
        return None
    model = load_weights(name)
    if not isinstance(model, PixelModel):
        raise N2NError(f"{name}: an exported model cannot refine (it runs only as exported); "
                       "use the checkpoint", param="refine")
    return model


def refiner_for(model: str | Path, refine: bool | None) -> PixelModel | None:
    """The second pass ``model`` gets at a fixed pixel-shuffle factor: none unless asked for."""
    return load_refiner(refiner_of(str(model))) if refine else None
