"""Activations reused, not mapped afresh: glibc's malloc, tuned while networks run.

glibc serves every block above its mmap threshold (32 MiB by default) with a fresh ``mmap``
and unmaps it on ``free``. A network's activations over a window of a megapixel or more are
blocks of 100-300 MB, made and freed layer after layer, so every layer's output is faulted in
page by page and zeroed by the kernel: about 3.3 million page faults for ``--model photo --pd
1`` on a 12-MP photo (docs/guides/speed.md, "Page faults"). Two scopes, so that only the
layers' short-lived blocks share the heap:

* :func:`heap_kept`, around a whole job (one image or strip): glibc does not trim its heap, so
  what a window's layers freed is there for the next window; after the last holder, glibc's
  default comes back and ``malloc_trim`` returns the free memory to the system.
* :func:`layers_on_heap`, around each network call inside it: large blocks come from the heap
  instead of ``mmap``. Outside it they are mapped as usual, so long-lived image-sized buffers
  (a pass's result, a strip) do not sit between the layers' blocks and fragment the heap.

Other C libraries (macOS, Windows, musl) are left as they are: both scopes do nothing there.
The allocator is one per process, so holders are counted across threads (a Dask worker's
threads each denoise their chunks).
"""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager

# mallopt parameters (glibc's malloc.h): (parameter, value while held, glibc's default)
NO_TRIM = (-1, 2**31 - 1, 128 * 1024)  # M_TRIM_THRESHOLD
NO_MMAP = (-4, 0, 65536)  # M_MMAP_MAX


class _Holders:
    """How many callers hold each scope now, and the C library to tune (None: not glibc)."""

    def __init__(self) -> None:
        self.count = {NO_TRIM: 0, NO_MMAP: 0}
        self.lock = threading.Lock()
        self.libc = _glibc()


def _glibc() -> ctypes.CDLL | None:
    """The process's C library if it is glibc (it has ``mallopt`` and ``malloc_trim``)."""
    try:
        libc = ctypes.CDLL(None)
    except OSError:  # Windows: no process-wide symbol table
        return None
    names = ("gnu_get_libc_version", "mallopt", "malloc_trim")
    return libc if all(hasattr(libc, name) for name in names) else None


_HOLDERS = _Holders()  # the process's allocator is one, so its holders are counted once


@contextmanager
def _held(setting: tuple[int, int, int]) -> Iterator[None]:
    """``setting`` in force from its first holder's entry to its last holder's exit."""
    holders = _HOLDERS
    libc, (parameter, held, default) = holders.libc, setting
    if libc is None:
        yield
        return
    with holders.lock:
        holders.count[setting] += 1
        if holders.count[setting] == 1:
            libc.mallopt(parameter, held)
    try:
        yield
    finally:
        with holders.lock:
            holders.count[setting] -= 1
            if holders.count[setting] == 0:
                libc.mallopt(parameter, default)
                if setting is NO_TRIM:
                    libc.malloc_trim(0)  # the job's free memory back to the system


def heap_kept() -> AbstractContextManager[None]:
    """A job's scope: its freed blocks stay in glibc's heap for its next window; after the last
    holder, the free memory goes back to the system."""
    return _held(NO_TRIM)


def layers_on_heap() -> AbstractContextManager[None]:
    """A network call's scope (within :func:`heap_kept`): large blocks come from the heap, so
    each layer reuses what the last one freed."""
    return _held(NO_MMAP)
