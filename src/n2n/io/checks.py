"""One set of input checks, run on a file before any decoder reads a pixel of it, the same for
every path (read whole, streamed, sampled by the automatic rule, chunked on Dask) and every
decoder behind it (Pillow, pypng, libvips, tifffile, zarr).

What is checked, from headers and the file's structure only (cheap at any size):

* the file is there, is not empty, and is a format n2n-lite reads;
* header limits: no plane over :data:`n2n.io.images.MAX_PIXELS` (a decompression bomb or a
  corrupt header), no Zarr chunk over it either;
* truncation: a PNG's chunks run whole to its IEND chunk, with pixel data; a TIFF's pages
  chain whole and their data lies inside the file; a ``.npy`` holds its header's bytes;
* decoder errors on the headers: one :class:`N2NError` naming the file, never a traceback.

Errors found only while decoding pixels (a corrupt compressed stream whose chunks look whole)
are caught where the pixels are decoded, by :func:`n2n.errors.decoder_errors`.
"""

from __future__ import annotations

import logging
import re
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import tifffile
from PIL import Image as PILImage

from n2n.errors import N2NError, decoder_errors
from n2n.io import ngff
from n2n.io.images import MAX_PIXELS, PNG_SIGNATURE, check_size, image_file_suffix

# what tifffile logs (and reads on past) when pages or their data are missing; an odd tag
# alone is no reason to refuse a file
_TIFF_STRUCTURE = ("page", "tag list", "circular reference", "reshape", "corrupted file",
                   "data offset", "ByteCounts", "StripOffsets", "does not match")


def check_input(path: str | Path) -> None:
    """Refuse, in one :class:`N2NError` naming it, an input image file (or OME-Zarr folder)
    that no decoder could read faithfully: missing, empty, of an unknown format, over the
    size limit, truncated or with unreadable headers. Reads headers only."""
    path = Path(path)
    if path.is_dir():
        if not ngff.is_ngff(path):
            raise N2NError(f"{path}: a folder, not an image file or an OME-Zarr image")
        with decoder_errors(path, "OME-Zarr image"):
            _check_zarr(path)
        return
    suffix = image_file_suffix(path)
    with decoder_errors(path):
        if _starts_with(path, PNG_SIGNATURE):
            _check_png(path)
        elif suffix in (".tif", ".tiff"):
            _check_tiff(path)
        elif suffix == ".npy":
            _check_npy(path)
        else:
            _check_pillow(path)


def _starts_with(path: Path, signature: bytes) -> bool:
    with open(path, "rb") as f:
        return f.read(len(signature)) == signature


def _check_png(path: Path) -> None:
    """The header's size, then every chunk whole up to IEND (a seek per chunk), with data."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        f.seek(len(PNG_SIGNATURE))
        seen: set[bytes] = set()
        while True:
            head = f.read(8)
            if len(head) < 8:
                raise N2NError(f"{path}: cannot read image (truncated PNG: the file ends at "
                               f"byte {size}, before its IEND chunk); copy it again")
            length, kind = struct.unpack(">I4s", head)
            if not seen:
                if kind != b"IHDR" or length != 13:
                    raise N2NError(f"{path}: not a valid PNG (no IHDR header first)")
                width, height = struct.unpack(">II", f.read(8))
                check_size(path, height, width)
                f.seek(-8, 1)
            seen.add(kind)
            if kind == b"IEND":
                break
            end = f.seek(length + 4, 1)  # the data and its CRC
            if end > size:
                raise N2NError(f"{path}: cannot read image (truncated PNG: a "
                               f"{kind.decode(errors='replace')} chunk runs past the end of "
                               f"the file, byte {size}); copy it again")
    if b"IDAT" not in seen:
        raise N2NError(f"{path}: cannot read image (a PNG header with no pixel data: no IDAT "
                       "chunk)")


def _check_tiff(path: Path) -> None:
    """The first page's size, then the page chain and the first series' data in the file."""
    size = path.stat().st_size
    with _tifffile_complaints(path), tifffile.TiffFile(path) as tif:
        page = tif.pages.first
        check_size(path, page.imagelength, page.imagewidth)
        if not tif.series:
            raise N2NError(f"{path}: a TIFF with no image in it")
        end = _data_end(tif.series[0])
    if end > size:
        raise N2NError(f"{path}: cannot read image (truncated TIFF: its pixel data runs to "
                       f"byte {end}, past the end of the file, byte {size}); copy it again")


def _data_end(series: tifffile.TiffPageSeries) -> int:
    """Where the series' pixel data ends in the file."""
    if series.dataoffset is not None:  # contiguous: one extent
        return int(series.dataoffset) + int(series.nbytes)
    ends = [int(o) + int(c) for page in series.pages if page is not None
            for o, c in zip(page.dataoffsets, page.databytecounts, strict=False)]
    return max(ends, default=0)


@contextmanager
def _tifffile_complaints(path: Path) -> Iterator[None]:
    """tifffile reports a broken page chain in its log, not as an exception, and reads on with
    fewer pages: a stack would come back short. Its errors become one N2NError here."""
    logger = logging.getLogger("tifffile")
    complaints: list[str] = []
    handler = logging.Handler(logging.ERROR)
    handler.emit = lambda record: complaints.append(record.getMessage())  # type: ignore
    propagate, logger.propagate = logger.propagate, False
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate
    structural = [c for c in complaints if any(m in c for m in _TIFF_STRUCTURE)]
    if structural:
        first = re.sub(r"^<[^>]*>\s*", "", structural[0])  # tifffile's object repr
        raise N2NError(f"{path}: cannot read image (truncated or corrupt TIFF: {first}); "
                       "tifffile would read a stack short, so nothing is read")


def _check_npy(path: Path) -> None:
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError as err:
        if "mmap length" in str(err):
            raise N2NError(f"{path}: cannot read image (truncated .npy: fewer bytes than its "
                           "header says); copy it again") from None
        raise
    if array.ndim >= 2:
        check_size(path, array.shape[0], array.shape[1])


def _check_pillow(path: Path) -> None:
    """The header's size, read by Pillow (JPEG, and other formats under an image suffix)."""
    try:
        with PILImage.open(path) as im:
            width, height = im.size
    except PILImage.DecompressionBombError as err:
        pixels = re.search(r"\((\d+) pixels\)", str(err))
        count = f"{pixels[1]} pixels" if pixels else "its size"
        raise N2NError(f"{path}: {count} exceeds the limit of {MAX_PIXELS} (a decompression "
                       "bomb or a corrupt header)") from None
    check_size(path, height, width)


def _check_zarr(path: Path) -> None:
    """The OME metadata, and no chunk too large to decode in memory."""
    image = ngff.read_ngff(path)
    chunk = int(np.prod(image.chunks, dtype=np.int64))
    if chunk > MAX_PIXELS:
        raise N2NError(f"{path}: a chunk of {image.chunks} holds {chunk} values, over the limit "
                       f"of {MAX_PIXELS} (a corrupt header?); rechunk the image")
