"""Self-describing checkpoints: the architecture travels with the weights, written atomically
and loaded without running pickled code (``weights_only=True``)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from n2n.errors import N2NError
from n2n.io.files import atomic_file, load_torch_file
from n2n.models import ModelConfig, PixelModel, build_model
from n2n.models.package import is_package, package_contents

FORMAT = "n2n-lite"
VERSION = 1


def save_atomic(obj: Any, path: str | Path) -> None:
    """``torch.save`` to an unnamed file in the same folder, fsync, then rename over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(path) as f:
        torch.save(obj, f)


def model_record(model: PixelModel, **extra: Any) -> dict[str, Any]:
    """The minimum to rebuild ``model``: format tag, config and float32 weights, plus ``extra``."""
    state = {k: v.detach().float().cpu() for k, v in model.state_dict().items()}
    return {"format": FORMAT, "version": VERSION, "model_config": asdict(model.config),
            "model": state, **extra}


def load_record(path: str | Path) -> dict[str, Any]:
    """Load a checkpoint or exported weights file (or the weights inside a BioImage Model Zoo
    package n2n-lite exported), refusing anything that is not ours."""
    if is_package(path):
        config, state = package_contents(path)
        return {"format": FORMAT, "version": VERSION, "model_config": config, "model": state}
    record = load_torch_file(path, "n2n checkpoint")
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise N2NError(f"{path}: not an n2n-lite checkpoint (no '{FORMAT}' format tag)")
    if record.get("version", 0) > VERSION:
        raise N2NError(f"{path}: checkpoint version {record['version']} is newer than this "
                       f"n2n-lite understands ({VERSION}); upgrade n2n-lite")
    return record


def load_model(path: str | Path) -> PixelModel:
    """Rebuild the model stored in a checkpoint or weights file, in eval mode on the CPU."""
    return model_from_record(load_record(path), path)


def model_from_record(record: dict[str, Any], path: str | Path) -> PixelModel:
    """Rebuild the model of an already loaded record; ``path`` names it in errors."""
    try:
        model = build_model(ModelConfig(**record["model_config"]))
        model.load_state_dict(record["model"])
    except (TypeError, KeyError, RuntimeError) as err:
        raise N2NError(f"{path}: weights do not match their model config ({err})") from err
    check_finite(model.state_dict().values(), path)
    model.source = str(path)  # named in messages about what it computes
    return model.eval()


def check_finite(tensors: Iterable[torch.Tensor], path: str | Path) -> None:
    """Refuse weights holding NaN or infinity: they would turn every image into garbage."""
    bad = sum(int((~torch.isfinite(t)).sum()) for t in tensors if t.is_floating_point())
    if bad:
        raise N2NError(f"{path}: {bad} weight value(s) are NaN or infinite; the model is broken "
                       "(a diverged training?) and cannot denoise")


def provenance(record: dict[str, Any]) -> dict[str, Any]:
    """How a checkpoint's model was trained (its config and history), to ship with it."""
    return {k: record[k] for k in ("train_config", "history") if k in record}


def write_weights(model: PixelModel, output: str | Path, half: bool = False,
                  extra: dict[str, Any] | None = None) -> None:
    """Save ``model``'s config and weights (float16 with ``half``) plus ``extra``, atomically."""
    state = model_record(model, **(extra or {}))
    if half:
        state["model"] = {k: v.half() for k, v in state["model"].items()}
    save_atomic(state, output)
