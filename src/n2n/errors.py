"""The one exception users see: a problem with their input, stated in one line."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType


class N2NError(ValueError):
    """Bad input or a failed step, with a message naming the file or value and the problem.

    The CLI prints it as one line and exits non-zero; the Python API lets it propagate.
    """


@contextmanager
def conversion_errors(source: Path, target: Path) -> Iterator[None]:
    """Turn what a decoder or the disk raises while ``source`` becomes ``target`` into one
    N2NError: codecs (pypng, zlib, tifffile) raise many types on corrupt data."""
    try:
        yield
    except N2NError:
        raise
    except OSError as err:  # disk full, permission denied: reading or writing
        raise N2NError(f"{source} -> {target}: {err.strerror or err}") from err
    except Exception as err:
        raise N2NError(f"{source}: cannot read image ({err or type(err).__name__})") from err


def optional_module(name: str, extra: str, purpose: str) -> ModuleType:
    """Import an optional dependency, or say which extra installs it."""
    try:
        return __import__(name)  # a top-level package name
    except ImportError:
        raise N2NError(f"{purpose} needs the '{name}' package: pip install 'n2n-lite[{extra}]'"
                       ) from None
