"""The training loop, one code path for every mode: Noise2Noise (noisy targets), Noise2Clean
(clean targets), Neighbor2Neighbor (single noisy images) and zero-shot (one image); each mode is
an objective from :mod:`n2n.objectives` over batches from a pair source.

Recipe defaults follow the EE-559 course project: Adam at lr 6e-3, ReduceLROnPlateau (patience
2, factor 0.5) on the validation metric, batch 100, L2 loss, dihedral augmentation. Each epoch:
train -> validate (PSNR against clean images only, never a noisy target) -> schedule -> log
(CSV, JSON, PNG plot) -> checkpoint (last.pt every epoch, best.pt on improvement).
"""

from __future__ import annotations

import csv
import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from n2n.checkpoint import model_record, save_atomic
from n2n.data import PairSource, Validation, augment
from n2n.errors import N2NError
from n2n.losses import LOSSES
from n2n.metrics import batch_psnr
from n2n.models import ModelConfig, PixelModel
from n2n.objectives import MODES, make_objective


@dataclass
class TrainConfig:
    """Everything that decides a training run; saved in every checkpoint."""

    model: ModelConfig = field(default_factory=ModelConfig)
    mode: str = "n2n"  # "n2n" pairs, "ne2ne" single noisy images, "zs" one image (objectives.py)
    loss: str = "l2"  # "l2" gaussian/poisson, "l1" impulse, "l0" text (annealed, paper sec. 3.3)
    target: str = "noisy"  # "noisy": Noise2Noise; "clean": Noise2Clean, the supervised bound
    lr: float = 6e-3  # the course project's Adam learning rate
    lr_patience: int = 2  # epochs without improvement before halving the learning rate
    lr_factor: float = 0.5
    batch_size: int = 100
    epochs: int = 10
    minutes: float | None = None  # wall-clock budget; training stops when it is spent
    augment: bool = True  # random flips/rotations (8 dihedral transforms)
    seed: int = 0
    data: dict[str, Any] = field(default_factory=dict)  # how the pair source was made (for logs)

    def __post_init__(self) -> None:
        if isinstance(self.model, dict):
            self.model = ModelConfig(**self.model)
        checks = [
            (self.mode in MODES, f"training mode '{self.mode}': choose one of {MODES}"),
            (self.loss in LOSSES, f"loss '{self.loss}': choose one of {LOSSES}"),
            (self.target in ("noisy", "clean"), f"target '{self.target}': 'noisy' or 'clean'"),
            (self.lr > 0, f"learning rate {self.lr} must be > 0"),
            (self.batch_size >= 1, f"batch size {self.batch_size} must be >= 1"),
            (self.epochs >= 1, f"epochs {self.epochs} must be >= 1"),
            (self.minutes is None or self.minutes > 0, f"minutes {self.minutes} must be > 0"),
        ]
        for ok, message in checks:
            if not ok:
                raise N2NError(message)


def resolve_device(name: str = "auto") -> torch.device:
    """'auto' picks CUDA when present; an unavailable device is a clear error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise N2NError(f"device '{name}' requested but CUDA is not available")
    try:
        return torch.device(name)
    except RuntimeError as err:
        raise N2NError(f"unknown device '{name}' (use cpu, cuda or cuda:N)") from err


@torch.no_grad()
def predict_batches(model: PixelModel, images: torch.Tensor, batch_size: int = 100
                    ) -> torch.Tensor:
    """Run ``model`` over (N, C, H, W) images in batches on its device; output on the CPU."""
    device = next(model.parameters()).device
    outs = [model(images[i:i + batch_size].to(device).float()).clamp(0, 255).cpu()
            for i in range(0, len(images), batch_size)]
    return torch.cat(outs)


def validate(model: PixelModel, val: Validation) -> float:
    """Mean PSNR (dB) of the model's output against the clean images."""
    was_training = model.training
    model.eval()
    psnrs = batch_psnr(predict_batches(model, val.noisy), val.clean)
    model.train(was_training)
    return sum(psnrs) / len(psnrs)


def fit(model: PixelModel, source: PairSource, config: TrainConfig,
        val: Validation | None = None, run_dir: str | Path | None = None,
        progress: bool = True, normalize: bool = True) -> list[dict[str, float]]:
    """Train ``model`` in place and return the per-epoch history.

    ``normalize`` sets the model's per-channel statistics from the source first (leave it off
    to fine-tune trained weights). With ``run_dir``, writes ``log.csv``, ``log.json``,
    ``curves.png``, ``last.pt`` and ``best.pt`` there; without it, writes nothing.
    """
    device = next(model.parameters()).device
    objective = make_objective(config.mode, config.loss, config.target)
    generator = torch.Generator().manual_seed(config.seed)
    torch.manual_seed(config.seed)
    if normalize:
        model.set_normalization(source.stats_sample(generator).to(device))
    model.to(device).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, mode="max" if val is not None else "min",
        factor=config.lr_factor, patience=config.lr_patience)
    run_dir = Path(run_dir) if run_dir is not None else None
    budget = math.inf if config.minutes is None else config.minutes * 60.0
    start, history, best = time.monotonic(), [], -math.inf

    for epoch in range(1, config.epochs + 1):
        # ---- train one epoch
        losses = []
        bar = tqdm(source.batches(config.batch_size, generator), unit="batch", leave=False,
                   desc=f"epoch {epoch}/{config.epochs}",
                   disable=None if progress else True)  # None: no bar when not a tty
        for batch in bar:
            if config.augment:
                batch = augment(batch, generator)
            fraction = max((epoch - 1) / config.epochs, (time.monotonic() - start) / budget)
            loss = objective(model, batch.to(device), fraction, generator)
            if not torch.isfinite(loss):
                raise N2NError(f"loss became {loss.item()} at epoch {epoch}: lower --lr")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
            bar.set_postfix(loss=f"{losses[-1]:.5f}")
            if time.monotonic() - start > budget:
                break
        # ---- validate and schedule
        row = {"epoch": epoch, "seconds": round(time.monotonic() - start, 1),
               "lr": optimizer.param_groups[0]["lr"], "train_loss": sum(losses) / len(losses)}
        if val is not None:
            row["val_psnr"] = validate(model, val)
        metric = row.get("val_psnr", -row["train_loss"])
        scheduler.step(metric if val is not None else row["train_loss"])
        history.append(row)
        if progress:
            shown = ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                              for k, v in row.items())
            tqdm.write(shown)
        # ---- log and checkpoint
        if run_dir is not None:
            write_logs(run_dir, history)
            state = model_record(model, train_config=asdict(config), epoch=epoch,
                                 history=history, optimizer=optimizer.state_dict(),
                                 scheduler=scheduler.state_dict())
            save_atomic(state, run_dir / "last.pt")
            if metric > best:
                save_atomic(state, run_dir / "best.pt")
        best = max(best, metric)
        if time.monotonic() - start > budget:
            break
    model.eval()
    return history


def write_logs(run_dir: Path, history: list[dict[str, float]]) -> None:
    """Per-epoch CSV and JSON logs and a PNG of the loss and PSNR curves."""
    from n2n.plots import plot_curves  # matplotlib is slow to import; only runs need it

    run_dir.mkdir(parents=True, exist_ok=True)
    with open(run_dir / "log.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(history[-1].keys()))
        writer.writeheader()
        writer.writerows(history)
    (run_dir / "log.json").write_text(json.dumps(history, indent=1))
    plot_curves(history, run_dir / "curves.png")
