"""Options and helpers that several commands share."""

from __future__ import annotations

import argparse
from pathlib import Path

from n2n.errors import N2NError


def add_model_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default="auto", help="bundled model: auto (default: chosen per "
                   "image from its noise, with --pd: camera for camera photos, confocal for "
                   "gray captures with shot noise as in microscopy, else photo-plus), photo "
                   "(fastest), photo-plus, camera or confocal; see 'n2n models'")
    p.add_argument("--weights", type=input_path,
                   help="checkpoint from 'n2n train', or its TorchScript "
                   "(.ts), ONNX (.onnx) or BioImage Model Zoo (.zip) export (instead of a "
                   "bundled --model)")
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


INVERTED = {"augment": "--no-augment", "fast": "--no-fast"}  # flags that turn a setting off


def as_flag(param: str, value: str | None) -> str:
    """A library parameter as the flag that sets it: ``patch_size`` -> ``--patch-size``,
    ``source 'noisy'`` -> ``--noisy``, ``mode ne2ne`` -> ``--mode ne2ne``; a switch by
    whether it is given: ``residual True`` -> ``--residual``, ``augment True`` -> ``no
    --no-augment``."""
    if param == "source" and value:
        return "--" + value.strip("'")
    flag = INVERTED.get(param, "--" + param.replace("_", "-"))
    if value in ("True", "False"):
        given = (value == "True") != (param in INVERTED)
        return flag if given else f"no {flag}"
    return flag if value is None else f"{flag} {value}"


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


input_path = output_path  # an input's name likewise: '' is not the current folder's data


def input_name(text: str) -> str:
    """An input file, folder or glob kept as text (data sources saved in checkpoints)."""
    return str(input_path(text))


def pd_option(text: str) -> int | str:
    """``--pd``: a factor, or ``auto``."""
    if text == "auto":
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is neither a factor (1..8) nor auto") from None


def inference_spec(args: argparse.Namespace, tile: int | None = None):
    """The :class:`~n2n.inference.spec.InferenceSpec` the model options state: ``--weights``
    or the bundled ``--model`` (``auto``, the default, chosen per image), and the rest."""
    from n2n.inference.spec import InferenceSpec

    return InferenceSpec(args.weights or args.model, args.pd, args.refine, args.multiscale,
                         args.ensemble, not args.no_fast, tile, args.device,
                         getattr(args, "data_range", None), zero_shot_settings(args))


def zero_shot_settings(args: argparse.Namespace):
    """The :class:`~n2n.inference.zeroshot.ZeroShot` settings ``--zero-shot``, ``--iterations``,
    ``--crop`` (0: the whole image), ``--minutes`` and ``--no-prior`` give; None without
    ``--zero-shot`` (its flags alone are refused: they would be ignored)."""
    from n2n.inference.zeroshot import ZeroShot

    if not hasattr(args, "zero_shot"):  # a command without zero-shot options
        return None
    if not args.zero_shot:
        given = [flag for flag, unset in (("--iterations", args.iterations is None),
                                          ("--crop", args.crop is None),
                                          ("--minutes", args.minutes is None),
                                          ("--no-prior", args.prior)) if not unset]
        if given:
            raise N2NError(f"{', '.join(given)}: for --zero-shot only; add --zero-shot or drop "
                           "them")
        return None
    crop = {} if args.crop is None else {"crop": args.crop or None}
    return ZeroShot(args.iterations, minutes=args.minutes, prior=args.prior, **crop)


def load_denoiser(args: argparse.Namespace, tile: int | None = None):
    """The denoiser the model options describe (:func:`~n2n.inference.spec.build_denoiser`)."""
    from n2n.inference.spec import build_denoiser

    return build_denoiser(inference_spec(args, tile))


def parse_scales(text: str) -> list[int]:
    """``1,2,4`` -> [1, 2, 4]."""
    try:
        scales = [int(s) for s in text.split(",")]
    except ValueError as err:
        raise N2NError(f"--scales '{text}': expected integers like 1,2,4") from err
    if not scales or min(scales) < 1:
        raise N2NError(f"--scales '{text}': factors must be >= 1")
    return scales
