"""``n2n train``: flags -> :class:`TrainConfig` -> :func:`n2n.training.api.train`, which owns
every decision about the run (folder checks, resume, --init, channels, each mode's defaults).
With ``--resume``, the flags given are laid over the run's saved config for it to check."""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import replace

from n2n.cli.common import (
    add_overwrite_option,
    as_flag,
    input_name,
    input_path,
    output_path,
    parse_scales,
)
from n2n.data.config import SOURCES, DataConfig
from n2n.errors import N2NError
from n2n.models.wrapper import NETWORKS
from n2n.training.config import TrainConfig
from n2n.training.losses import LOSSES
from n2n.training.objectives import DATASET_MODES, TARGETS


def add_parsers(sub) -> None:
    p = sub.add_parser("train", help="train a denoiser; writes logs and checkpoints to RUN_DIR")
    p.add_argument("run_dir", type=output_path, help="folder for log.csv, curves.png, last/best.pt")
    p.add_argument("--resume", action="store_true", help="continue the run in RUN_DIR from its "
                   "last.pt, with the options it was started with")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--clean", nargs="+", type=input_name, metavar="DIR",
                     help="clean images: fresh synthetic noise on both members every epoch")
    src.add_argument("--ee559", type=input_path, metavar="PKL", help="EE-559 train_data.pkl")
    src.add_argument("--bursts", type=input_path, metavar="DIR", help="real captures: one folder "
                     "(or multi-page TIFF / .npy stack) of K >= 2 aligned captures per scene; "
                     "each step pairs two different captures of a scene")
    src.add_argument("--captured", nargs=2, type=input_name, metavar=("DIR_A", "DIR_B"),
                     help="two folders of noisy captures of the same scenes, matched by name "
                     "(bursts of K = 2)")
    src.add_argument("--noisy", nargs="+", type=input_name, metavar="DIR",
                     help="single noisy images (with --mode ne2ne or bsn: no second capture "
                     "needed)")
    src.add_argument("--volume", nargs="+", metavar="STACK",
                     help="noisy Z-stacks or time-lapses (TIFF or OME-Zarr): Noise2Noise between "
                     "interleaved planes (--context even planes against the odd one between "
                     "them); --mode ne2ne: Neighbor2Neighbor in one volume, Z not dense")
    p.add_argument("--mode", choices=DATASET_MODES, default="n2n",
                   help="n2n: pairs (Noise2Noise); ne2ne: Neighbor2Neighbor, single noisy "
                   "images; bsn: blind-spot (AP-BSN), single noisy camera photos, with --arch bsn")
    _add_volume_options(p)
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


def _add_volume_options(p: argparse.ArgumentParser) -> None:
    """How stacks (--volume) are read, and the window a context model reads."""
    p.add_argument("--axes", help="for --volume: the stacks' axes where the files do not say "
                   "them, e.g. TYX, ZYX, TZYX (the window runs along Z, else T)")
    p.add_argument("--context", type=int, help="planes/frames the model reads around the one "
                   "it denoises (odd; default 5 with --volume, else 1: a 2-D model)")
    p.add_argument("--z-pool", type=_z_pool, metavar="N|auto", help="with --arch unet3d: "
                   "the last N levels pool Z too, the first Y and X only (Z sampled coarser "
                   "than the pixel). Default auto: from the first stack's physical sizes "
                   "(ImageJ spacing, OME PhysicalSize, OME-Zarr scale): the levels whose XY "
                   "spacing is still under half the Z step pool Y and X only, and at most "
                   "the last pools Z (Z step 10x the pixel at depth 3: none); 1 where the "
                   "file does not say its sizes in one unit. No resampling; a resumed run "
                   "keeps its own")
    p.add_argument("--patch-depth", type=int, help="with --arch unet3d: planes of one parity "
                   "in a training sub-volume (default 8; consecutive planes with --mode ne2ne)")


def _z_pool(text: str) -> int | None:
    """--z-pool N, or auto (None: from the stack's physical sizes)."""
    if text.strip().lower() == "auto":
        return None
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}': a whole number or auto") from None


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
    p.add_argument("--val", nargs="+", type=input_name, metavar="DIR",
                   help="clean validation images (default: hold out 5%% of --clean, or the "
                   "scenes with references of --bursts)")
    p.add_argument("--val-pkl", type=input_path, help="EE-559 val_data.pkl (noisy, clean)")
    p.add_argument("--val-captured", nargs=2, type=input_name,
                   metavar=("NOISY_DIR", "REFERENCE_DIR"),
                   help="validate on real noise: noisy captures and their references, matched "
                   "by name (any data source; best.pt is chosen by this PSNR; a blind-spot "
                   "network is scored without its random replacing, for speed)")


