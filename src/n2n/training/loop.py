"""The training loop, one code path for every mode: Noise2Noise (noisy targets), Noise2Clean
(clean targets), Neighbor2Neighbor (single noisy images) and zero-shot (one image); each mode is
an objective from :mod:`n2n.training.objectives` over batches from a pair source.

Recipe defaults follow the EE-559 course project: Adam at lr 6e-3, ReduceLROnPlateau (patience
2, factor 0.5) on the validation metric, batch 100, L2 loss, dihedral augmentation. Each epoch:
train -> validate (PSNR against clean images only, never a noisy target) -> schedule -> log
(CSV, JSON, PNG plot) -> checkpoint (last.pt every epoch, best.pt on improvement).
"""

from __future__ import annotations

import itertools
import math
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from n2n.data.augment import augment
from n2n.data.pairs import Batch, PairSource, Validation
from n2n.device import autocast, memory_layout
from n2n.errors import N2NError
from n2n.evaluation.metrics import batch_psnr
from n2n.models import PixelModel
from n2n.models.checkpoint import model_record, save_atomic
from n2n.training import distributed
from n2n.training.config import TrainConfig
from n2n.training.logs import format_row, write_logs
from n2n.training.objectives import make_objective
from n2n.training.run_folder import owned_run_folder
from n2n.training.speed import prefetch, prefetch_helps

# what `timeout`, batch schedulers and a closed terminal send: stop cleanly, resumable
STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP")
                     if hasattr(signal, name))  # no SIGHUP on Windows


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
    """Training stopped by SIGINT, SIGTERM or SIGHUP, or on request (``signum`` None: the
    ``stop`` event set), after writing a checkpoint it can resume from."""

    def __init__(self, signum: int | None, checkpoint: Path | None) -> None:
        name = "stop requested" if signum is None else signal.Signals(signum).name
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


class Stops:
    """What asks the loop to stop after its step: signals caught, or ``event`` set by another
    thread (the napari widget's Stop). True once either has happened."""

    def __init__(self, event: threading.Event | None = None) -> None:
        self.signals: list[int] = []
        self.event = event

    def __bool__(self) -> bool:
        return bool(self.signals) or self.requested

    @property
    def requested(self) -> bool:
        return self.event is not None and self.event.is_set()

    def signum(self) -> int | None:
        """The signal to report: the first caught, None for a request, else SIGTERM (another
        rank was stopped)."""
        return self.signals[0] if self.signals else None if self.requested else signal.SIGTERM


@contextmanager
def stop_signals(event: threading.Event | None = None) -> Iterator[Stops]:
    """Catch SIGINT, SIGTERM and SIGHUP (the loop stops after its step), and watch ``event``;
    restore the previous handlers on exit."""
    caught = Stops(event)
    if threading.current_thread() is not threading.main_thread():
        yield caught  # signal handlers can only be set from the main thread
        return
    previous = {s: signal.signal(s, lambda signum, frame: caught.signals.append(signum))
                for s in STOP_SIGNALS}
    try:
        yield caught
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def fit(model: PixelModel, source: PairSource, config: TrainConfig,
        val: Validation | None = None, run_dir: str | Path | None = None, *,
        progress: bool = True, normalize: bool = True, resume: dict[str, Any] | None = None,
        overwrite: bool = False, stop: threading.Event | None = None
        ) -> list[dict[str, float]]:
    """Train ``model`` in place and return the per-epoch history.

    Parameters
    ----------
    model : PixelModel
        A fresh (:func:`n2n.models.build_model`) or trained model, on its device.
    source : PairSource
        Batches of pairs, e.g. from :func:`n2n.data.config.build_data`.
    config : TrainConfig
        Mode, loss, optimiser, budget, seed; saved in every checkpoint.
    val : Validation, optional
        Noisy images with their clean versions: PSNR after each epoch drives the learning-rate
        schedule and ``best.pt``; without it, the training loss does.
    run_dir : path, optional
        Where ``log.csv``, ``log.json``, ``curves.png``, ``best.pt`` and ``last.pt`` go (every
        epoch and every ``config.checkpoint_minutes``).
    progress, normalize, resume, overwrite : keyword-only
        A progress bar; whether to set the per-channel statistics from ``source`` first (off to
        fine-tune); a loaded ``last.pt`` to continue from; whether a ``run_dir`` that holds
        another run may be started afresh (without ``resume`` or ``overwrite`` it is refused).
    stop : threading.Event, optional
        Set from another thread to stop as a signal does (``last.pt``, then Interrupted).

    Returns
    -------
    list of dict
        One row per epoch: epoch, seconds, lr, train_loss and, with ``val``, val_psnr.

    Notes
    -----
    Under torchrun, trains with DistributedDataParallel; SIGINT/SIGTERM/SIGHUP (or ``stop``)
    write ``last.pt`` and raise :class:`Interrupted`. ``run_dir`` is locked while the run
    trains: a second training there is refused.

    Examples
    --------
    >>> source, val = build_data(DataConfig(source="clean", paths=["photos/"]))  # doctest: +SKIP
    >>> config = TrainConfig(model=ModelConfig(residual=True), epochs=5)  # doctest: +SKIP
    >>> history = fit(build_model(config.model), source, config, val, "runs/a")  # doctest: +SKIP
    """
    if config.model_pending:  # its checkpoints could not be rebuilt or resumed
        raise N2NError("{init}: the network is still to come from those weights; train with "
                       "n2n.training.train, which loads them", param="init")
    folder = None if run_dir is None else Path(run_dir)
    with owned_run_folder(folder, resume=resume is not None, overwrite=overwrite,
                          main=distributed.current().main), stop_signals(stop) as caught:
        run = _Run(model, source, config, val, run_dir, normalize, resume)
        while run.epoch <= config.epochs:
            if run.train_epoch(caught, progress):
                run.end_epoch(progress)
            if run.any_rank(bool(caught)):  # caught mid-epoch, or while validating
                raise Interrupted(caught.signum(), run.checkpoint())
            if run.out_of_time:
                break
    memory_layout(model, fast=False).eval()
    return run.history


