"""The ``n2n`` command line: a thin layer over the package's modules.

Commands: ``train``, ``denoise``, ``eval``, ``bench``, ``demo``, ``make-pairs``, ``scratch-train``,
``export``. Every user error is an :class:`N2NError`, printed as one ``n2n: error: ...`` line
with exit status 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from n2n import __version__
from n2n.errors import N2NError
from n2n.files import write_text_atomic
from n2n.noise import parse_noise
from n2n.scratch import ScratchError


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args) or 0
    except (N2NError, ScratchError) as err:
        print(f"n2n: error: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # disk full, permission denied...: the message names the file
        print(f"n2n: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("n2n: interrupted", file=sys.stderr)
        return 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="n2n", description="Noise2Noise denoising: train on "
                                     "pairs of noisy images, denoise anything.")
    parser.add_argument("--version", action="version", version=f"n2n-lite {__version__}")
    sub = parser.add_subparsers(required=True, metavar="COMMAND")

    p = sub.add_parser("denoise", help="denoise image files, folders or globs")
    p.add_argument("inputs", nargs="+", help="image files, folders or glob patterns")
    p.add_argument("-o", "--output", required=True,
                   help="output folder (created), or a file name for a single input")
    add_model_options(p)
    p.add_argument("--tile", type=int, default=512, help="tile size for large images (px)")
    p.add_argument("--zero-shot", action="store_true", help="no trained model: fit a tiny "
                   "network to each image itself (zero-shot Noise2Noise)")
    p.add_argument("--iterations", type=int, default=2000, help="for --zero-shot: Adam steps")
    p.add_argument("--minutes", type=float, help="for --zero-shot: time budget per image")
    p.set_defaults(run=run_denoise)

    p = sub.add_parser("eval", help="PSNR/SSIM on clean images with seeded noise, on real "
                       "captures with references, or on an EE-559 pkl")
    p.add_argument("inputs", nargs="*", help="clean images/folders, or one EE-559 val_data.pkl")
    p.add_argument("--noisy", type=Path, metavar="DIR", help="real noisy captures (no noise "
                   "added), scored against --reference DIR, matched by file name")
    p.add_argument("--reference", type=Path, metavar="DIR", help="references for --noisy")
    p.add_argument("--bursts", type=Path, metavar="DIR", help="a bursts folder: every capture "
                   "of every scene scored alone against the scene's --reference-name file")
    p.add_argument("--reference-name", metavar="FILE", default="avg50.png",
                   help="for --bursts: the reference file of each scene (default avg50.png)")
    p.add_argument("--noise", default="gaussian:25", help="noise spec (default gaussian:25)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", type=Path, help="also write the scores as JSON to this file")
    add_model_options(p)
    p.set_defaults(run=run_eval)

    p = sub.add_parser("demo", help="denoise a bundled sample photo and show the gain")
    p.add_argument("-o", "--output", type=Path, default=Path("n2n-demo"),
                   help="folder for the PNGs (default ./n2n-demo)")
    p.add_argument("--noise", default="gaussian:25")
    p.add_argument("--seed", type=int, default=0)
    add_model_options(p)
    p.set_defaults(run=run_demo)

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
                     help="single noisy images (with --mode ne2ne: no second capture needed)")
    p.add_argument("--mode", choices=("n2n", "ne2ne"), default="n2n",
                   help="n2n: pairs (Noise2Noise); ne2ne: Neighbor2Neighbor, single noisy images")
    p.add_argument("--reference-name", metavar="FILE", help="for --bursts: the file in each "
                   "scene folder (or <stack stem>_FILE) that is a clean reference, e.g. "
                   "avg50.png; excluded from the captures, used for validation PSNR only")
    p.add_argument("--channels", type=int, help="convert the training images to this many "
                   "channels (1: a genuinely single-channel model for microscopy, astronomy, "
                   "X-ray); default: as the images are")
    p.add_argument("--pd", type=int, help="pixel-shuffle down-sampling factor 2..4 for "
                   "spatially correlated (camera) noise: train and denoise on sub-images whose "
                   "pixels are PD apart (default: the --init model's, else 1: off)")
    p.add_argument("--val", nargs="+", metavar="DIR",
                   help="clean validation images (default: hold out 5%% of --clean, or the "
                   "scenes with references of --bursts)")
    p.add_argument("--val-pkl", type=Path, help="EE-559 val_data.pkl (noisy, clean)")
    p.add_argument("--noise", default="gaussian:25", help="for --clean: e.g. gaussian:5-50")
    p.add_argument("--scales", default="1", help="for --clean: box-downsampling factors, "
                   "e.g. 1,2,4 (drawn per patch)")
    p.add_argument("--gray-fraction", type=float, default=0.0, help="for --clean: share of "
                   "patches made gray with channel-identical noise, so an RGB model also "
                   "denoises grayscale images (default 0)")
    p.add_argument("--workers", type=int, help="for --clean: stream the images from disk in N "
                   "DataLoader worker processes instead of holding them in memory")
    p.add_argument("--patch-size", type=int, default=64)
    p.add_argument("--patches-per-epoch", type=int, default=5000)
    p.add_argument("--init", type=Path, metavar="CHECKPOINT",
                   help="start from these weights, or a bundled model's name (photo, confocal), "
                   "to fine-tune; model options are then ignored")
    p.add_argument("--arch", choices=("lite", "n2n"), default="lite")
    p.add_argument("--width", type=int, default=24)
    p.add_argument("--depth", type=int, default=4)
    p.add_argument("--residual", action="store_true", help="the network predicts the noise")
    p.add_argument("--linear-output", action="store_true", help="no output LeakyReLU")
    p.add_argument("--loss", choices=("l2", "l1", "l0"), default="l2")
    p.add_argument("--target", choices=("noisy", "clean"), default="noisy",
                   help="clean = Noise2Clean, the supervised upper bound")
    p.add_argument("--lr", type=float, default=6e-3)
    p.add_argument("--lr-patience", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--minutes", type=float, help="stop after this much wall-clock time")
    p.add_argument("--checkpoint-minutes", type=float, default=10.0,
                   help="write last.pt this often within an epoch too (default 10)")
    p.add_argument("--no-augment", action="store_true")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--threads", type=int, help="CPU threads for torch")
    p.set_defaults(run=run_train)

    p = sub.add_parser("bench", help="every denoiser side by side: tables, JSON and plots")
    p.add_argument("data", nargs="*", type=Path,
                   help="clean image folders and/or EE-559 val_data.pkl files")
    p.add_argument("--noisy", type=Path, metavar="DIR", help="real noisy captures (no noise "
                   "added), scored against --reference DIR, matched by file name")
    p.add_argument("--reference", type=Path, metavar="DIR", help="references for --noisy")
    p.add_argument("--bursts", type=Path, metavar="DIR", help="a bursts folder: every capture "
                   "scored alone against its scene's --reference-name file")
    p.add_argument("--reference-name", default="avg50.png", metavar="FILE")
    p.add_argument("-o", "--output", type=Path, required=True, help="folder for the results")
    p.add_argument("--quick", action="store_true",
                   help="tiny generated images, every part of the run, well under a minute")
    p.add_argument("--noise", nargs="+", default=["gaussian:15", "gaussian:25", "gaussian:50"],
                   help="noise specs for the image folders")
    p.add_argument("--methods", nargs="+", help="default: all (bm3d when installed), zero-shot")
    p.add_argument("--limit", type=int, help="use the first N images of each data set")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--zero-shot-iterations", type=int, default=2000)
    p.add_argument("--train", nargs="+", type=Path, metavar="DIR", help="clean images: train "
                   "N2N, N2C and Ne2Ne for the same minutes and add them to the comparison")
    p.add_argument("--train-noise", nargs="+", default=["gaussian:25"])
    p.add_argument("--train-minutes", type=float, default=5.0)
    p.add_argument("--ablation-minutes", type=float, default=0.0,
                   help="with --train: also train each recipe of the ablation this long")
    p.add_argument("--patches-per-epoch", type=int, default=2000)
    p.add_argument("--threads", type=int, help="CPU threads for torch (printed with results)")
    p.add_argument("--device", default="cpu", help="for the PyTorch models: cpu, cuda, cuda:N")
    p.set_defaults(run=run_bench)

    p = sub.add_parser("diagnose", help="know your noise: Poisson-Gaussian fit, spatial "
                       "correlation, which mode to train; or check a denoising residual")
    p.add_argument("inputs", nargs="*", help="captures of one scene (a folder, a stack, several "
                   "files) or one noisy image")
    p.add_argument("--reference-name", metavar="FILE",
                   help="a file in the folder that is not a capture (e.g. avg50.png)")
    p.add_argument("--residual", nargs=2, metavar=("NOISY", "DENOISED"),
                   help="check that what a denoiser removed looks like noise")
    p.add_argument("-o", "--output", type=Path, help="folder for the JSON and the plot")
    p.set_defaults(run=run_diagnose)

    p = sub.add_parser("models", help="list the bundled models, what each was trained on and "
                       "the command that made it")
    p.set_defaults(run=run_models)

    p = sub.add_parser("make-pairs", help="write EE-559-format train_data.pkl and val_data.pkl")
    p.add_argument("clean_dir", nargs="+", help="clean images for the training pairs")
    p.add_argument("out_dir", type=Path)
    p.add_argument("--val", nargs="+", metavar="DIR",
                   help="clean images for val_data.pkl (default: hold out 10%% of CLEAN_DIR)")
    p.add_argument("--train-count", type=int, default=50000)
    p.add_argument("--val-count", type=int, default=1000)
    p.add_argument("--noise", default="gaussian:15-35", help="noise spec (default gaussian:15-35)")
    p.add_argument("--scales", default="1,2,4", help="box-downsampling factors of the 32x32 "
                   "patches, drawn per patch (default 1,2,4)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(run=run_make_pairs)

    p = sub.add_parser("scratch-train", help="train the from-scratch framework's Model on "
                       "EE-559 pairs; writes plain-data weights")
    p.add_argument("train_pkl", type=Path, help="EE-559 train_data.pkl")
    p.add_argument("output", type=Path, help="weights file to write (.n2nw) plus a .json log")
    p.add_argument("--val-pkl", type=Path, help="EE-559 val_data.pkl: PSNR after each epoch")
    p.add_argument("--network", choices=("unet", "course"), default="unet")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--train-count", type=int, help="use only the first N pairs")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, help="CPU threads for torch")
    p.set_defaults(run=run_scratch_train)

    p = sub.add_parser("export", help="strip a checkpoint to its weights (for shipping)")
    p.add_argument("checkpoint", type=Path)
    p.add_argument("output", type=Path)
    p.add_argument("--half", action="store_true", help="store float16 (half the size)")
    p.set_defaults(run=run_export)
    return parser


def add_model_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default="photo", help="bundled model: photo (default) or "
                   "confocal (1-channel fluorescence microscopy); see 'n2n models'")
    p.add_argument("--weights", type=Path, help="checkpoint from 'n2n train' (instead of a "
                   "bundled --model)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--pd", type=int, help="pixel-shuffle down-sampling factor (2..4) for "
                   "spatially correlated noise; default: the model's own (1 for the bundled)")


# --------------------------------------------------------------------------- helpers


def load_denoiser(args: argparse.Namespace, tile: int = 512):
    from n2n.checkpoint import load_model
    from n2n.denoise import Denoiser
    from n2n.pretrained import load_bundled
    from n2n.train import resolve_device

    model = load_model(args.weights) if args.weights else load_bundled(args.model)
    return Denoiser(model, resolve_device(args.device), tile=tile, pd=args.pd)


def zero_shot_denoiser(args: argparse.Namespace):
    from n2n.train import resolve_device
    from n2n.zeroshot import ZeroShotDenoiser

    if args.weights:
        raise N2NError("--zero-shot trains its own network on each image; drop --weights")
    if args.iterations < 1 or (args.minutes is not None and args.minutes <= 0):
        raise N2NError(f"--iterations {args.iterations} and --minutes {args.minutes} must be > 0")
    return ZeroShotDenoiser(args.iterations, args.minutes, resolve_device(args.device),
                            pd=args.pd or 1)


def parse_scales(text: str) -> list[int]:
    try:
        scales = [int(s) for s in text.split(",")]
    except ValueError as err:
        raise N2NError(f"--scales '{text}': expected integers like 1,2,4") from err
    if not scales or min(scales) < 1:
        raise N2NError(f"--scales '{text}': factors must be >= 1")
    return scales


# --------------------------------------------------------------------------- commands


def run_denoise(args: argparse.Namespace) -> int:
    from n2n import stream
    from n2n.denoise import denoise_image
    from n2n.io import IMAGE_SUFFIXES, list_images, read_image, write_image

    inputs = list_images(args.inputs)
    out = Path(args.output)
    single_file = len(inputs) == 1 and out.suffix.lower() in IMAGE_SUFFIXES
    targets = [out] if single_file else [out / p.name for p in inputs]
    if len({t.resolve() for t in targets}) < len(targets):
        raise N2NError("two inputs share a file name and would write the same output; "
                       "denoise them into separate folders")
    sources = {p.resolve() for p in inputs}
    for target in targets:
        if target.resolve() in sources:
            raise N2NError(f"{target}: output would overwrite an input; choose another -o")
    if single_file:
        out.parent.mkdir(parents=True, exist_ok=True)
    else:
        out.mkdir(parents=True, exist_ok=True)
    denoiser = zero_shot_denoiser(args) if args.zero_shot else load_denoiser(args, args.tile)
    bar = tqdm(inputs, desc="denoise", unit="image", disable=None)  # no bar when not a tty
    for path, target in zip(bar, targets, strict=True):
        if not args.zero_shot and stream.should_stream(path, target):
            stream.denoise_png_streaming(denoiser, path, target)  # memory bounded by a strip
        else:
            write_image(target, denoise_image(denoiser, read_image(path)))
    print(f"wrote {len(targets)} image(s) to {out}")
    return 0


def run_eval(args: argparse.Namespace) -> int:
    from n2n.evaluate import (
        burst_pairs,
        ee559_val_pairs,
        format_table,
        mean_score,
        noisy_versions,
        reference_pairs,
        score_pairs,
    )

    denoiser = load_denoiser(args)
    real = (args.noisy or args.reference, args.bursts)
    if sum(map(bool, (args.inputs, *real))) != 1 or bool(args.noisy) != bool(args.reference):
        raise N2NError("eval takes one kind of data: clean images (noise added), an EE-559 "
                       "pkl, --noisy DIR --reference DIR, or --bursts DIR")
    if args.noisy:
        pairs, setting = reference_pairs(args.noisy, args.reference), "real noise"
    elif args.bursts:
        pairs = burst_pairs(args.bursts, args.reference_name, denoiser.channels)
        setting = "real noise (bursts)"
    elif len(args.inputs) == 1 and args.inputs[0].endswith(".pkl"):
        pairs, setting = ee559_val_pairs(Path(args.inputs[0])), "EE-559 val pairs"
    else:
        from n2n.io import list_images, read_image

        noise = parse_noise(args.noise)
        paths = list_images(args.inputs)
        images = (read_image(p).pixels for p in paths)
        pairs, setting = noisy_versions(paths, images, noise, args.seed), noise.spec
    bar = tqdm(pairs, desc="eval", unit="image", leave=False, disable=None)
    scores = score_pairs(bar, denoiser)
    print(setting if setting.startswith("real") else f"{setting}, seed {args.seed}")
    print(format_table(scores))
    if args.json:
        record = {"setting": setting, "seed": args.seed,
                  "weights": str(args.weights or f"bundled {args.model}"),
                  "mean": asdict(mean_score(scores)), "images": [asdict(s) for s in scores]}
        write_text_atomic(args.json, json.dumps(record, indent=1))
    return 0


def run_demo(args: argparse.Namespace) -> int:
    from skimage import data as skdata

    from n2n.evaluate import noisy_versions
    from n2n.io import Image, write_image
    from n2n.metrics import psnr
    from n2n.plots import side_by_side

    noise = parse_noise(args.noise)
    clean = skdata.astronaut().astype(np.float32)  # 512x512 RGB photo bundled with scikit-image
    _, noisy, _ = next(noisy_versions([Path("astronaut")], [clean], noise, args.seed))
    denoised = load_denoiser(args)(noisy)
    args.output.mkdir(parents=True, exist_ok=True)
    noisy_psnr, out_psnr = psnr(noisy, clean), psnr(denoised, clean)
    for name, pixels in (("clean", clean), ("noisy", noisy), ("denoised", denoised)):
        write_image(args.output / f"{name}.png", Image(pixels))
    side_by_side([noisy, denoised, clean], [f"noisy {noise.spec} ({noisy_psnr:.2f} dB)",
                 f"n2n-lite ({out_psnr:.2f} dB)", "clean"], args.output / "side_by_side.png")
    print(f"noisy {noisy_psnr:.2f} dB -> denoised {out_psnr:.2f} dB "
          f"(gain {out_psnr - noisy_psnr:+.2f} dB)")
    print(f"wrote noisy.png, denoised.png, clean.png, side_by_side.png to {args.output}")
    return 0


def run_train(args: argparse.Namespace) -> int:
    from n2n import distributed
    from n2n.checkpoint import load_model, load_record, model_from_record
    from n2n.models import ModelConfig, build_model
    from n2n.train import Interrupted, TrainConfig, fit, resolve_device

    resume = None
    if args.resume:
        resume = load_record(args.run_dir / "last.pt")
        if not isinstance(resume.get("cli"), dict) or "position" not in resume:
            raise N2NError(f"{args.run_dir / 'last.pt'}: not a resumable 'n2n train' checkpoint")
        now = {k: getattr(args, k) for k in ("run_dir", "device", "threads", "resume", "run")
               if getattr(args, k) is not None}  # the saved thread count unless given again
        # today's defaults under the saved options: a run saved before an option existed resumes
        args = argparse.Namespace(**{**vars(args), **resume["cli"], **now})
    elif not (args.clean or args.ee559 or args.bursts or args.captured or args.noisy):
        raise N2NError("train needs data: --clean, --bursts, --ee559, --captured or --noisy "
                       "(or --resume)")
    if args.threads:  # the same count as before makes a resumed run bit-identical
        torch.set_num_threads(args.threads)
    source, val, data = build_training_data(args)
    if resume is not None:
        model = model_from_record(resume, args.run_dir / "last.pt")
    elif args.init:
        from n2n.pretrained import BUNDLED_MODELS, load_bundled

        bundled = str(args.init) in BUNDLED_MODELS and not args.init.exists()
        model = load_bundled(str(args.init)) if bundled else load_model(args.init)
        if model.config.channels != source.channels:
            raise N2NError(f"{args.init}: model has {model.config.channels} channels, the "
                           f"training images {source.channels}")
        if args.pd is not None:
            model.config = replace(model.config, pd=args.pd)
    else:
        model = build_model(ModelConfig(args.arch, source.channels, args.width, args.depth,
                                        args.residual, args.linear_output,
                                        args.pd or 1), seed=args.seed)
    data["init"] = str(args.init) if args.init else None
    config = TrainConfig(model.config, args.mode, args.loss, args.target, args.lr,
                         args.lr_patience, batch_size=args.batch_size, epochs=args.epochs,
                         minutes=args.minutes, checkpoint_minutes=args.checkpoint_minutes,
                         augment=not args.no_augment, seed=args.seed, data=data)
    model = model.to(resolve_device(args.device))
    saved_args = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()
                  if k not in ("run", "run_dir", "device", "resume")}
    try:
        history = fit(model, source, config, val, args.run_dir, normalize=args.init is None,
                      resume=resume, extra={"cli": saved_args})
    except Interrupted as stop:
        print(f"n2n: {stop}; continue with: n2n train {args.run_dir} --resume", file=sys.stderr)
        return 128 + stop.signum
    finally:
        context = distributed.current()
        if context.world > 1:
            print(f"rank {context.rank}: weights sha256 {distributed.weights_digest(model)}")
            distributed.teardown()
    if not context.main:
        return 0
    last = history[-1]
    summary = f"val PSNR {last['val_psnr']:.2f} dB" if "val_psnr" in last else \
        f"train loss {last['train_loss']:.5f}"
    print(f"trained {len(history)} epoch(s) in {last['seconds']:.0f} s, {summary}; "
          f"checkpoints in {args.run_dir}")
    return 0


def build_training_data(args: argparse.Namespace):
    """The pair source, validation set and a description of both, from the train options."""
    from n2n.data import (
        TensorPairs,
        Validation,
        load_ee559_pairs,
    )

    data = {k: v for k, v in vars(args).items() if k in (
            "clean", "ee559", "bursts", "captured", "noisy", "reference_name", "channels",
            "workers", "val", "val_pkl", "noise", "scales", "patch_size", "patches_per_epoch",
            "gray_fraction", "pd")}
    data = {k: [str(x) for x in v] if isinstance(v, list) else str(v) if isinstance(v, Path)
            else v for k, v in data.items()}
    val = None
    if args.val_pkl:
        noisy, clean = load_ee559_pairs(args.val_pkl)
        val = Validation(noisy.float(), clean.float())
    if args.ee559:
        first, second = load_ee559_pairs(args.ee559)
        return TensorPairs(first, second), val, data
    if args.bursts or args.captured or args.noisy:
        return capture_training_data(args, val) + (data,)
    noise = parse_noise(args.noise)
    if args.workers is not None:
        return lazy_training_data(args, noise, val, data)
    from n2n.data import SyntheticPairs, load_folder, split_holdout, validation_from_clean

    images = load_folder(args.clean, args.channels)
    if val is None:
        if args.val:
            val_images = load_folder(args.val, images[0].shape[0])
        else:
            images, val_images = split_holdout(images, 0.05)
        val = validation_from_clean(val_images, noise, args.seed)
    source = SyntheticPairs(images, noise, args.patch_size, args.patches_per_epoch,
                            parse_scales(args.scales), args.gray_fraction)
    return source, val, data


def capture_training_data(args: argparse.Namespace, val):
    """Real captures: bursts (or two matched folders) for pairs, single captures for ne2ne."""
    from n2n.bursts import bursts_from_pairs, load_bursts
    from n2n.data import (
        CapturePairs,
        load_folder,
        validation_from_clean,
        validation_from_references,
    )

    channels = args.channels
    pairs = args.mode == "n2n"
    if args.noisy:
        if pairs:
            raise N2NError("--noisy holds single noisy images: train them with --mode ne2ne, "
                           "or give captures of the same scenes with --bursts or --captured")
        scenes = [image[None] for image in load_folder(args.noisy, channels)]
        if val is None and args.val:
            val = validation_from_clean(load_folder(args.val, scenes[0].shape[1]),
                                        parse_noise(args.noise), args.seed)
        source = CapturePairs(scenes, pairs=False, patch_size=args.patch_size,
                              patches_per_epoch=args.patches_per_epoch)
        return source, val
    if args.bursts:
        bursts = load_bursts(args.bursts, args.reference_name, channels)
    else:
        bursts = bursts_from_pairs(*args.captured, channels=channels)
    with_reference = [b for b in bursts if b.reference is not None]
    if val is None and with_reference and len(bursts) > 1:
        held = with_reference[-max(1, round(len(bursts) * 0.05)):]  # scenes kept for scoring
        bursts = [b for b in bursts if all(b is not h for h in held)]
        val = validation_from_references([b.captures[0] for b in held],
                                         [b.reference for b in held])
    references = [b.reference for b in bursts]
    source = CapturePairs([b.captures for b in bursts], references, pairs=pairs,
                          patch_size=args.patch_size, patches_per_epoch=args.patches_per_epoch)
    return source, val


def run_bench(args: argparse.Namespace) -> int:
    from n2n.bench.suite import Bench, BenchConfig, default_methods, quick_config
    from n2n.train import resolve_device

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.quick:
        config = quick_config(args.output, args.methods)
    elif not (args.data or args.noisy or args.bursts):
        raise N2NError("bench needs data folders, val pkl files, --noisy/--reference or "
                       "--bursts (or --quick)")
    elif bool(args.noisy) != bool(args.reference):
        raise N2NError("--noisy and --reference go together")
    else:
        config = BenchConfig(args.data, args.output, args.noise, args.methods or default_methods(),
                             args.seed, args.limit, args.zero_shot_iterations, args.train,
                             args.train_noise, args.train_minutes, args.ablation_minutes,
                             patches_per_epoch=args.patches_per_epoch,
                             device=str(resolve_device(args.device)),
                             real_pairs=(args.noisy, args.reference) if args.noisy else None,
                             bursts=args.bursts, reference_name=args.reference_name)
    command = "n2n " + " ".join(sys.argv[1:]) if sys.argv[0].endswith("n2n") else "n2n bench"
    bench = Bench(config, command)
    try:
        bench.run()
    finally:
        if bench.record["results"] or bench.record["training"]:
            bench.save()
    print(f"wrote results.json, results.md and plots to {args.output}")
    return 0


def lazy_training_data(args: argparse.Namespace, noise, val, data):
    """Like ``--clean``, but images are read by DataLoader workers when needed."""
    from n2n.data import LazyFolder, load_folder, split_holdout, validation_from_clean
    from n2n.io import list_images

    if args.workers < 0:
        raise N2NError(f"--workers {args.workers} must be >= 0")
    paths = list_images(args.clean)
    channels = load_folder(paths[:1])[0].shape[0]
    if val is None:
        if args.val:
            val_images = load_folder(args.val, channels)
        else:
            paths, val_paths = split_holdout(paths, 0.05)
            val_images = load_folder(val_paths, channels)
        val = validation_from_clean(val_images, noise, args.seed)
    source = LazyFolder(paths, noise, args.patch_size, args.patches_per_epoch,
                        parse_scales(args.scales), args.gray_fraction, args.workers,
                        channels=channels)
    return source, val, data


def run_diagnose(args: argparse.Namespace) -> int:
    from n2n import diagnose, plots
    from n2n.bursts import load_captures
    from n2n.io import read_image

    if bool(args.inputs) == bool(args.residual):
        raise N2NError("diagnose takes captures of one scene (or one image), or --residual "
                       "NOISY DENOISED")
    if args.residual:
        noisy, denoised = (read_image(p).pixels for p in args.residual)
        check = diagnose.check_residual(noisy, denoised)
        print("\n".join(["residual check: " + ("PASSED" if check.passed else "FAILED"),
                         *(f"  {line}" for line in check.verdict)]))
        if args.output:
            args.output.mkdir(parents=True, exist_ok=True)
            write_text_atomic(args.output / "residual.json", json.dumps(check.to_json(), indent=1))
            plots.plot_residual(noisy - denoised, check, args.output / "residual.png")
            print(f"wrote residual.json and residual.png to {args.output}")
        return 0
    captures = load_captures(args.inputs, args.reference_name)
    name = str(args.inputs[0]) if len(args.inputs) == 1 else "scene"
    found = (diagnose.diagnose_burst(np.stack(captures), name) if len(captures) > 1 else
             diagnose.diagnose_image(captures[0], name))
    model = found.noise_model
    print(f"{found.source}\n  noise: variance = {model.a:.4g} x intensity + {model.b:.4g} "
          f"(0..255 scale; {model.spec}), std about {found.noise_std:.3g}")
    print("  spatially " + ("white" if found.white else
                            f"correlated, length {found.correlation_length} px"))
    print("\n".join(f"  - {line}" for line in found.recommendation))
    if args.output:
        args.output.mkdir(parents=True, exist_ok=True)
        write_text_atomic(args.output / "diagnosis.json", json.dumps(found.to_json(), indent=1))
        plots.plot_noise(found.curve, model, found.correlation, found.source,
                         args.output / "noise.png")
        print(f"wrote diagnosis.json and noise.png to {args.output}")
    return 0


def run_models(args: argparse.Namespace) -> int:
    from n2n.pretrained import BUNDLED_MODELS, bundled_weights_path

    for m in BUNDLED_MODELS.values():
        size = bundled_weights_path(m.name).stat().st_size / 1e3
        print(f"{m.name} ({m.channels} channel{'s' if m.channels > 1 else ''}, {size:.0f} kB)"
              f"\n  for: {m.use}\n  trained on: {m.trained_on}\n  made by: {m.command}\n")
    return 0


def run_make_pairs(args: argparse.Namespace) -> int:
    from n2n.checkpoint import save_atomic
    from n2n.data import load_folder, make_ee559_pairs, split_holdout

    noise, scales = parse_noise(args.noise), parse_scales(args.scales)
    if args.train_count < 1 or args.val_count < 1:
        raise N2NError("--train-count and --val-count must be >= 1")
    images = load_folder(args.clean_dir, channels=3)
    if args.val:
        val_images = load_folder(args.val, channels=3)
    else:
        images, val_images = split_holdout(images, 0.1)
    generator = torch.Generator().manual_seed(args.seed)
    first, second, _ = make_ee559_pairs(images, args.train_count, noise, scales, generator)
    val_noisy, _, val_clean = make_ee559_pairs(val_images, args.val_count, noise, scales,
                                               generator)
    save_atomic((first, second), args.out_dir / "train_data.pkl")
    save_atomic((val_noisy, val_clean), args.out_dir / "val_data.pkl")
    print(f"wrote train_data.pkl ({tuple(first.shape)} x2) and val_data.pkl "
          f"({tuple(val_noisy.shape)} x2) to {args.out_dir}; noise {noise.spec}, scales {scales}")
    return 0


def run_scratch_train(args: argparse.Namespace) -> int:
    import time

    from n2n.data import load_ee559_pairs
    from n2n.metrics import batch_psnr
    from n2n.scratch import Model

    if args.threads:
        torch.set_num_threads(args.threads)
    first, second = load_ee559_pairs(args.train_pkl)
    if args.train_count:
        first, second = first[:args.train_count], second[:args.train_count]
    val = load_ee559_pairs(args.val_pkl) if args.val_pkl else None
    torch.manual_seed(args.seed)
    model, history, start = Model(args.network), [], time.monotonic()

    def log(epoch: int, loss: float, lr: float) -> None:
        row = {"epoch": epoch, "steps": epoch * -(-len(first) // model.batch_size),
               "seconds": round(time.monotonic() - start, 1), "lr": lr, "train_loss": loss}
        if val is not None:
            psnrs = batch_psnr(model.predict(val[0]), val[1].float())
            row["val_psnr"] = sum(psnrs) / len(psnrs)
            model.net.train()
        history.append(row)
        print(", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                        for k, v in row.items()), flush=True)

    model.train(first, second, args.epochs, log=log)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    model.save(args.output, {"train_pkl": str(args.train_pkl), "epochs": args.epochs,
                             "train_count": len(first), "history": history})
    write_text_atomic(args.output.with_suffix(".json"), json.dumps(history, indent=1))
    print(f"wrote {args.output}")
    return 0


def run_export(args: argparse.Namespace) -> int:
    from n2n.checkpoint import load_record, model_from_record, model_record, save_atomic

    record = load_record(args.checkpoint)
    model = model_from_record(record, args.checkpoint)
    extra = {k: record[k] for k in ("train_config", "history") if k in record}
    state = model_record(model, **extra)
    if args.half:
        state["model"] = {k: v.half() for k, v in state["model"].items()}
    save_atomic(state, args.output)
    print(f"wrote {args.output} ({args.output.stat().st_size / 1e6:.2f} MB)")
    return 0
