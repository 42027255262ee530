"""One set of input checks, run on a file before any decoder reads a pixel of it, the same for
every path (read whole, streamed, sampled by the automatic rule, chunked on Dask) and every
decoder behind it (Pillow, pypng, libvips, tifffile, zarr).

What is checked, from headers and the file's structure only (cheap at any size):

* the file is there, is not empty, and is a format n2n-lite reads;
* header limits: no plane over :data:`n2n.io.formats.base.MAX_PIXELS` (a decompression bomb or a
  corrupt header), no Zarr chunk over it either;
* truncation: a PNG's chunks run whole to its IEND chunk, with pixel data; a TIFF's pages
  chain whole and their data lies inside the file; a ``.npy`` holds its header's bytes;
* decoder errors on the headers: one :class:`N2NError` naming the file, never a traceback.

Errors found only while decoding pixels (a corrupt compressed stream whose chunks look whole)
are caught where the pixels are decoded, by :func:`n2n.errors.decoder_errors`.
"""

from __future__ import annotations

from pathlib import Path

from n2n.errors import N2NError, decoder_errors
from n2n.io.formats.registry import known
from n2n.io.images import image_file_format


def check_input(path: str | Path) -> None:
    """Refuse, in one :class:`N2NError` naming it, an input image file (or OME-Zarr folder)
    that no decoder could read faithfully: missing, empty, of an unknown format, over the
    size limit, truncated or with unreadable headers. Reads headers only; each format's
    :attr:`~n2n.io.formats.base.Format.check` says what its headers must hold."""
    path = Path(path)
    if path.is_dir():
        fmt = known(path)
        if fmt is None or not fmt.folder:
            raise N2NError(f"{path}: a folder, not an image file or an OME-Zarr image")
        fmt.check(path)
        return
    fmt = image_file_format(path)
    with decoder_errors(path):
        fmt.check(path)
