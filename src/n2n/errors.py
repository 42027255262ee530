"""The one exception users see: a problem with their input, stated in one line."""

from __future__ import annotations

import errno
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

Namer = Callable[[str, "str | None"], str]  # (parameter, value or None) -> how to write it


def library_name(param: str, value: str | None) -> str:
    """How the Python API writes a parameter: ``patch_size``, ``source 'noisy'``."""
    return param if value is None else f"{param} {value}"


class N2NError(ValueError):
    """Bad input or a failed step, with a message naming the file or value and the problem.

    The CLI prints it as one line and exits non-zero; the Python API lets it propagate. A
    message names the parameters listed in ``param`` as fields, ``{patch_size}`` or, with the
    value that selects it, ``{source:'noisy'}``: ``str(error)`` writes them as the library
    names them, and :meth:`worded` as a caller does (the CLI: as its flags).

    Examples
    --------
    >>> error = N2NError("{patch_size} 64 is larger than every image", param="patch_size")
    >>> str(error)
    'patch_size 64 is larger than every image'
    >>> error.worded(lambda param, value: "--" + param.replace("_", "-"))
    '--patch-size 64 is larger than every image'
    """

    def __init__(self, message: str, *, param: str | tuple[str, ...] = ()) -> None:
        self.params = (param,) if isinstance(param, str) else tuple(param)
        self.template = message
        super().__init__(self.worded(library_name))

    def worded(self, namer: Namer) -> str:
        """The message with each parameter written by ``namer(parameter, value)``."""
        return worded(self.template, self.params, namer)

    def __reduce__(self):  # picklable across DataLoader workers and processes
        return _rebuild, (self.template, self.params)


def worded(template: str, params: tuple[str, ...], namer: Namer = library_name) -> str:
    """``template`` with each field of ``params`` (``{epochs}``, ``{source:'noisy'}``) written
    by ``namer``: messages and notes worded as the caller names its parameters."""
    if not params:
        return template
    fields = "|".join(re.escape(p) for p in params)
    return re.sub(r"\{(" + fields + r")(?::([^{}]*))?\}",
                  lambda m: namer(m.group(1), m.group(2)), template)


def _rebuild(template: str, params: tuple[str, ...]) -> N2NError:
    return N2NError(template, param=params)


@contextmanager
def decoder_errors(path: Path, what: str = "image", target: Path | None = None
                   ) -> Iterator[None]:
    """Turn whatever a decoder raises on ``path`` into one N2NError naming it: codecs (Pillow,
    pypng, zlib, tifffile, libvips) raise many types on corrupt data. While ``path`` is
    converted into ``target``, disk errors (full, permission denied) name both instead."""
    try:
        yield
    except N2NError:
        raise
    except Exception as err:
        if target is not None and isinstance(err, OSError):
            raise N2NError(f"{path} -> {os_error_sentence(err, target)}") from err
        reason = " ".join(str(err).split()) or type(err).__name__  # libvips writes lines
        raise N2NError(f"{path}: cannot read {what} ({reason})") from err


WAY_OUT = {  # what to do about the OS errors a user can do something about
    errno.ENOSPC: "free some space or write elsewhere",
    errno.EDQUOT: "free some space within your quota or write elsewhere",
    errno.EACCES: "check its permissions or choose a folder you can write to",
    errno.EPERM: "check its permissions or choose a folder you can write to",
    errno.EROFS: "write elsewhere",
    errno.ENAMETOOLONG: "choose a shorter name",
    errno.ENOENT: "check the path",
    errno.EIO: "the disk or network share may be failing; check it and run again",
}


def os_error_sentence(err: OSError, path: str | os.PathLike | None = None) -> str:
    """An OS error as one sentence: the path (``path``, else the one the error names: the
    target of a rename), what went wrong and the way out; no error numbers."""
    where = path if path is not None else (err.filename2 or err.filename)
    reason = err.strerror or str(err) or type(err).__name__
    if where is None:
        return f"{reason}; {WAY_OUT.get(err.errno, 'run again')}"
    if err.errno in (errno.EEXIST, errno.ENOTDIR):
        blocker = _file_in_the_way(os.fspath(where))
        if blocker is not None:
            what = "is" if os.path.normpath(blocker) == os.path.normpath(where) else \
                f"{blocker} is"
            return f"{where}: {what} a file where a folder is needed; move it or choose " \
                "another output"
    if err.errno == errno.EISDIR:
        return (f"{where}: is a folder, and a file never replaces a folder (not even with "
                "--overwrite); choose another name, or remove the folder yourself")
    if err.errno in WAY_OUT:
        return f"{where}: {reason}; {WAY_OUT[err.errno]}"
    return f"{where}: {reason}"


def _file_in_the_way(path: str) -> str | None:
    """The first of ``path`` and its folders that exists and is not a folder, if any."""
    parts = os.path.normpath(path).split(os.sep)
    for end in range(1, len(parts) + 1):
        part = os.sep.join(parts[:end]) or os.sep
        if os.path.lexists(part) and not os.path.isdir(part):
            return part
    return None


def optional_module(name: str, extra: str, purpose: str) -> ModuleType:
    """Import an optional dependency, or say which extra installs it."""
    try:
        return __import__(name)  # a top-level package name
    except ImportError:
        raise N2NError(f"{purpose} needs the '{name}' package: pip install 'n2n-lite[{extra}]'"
                       ) from None
