"""``n2n train``: flags -> :class:`TrainConfig` (with its :class:`DataConfig`) -> ``fit``; and
``--resume``, which rebuilds the run from the config saved in its ``last.pt``."""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import replace
from pathlib import Path

import torch

from n2n.cli.common import add_overwrite_option, parse_scales
from n2n.data.config import SOURCES, DataConfig
from n2n.errors import N2NError
from n2n.models import ModelConfig
from n2n.models.wrapper import NETWORKS
from n2n.training.config import TrainConfig
from n2n.training.losses import LOSSES
from n2n.training.objectives import DATASET_MODES, TARGETS


def add_parsers(sub) -> None:
    p = sub.add_parser("train", help="train a denoiser; writes logs and checkpoints to RUN_DIR")
    p.add_argument("run_dir", type=Path, help="folder for log.csv, curves.png, last/best.pt")
    p.add_argument("--resume", action="store_true", help="continue the run in RUN_DIR from its "
                   "last.pt, with the options it was started with")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--clean", nargs="+", metavar="DIR",
                     help="clean images: fresh synthetic noise on both members every epoch")
    src.add_argument("--ee559", type=Path, metavar="PKL", help="EE-559 train_data.pkl")
    src.add_argument("--bursts", type=Path, metavar="DIR", help="real captures: one folder "
                     "(or multi-page TIFF / .npy stack) of K >= 2 aligned captures per scene; "
                     "each step pairs two different captures of a scene")
    src.add_argument("--captured", nargs=2, metavar=("DIR_A", "DIR_B"),
                     help="two folders of noisy captures of the same scenes, matched by name "
                     "(bursts of K = 2)")
    src.add_argument("--noisy", nargs="+", metavar="DIR",
                     help="single noisy images (with --mode ne2ne or bsn: no second capture "
                     "needed)")
    p.add_argument("--mode", choices=DATASET_MODES, default="n2n",
                   help="n2n: pairs (Noise2Noise); ne2ne: Neighbor2Neighbor, single noisy "
                   "images; bsn: blind-spot (AP-BSN), single noisy camera photos, with --arch bsn")
    p.add_argument("--reference-name", metavar="FILE", help="for --bursts: the file in each "
                   "scene folder (or <stack stem>_FILE) that is a clean reference, e.g. "
                   "avg50.png; excluded from the captures, used for validation PSNR only")
    p.add_argument("--channels", type=int, help="convert the training images to this many "
                   "channels (1: a genuinely single-channel model for microscopy, astronomy, "
                   "X-ray); default: as the images are")
    p.add_argument("--pd", type=int, help="pixel-shuffle down-sampling factor 2..4 for "
                   "spatially correlated (camera) noise: train and denoise on sub-images whose "
                   "pixels are PD apart (default: the --init model's, else 1: off)")
    _add_synthetic_options(p)
    p.add_argument("--workers", type=int, help="for --clean: stream the images from disk in N "
                   "DataLoader worker processes instead of holding them in memory")
    p.add_argument("--patch-size", type=int, help="default 64; 160 for --mode bsn, whose "
                   "stride-5 sub-images must outgrow the network's field of view")
    p.add_argument("--patches-per-epoch", type=int, default=5000)
    p.add_argument("--lr", type=float, default=6e-3)
    p.add_argument("--lr-patience", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--minutes", type=float, help="stop after this much wall-clock time")
    p.add_argument("--checkpoint-minutes", type=float, default=10.0,
                   help="write last.pt this often within an epoch too (default 10)")
    p.add_argument("--no-augment", action="store_true")
    p.add_argument("--no-fast", action="store_true",
                   help="plain float32 eager training: no channels-last, bfloat16 autocast or "
                   "prefetching (slower; for comparison)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--threads", type=int, help="CPU threads for torch")
    _add_validation_options(p)
    _add_model_options(p)
    add_overwrite_option(p)
    p.set_defaults(run=run_train)
    p.set_defaults(parser=p)  # to tell the flags given from their defaults (--resume)


def _add_synthetic_options(p: argparse.ArgumentParser) -> None:
    """How clean images (--clean) become noisy pairs."""
    p.add_argument("--noise", default="gaussian:25", help="for --clean: e.g. gaussian:5-50")
    p.add_argument("--scales", default="1", help="for --clean: box-downsampling factors, "
                   "e.g. 1,2,4 (drawn per patch)")
    p.add_argument("--gray-fraction", type=float, default=0.0, help="for --clean: share of "
                   "patches made gray with channel-identical noise, so an RGB model also "
                   "denoises grayscale images (default 0)")
    p.add_argument("--color-fraction", type=float, default=0.0, help="for --clean: share of "
                   "patches given new colours (channels permuted, saturation x1..3), for "
                   "strongly coloured photos the training set lacks (default 0)")
    p.add_argument("--clip-input", action="store_true", help="for --clean: clip the noisy "
                   "input to 0..255 as 8-bit files are (the target stays unclipped, its noise "
                   "zero-mean), so saturated pixels are denoised as they will be met; the model "
                   "then clips its input when it denoises, and so does any --init from it")


def _add_validation_options(p: argparse.ArgumentParser) -> None:
    """Where the validation PSNR that picks best.pt comes from."""
    p.add_argument("--val", nargs="+", metavar="DIR",
                   help="clean validation images (default: hold out 5%% of --clean, or the "
                   "scenes with references of --bursts)")
    p.add_argument("--val-pkl", type=Path, help="EE-559 val_data.pkl (noisy, clean)")
    p.add_argument("--val-captured", nargs=2, metavar=("NOISY_DIR", "REFERENCE_DIR"),
                   help="validate on real noise: noisy captures and their references, matched "
                   "by name (any data source; best.pt is chosen by this PSNR; a blind-spot "
                   "network is scored without its random replacing, for speed)")


def _add_model_options(p: argparse.ArgumentParser) -> None:
    """The network a fresh run builds, or the weights it starts from."""
    p.add_argument("--init", type=Path, metavar="CHECKPOINT",
                   help="start from these weights, or a bundled model's name (photo, photo-plus, "
                   "camera, confocal), to fine-tune; model options are then ignored")
    p.add_argument("--arch", choices=NETWORKS,
                   help="lite (default; bsn with --mode bsn): weight-shared U-Net (fast); n2n: "
                   "the paper's U-Net (photo-plus); halfres: a wide U-Net after pixel-unshuffle "
                   "(FFDNet-like); bsn: a blind-spot network for --mode bsn (--depth: dilated "
                   "blocks per branch)")
    p.add_argument("--width", type=int, default=24)
    p.add_argument("--depth", type=int, default=4)
    p.add_argument("--residual", action="store_true", help="the network predicts the noise")
    p.add_argument("--linear-output", action="store_true", help="no output LeakyReLU")
    p.add_argument("--loss", choices=LOSSES, default="l2")
    p.add_argument("--target", choices=TARGETS, default="noisy",
                   help="clean = Noise2Clean, the supervised upper bound")


def run_train(args: argparse.Namespace) -> int:
    from n2n.data.config import build_data
    from n2n.models import build_model
    from n2n.models.bundled import load_named
    from n2n.models.checkpoint import load_record
    from n2n.training import distributed
    from n2n.training.loop import Interrupted, fit
    from n2n.training.run_folder import refuse_if_held

    resume = None
    if args.resume:
        refuse_if_held(args.run_dir)
        resume = load_record(args.run_dir / "last.pt")
        if "position" not in resume or "train_config" not in resume:
            raise N2NError(f"{args.run_dir / 'last.pt'}: not a resumable 'n2n train' checkpoint")
        config = resumed_config(args, TrainConfig(**resume["train_config"]))
        if config.threads:  # the same count as before makes a resumed run bit-identical
            torch.set_num_threads(config.threads)
    else:
        config = train_config(args)
    init = load_named(config.init) if resume is None and config.init else None
    if init is not None:  # checked against the mode before any data is read
        init.config = replace(init.config, pd=args.pd or init.config.pd,
                              clip_input=init.config.clip_input or config.data.clip_input)
        config = replace(config, model=init.config)
    source, val = build_data(config.data, config.mode, config.seed)
    if resume is not None and source.channels != config.model.channels:
        raise N2NError(f"{args.run_dir}: the run's model takes {config.model.channels} "
                       f"channel(s), its data now has {source.channels}; the data changed since "
                       "the run started")
    if init is not None:
        if init.config.channels != source.channels:
            raise N2NError(f"{config.init}: model has {init.config.channels} channels, the "
                           f"training images {source.channels}")
        model = init
    else:  # a fresh model, or the shell a resumed run's weights are loaded into
        model = build_model(replace(config.model, channels=source.channels), seed=config.seed)
        config.model = model.config
    try:
        history = fit(model.to(args.device), source, config, val, args.run_dir,
                      normalize=config.init is None, resume=resume, overwrite=args.overwrite)
    except Interrupted as stop:
        print(f"n2n: {stop}; continue with: n2n train {args.run_dir} --resume", file=sys.stderr)
        return 128 + stop.signum
    finally:
        context = distributed.current()
        if context.world > 1:
            line = f"rank {context.rank}: weights sha256 {distributed.weights_digest(model)}\n"
            sys.stdout.flush()  # ranks share stdout: the line goes out whole, in one write
            os.write(sys.stdout.fileno(), line.encode())
            distributed.teardown()
    if not context.main:
        return 0
    last = history[-1]
    summary = f"val PSNR {last['val_psnr']:.2f} dB" if "val_psnr" in last else \
        f"train loss {last['train_loss']:.5f}"
    print(f"trained {len(history)} epoch(s) in {last['seconds']:.0f} s, {summary}; "
          f"checkpoints in {args.run_dir}")
    return 0


SAFE_ON_RESUME = ("epochs", "minutes", "threads", "device")  # change no result already made
NOT_SETTINGS = ("run_dir", "resume", "run", "parser", "argv")
MODEL_FLAGS = ("arch", "width", "depth", "residual", "linear_output")  # ignored with --init


def resumed_config(args: argparse.Namespace, saved: TrainConfig) -> TrainConfig:
    """The saved run's config with the flags that can change safely applied (said in one line);
    any other flag given that differs from the run is refused, naming each difference."""
    if saved.data is None:
        raise N2NError(f"{args.run_dir / 'last.pt'}: its data was not saved; cannot resume")
    if args.overwrite:
        raise N2NError("--overwrite starts the run afresh; --resume continues it: choose one")
    run, given = run_flags(saved), given_flags(args)
    compared = {k: parse_scales(v) if k == "scales" else v for k, v in given.items()
                if k not in SAFE_ON_RESUME and not (saved.init and k in MODEL_FLAGS)}
    changed = [f"--{k.replace('_', '-')} {_shown(given[k])} (the run has {_shown(run.get(k))})"
               for k, v in compared.items() if _same(v, listed=k in SOURCES) != run.get(k)]
    if changed:
        raise N2NError(f"{args.run_dir}: --resume continues the run as it was started; it "
                       f"differs in {'; '.join(changed)}. Start a new run for these")
    applied = {k: v for k, v in given.items()
               if k in SAFE_ON_RESUME and k != "device" and v != getattr(saved, k)}
    if applied:
        print(f"resuming {args.run_dir} with " + ", ".join(
            f"--{k} {v} (was {getattr(saved, k)})" for k, v in applied.items()))
    for k, v in applied.items():
        setattr(saved, k, v)
    TrainConfig(**{**saved.__dict__})  # the changed values are checked as a new run's would be
    return saved


def given_flags(args: argparse.Namespace) -> dict:
    """The settings the command line named, a default repeated on purpose included: parsed
    again onto a namespace where everything is unset (argparse fills only what is missing)."""
    unset = object()
    probe = argparse.Namespace(**{k: unset for k in vars(args)})
    args.parser.parse_args(args.argv[1:], namespace=probe)  # argv[0] is "train"
    return {k: v for k, v in vars(probe).items() if v is not unset and k not in NOT_SETTINGS}


def run_flags(config: TrainConfig) -> dict:
    """The flag values that would have started ``config``'s run, normalised by :func:`_same`."""
    data, model = config.data, config.model
    flags = {data.source: list(data.paths), "mode": config.mode, "loss": config.loss,
             "target": config.target, "lr": config.lr, "lr_patience": config.lr_patience,
             "batch_size": config.batch_size, "checkpoint_minutes": config.checkpoint_minutes,
             "seed": config.seed, "no_augment": not config.augment, "no_fast": not config.fast,
             "init": config.init, "scales": data.scales,
             "arch": model.arch, "width": model.width, "depth": model.depth,
             "residual": model.residual, "linear_output": model.linear_output, "pd": model.pd}
    for name in ("noise", "patch_size", "patches_per_epoch", "gray_fraction", "color_fraction",
                 "clip_input", "channels", "reference_name", "workers", "val", "val_pkl",
                 "val_captured"):
        flags[name] = getattr(data, name)
    return {k: _same(v, listed=k in SOURCES) for k, v in flags.items()}


def _same(value, listed: bool = False):
    """Values as comparable across flags and saved configs: paths as strings, lists kept (and
    made, with ``listed``: a source flag names one path or several, the config a list)."""
    if listed and not isinstance(value, list | tuple):
        value = [value]
    if isinstance(value, list | tuple):
        return [str(v) for v in value]
    return str(value) if isinstance(value, Path) else value


def _shown(value) -> str:
    return " ".join(map(str, value)) if isinstance(value, list | tuple) else str(value)


def train_config(args: argparse.Namespace) -> TrainConfig:
    """The run the flags describe."""
    given = [s for s in SOURCES if getattr(args, s)]
    if not given:
        raise N2NError("train needs data: --clean, --bursts, --ee559, --captured or --noisy "
                       "(or --resume)")
    paths = getattr(args, given[0])
    data = DataConfig(source=given[0], paths=paths if isinstance(paths, list) else [paths],
                      noise=args.noise,
                      patch_size=args.patch_size or (160 if args.mode == "bsn" else 64),
                      patches_per_epoch=args.patches_per_epoch, scales=parse_scales(args.scales),
                      gray_fraction=args.gray_fraction, color_fraction=args.color_fraction,
                      clip_input=args.clip_input, channels=args.channels,
                      reference_name=args.reference_name, workers=args.workers, val=args.val,
                      val_pkl=args.val_pkl, val_captured=args.val_captured)
    arch = args.arch or ("bsn" if args.mode == "bsn" else "lite")
    model = ModelConfig(arch, data.channels or 3, args.width, args.depth, args.residual,
                        args.linear_output, args.pd or (2 if args.mode == "bsn" else 1),
                        clip_input=args.clip_input)
    # channels: set from the data; bsn trains at stride 5 and denoises at pd (AP-BSN's 2)
    return TrainConfig(model=model, data=data, mode=args.mode, loss=args.loss,
                       target=args.target, lr=args.lr, lr_patience=args.lr_patience,
                       batch_size=args.batch_size, epochs=args.epochs, minutes=args.minutes,
                       checkpoint_minutes=args.checkpoint_minutes, augment=not args.no_augment,
                       seed=args.seed, fast=not args.no_fast,
                       init=str(args.init) if args.init else None,
                       threads=args.threads)
