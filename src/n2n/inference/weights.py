"""Loading any model n2n-lite makes, by name or file: the one rule for "a bundled model's name
or a path"."""

from __future__ import annotations

from pathlib import Path

from torch import nn

from n2n.inference.exported import SUFFIXES, load_exported
from n2n.inference.policy import refiner_of
from n2n.models.bundled import is_bundled_name, load_named


def load_weights(path: str | Path) -> nn.Module:
    """A bundled model's name (``photo``, unless a file of that name exists), or any model file
    n2n-lite writes, by suffix: a TorchScript or ONNX export, else a checkpoint (``.pt``)."""
    if not is_bundled_name(path) and Path(path).suffix.lower() in SUFFIXES:
        return load_exported(path)
    return load_named(path)


def load_refiner(name: str | Path | None) -> nn.Module | None:
    """The second-pass model a treatment names (:attr:`Treatment.refine`), or None; the
    Denoiser refuses one that is not a checkpoint."""
    return None if name is None else load_weights(name)


def refiner_for(model: str | Path, refine: bool | None) -> nn.Module | None:
    """The second pass ``model`` gets at a fixed pixel-shuffle factor: none unless asked for."""
    return load_refiner(refiner_of(str(model))) if refine else None
