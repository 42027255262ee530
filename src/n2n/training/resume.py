"""Resuming a run: its ``last.pt`` read back, and a config checked against the one the run
was started with. Only the budget may change (it changes no result already made); any other
difference is refused, naming each, since the run would silently become another."""

from __future__ import annotations

from dataclasses import fields, replace
from pathlib import Path
from typing import Any

from n2n.data.config import DataConfig
from n2n.errors import N2NError
from n2n.models import ModelConfig
from n2n.models.checkpoint import load_record
from n2n.training.config import INIT_MODEL_SETTINGS, TrainConfig
from n2n.training.run_folder import refuse_if_held

SAFE_ON_RESUME = ("epochs", "minutes", "threads")  # change no result already made
DERIVED = ("channels", "clip_input")  # a network's, set from its data (compared there)


def load_resumable(run_dir: Path) -> tuple[dict[str, Any], TrainConfig]:
    """The run's ``last.pt`` and the config it was started with; a folder another training
    holds is refused first (its checkpoint may not be written yet)."""
    refuse_if_held(run_dir)
    path = run_dir / "last.pt"
    if not path.is_file():
        raise N2NError(f"{run_dir}: holds no last.pt to resume; start the run without "
                       "{resume}", param="resume")
    record = load_record(path)
    if "position" not in record or "train_config" not in record:
        raise N2NError(f"{path}: not a resumable 'n2n train' checkpoint")
    saved = TrainConfig.from_saved(record["train_config"])
    if saved.data is None:
        raise N2NError(f"{path}: its data was not saved; cannot resume")
    return record, saved


def saved_config(run_dir: str | Path) -> TrainConfig:
    """The config of the run in ``run_dir``, as it was started (with its budget as last
    resumed): change its ``epochs`` or ``minutes`` and pass it back with ``resume=True``."""
    return load_resumable(Path(run_dir))[1]


def resumed_config(run_dir: Path, saved: TrainConfig, config: TrainConfig | None
                   ) -> tuple[TrainConfig, list[tuple[str, Any, Any]]]:
    """``saved`` with ``config``'s new budget (and the changes made, as (name, new, old)); a
    ``config`` that differs from the run in anything else is refused, naming each difference.
    None continues the run as it was."""
    if config is None:
        return saved, []
    found = differences(config, saved)
    refused = [d for d in found if d[0] not in SAFE_ON_RESUME]
    if refused:
        params = {name for name, _, _ in refused} | {"resume"}
        said = "; ".join(_difference(name, new, old) for name, new, old in refused)
        raise N2NError(f"{run_dir}: {{resume}} continues the run as it was started; it differs "
                       f"in {said}. Start a new run for these", param=tuple(sorted(params)))
    applied = [d for d in found if d[0] in SAFE_ON_RESUME]
    return replace(saved, **{name: new for name, new, _ in applied}), applied


def differences(config: TrainConfig, saved: TrainConfig) -> list[tuple[str, Any, Any]]:
    """Where ``config`` differs from the run's ``saved`` config: (name, new, old)."""
    found = [(f.name, getattr(config, f.name), getattr(saved, f.name)) for f in fields(saved)
             if f.name not in ("model", "data")]
    found += _model_differences(config.model, saved)
    found += _data_differences(config.data, saved.data)
    return [(name, new, old) for name, new, old in found if new != old]


def _model_differences(model: ModelConfig | dict, saved: TrainConfig) -> list[tuple]:
    """A network's settings as given: all but those its data sets, only ``pd`` where the run
    started from another model's weights, only those named where ``model`` is a dict;
    ``z_pool`` None (from the data) is the run's, whatever its stack gave it."""
    if isinstance(model, dict):
        names = list(model)
    elif saved.init is not None:
        names = list(INIT_MODEL_SETTINGS)
    else:
        names = [f.name for f in fields(ModelConfig) if f.name not in DERIVED]
    get = model.get if isinstance(model, dict) else lambda name: getattr(model, name)
    return [(name, get(name), getattr(saved.model, name)) for name in names
            if not (name == "z_pool" and get(name) is None)]  # None: the run's, from its data


def _data_differences(data: DataConfig | None, saved: DataConfig) -> list[tuple]:
    if data is None:
        return [("data", None, f"{saved.source} {_shown(saved.paths)}")]
    found = [("source", data, saved)] if (data.source, data.paths) != (
        saved.source, saved.paths) else []
    return found + [(f.name, getattr(data, f.name), getattr(saved, f.name))
                    for f in fields(DataConfig) if f.name not in ("source", "paths")]


def _difference(name: str, new: Any, old: Any) -> str:
    """One difference as a message says it: ``{lr} 0.1 (the run has 0.006)``; a source with
    its paths, ``{source:'noisy'} shots (the run has {source:'clean'} photos)``; a switch,
    ``{residual:True} (the run has {residual:False})``."""
    if name == "source":
        new, old = (f"{{source:'{d.source}'}} {_shown(d.paths)}" for d in (new, old))
        return f"{new} (the run has {old})"
    if isinstance(new, bool) and isinstance(old, bool):
        return f"{{{name}:{new}}} (the run has {{{name}:{old}}})"
    return f"{{{name}}} {_shown(new)} (the run has {_shown(old)})"


def _shown(value: Any) -> str:
    return " ".join(map(str, value)) if isinstance(value, list | tuple) else str(value)
