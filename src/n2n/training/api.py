"""Training as one library call: :func:`train` owns what a run needs beyond the loop (the run
folder's checks, resuming, fine-tuning from other weights, channels matched to the data, each
mode's defaults, a 3-D U-Net's Z pooling from the stack's physical sizes), so that
``n2n train``, the napari Train widget and Python code start, refuse and resume runs alike."""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from n2n.data.anisotropy import data_z_pool
from n2n.data.config import build_data
from n2n.device import resolve_device
from n2n.errors import N2NError, Namer, library_name, worded
from n2n.models import PixelModel, build_model
from n2n.models.bundled import load_named
from n2n.models.wrapper import with_context
from n2n.training import distributed
from n2n.training.config import TrainConfig
from n2n.training.loop import fit
from n2n.training.resume import load_resumable, resumed_config
from n2n.training.run_folder import refuse_unusable


@dataclass
class TrainResult:
    """What a finished run leaves: the trained model (in eval mode), one row per epoch, the
    config as trained (channels, mode defaults and init filled in) and where it was saved."""

    model: PixelModel
    history: list[dict[str, float]]
    config: TrainConfig
    run_dir: Path

    @property
    def best(self) -> Path:
        """The checkpoint with the best validation PSNR (or training loss)."""
        return self.run_dir / "best.pt"


def train(config: TrainConfig | None, run_dir: str | Path, *, resume: bool = False,
          overwrite: bool = False, device: str | torch.device = "auto", progress: bool = True,
          stop: threading.Event | None = None, namer: Namer = library_name) -> TrainResult:
    """Train a denoiser as ``config`` describes, writing logs and checkpoints to ``run_dir``.

    Parameters
    ----------
    config : TrainConfig or None
        The run: its data (required), mode, network and budget. ``config.init`` names weights
        to fine-tune (a checkpoint or a bundled model's name): the network is then theirs.
        With ``resume``, None continues the run as it was; a config must equal the run's but
        for ``epochs``, ``minutes`` and ``threads``.
    run_dir : path
        A new or empty folder, or one that holds a run: continued with ``resume``, started
        afresh with ``overwrite`` (else refused). It may not be, lie inside or hold a folder
        the run reads.
    resume, overwrite, device, progress : keyword-only
        Continue the run from its ``last.pt``; replace the run the folder holds; ``'auto'``,
        ``'cpu'``, ``'cuda'`` or ``'cuda:N'``; a progress bar and a line per epoch.
    stop : threading.Event, optional
        Set it (from another thread) to stop after the current step: ``last.pt`` is written
        and :class:`~n2n.training.loop.Interrupted` raised; ``resume=True`` continues.
    namer : how printed notes name settings (the command line passes its flags).

    Returns
    -------
    TrainResult
        The model, history, config as trained and ``run_dir`` (``result.best``: best.pt).

    Raises
    ------
    N2NError
        Before any data is read or file written, for a config, run folder or ``init`` that
        cannot work, naming the parameter and the fix.

    Examples
    --------
    >>> from n2n.training import DataConfig, TrainConfig, train
    >>> data = DataConfig(source="clean", paths="photos/", noise="gaussian:25")
    >>> result = train(TrainConfig(data=data, epochs=2), "runs/r1")  # doctest: +SKIP
    >>> more = train(TrainConfig(data=data, epochs=4), "runs/r1", resume=True)  # doctest: +SKIP
    """
    run_dir = Path(run_dir)
    refuse_unusable(run_dir)
    device = device if isinstance(device, torch.device) else resolve_device(device)
    record = None
    if resume:
        if overwrite:
            raise N2NError("{overwrite} starts the run afresh; {resume} continues it: choose "
                           "one", param=("overwrite", "resume"))
        record, saved = load_resumable(run_dir)
        config, applied = resumed_config(run_dir, saved, config)
        if applied and progress:
            print(worded(f"resuming {run_dir} with " + ", ".join(
                f"{{{name}}} {new} (was {old})" for name, new, old in applied),
                tuple(name for name, _, _ in applied), namer))
    config, init = _fresh_config(config) if record is None else (config, None)
    refuse_unusable(run_dir, config.data)
    config = _data_z_pool(config, progress, namer)
    if config.threads:  # the same count as before makes a resumed run bit-identical
        torch.set_num_threads(config.threads)
    source, val = build_data(config.data, config.mode, config.seed,
                             context=config.model.context,  # the model's window
                             volumetric=config.model.arch == "unet3d")
    model, config = _matched_model(config, source.channels, init, run_dir, record)
    owns_group = not (torch.distributed.is_available() and torch.distributed.is_initialized())
    try:
        history = fit(model.to(device), source, config, val, run_dir,
                      progress=progress, normalize=config.init is None, resume=record,
                      overwrite=overwrite, stop=stop)
    finally:
        if owns_group:  # leave the group torchrun's environment made fit join
            distributed.teardown()
    return TrainResult(model, history, config, run_dir)


def _fresh_config(config: TrainConfig | None) -> tuple[TrainConfig, PixelModel | None]:
    """A new run's config, checked, and the model its ``init`` names (loaded now, so that a
    missing or unusable one is refused before any data is read)."""
    if config is None:
        raise N2NError("train needs a TrainConfig (or {resume} to continue the run in its "
                       "folder)", param="resume")
    if config.data is None:
        raise N2NError("{data}: say where the training pairs come from, e.g. "
                       "DataConfig(source='clean', paths='photos/')", param="data")
    if config.init is None:
        return config, None
    init = load_named(config.init)
    changes: dict[str, Any] = dict(config.model) if isinstance(config.model, dict) else {}
    context = changes.pop("context", init.config.context)
    if context != init.config.context:  # a 2-D model widened: it starts as it was
        init = with_context(init, context)
    init.config = replace(init.config, **changes,
                          clip_input=init.config.clip_input or config.data.clip_input)
    return replace(config, model=init.config), init  # checked against the mode again


def _data_z_pool(config: TrainConfig, progress: bool, namer: Namer) -> TrainConfig:
    """A 3-D U-Net whose ``z_pool`` was not given (None) pools Z where the first training
    stack's physical sizes say (:func:`n2n.data.anisotropy.data_z_pool`), else at its last
    level; the choice and its reason are printed. A resumed run or ``init`` keeps its own."""
    model = config.model
    if config.model_pending or model.arch != "unet3d" or model.z_pool is not None:
        return config
    z_pool, reason = data_z_pool(config.data.paths[0], model.depth, config.data.axes)
    if progress:
        print(worded(f"{{z_pool}} {z_pool}: {reason}", ("z_pool",), namer))
    return replace(config, model=replace(model, z_pool=z_pool))


def _matched_model(config: TrainConfig, channels: int, init: PixelModel | None,
                   run_dir: Path, record: dict | None) -> tuple[PixelModel, TrainConfig]:
    """The network, its channels matched to the data's: ``init``'s weights, a resumed run's
    shell (its weights come from last.pt) or a fresh one; and the config that says so."""
    if record is not None and channels != config.model.channels:
        raise N2NError(f"{run_dir}: the run's model takes {config.model.channels} channel(s), "
                       f"its data now has {channels}; the data changed since the run started")
    if init is not None:
        if init.config.channels != channels:
            raise N2NError(f"{config.init}: model has {init.config.channels} channels, the "
                           f"training images {channels}; convert the images with "
                           f"{{channels}} {init.config.channels}, or start from other weights",
                           param="channels")
        return init, config
    model = build_model(replace(config.model, channels=channels), seed=config.seed)
    return model, replace(config, model=model.config)
