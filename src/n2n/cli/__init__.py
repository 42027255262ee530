"""The ``n2n`` command line: parse, map flags to the library's configs, call it, print.

Each command's parser sits beside its runner: ``images`` (denoise, eval, demo), ``train``,
``bench``, ``noise`` (diagnose, models), ``tools`` (make-pairs, scratch-train, export). Every
user error is an :class:`N2NError`, printed as one ``n2n: error: ...`` line with the parameters
it names (:attr:`N2NError.params`) written as the flags that set them, and exit status 2.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import torch

from n2n import __version__
from n2n.cli import bench, images, noise, tools, train
from n2n.cli.common import as_flag
from n2n.errors import N2NError, os_error_sentence
from n2n.io.leftovers import new_folders_removed, target_of
from n2n.scratch import ScratchError
from n2n.training.loop import Interrupted

COMMANDS = (images, train, bench, noise, tools)


class Stopped(BaseException):
    """SIGTERM or SIGHUP, raised where the program is, so that every temporary file is removed
    on the way out, as for Ctrl-C (KeyboardInterrupt)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else [str(a) for a in argv]
    args = build_parser().parse_args(argv)
    args.argv = argv  # the words given, for commands that tell them from defaults
    with stops_as_exceptions(), notices_as_lines():
        return run(args)


@contextmanager
def notices_as_lines() -> Iterator[None]:
    """What the library says in passing (the ``n2n`` logger: stale temporaries removed)
    printed as one ``n2n: ...`` line each on stderr while the command runs."""
    logger = logging.getLogger("n2n")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("n2n: %(message)s"))
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)


@contextmanager
def stops_as_exceptions() -> Iterator[None]:
    """SIGTERM and SIGHUP raise :class:`Stopped` (from the main thread only) while the command
    runs; the previous handlers come back after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, frame: object) -> None:
        raise Stopped(signum)

    stops = [s for s in (signal.SIGTERM, getattr(signal, "SIGHUP", None)) if s is not None]
    previous = {s: signal.signal(s, stop) for s in stops}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def run(args: argparse.Namespace) -> int:
    """Run a parsed command; user errors are one line and exit 2, signals exit 128 + signal."""
    try:
        if getattr(args, "threads", None):
            torch.set_num_threads(args.threads)
        if getattr(args, "device", None):
            from n2n.device import resolve_device

            args.device = resolve_device(args.device)
        with new_folders_removed(outputs(args)):  # a failed run leaves no empty folder
            return args.run(args) or 0
    except N2NError as err:
        print(f"n2n: error: {err.worded(as_flag)}", file=sys.stderr)
        return 2
    except ScratchError as err:
        print(f"n2n: error: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # disk full, permission denied, a file where a folder should be
        print(f"n2n: error: {os_error_sentence(err, target_of(err))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("n2n: interrupted", file=sys.stderr)
        return 128 + signal.SIGINT
    except Stopped as stop:
        print(f"n2n: stopped by {stop}", file=sys.stderr)
        return 128 + stop.signum
    except Interrupted as stop:  # a fit without a run folder: zero-shot, bench training
        print(f"n2n: {stop}", file=sys.stderr)
        return 128 + stop.signum


def outputs(args: argparse.Namespace) -> list:
    """What a command writes into, by the names its parsers give them."""
    paths = [getattr(args, name, None) for name in ("output", "json", "out_dir", "run_dir")]
    return [p for p in paths if p is not None and str(p)]


class Parser(argparse.ArgumentParser):
    """argparse's parser, with its errors in the one-line form of every other error."""

    def error(self, message: str):  # type: ignore[override]
        command = self.prog.removeprefix("n2n").strip()
        hint = f"'n2n {command} --help'" if command else "'n2n --help'"
        self.exit(2, f"n2n: error: {message} (see {hint})\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="n2n", description="Noise2Noise denoising: train on "
                                     "pairs of noisy images, denoise anything.")
    parser.add_argument("--version", action="version", version=f"n2n-lite {__version__}")
    sub = parser.add_subparsers(required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.add_parsers(sub)
    return parser
