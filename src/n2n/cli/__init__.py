"""The ``n2n`` command line: parse, map flags to the library's configs, call it, print.

Each command's parser sits beside its runner: ``images`` (denoise, eval, demo), ``train``,
``bench``, ``noise`` (diagnose, models), ``tools`` (make-pairs, scratch-train, export). Every
user error is an :class:`N2NError`, printed as one ``n2n: error: ...`` line with the library's
parameter names shown as the flags that set them, and exit status 2.
"""

from __future__ import annotations

import argparse
import re
import sys

import torch

from n2n import __version__
from n2n.cli import bench, images, noise, tools, train
from n2n.errors import N2NError
from n2n.scratch import ScratchError

COMMANDS = (images, train, bench, noise, tools)
# parameter names the library's messages use, and the flags that set them
FLAGS = ("patch_size", "patches_per_epoch", "gray_fraction", "reference_name", "batch_size",
         "checkpoint_minutes", "lr_patience", "train_count", "val_count", "iterations",
         "workers", "pd", "lr", "zero_shot_iterations", "train_minutes", "ablation_minutes")
VALUE_FLAGS = ("limit",)  # plain words elsewhere: shown as flags only before their value


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if getattr(args, "threads", None):
            torch.set_num_threads(args.threads)
        if getattr(args, "device", None):
            from n2n.device import resolve_device

            args.device = resolve_device(args.device)
        return args.run(args) or 0
    except (N2NError, ScratchError, OSError) as err:  # OSError: disk full, permission denied
        print(f"n2n: error: {as_flags(str(err))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("n2n: interrupted", file=sys.stderr)
        return 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="n2n", description="Noise2Noise denoising: train on "
                                     "pairs of noisy images, denoise anything.")
    parser.add_argument("--version", action="version", version=f"n2n-lite {__version__}")
    sub = parser.add_subparsers(required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.add_parsers(sub)
    return parser


def as_flags(message: str) -> str:
    """A library message with its parameter names written as command-line flags."""
    message = re.sub(r"\bsource '(clean|ee559|bursts|captured|noisy)'", r"--\1", message)
    message = re.sub(r"\bmode (n2n|ne2ne)\b", r"--mode \1", message)
    message = message.replace("as bursts or captured", "with --bursts or --captured")
    for name in VALUE_FLAGS:
        message = re.sub(rf"\b{name}(?= -?\d)", f"--{name}", message)
    for name in FLAGS:
        message = re.sub(rf"(?<![\w/.\\-]){name}(?![\w/.\\-])", "--" + name.replace("_", "-"),
                         message)
    return message
