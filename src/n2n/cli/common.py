"""Options and helpers that several commands share."""

from __future__ import annotations

import argparse
from pathlib import Path

from n2n.errors import N2NError


def add_model_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default="auto", help="bundled model: auto (default: chosen per "
                   "image from its noise, with --pd), photo (fastest), photo-plus, camera or "
                   "confocal (1-channel fluorescence microscopy); see 'n2n models'")
    p.add_argument("--weights", type=Path, help="checkpoint from 'n2n train', or its TorchScript "
                   "(.ts) or ONNX (.onnx) export (instead of a bundled --model)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--pd", type=pd_option, help="pixel-shuffle down-sampling factor 1..8 "
                   "(2 for camera photos, whose noise is spatially correlated), or auto: "
                   "measured per image (the default for bundled models; a --weights "
                   "checkpoint keeps its own unless given)")
    p.add_argument("--refine", action=argparse.BooleanOptionalAction, help="after a "
                   "pixel-shuffled pass (--pd 2 or more), a second pass at full resolution that "
                   "removes the grid the sub-images leave: photo after camera or photo-plus, "
                   "any other model after itself (default: where --pd auto picks 2)")
    p.add_argument("--multiscale", action=argparse.BooleanOptionalAction, help="with --pd "
                   "auto, where it picks 2: also denoise at --pd 3 and 4 and let them take "
                   "over flat areas (3.4x the time; default: where the first pass leaves noise "
                   "correlated over 2 px, as in DSLR photos)")
    p.add_argument("--ensemble", action="store_true", help="average each pass over the 8 "
                   "flips and quarter turns of the image: 8x the time for +0.1-0.2 dB")
    p.add_argument("--no-fast", action="store_true", help="plain float32 inference (default: "
                   "channels-last and, where the processor has it, bfloat16: 2.5-3.1x faster, "
                   "same PSNR to 0.01 dB)")


def add_overwrite_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--overwrite", action="store_true", help="replace outputs that exist though "
                   "n2n-lite did not write them, or carry no mark (.npy, pkl); for train, start "
                   "a run folder that holds a run afresh")


def output_path(text: str) -> Path:
    """An output's name: an empty one is refused, not read as the current folder."""
    if not text.strip():
        raise argparse.ArgumentTypeError("an empty name; give a file or folder name ('.' for "
                                         "the current folder)")
    return Path(text)


def pd_option(text: str) -> int | str:
    """``--pd``: a factor, or ``auto``."""
    if text == "auto":
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is neither a factor (1..8) nor auto") from None


def model_and_pd(args: argparse.Namespace) -> tuple[str | Path, int | str | None]:
    """The model file or bundled name the options name, and the pixel-shuffle factor: a
    number, ``auto`` (the default for bundled models) or None (a checkpoint's own)."""
    from n2n.evaluation.treatment import AUTO, resolve_model

    pd = args.pd if args.pd is not None or args.weights else AUTO
    model = args.weights or (args.model if pd == AUTO else resolve_model(args.model, pd))
    return model, pd


def load_denoiser(args: argparse.Namespace, tile: int = 512):
    """The Denoiser of ``--weights`` or the bundled ``--model``; an AutoDenoiser where the model
    or the pixel-shuffle factor is chosen per image (``auto``, the default for bundled models)."""
    from n2n.evaluation.treatment import AUTO
    from n2n.inference.auto import AutoDenoiser
    from n2n.inference.denoiser import Denoiser
    from n2n.inference.weights import load_weights, refiner_for

    model, pd = model_and_pd(args)
    if pd == AUTO:
        return AutoDenoiser(model, AUTO, args.device, refine=args.refine,
                            multiscale=args.multiscale, tile=tile, fast=not args.no_fast,
                            ensemble=args.ensemble)
    if args.multiscale:
        raise N2NError("--multiscale: factors that take over flat areas come with --pd auto; "
                       "drop --pd or --multiscale")
    return Denoiser(load_weights(model), args.device, tile=tile, pd=pd,
                    refine=refiner_for(model, args.refine), fast=not args.no_fast,
                    ensemble=args.ensemble)


def parse_scales(text: str) -> list[int]:
    """``1,2,4`` -> [1, 2, 4]."""
    try:
        scales = [int(s) for s in text.split(",")]
    except ValueError as err:
        raise N2NError(f"--scales '{text}': expected integers like 1,2,4") from err
    if not scales or min(scales) < 1:
        raise N2NError(f"--scales '{text}': factors must be >= 1")
    return scales
