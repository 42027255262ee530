"""The output layer every writer goes through, and torch loads that run no code.

Its rules: a target is never an input, never inside an input folder and never holds an input
(:func:`check_target`); an existing target is replaced only by an output of its own kind
(:data:`KINDS`) that n2n-lite wrote (each format carries :data:`MARK`, and where one format
holds several kinds, the kind too: :func:`marked`) or if the user says ``overwrite``
(:func:`check_replaceable`); writes are
atomic (a temporary file or folder beside the target, fsync, rename), so an error or a signal
leaves the old output or the new one, never half of one, and no temporary; space for
memory-mapped writes is reserved first (:func:`reserve_space`).
"""

from __future__ import annotations

import errno
import json
import os
import re
import secrets
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

import torch

from n2n.errors import N2NError
from n2n.io.leftovers import name_the_target, temporary_prefix

MARK = "n2n-lite"  # what every file or folder n2n-lite writes says of its maker

# what n2n-lite writes; an output replaces only a file of its own kind (unless ``overwrite``)
IMAGE, STACK, ZARR, PLOT = "image", "stack", "OME-Zarr image", "plot"
CHECKPOINT, RESUMABLE, EXPORT, RECORD = ("checkpoint", "resumable checkpoint", "export",
                                         "JSON record")
KINDS = (IMAGE, STACK, ZARR, PLOT, CHECKPOINT, RESUMABLE, EXPORT, RECORD)


def marked(kind: str) -> str:
    """The text mark (PNG/TIFF Software, JPEG comment) of an output of ``kind``: the maker and
    the kind, since one format holds several kinds (an image, a stack, a plot)."""
    return f"{MARK} {kind}"


def kind_of_mark(text: str, unmarked: str) -> str | None:
    """The kind a text mark names; ``unmarked`` for the bare :data:`MARK` of earlier versions
    (a kind the caller infers from the file); None for a file n2n-lite did not write."""
    if text == MARK:
        return unmarked
    kind = text.removeprefix(f"{MARK} ") if text.startswith(f"{MARK} ") else None
    return kind if kind in KINDS else None


def torch_file_kind(path: Path) -> str | None:
    """The kind of a torch file (``.pt``) n2n-lite wrote, None for any other: what its record
    says, else a resumable checkpoint if it holds an optimizer's state (a training run's
    ``last.pt``, ``best.pt``), else an export (weights alone, as earlier versions wrote)."""
    try:
        record = load_torch_file(path, "n2n checkpoint")
    except N2NError:
        return None
    if not isinstance(record, dict) or record.get("format") != MARK:
        return None
    if record.get("kind") in (CHECKPOINT, RESUMABLE, EXPORT):
        return record["kind"]
    return RESUMABLE if "optimizer" in record else EXPORT


def with_article(kind: str) -> str:
    """``kind`` with its article: "an image", "a stack"."""
    return f"{'an' if kind[0] in 'aeiouAEIOU' else 'a'} {kind}"


def check_target(target: str | Path, inputs: Iterable[str | Path],
                 dataset: Callable[[Path], bool] = lambda folder: False) -> None:
    """Refuse a ``target`` that is one of ``inputs`` (by resolved path, symlink or hard link),
    lies inside an input folder, or would hold an input (a folder output such as OME-Zarr).

    Inside an input folder means directly in it, where the next run over that folder would
    take the output for an input, or anywhere in a folder that is one data set (``dataset``
    says: an OME-Zarr image); a subfolder of a folder of images (``-o photos/denoised``) is the
    user's choice."""
    target = Path(target)
    resolved = target.resolve()
    for source in map(Path, inputs):
        where = source.resolve()
        if resolved == where or _same_file(target, source):
            raise N2NError(f"{target}: output would overwrite the input {source}; choose another "
                           "output")
        inside = resolved.parent == where or (resolved.is_relative_to(where)
                                               and dataset(where))
        if where.is_dir() and inside:
            raise N2NError(f"{target}: lies inside the input folder {source}; choose an output "
                           "outside it")
        if where.is_relative_to(resolved):
            raise N2NError(f"{target}: would hold the input {source}; choose another output")


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)  # hard links and symlinks
    except OSError:
        return False  # one of them does not exist


def check_replaceable(target: str | Path, ours: Callable[[Path], bool | str | None],
                      overwrite: bool = False, kind: str | None = None) -> None:
    """Refuse an existing ``target`` that n2n-lite did not write, or wrote as another kind than
    the ``kind`` about to replace it (``ours`` says, from the format's mark: True, or the
    kind), unless ``overwrite``: a mistyped name must not replace someone's data, nor a JSON
    record an image, nor an export the checkpoint a run resumes from."""
    target = Path(target)
    if overwrite or not (target.exists() or target.is_symlink()):
        return
    found = ours(target)
    if found is True or found and (kind is None or found == kind):
        return
    if found:
        raise N2NError(f"{target}: holds {with_article(found)} n2n-lite wrote, which "
                       f"{with_article(kind)} would replace; choose another name, or set "
                       "{overwrite} to replace it", param="overwrite")
    what = "a folder" if target.is_dir() else "a file"
    raise N2NError(f"{target}: exists and is {what} n2n-lite did not write; choose another "
                   "name, or set {overwrite} to replace it", param="overwrite")


def never(path: Path) -> bool:
    """The ``ours`` of formats that carry no mark (``.npy``, pkl): replaced only on request."""
    return False


def write_json_record(path: str | Path, record: dict) -> None:
    """Write ``record`` as JSON, atomically, with the mark :func:`json_written_by_n2n` reads."""
    write_text_atomic(path, json.dumps({"written_by": MARK, **record}, indent=1))


