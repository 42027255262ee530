"""Safe file handling: atomic writes (a temporary file or folder in the target's folder, fsync,
rename: a crash leaves the old output or the new one, never half of one) and torch loads that
run no code."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from n2n.errors import N2NError


def _default_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


@contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path to write; on success it replaces ``path``, on error it vanishes.

    The temporary name keeps ``path``'s suffix so that writers choosing a format by suffix work.
    """
    path = Path(path)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=path.suffix)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, _default_mode())  # mkstemp creates 0600; give the usual permissions
        os.replace(tmp, path)
        _fsync_folder(path.parent)  # make the rename itself survive a power cut
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextmanager
def atomic_folder(path: str | Path, replaceable: Callable[[Path], bool]) -> Iterator[Path]:
    """Yield a temporary folder to fill; on success it takes the place of ``path``, on error it
    vanishes. An existing ``path`` is replaced only if ``replaceable(path)`` (say, a folder this
    program wrote), so a mistyped name cannot delete someone's data."""
    path = Path(path)
    if path.exists() and not replaceable(path):
        raise N2NError(f"{path}: exists and is not an output to replace; choose another name")
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}."))
    try:
        yield tmp
        os.chmod(tmp, _default_mode() | 0o111)  # mkdtemp creates 0700; give the usual 0755
        if not path.exists():
            os.replace(tmp, path)
        else:  # a folder cannot replace a non-empty one: move the old aside, then delete it
            aside = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.old.")) / "old"
            os.replace(path, aside)
            try:
                os.replace(tmp, path)
            except BaseException:
                os.replace(aside, path)
                raise
            shutil.rmtree(aside.parent)
        _fsync_folder(path.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _fsync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # some systems cannot open folders; the rename is done either way
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically, creating its folder."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def load_torch_file(path: str | Path, what: str) -> Any:
    """``torch.load`` with ``weights_only=True`` (pickled code is refused, never run); any
    failure becomes one :class:`N2NError` naming the file and ``what`` it should have been."""
    path = Path(path)
    if not path.is_file():
        raise N2NError(f"{path}: no such file (expected {what})")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise N2NError(f"{path}: not a loadable {what} ({reason})") from err
