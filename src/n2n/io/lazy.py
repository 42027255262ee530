"""Images as lazy dask arrays in NGFF axis order, for chunked work on a Dask cluster: each
format's lazy reader (:attr:`n2n.io.formats.base.Format.lazy`: an OME-Zarr image's level 0
chunk by chunk, a TIFF stack plane by plane).

Each task opens the file itself, so workers read from a shared file system and nothing but
the file's name travels through the scheduler. Needs the ``dask`` extra.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from n2n.errors import N2NError, optional_module
from n2n.io.checks import check_input
from n2n.io.formats.base import LazyImage
from n2n.io.formats.registry import known, with_feature

__all__ = ["LazyImage", "dask_array", "open_lazy"]


def open_lazy(path: str | Path) -> LazyImage:
    """An image of a format with a lazy reader (OME-Zarr 0.4 or 0.5, TIFF), lazily."""
    path = Path(path)
    da = dask_array(f"{path}: reading it in chunks for Dask")
    fmt = known(path)
    if fmt is None or fmt.lazy is None or fmt.claims is not None and not fmt.claims(path):
        names = " or ".join(f.name for f in with_feature("lazy"))
        raise N2NError(f"{path}: --dask reads an image in {names} (an OME-Zarr image is a "
                       "folder holding its metadata)")
    check_input(path)  # headers, limits, truncation, as for every other path
    return fmt.lazy(path, da)


def dask_array(purpose: str) -> Any:
    """The ``dask.array`` module, or an error saying which extra installs it."""
    optional_module("dask", "dask", purpose)
    import dask.array

    return dask.array
