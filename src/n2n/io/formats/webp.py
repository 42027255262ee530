"""WebP: 8-bit RGB, with alpha, written lossless (so a denoised output is exact); marked by the
EXIF ``Software`` tag. WebP has no gray mode: a gray image is stored as RGB with equal
channels, and such a file reads back as gray."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image as PILImage

from n2n.io.files import IMAGE, kind_of_mark, marked
from n2n.io.formats.base import Format
from n2n.io.formats.pillow import check_pillow, read_pillow, write_pillow

SOFTWARE = 0x0131  # the EXIF tag naming the program that wrote the file


def read_webp(path: Path) -> np.ndarray:
    """(H, W, C), RGB with equal channels as gray (what :func:`write_webp` makes of gray)."""
    array = read_pillow(path)
    colours = array[:, :, :3]
    if (colours == colours[:, :, :1]).all():
        return np.delete(array, [1, 2], axis=2)  # gray, and alpha if any
    return array


def write_webp(path: Path, array: np.ndarray) -> None:
    """An (H, W, C) uint8 array as a lossless WebP (colour under transparent pixels kept)."""
    if array.shape[2] in (1, 2):  # gray (+ alpha) -> RGB (+ alpha)
        array = np.concatenate([np.repeat(array[:, :, :1], 3, axis=2), array[:, :, 1:]], axis=2)
    exif = PILImage.Exif()
    exif[SOFTWARE] = marked(IMAGE)
    write_pillow(path, array, "WEBP", lossless=True, exact=True, exif=exif.tobytes())


def webp_mark(path: Path) -> str | None:
    """The kind its EXIF ``Software`` tag names; None for a WebP n2n-lite did not write."""
    try:
        with PILImage.open(path) as im:
            return kind_of_mark(str(im.getexif().get(SOFTWARE, "")), IMAGE)
    except Exception:  # unreadable: not ours to replace
        return None


FORMAT = Format("WebP", (".webp",), IMAGE, webp_mark, check_pillow, read_webp, write_webp,
                depths=(8,), alpha=True)
