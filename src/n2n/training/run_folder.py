"""A run folder belongs to one training at a time, and to one run: locked while it trains, and
refused when it already holds a run that the caller neither continues nor replaces."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from n2n.errors import N2NError
from n2n.models.checkpoint import FORMAT, load_record

try:  # POSIX; elsewhere runs are not locked
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None

LOCK = ".n2n-train.lock"  # holds the PID of the training that owns the folder
CHECKPOINTS = ("last.pt", "best.pt")
LOGS = ("log.csv", "log.json", "curves.png")


@contextmanager
def owned_run_folder(run_dir: Path | None, *, resume: bool, overwrite: bool,
                     main: bool = True) -> Iterator[None]:
    """Hold ``run_dir`` for one training: refuse it if it holds a run and neither ``resume``
    nor ``overwrite`` is asked (``overwrite`` removes that run's files: only n2n-lite's own),
    and, on the ``main`` process, lock it so that a second training there is refused."""
    if run_dir is None:
        yield
        return
    trained = [name for name in CHECKPOINTS if (run_dir / name).exists()]
    if trained and not (resume or overwrite):
        raise N2NError(f"{run_dir}: holds a training run ({', '.join(trained)}); continue it "
                       "with {resume}, or start afresh with {overwrite}",
                       param=("resume", "overwrite"))
    if not main:
        yield
        return
    run_dir.mkdir(parents=True, exist_ok=True)
    with _locked(run_dir):
        if overwrite and not resume:
            _remove_run(run_dir)
        yield


@contextmanager
def _locked(run_dir: Path) -> Iterator[None]:
    """An exclusive lock on ``run_dir``'s lock file for as long as the block runs."""
    with open(run_dir / LOCK, "a+") as lock:
        if fcntl is not None:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                lock.seek(0)
                holder = lock.read().strip() or "unknown"
                raise N2NError(f"{run_dir}: another training (PID {holder}) is using this run "
                               "folder; wait for it to end, or choose another folder") from None
        lock.seek(0)
        lock.truncate()
        lock.write(f"{os.getpid()}\n")
        lock.flush()
        try:
            yield
        finally:
            if fcntl is not None:
                fcntl.flock(lock, fcntl.LOCK_UN)


def _remove_run(run_dir: Path) -> None:
    """Delete a previous run's checkpoints (those with n2n-lite's format tag) and logs."""
    for name in CHECKPOINTS:
        path = run_dir / name
        if path.exists() and _is_checkpoint(path):
            path.unlink()
    for name in LOGS:
        (run_dir / name).unlink(missing_ok=True)


def _is_checkpoint(path: Path) -> bool:
    try:
        return load_record(path).get("format") == FORMAT
    except N2NError:
        return False