def json_written_by_n2n(path: Path) -> bool:
    """A JSON record n2n-lite wrote: an object whose ``written_by`` is :data:`MARK`."""
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return False
    return isinstance(record, dict) and record.get("written_by") == MARK


def json_kind(path: Path) -> str | None:
    """:data:`RECORD` for a JSON record n2n-lite wrote (the one kind it writes as JSON)."""
    return RECORD if json_written_by_n2n(path) else None


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
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=temporary_prefix(path),
                                    suffix=path.suffix)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, _default_mode())  # mkstemp creates 0600; give the usual permissions
        os.replace(tmp, path)
        _fsync_folder(path.parent)  # make the rename itself survive a power cut
    except BaseException as err:
        tmp.unlink(missing_ok=True)
        name_the_target(err, path)
        raise


@contextmanager
def atomic_file(path: str | Path) -> Iterator[BinaryIO]:
    """Yield a binary file to write; on success it replaces ``path``, on error it vanishes.

    Where Linux allows (``O_TMPFILE``), the file has no name until it is complete, so even a
    SIGKILL mid-write leaves nothing behind (a SIGKILL in the instant between naming the
    complete file and moving it into place leaves it whole, under the temporary name that the
    next write into the folder sweeps, :mod:`n2n.io.leftovers`); elsewhere it is
    :func:`atomic_path`'s temporary.
    """
    path = Path(path)
    try:
        fd = os.open(path.parent, os.O_TMPFILE | os.O_RDWR, _default_mode())
    except (AttributeError, OSError):  # not Linux, or a file system without O_TMPFILE
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            yield f
        return
    with os.fdopen(fd, "w+b") as f:
        try:
            yield f
            f.flush()
            os.fsync(f.fileno())
        except OSError as err:
            name_the_target(err, path)
            raise
        tmp = path.parent / f"{temporary_prefix(path)}{secrets.token_hex(6)}{path.suffix}"
        folder = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:  # named only now, complete; a folder fd makes os.link follow the /proc link
            os.link(f"/proc/self/fd/{fd}", tmp.name, dst_dir_fd=folder)  # (linkat, not link)
        except OSError:  # no /proc: copy into a named temporary instead
            f.seek(0)
            with atomic_path(path) as named, open(named, "wb") as out:
                shutil.copyfileobj(f, out)
            return
        finally:
            os.close(folder)
    try:
        os.replace(tmp, path)
    except BaseException as err:
        tmp.unlink(missing_ok=True)
        name_the_target(err, path)
        raise
    _fsync_folder(path.parent)


@contextmanager
def atomic_folder(path: str | Path, ours: Callable[[Path], bool], overwrite: bool = False
                  ) -> Iterator[Path]:
    """Yield a temporary folder to fill; on success it takes the place of ``path``, on error it
    vanishes. An existing ``path`` is replaced only as :func:`check_replaceable` allows."""
    path = Path(path)
    check_replaceable(path, ours, overwrite)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=temporary_prefix(path)))
    try:
        yield tmp
        os.chmod(tmp, _default_mode() | 0o111)  # mkdtemp creates 0700; give the usual 0755
        if not path.exists():
            os.replace(tmp, path)
        else:  # a folder cannot replace a non-empty one: move the old aside, then delete it
            aside = Path(tempfile.mkdtemp(dir=path.parent,
                                          prefix=temporary_prefix(path) + "old-")) / "old"
            os.replace(path, aside)
            try:
                os.replace(tmp, path)
            except BaseException:
                os.replace(aside, path)
                raise
            shutil.rmtree(aside.parent)
        _fsync_folder(path.parent)
    except BaseException as err:
        shutil.rmtree(tmp, ignore_errors=True)
        name_the_target(err, path)
        raise


def reserve_space(tmp: Path, target: Path) -> None:
    """Allocate every byte of the file ``tmp`` (to become ``target``) on disk now, so that
    writing it through a memory map cannot hit a full disk, which would be a SIGBUS, not an
    error; a full disk is one N2NError naming ``target`` and the space it needs."""
    size = tmp.stat().st_size
    if not hasattr(os, "posix_fallocate"):  # macOS, Windows: no way to reserve; write as is
        return
    fd = os.open(tmp, os.O_RDWR)
    try:
        os.posix_fallocate(fd, 0, size)
    except OSError as err:
        if err.errno in (errno.EOPNOTSUPP, errno.EINVAL):  # a file system that cannot reserve
            return
        if err.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        free = shutil.disk_usage(tmp.parent).free
        raise N2NError(f"{target}: not enough disk space: the output needs {_size(size)}, "
                       f"{_size(free)} free") from err
    finally:
        os.close(fd)


def _size(count: int) -> str:
    return f"{count / 2**20:.1f} MiB"


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
        raise N2NError(f"{path}: not a loadable {what} ({_torch_reason(err)})") from err


def _torch_reason(err: Exception) -> str:
    """Why ``torch.load`` failed, in n2n-lite's words: never PyTorch's advice (to load with
    ``weights_only=False``, that is to run the file's code), nor its internals."""
    text = str(err).strip()
    code = re.search(r"GLOBAL ([\w.]+)", text)
    if code:
        return (f"it holds a pickled {code[1]}, which could run code; n2n-lite loads plain "
                "weights only, and never such a file")
    if isinstance(err, KeyError | EOFError) or any(
            s in text for s in ("Weights only", "magic number", "zip archive")):
        return "not a PyTorch file, or a damaged one"
    first = text.splitlines()[0].split(". ")[0] if text else type(err).__name__
    return first[:160]