def _add_model_options(p: argparse.ArgumentParser) -> None:
    """The network a fresh run builds, or the weights it starts from."""
    p.add_argument("--init", type=input_path, metavar="CHECKPOINT",
                   help="start from these weights, or a bundled model's name (photo, photo-plus, "
                   "camera, confocal), to fine-tune; model options are then ignored, but "
                   "--context widens a 2-D Lite model (confocal, photo) to a window of planes")
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
    from n2n.training import distributed
    from n2n.training.api import train
    from n2n.training.loop import Interrupted
    from n2n.training.resume import saved_config

    if args.resume:  # the flags given, over the run's own settings; train() checks them
        given = given_flags(args)
        config = with_flags(saved_config(args.run_dir), given) if given else None
    else:
        config = train_config(args)
    try:
        result = train(config, args.run_dir, resume=args.resume, overwrite=args.overwrite,
                       device=args.device, namer=as_flag)
    except Interrupted as stop:
        print(f"n2n: {stop}; continue with: n2n train {args.run_dir} --resume", file=sys.stderr)
        return 128 + stop.signum
    context = distributed.current()
    if context.world > 1:
        line = f"rank {context.rank}: weights sha256 {distributed.weights_digest(result.model)}\n"
        sys.stdout.flush()  # ranks share stdout: the line goes out whole, in one write
        os.write(sys.stdout.fileno(), line.encode())
    if not context.main:
        return 0
    last = result.history[-1]
    summary = f"val PSNR {last['val_psnr']:.2f} dB" if "val_psnr" in last else \
        f"train loss {last['train_loss']:.5f}"
    print(f"trained {len(result.history)} epoch(s) in {last['seconds']:.0f} s, {summary}; "
          f"checkpoints in {args.run_dir}")
    return 0


NOT_SETTINGS = ("run_dir", "resume", "run", "parser", "argv", "device", "overwrite")
MODEL_FLAGS = ("arch", "width", "depth", "residual", "linear_output",
               "z_pool")  # ignored with --init
DATA_FLAGS = ("noise", "patch_size", "patches_per_epoch", "gray_fraction", "color_fraction",
              "clip_input", "channels", "reference_name", "workers", "val", "val_pkl",
              "val_captured", "axes", "patch_depth")


def given_flags(args: argparse.Namespace) -> dict:
    """The settings the command line named, a default repeated on purpose included: parsed
    again onto a namespace where everything is unset (argparse fills only what is missing)."""
    unset = object()
    probe = argparse.Namespace(**{k: unset for k in vars(args)})
    args.parser.parse_args(args.argv[1:], namespace=probe)  # argv[0] is "train"
    return {k: v for k, v in vars(probe).items() if v is not unset and k not in NOT_SETTINGS}


def config_fields(flags: dict, init: bool) -> tuple[dict, dict, dict]:
    """Flags (None: not set) as the fields they set: of TrainConfig, DataConfig, ModelConfig.
    With ``init`` the network is the checkpoint's: model flags other than --pd are ignored."""
    flags = {k: v for k, v in flags.items() if v is not None}
    data = {k: flags[k] for k in DATA_FLAGS if k in flags}
    source = next((s for s in SOURCES if s in flags), None)
    if source is not None:
        paths = flags[source]
        data.update(source=source, paths=paths if isinstance(paths, list) else [paths])
    if "scales" in flags:
        data["scales"] = parse_scales(flags["scales"])
    model = {k: flags[k] for k in ("pd", "context") if k in flags}  # a 2-D init widens
    if not init:
        model.update({k: flags[k] for k in MODEL_FLAGS if k in flags})
    names = ("mode", "loss", "target", "lr", "lr_patience", "batch_size", "epochs", "minutes",
             "checkpoint_minutes", "seed", "threads")
    run = {k: flags[k] for k in names if k in flags}
    run.update({f: not flags[k] for k, f in (("no_augment", "augment"), ("no_fast", "fast"))
                if k in flags})
    if "init" in flags:
        run["init"] = str(flags["init"])
    return run, data, model


def with_flags(saved: TrainConfig, given: dict) -> TrainConfig:
    """The run's saved config with the flags given on ``--resume`` laid over it."""
    run, data, model = config_fields(given, init=saved.init is not None)
    return replace(saved, **run, data=replace(saved.data, **data),
                   model=replace(saved.model, **model))


def train_config(args: argparse.Namespace) -> TrainConfig:
    """The run the flags describe; what they leave unset is the library's (mode defaults)."""
    if not any(getattr(args, s) for s in SOURCES):
        raise N2NError("train needs data: --clean, --bursts, --ee559, --captured, --noisy or "
                       "--volume (or --resume)")
    flags = {k: v for k, v in vars(args).items() if k not in NOT_SETTINGS}
    run, data, model = config_fields(flags, init=args.init is not None)
    return TrainConfig(**run, data=DataConfig(**data), model=model)