class _Run:
    """One training run's state: model, optimiser, schedule, history and position in the
    epoch; what ``last.pt`` holds and ``resume`` restores."""

    def __init__(self, model: PixelModel, source: PairSource, config: TrainConfig,
                 val: Validation | None, run_dir: str | Path | None, normalize: bool,
                 resume: dict[str, Any] | None) -> None:
        self.context, self.device = distributed.setup(next(model.parameters()).device)
        self.model, self.source, self.config, self.val = model, source, config, val
        self.objective = make_objective(config.mode, config.loss, config.target)
        if normalize and resume is None:
            sample = source.stats_sample(derived_generator(config.seed))
            model.set_normalization(sample.to(self.device))
        memory_layout(model.to(self.device), config.fast).train()
        if config.fast and hasattr(source, "noise_device"):
            source.noise_device = self.device  # synthetic noise drawn where the model trains
        self.net = distributed.wrap(model, self.context)
        self.optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
        self.scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            self.optimizer, mode="max" if val is not None else "min",
            factor=config.lr_factor, patience=config.lr_patience)
        self.run_dir = Path(run_dir) if run_dir is not None and self.context.main else None
        self.budget = math.inf if config.minutes is None else config.minutes * 60.0
        self.history: list[dict[str, float]] = []
        self.best, self.epoch, self.step, self.losses, spent = -math.inf, 1, 0, [], 0.0
        if resume is not None:
            model.load_state_dict(resume["model"])
            self.optimizer.load_state_dict(resume["optimizer"])
            self.scheduler.load_state_dict(resume["scheduler"])
            self.history, self.best = resume["history"], resume["best"]
            self.epoch, self.step = resume["position"]["epoch"], resume["position"]["step"]
            self.losses, spent = resume["epoch_losses"], resume["seconds"]
        self.start = time.monotonic() - spent
        self.last_save = time.monotonic()
        self.out_of_time = False

    def any_rank(self, flag: bool) -> bool:
        return distributed.any_rank(flag, self.context, self.device)

    def checkpoint(self, name: str = "last.pt") -> Path | None:
        """Write the run's state to ``run_dir/name`` (main rank only); where it went."""
        if self.run_dir is None:
            return None
        state = model_record(
            self.model, train_config=asdict(self.config), epoch=len(self.history),
            history=self.history, best=self.best, optimizer=self.optimizer.state_dict(),
            scheduler=self.scheduler.state_dict(), epoch_losses=self.losses,
            position={"epoch": self.epoch, "step": self.step},
            seconds=time.monotonic() - self.start)
        save_atomic(state, self.run_dir / name)
        self.last_save = time.monotonic()
        return self.run_dir / name

    def train_epoch(self, caught: Stops, progress: bool) -> bool:
        """Train the epoch (or its rest, when resuming mid-epoch); False when a signal stopped
        it, True at its end or when the time budget ran out (``out_of_time``)."""
        config, context = self.config, self.context
        batches = self.source.batches(config.batch_size,
                                      derived_generator(config.seed, self.epoch), context.shard)
        batches = itertools.islice(batches, self.step, None)  # replayed exactly, then skipped
        batches = prepare(batches, config, self.device, self.epoch, self.step, context.rank)
        if config.fast and prefetch_helps(self.device, context.world):
            batches = prefetch(batches)
        bar = tqdm(batches, unit="batch", leave=False, desc=f"epoch {self.epoch}/{config.epochs}",
                   disable=None if progress and context.main else True)
        for batch, generator in bar:
            self._step(batch, generator)
            bar.set_postfix(loss=f"{self.losses[-1]:.5f}")
            out_of_time = time.monotonic() - self.start > self.budget
            if self.any_rank(bool(caught)):
                return False
            self.out_of_time = self.any_rank(out_of_time)
            if self.out_of_time:
                break
            if time.monotonic() - self.last_save > config.checkpoint_minutes * 60:
                self.checkpoint()
        return True

    def _step(self, batch: Batch, generator: torch.Generator) -> None:
        elapsed = (time.monotonic() - self.start) / self.budget
        fraction = max((self.epoch - 1) / self.config.epochs, elapsed)
        with autocast(self.device, self.config.fast):
            loss = self.objective(self.net, batch, fraction, generator)
        if not torch.isfinite(loss):
            raise N2NError(f"loss became {loss.item()} at epoch {self.epoch}: lower {{lr}}",
                           param="lr")
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.losses.append(loss.item())
        self.step += 1

    def end_epoch(self, progress: bool) -> None:
        """Validate, schedule, log, and write last.pt (best.pt on improvement)."""
        row = {"epoch": self.epoch, "seconds": round(time.monotonic() - self.start, 1),
               "lr": self.optimizer.param_groups[0]["lr"],
               "train_loss": sum(self.losses) / max(len(self.losses), 1)}
        if self.val is not None:
            row["val_psnr"] = validate(self.model, self.val)
        metric = row.get("val_psnr", -row["train_loss"])
        self.scheduler.step(metric if self.val is not None else row["train_loss"])
        self.history.append(row)
        if progress and self.context.main:
            tqdm.write(format_row(row))
        improved, self.best = metric > self.best, max(self.best, metric)
        self.epoch, self.step, self.losses = self.epoch + 1, 0, []
        if self.run_dir is not None:
            write_logs(self.run_dir, self.history)
            self.checkpoint()
            if improved:
                self.checkpoint("best.pt")


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
