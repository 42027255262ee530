"""TrainConfig: everything that decides a training run, saved in every checkpoint; and each
mode's defaults, so that every caller (the CLI, napari, Python) starts a mode the same way."""

from __future__ import annotations

import numbers
from dataclasses import dataclass, fields, replace
from typing import Any

from n2n.data.config import PATCH_SIZE, DataConfig
from n2n.errors import N2NError
from n2n.models import ModelConfig
from n2n.training.losses import LOSSES
from n2n.training.objectives import MODES, TARGETS

# what a mode starts from where the caller says nothing: a blind-spot network (AP-BSN) trains
# on stride-5 sub-images, which must outgrow its field of view (patch 160), and denoises at pd 2
MODE_DEFAULTS: dict[str, dict[str, Any]] = {"bsn": {"arch": "bsn", "pd": 2, "patch_size": 160}}
VOLUME_MODES = ("n2n", "ne2ne")  # interleaved-plane pairs, or single windows of planes
VOLUME_CONTEXT = 5  # the window of planes a model trained on volumes reads by default
INIT_MODEL_SETTINGS = ("pd", "context")  # what a run started from another model's weights may
# change: its pixel-shuffle factor, and the window of planes a 2-D Lite model widens to


@dataclass(kw_only=True)
class TrainConfig:
    """Everything that decides a training run; saved in every checkpoint, so that
    :meth:`from_saved` rebuilds it (``--resume``).

    ``model`` is a :class:`ModelConfig`, taken as given, or a dict of the settings to change
    (None: none): the rest are the mode's (``MODE_DEFAULTS``: ``bsn`` trains a blind-spot
    network at pd 2), or, with ``init``, the checkpoint's, of which only ``pd`` may change
    (resolved by :func:`n2n.training.api.train` when it loads the weights). Its ``channels``
    follow the training data. ``data.patch_size`` None becomes the mode's. A 3-D U-Net
    (``arch`` unet3d) on volumes whose ``z_pool`` is not given (or None) gets it from the
    first stack's physical sizes when :func:`~n2n.training.api.train` starts the run
    (:func:`n2n.data.anisotropy.z_pool_for`); a :class:`ModelConfig` keeps its own.
    """

    model: ModelConfig | dict | None = None
    data: DataConfig | None = None  # where the pairs come from (None: a source built by hand)
    mode: str = "n2n"  # "n2n" pairs, "ne2ne"/"bsn" single noisy images, "zs" one image
    # (objectives.py)
    loss: str = "l2"  # "l2" gaussian/poisson, "l1" impulse, "l0" text (annealed, paper sec. 3.3)
    target: str = "noisy"  # "noisy": Noise2Noise; "clean": Noise2Clean, the supervised bound
    lr: float = 6e-3  # the course project's Adam learning rate
    lr_patience: int = 2  # epochs without improvement before halving the learning rate
    lr_factor: float = 0.5
    batch_size: int = 100
    epochs: int = 10
    minutes: float | None = None  # wall-clock budget; training stops when it is spent
    checkpoint_minutes: float = 10.0  # also write last.pt this often within an epoch
    augment: bool = True  # random flips/rotations (8 dihedral transforms)
    seed: int = 0
    fast: bool = True  # channels-last, bfloat16 autocast where native, prefetching (speed.py)
    init: str | None = None  # the weights the run started from (fine-tuning), for the record
    threads: int | None = None  # CPU threads: the same count makes a resumed run bit-identical

    def __post_init__(self) -> None:
        self._check_numbers()
        if isinstance(self.data, dict):
            self.data = DataConfig.from_saved(self.data)
        self.init = None if self.init is None else str(self.init)
        defaults = MODE_DEFAULTS.get(self.mode, {})
        if self.data is not None and self.data.source == "volume":  # a 3-D U-Net: no window
            flat = not isinstance(self.model, ModelConfig) and dict(self.model or {}).get(
                "arch") != "unet3d"
            defaults = {**defaults, "context": VOLUME_CONTEXT if flat else 1}
            if not flat and not isinstance(self.model, ModelConfig):
                defaults["z_pool"] = None  # from the stack's physical sizes (train())
        if self.data is not None and self.data.patch_size is None:
            self.data = replace(self.data, patch_size=defaults.get("patch_size", PATCH_SIZE))
        if not isinstance(self.model, ModelConfig):
            self.model = self._model_settings(dict(self.model or {}), defaults)
        self._check()

    @classmethod
    def from_saved(cls, saved: dict) -> TrainConfig:
        """The config a checkpoint's ``train_config`` holds: its model exactly as trained."""
        return cls(**{**saved, "model": ModelConfig(**saved["model"])})

    @property
    def model_pending(self) -> bool:
        """True while the network is still to come from ``init`` (the settings to change)."""
        return not isinstance(self.model, ModelConfig)

    def _model_settings(self, given: dict, defaults: dict) -> ModelConfig | dict:
        """The network the mode's defaults and ``given`` describe; with ``init``, ``given``
        kept as the changes to make to the checkpoint's network."""
        known = [f.name for f in fields(ModelConfig)]
        allowed = INIT_MODEL_SETTINGS if self.init is not None else known
        wrong = [k for k in given if k not in allowed]
        if wrong and self.init is not None:
            raise N2NError(f"{{init}} {self.init}: the network is the checkpoint's; of its "
                           f"settings only {list(allowed)} may change, not {wrong}",
                           param="init")
        if wrong:
            raise N2NError(f"model settings {wrong}: ModelConfig has {known}")
        if self.init is not None:
            return given
        clip = self.data is not None and self.data.clip_input  # as the data it will see
        base = {k: v for k, v in defaults.items() if k in known}
        return ModelConfig(**{"clip_input": clip, **base, **given})

    def _check_numbers(self) -> None:
        """A number where one belongs (``epochs='2'`` from a form or a JSON file would fail
        deep inside the loop with a TypeError): refused in one sentence naming the setting."""
        whole = ("lr_patience", "batch_size", "epochs", "seed", "threads")
        for name in (*whole, "lr", "lr_factor", "minutes", "checkpoint_minutes"):
            value = getattr(self, name)
            kinds = numbers.Integral if name in whole else numbers.Real
            if value is None and name in ("minutes", "threads"):
                continue
            if isinstance(value, bool) or not isinstance(value, kinds):
                raise N2NError(f"{{{name}}} {value!r} must be a "
                               f"{'whole number' if name in whole else 'number'}", param=name)

    def _check(self) -> None:
        model = None if self.model_pending else self.model
        checks = [  # (holds, message, the parameter it names)
            (self.mode in MODES, f"training mode '{self.mode}': choose one of {MODES}", ()),
            (model is None or self.mode != "bsn" or model.arch == "bsn",
             f"{{mode:bsn}} needs a blind-spot network ({{arch:bsn}}, or {{init}} from a bsn "
             f"run): a '{model and model.arch}' network would learn to copy its input",
             ("mode", "arch", "init")),
            (model is None or model.context == 1 or self.data is None
             or self.data.source == "volume",
             f"a context model ({{context}} {model and model.context}) learns from windows of "
             "planes: train it on {source:'volume'}", ("context", "source")),
            (model is None or model.arch != "unet3d" or self.data is None
             or self.data.source == "volume",
             "a 3-D U-Net ({arch:unet3d}) learns from sub-volumes: train it on "
             "{source:'volume'}", ("arch", "source")),
            (self.data is None or self.data.source != "volume" or self.mode in VOLUME_MODES,
             f"{{source:'volume'}} trains by Noise2Noise between interleaved planes "
             f"({{mode:n2n}}) or Neighbor2Neighbor within single windows ({{mode:ne2ne}}), "
             f"not '{self.mode}'", ("source", "mode")),
            (self.loss in LOSSES, f"loss '{self.loss}': choose one of {LOSSES}", ()),
            (self.target in TARGETS, f"target '{self.target}': choose one of {TARGETS}", ()),
            (self.lr > 0, f"{{lr}} (learning rate) {self.lr} must be > 0", "lr"),
            (self.batch_size >= 1, f"{{batch_size}} {self.batch_size} must be >= 1",
             "batch_size"),
            (self.epochs >= 1, f"{{epochs}} {self.epochs} must be >= 1", "epochs"),
            (self.minutes is None or self.minutes > 0, f"{{minutes}} {self.minutes} must be > 0",
             "minutes"),
            (self.checkpoint_minutes > 0,
             f"{{checkpoint_minutes}} {self.checkpoint_minutes} must be > 0",
             "checkpoint_minutes"),
            (self.threads is None or self.threads >= 1, f"{{threads}} {self.threads} must be >= 1",
             "threads"),
            (self.data is None or not self.data.clip_input or self.mode == "n2n",
             f"{{clip_input}} keeps a Noise2Noise target unclipped; {{mode:{self.mode}}} builds "
             "its target from the (clipped) input itself, whose noise would then be biased",
             ("clip_input", "mode")),
            (model is None or self.data is None or not self.data.clip_input
             or model.clip_input,
             "{clip_input} data trains a model that must clip its input when it denoises too: "
             "ModelConfig(clip_input=True)", "clip_input"),
        ]
        for holds, message, param in checks:
            if not holds:
                raise N2NError(message, param=param)
