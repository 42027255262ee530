"""What a run leaves behind, and how n2n-lite makes sure it is nothing.

* Every temporary file or folder n2n-lite writes beside a target is named
  ``.<target name>.n2n-<host>-<pid>-<random>[<suffix>]`` (:func:`temporary_prefix`): a later run
  knows it for n2n-lite's own, and knows whether the process that wrote it still runs.
* The first write into a folder sweeps it (:func:`sweep`): temporaries of processes of this
  machine that no longer exist (a SIGKILL, a power cut) are removed, and the run says so in
  one line (a warning of the ``n2n`` logger). Nothing else is touched; an output a killed
  run had moved aside, and not yet replaced, is put back.
* A failed or refused run removes the folders it created and left empty
  (:func:`new_folders_removed`); complete outputs written before the failure are kept.
* An OS error raised while a temporary was written names the target, not the temporary
  (:func:`name_the_target`).
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import socket
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

TAG = "n2n"
ASIDE = "old-"  # the random part of a folder holding a replaced output until it is deleted
_NAME = re.compile(rf"^\.(?P<target>.+)\.{TAG}-(?P<host>[A-Za-z0-9]+)-(?P<pid>\d+)-"
                   r"(?P<aside>old-)?[A-Za-z0-9_]+(\.[^.]*)?$")
_swept: set[tuple[str, int]] = set()  # (folder, pid): swept once per folder and process
log = logging.getLogger("n2n")


def host() -> str:
    """This machine's name, letters and digits only (a temporary's name carries it)."""
    return re.sub(r"[^A-Za-z0-9]", "", socket.gethostname())[:16] or "host"


def temporary_prefix(target: str | Path) -> str:
    """The name prefix of a temporary for ``target`` (``tempfile``'s ``prefix``), once the
    target's folder is swept of stale temporaries."""
    target = Path(target)
    sweep(target.parent)
    return f".{target.name}.{TAG}-{host()}-{os.getpid()}-"


def sweep(folder: str | Path) -> list[Path]:
    """Remove from ``folder`` n2n-lite's temporaries whose process, on this machine, no
    longer exists; once per folder and process. Says what it removed in one line."""
    folder = Path(folder)
    key = (str(folder.resolve()), os.getpid())
    if key in _swept:
        return []
    _swept.add(key)
    try:
        entries = [e for e in os.scandir(folder) if e.name.startswith(".")]
    except OSError:
        return []  # not there yet, or unreadable: the writer will say
    removed, pids, targets = [], set(), set()
    for entry in entries:
        match = _NAME.match(entry.name)
        if not match or match["host"] != host() or _alive(int(match["pid"])):
            continue
        if _remove(Path(entry.path), folder / match["target"], bool(match["aside"])):
            removed.append(Path(entry.path))
            pids.add(match["pid"])
            targets.add(match["target"])
    if removed:
        names = ", ".join(sorted(targets)[:3]) + (", ..." if len(targets) > 3 else "")
        log.warning(f"{folder}: removed {len(removed)} temporary file(s) of {names} left by a "
                    f"stopped run (process {', '.join(sorted(pids))}, no longer running)")
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


def _remove(path: Path, target: Path, aside: bool) -> bool:
    """Remove a stale temporary; an aside folder whose target is gone is put back instead."""
    try:
        if aside and (path / "old").exists() and not os.path.lexists(target):
            os.replace(path / "old", target)  # the killed run had moved it aside: restore
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
    except OSError:
        return False
    return True


def name_the_target(err: BaseException, target: str | Path) -> None:
    """Make an OS error raised while ``target``'s temporary was written name ``target``."""
    if not isinstance(err, OSError):
        return
    names = [Path(os.fsdecode(n)) for n in (err.filename, err.filename2) if n is not None]
    if all(_NAME.match(n.name) or n == Path(target) for n in names):
        err.filename, err.filename2 = os.fspath(target), None


@contextmanager
def new_folders_removed(paths: Iterable[str | Path]) -> Iterator[None]:
    """On an error or a signal, remove the folders on the way to each of ``paths`` (and the
    path itself) that did not exist before and are empty now; never anything else."""
    new: list[Path] = []
    for path in map(Path, paths):
        for folder in (path, *path.parents):
            if os.path.lexists(folder):
                break
            new.append(folder)
    try:
        yield
    except BaseException:
        for folder in sorted(set(new), key=lambda p: len(p.parts), reverse=True):
            try:
                folder.rmdir()  # only an empty folder, never a file or a link
            except OSError:
                pass
        raise


def target_of(err: OSError) -> Path | None:
    """The target whose temporary an OS error names, if it names one."""
    for name in (err.filename2, err.filename):
        if name is not None:
            path = Path(os.fsdecode(name))
            match = _NAME.match(path.name)
            if match:
                return path.parent / match["target"]
    return None
