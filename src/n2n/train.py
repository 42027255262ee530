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
import io
import itertools
import json
import math
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from n2n import distributed
from n2n.checkpoint import model_record, save_atomic
from n2n.data import Batch, PairSource, Validation, augment
from n2n.errors import N2NError
from n2n.files import write_text_atomic
from n2n.losses import LOSSES
from n2n.metrics import batch_psnr
from n2n.models import ModelConfig, PixelModel
from n2n.objectives import MODES, make_objective
from n2n.sources import DataConfig
from n2n.speed import autocast, memory_layout, prefetch, prefetch_helps


@dataclass(kw_only=True)
class TrainConfig:
    """Everything that decides a training run; saved in every checkpoint, so that
    ``TrainConfig(**record["train_config"])`` rebuilds it (``--resume``)."""

    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig | None = None  # where the pairs come from (None: a source built by hand)
    mode: str = "n2n"  # "n2n" pairs, "ne2ne" single noisy images, "zs" one image (objectives.py)
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
        checks = [
            (self.mode in MODES, f"training mode '{self.mode}': choose one of {MODES}"),
            (self.loss in LOSSES, f"loss '{self.loss}': choose one of {LOSSES}"),
            (self.target in ("noisy", "clean"), f"target '{self.target}': 'noisy' or 'clean'"),
            (self.lr > 0, f"learning rate {self.lr} must be > 0"),
            (self.batch_size >= 1, f"batch size {self.batch_size} must be >= 1"),
            (self.epochs >= 1, f"epochs {self.epochs} must be >= 1"),
            (self.minutes is None or self.minutes > 0, f"minutes {self.minutes} must be > 0"),
            (self.checkpoint_minutes > 0,
             f"checkpoint minutes {self.checkpoint_minutes} must be > 0"),
            (self.threads is None or self.threads >= 1, f"threads {self.threads} must be >= 1"),
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


class Interrupted(Exception):
    """Training stopped by SIGINT or SIGTERM after writing a checkpoint it can resume from."""

    def __init__(self, signum: int, checkpoint: Path | None) -> None:
        name = signal.Signals(signum).name
        where = f"checkpoint written to {checkpoint}" if checkpoint else "no run folder to save to"
        super().__init__(f"{name}: stopped after the current step; {where}")
        self.signum, self.checkpoint = signum, checkpoint


def derived_generator(*numbers: int) -> torch.Generator:
    """A generator seeded from a tuple of integers (seed, epoch, step, rank), so that any step
    of any run can be replayed exactly: this is what makes resumed runs bit-identical."""
    seed = 0
    for n in numbers:
        seed = (seed * 1_000_003 + n) % (2**63)
    return torch.Generator().manual_seed(seed)


@contextmanager
def stop_signals() -> Iterator[list[int]]:
    """Catch SIGINT and SIGTERM into a list (the loop stops after its step); restore on exit."""
    caught: list[int] = []
    if threading.current_thread() is not threading.main_thread():
        yield caught  # signal handlers can only be set from the main thread
        return
    previous = {s: signal.signal(s, lambda signum, frame: caught.append(signum))
                for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield caught
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def fit(model: PixelModel, source: PairSource, config: TrainConfig,
        val: Validation | None = None, run_dir: str | Path | None = None, *,
        progress: bool = True, normalize: bool = True, resume: dict[str, Any] | None = None
        ) -> list[dict[str, float]]:
    """Train ``model`` in place and return the per-epoch history.

    Parameters
    ----------
    model : PixelModel
        A fresh (:func:`n2n.models.build_model`) or trained model, on its device.
    source : PairSource
        Batches of pairs, e.g. from :func:`n2n.sources.build_data`.
    config : TrainConfig
        Mode, loss, optimiser, budget, seed; saved in every checkpoint.
    val : Validation, optional
        Noisy images with their clean versions: PSNR after each epoch drives the learning-rate
        schedule and ``best.pt``; without it, the training loss does.
    run_dir : path, optional
        Where ``log.csv``, ``log.json``, ``curves.png``, ``best.pt`` and ``last.pt`` go (every
        epoch and every ``config.checkpoint_minutes``).
    progress, normalize, resume : keyword-only
        A progress bar; whether to set the per-channel statistics from ``source`` first (off to
        fine-tune); a loaded ``last.pt`` to continue from.

    Returns
    -------
    list of dict
        One row per epoch: epoch, seconds, lr, train_loss and, with ``val``, val_psnr.

    Notes
    -----
    Under torchrun, trains with DistributedDataParallel; SIGINT/SIGTERM write ``last.pt`` and
    raise :class:`Interrupted`.

    Examples
    --------
    >>> source, val = build_data(DataConfig(source="clean", paths=["photos/"]))  # doctest: +SKIP
    >>> config = TrainConfig(model=ModelConfig(residual=True), epochs=5)  # doctest: +SKIP
    >>> history = fit(build_model(config.model), source, config, val, "runs/a")  # doctest: +SKIP
    """
    context, device = distributed.setup(next(model.parameters()).device)
    objective = make_objective(config.mode, config.loss, config.target)
    if normalize and resume is None:
        model.set_normalization(source.stats_sample(derived_generator(config.seed)).to(device))
    memory_layout(model.to(device), config.fast).train()
    if config.fast and hasattr(source, "noise_device"):
        source.noise_device = device  # synthetic noise drawn where the model trains
    net = distributed.wrap(model, context)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, mode="max" if val is not None else "min",
        factor=config.lr_factor, patience=config.lr_patience)
    run_dir = Path(run_dir) if run_dir is not None and context.main else None
    budget = math.inf if config.minutes is None else config.minutes * 60.0
    history, best, epoch, step, losses, spent = [], -math.inf, 1, 0, [], 0.0
    if resume is not None:
        model.load_state_dict(resume["model"])
        optimizer.load_state_dict(resume["optimizer"])
        scheduler.load_state_dict(resume["scheduler"])
        history, best = resume["history"], resume["best"]
        epoch, step = resume["position"]["epoch"], resume["position"]["step"]
        losses, spent = resume["epoch_losses"], resume["seconds"]
    start = time.monotonic() - spent
    last_save = time.monotonic()

    def checkpoint(name: str = "last.pt") -> Path | None:
        if run_dir is None:
            return None
        state = model_record(model, train_config=asdict(config), epoch=len(history),
                             history=history, best=best, optimizer=optimizer.state_dict(),
                             scheduler=scheduler.state_dict(), epoch_losses=losses,
                             position={"epoch": epoch, "step": step},
                             seconds=time.monotonic() - start)
        save_atomic(state, run_dir / name)
        return run_dir / name

    with stop_signals() as caught:
        while epoch <= config.epochs:
            # ---- train one epoch (or its rest, when resuming mid-epoch)
            batches = source.batches(config.batch_size, derived_generator(config.seed, epoch),
                                     context.shard)
            batches = itertools.islice(batches, step, None)  # replayed exactly, then skipped
            batches = prepare(batches, config, device, epoch, step, context.rank)
            if config.fast and prefetch_helps(device, context.world):
                batches = prefetch(batches)
            bar = tqdm(batches, unit="batch", leave=False,
                       desc=f"epoch {epoch}/{config.epochs}",
                       disable=None if progress and context.main else True)
            out_of_time = False
            for batch, generator in bar:
                fraction = max((epoch - 1) / config.epochs, (time.monotonic() - start) / budget)
                with autocast(device, config.fast):
                    loss = objective(net, batch, fraction, generator)
                if not torch.isfinite(loss):
                    raise N2NError(f"loss became {loss.item()} at epoch {epoch}: lower lr")
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                losses.append(loss.item())
                step += 1
                bar.set_postfix(loss=f"{losses[-1]:.5f}")
                out_of_time = time.monotonic() - start > budget
                if distributed.any_rank(bool(caught), context, device):
                    raise Interrupted(caught[0] if caught else signal.SIGTERM, checkpoint())
                if out_of_time := distributed.any_rank(out_of_time, context, device):
                    break
                if time.monotonic() - last_save > config.checkpoint_minutes * 60:
                    checkpoint()
                    last_save = time.monotonic()
            # ---- validate, schedule, log and checkpoint
            row = {"epoch": epoch, "seconds": round(time.monotonic() - start, 1),
                   "lr": optimizer.param_groups[0]["lr"],
                   "train_loss": sum(losses) / max(len(losses), 1)}
            if val is not None:
                row["val_psnr"] = validate(model, val)
            metric = row.get("val_psnr", -row["train_loss"])
            scheduler.step(metric if val is not None else row["train_loss"])
            history.append(row)
            if progress and context.main:
                tqdm.write(format_row(row))
            improved, best = metric > best, max(best, metric)
            epoch, step, losses = epoch + 1, 0, []
            if run_dir is not None:
                write_logs(run_dir, history)
                checkpoint()
                if improved:
                    checkpoint("best.pt")
                last_save = time.monotonic()
            if distributed.any_rank(bool(caught), context, device):  # caught while validating
                raise Interrupted(caught[0] if caught else signal.SIGTERM,
                                  run_dir / "last.pt" if run_dir is not None else None)
            if out_of_time:
                break
    memory_layout(model, fast=False).eval()
    return history


def prepare(batches: Iterator[Batch], config: TrainConfig, device: torch.device, epoch: int,
            step: int, rank: int) -> Iterator[tuple[Batch, torch.Generator]]:
    """Each batch on ``device`` and augmented, with the generator of its step (seeded by
    seed, epoch, step and rank, so a resumed run replays it), which the objective goes on
    drawing from."""
    for position, batch in enumerate(batches, step):
        generator = derived_generator(config.seed, epoch, position, rank)
        batch = batch.to(device)
        if config.augment:
            batch = augment(batch, generator)
        yield batch, generator


def format_row(row: dict[str, float]) -> str:
    """One epoch's log row as printed: ``epoch 3, seconds 12.5, lr 0.006, ...``."""
    return ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                     for k, v in row.items())


def write_logs(run_dir: Path, history: list[dict[str, float]]) -> None:
    """Per-epoch CSV and JSON logs and a PNG of the loss and PSNR curves, each written
    atomically like the checkpoints."""
    from n2n.plots import plot_curves  # matplotlib is slow to import; only runs need it

    run_dir.mkdir(parents=True, exist_ok=True)
    table = io.StringIO()
    writer = csv.DictWriter(table, fieldnames=list(history[-1].keys()), lineterminator="\n")
    writer.writeheader()
    writer.writerows(history)
    write_text_atomic(run_dir / "log.csv", table.getvalue())
    write_text_atomic(run_dir / "log.json", json.dumps(history, indent=1))
    plot_curves(history, run_dir / "curves.png")
