"""TrainConfig: everything that decides a training run, saved in every checkpoint."""

from __future__ import annotations

from dataclasses import dataclass, field

from n2n.data.config import DataConfig
from n2n.errors import N2NError
from n2n.models import ModelConfig
from n2n.training.losses import LOSSES
from n2n.training.objectives import MODES, TARGETS


@dataclass(kw_only=True)
class TrainConfig:
    """Everything that decides a training run; saved in every checkpoint, so that
    ``TrainConfig(**record["train_config"])`` rebuilds it (``--resume``)."""

    model: ModelConfig = field(default_factory=ModelConfig)
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
        if isinstance(self.model, dict):
            self.model = ModelConfig(**self.model)
        if isinstance(self.data, dict):
            self.data = DataConfig.from_saved(self.data)
        checks = [  # (holds, message, the parameter it names)
            (self.mode in MODES, f"training mode '{self.mode}': choose one of {MODES}", ()),
            (self.mode != "bsn" or self.model.arch == "bsn",
             f"{{mode:bsn}} needs a blind-spot network ({{arch:bsn}}, or {{init}} from a bsn "
             f"run): a '{self.model.arch}' network would learn to copy its input",
             ("mode", "arch", "init")),
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
            (self.data is None or not self.data.clip_input or self.model.clip_input,
             "{clip_input} data trains a model that must clip its input when it denoises too: "
             "ModelConfig(clip_input=True)", "clip_input"),
        ]
        for holds, message, param in checks:
            if not holds:
                raise N2NError(message, param=param)
