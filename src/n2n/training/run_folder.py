"""A run folder belongs to one training at a time, and to one run: locked while it trains,
refused when it already holds a run that the caller neither continues nor replaces, and kept
apart from the data the run reads."""

from __future__ import annotations

import glob
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from n2n.data.config import DataConfig
from n2n.errors import N2NError
from n2n.models.checkpoint import FORMAT, load_record

try:  # POSIX; elsewhere runs are not locked
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None

CHECKPOINTS = ("last.pt", "best.pt")
LOGS = ("log.csv", "log.json", "curves.png")


@contextmanager
def owned_run_folder(run_dir: Path | None, *, resume: bool, overwrite: bool,
                     main: bool = True) -> Iterator[None]:
    """Hold ``run_dir`` for one training: refuse it if it holds a run (or its logs) and neither
    ``resume`` nor ``overwrite`` is asked (every process checks, so all stop together); on the
    ``main`` process, lock it so that a second training there is refused, check again under
    the lock, and with ``overwrite`` remove that run's files, n2n-lite's own only."""
    if run_dir is None:
        yield
        return
    _check_free(run_dir, resume, overwrite)
    if not main:
        yield
        return
    run_dir.mkdir(parents=True, exist_ok=True)
    with _locked(run_dir):
        _check_free(run_dir, resume, overwrite)  # a run may have ended in between
        if overwrite and not resume:
            _remove_run(run_dir)
        yield


def refuse_unusable(run_dir: Path, data: DataConfig | None = None) -> None:
    """Before any work: ``run_dir`` must be a folder (or not exist yet), and must neither be,
    lie inside, nor hold a folder or file the run reads (``data``'s sources and validation):
    checkpoints and curves.png written among training images would be read back as data."""
    if run_dir.exists() and not run_dir.is_dir():
        raise N2NError(f"{run_dir}: is a file, not a run folder; choose a folder for the "
                       "run's logs and checkpoints")
    run = run_dir.resolve()
    for param, flag, path in [] if data is None else _read_paths(data):
        where = _base(path).resolve()
        if where == run:
            relation = "is the data folder"
        elif where in run.parents:
            relation = "lies inside the data folder"
        elif run in where.parents:
            relation = "holds the data"
        else:
            continue
        raise N2NError(f"{run_dir}: the run folder {relation} {path} ({flag}); checkpoints "
                       "and curves.png written among training images are read back as data: "
                       "choose a run folder apart from the data", param=param)


def _read_paths(data: DataConfig) -> list[tuple[str, str, str]]:
    """Every folder or file ``data`` reads: (parameter, how a message names it, path)."""
    named = [("source", f"{{source:'{data.source}'}}", p) for p in data.paths]
    for param in ("val", "val_pkl", "val_captured"):
        value = getattr(data, param)
        value = [] if value is None else [value] if isinstance(value, str) else value
        named += [(param, f"{{{param}}}", p) for p in value]
    return named


def _base(path: str) -> Path:
    """A path, or the folder a glob pattern looks in."""
    if not glob.has_magic(path):
        return Path(path)
    parts = Path(path).parts
    fixed = next(i for i, part in enumerate(parts) if glob.has_magic(part))
    return Path(*parts[:fixed]) if fixed else Path(".")


def refuse_if_held(run_dir: Path) -> None:
    """Refuse a folder that another training holds, before anything of it is read (a resumed
    run's checkpoint may not be written yet while that training starts)."""
    if run_dir.is_dir():
        with _locked(run_dir):
            pass


def _check_free(run_dir: Path, resume: bool, overwrite: bool) -> None:
    held = [name for name in (*CHECKPOINTS, *LOGS) if (run_dir / name).exists()]
    if held and not (resume or overwrite):
        raise N2NError(f"{run_dir}: holds a training run ({', '.join(held)}); continue it "
                       "with {resume}, or start afresh with {overwrite}",
                       param=("resume", "overwrite"))


@contextmanager
def _locked(run_dir: Path) -> Iterator[None]:
    """An exclusive lock on the folder itself (``flock`` on its descriptor) for as long as the
    block runs: no lock file to leave behind, and the kernel releases it if the process dies."""
    if fcntl is None:
        yield
        return
    fd = os.open(run_dir, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise N2NError(f"{run_dir}: another training (PID {_holder(fd)}) is using this run "
                           "folder; wait for it to end, or choose another folder") from None
        yield
    finally:
        os.close(fd)  # releases the lock


def _holder(fd: int) -> str:
    """The PID holding a flock on ``fd``'s file, from /proc/locks (Linux), else 'unknown'."""
    stat = os.fstat(fd)
    inode = f"{os.major(stat.st_dev):02x}:{os.minor(stat.st_dev):02x}:{stat.st_ino}"
    try:
        for line in Path("/proc/locks").read_text().splitlines():
            fields = line.split()
            if "FLOCK" in fields and inode in fields:
                return fields[fields.index(inode) - 1]
    except OSError:
        pass
    return "unknown"


def _remove_run(run_dir: Path) -> None:
    """Delete a previous run's checkpoints (those with n2n-lite's format tag) and, beside them,
    its logs; files of these names that n2n-lite did not write are kept, and the run is
    refused rather than mixed with them."""
    ours = [run_dir / n for n in CHECKPOINTS if (run_dir / n).exists()]
    if not all(_is_checkpoint(p) for p in ours):
        raise N2NError(f"{run_dir}: its checkpoint files are not n2n-lite's; choose another "
                       "run folder")
    logs = [run_dir / n for n in LOGS if (run_dir / n).exists()]
    if logs and not ours:
        raise N2NError(f"{run_dir}: holds {logs[0].name} but no n2n-lite checkpoint; choose "
                       "another run folder")
    for path in [*ours, *logs]:
        path.unlink()


def _is_checkpoint(path: Path) -> bool:
    try:
        return load_record(path).get("format") == FORMAT
    except N2NError:
        return False

