"""Options and helpers that several commands share."""

from __future__ import annotations

import argparse
from pathlib import Path

from n2n.errors import N2NError


def add_model_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default="photo", help="bundled model: photo (default), "
                   "photo-plus (slower, better) or confocal (1-channel fluorescence microscopy); "
                   "see 'n2n models'")
    p.add_argument("--weights", type=Path, help="checkpoint from 'n2n train', or its TorchScript "
                   "(.ts) or ONNX (.onnx) export (instead of a bundled --model)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.add_argument("--pd", type=int, help="pixel-shuffle down-sampling factor (2..4) for "
                   "spatially correlated noise; default: the model's own (1 for the bundled)")
    p.add_argument("--no-fast", action="store_true", help="plain float32 inference (default: "
                   "channels-last and, where the processor has it, bfloat16: 2.5-3.1x faster, "
                   "same PSNR to 0.01 dB)")


def add_overwrite_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--overwrite", action="store_true", help="replace outputs that exist though "
                   "n2n-lite did not write them, or carry no mark (.npy, pkl); for train, start "
                   "a run folder that holds a run afresh")


def load_denoiser(args: argparse.Namespace, tile: int = 512):
    """The Denoiser of ``--weights`` or the bundled ``--model``."""
    from n2n.inference.denoiser import Denoiser
    from n2n.inference.weights import load_weights
    from n2n.models.bundled import load_bundled

    model = load_weights(args.weights) if args.weights else load_bundled(args.model)
    return Denoiser(model, args.device, tile=tile, pd=args.pd, fast=not args.no_fast)


def parse_scales(text: str) -> list[int]:
    """``1,2,4`` -> [1, 2, 4]."""
    try:
        scales = [int(s) for s in text.split(",")]
    except ValueError as err:
        raise N2NError(f"--scales '{text}': expected integers like 1,2,4") from err
    if not scales or min(scales) < 1:
        raise N2NError(f"--scales '{text}': factors must be >= 1")
    return scales
