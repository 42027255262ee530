"""Training: the configuration, the one loop for every mode, objectives and losses, speed-ups
that keep results, and torchrun plumbing.

A run from Python is one call, as ``n2n train`` makes it::

    from n2n.training import DataConfig, TrainConfig, train
    train(TrainConfig(data=DataConfig(source="clean", paths="photos/"), epochs=2), "runs/r1")

The names below are imported on first use, so that importing one module of this package
does not load them all.
"""

from __future__ import annotations

from typing import Any

__all__ = ["DataConfig", "Interrupted", "ModelConfig", "TrainConfig", "TrainResult",
           "saved_config", "train"]


def __getattr__(name: str) -> Any:
    """``n2n.training.train`` and the configs it takes, imported when first asked for."""
    if name not in __all__:
        raise AttributeError(f"module 'n2n.training' has no attribute '{name}'")
    from n2n import models
    from n2n.data import config as data_config
    from n2n.training import api, config, loop, resume

    module = next(m for m in (api, config, resume, loop, data_config, models) if hasattr(m, name))
    return getattr(module, name)
