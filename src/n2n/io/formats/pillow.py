"""What the formats Pillow decodes share (PNG at 8 bits, JPEG, WebP): the reader, the
writer, the text mark n2n-lite leaves, and the header check. Not a format itself."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image as PILImage
from PIL import ImageOps

from n2n.errors import N2NError
from n2n.io.files import IMAGE, kind_of_mark
from n2n.io.formats.base import MAX_PIXELS, check_size

MODES = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}  # channels -> Pillow mode


def read_pillow(path: Path) -> np.ndarray:
    """An image Pillow decodes, as (H, W[, C]) uint8/uint16/float32: palettes expanded, the
    EXIF orientation applied (a phone's turned JPEG comes upright, as viewers show it)."""
    with PILImage.open(path) as im:
        width, height = im.size
        check_size(path, height, width)
        mode = im.mode
        if mode in ("CMYK", "LAB", "HSV", "YCbCr"):
            raise N2NError(f"{path}: {mode} images are not supported; convert to RGB first")
        if getattr(im, "n_frames", 1) > 1:
            raise N2NError(f"{path}: animated/multi-frame image ({im.n_frames} frames)")
        im.load()  # raises on truncated data
        im = ImageOps.exif_transpose(im)
        if mode == "1":
            im = im.convert("L")
        elif mode == "P" or mode == "PA":
            im = im.convert("RGBA" if "transparency" in im.info or mode == "PA" else "RGB")
        elif mode.startswith("I;16"):
            return np.asarray(im, dtype=np.uint16)
        elif mode == "I":
            array = np.asarray(im)
            if array.min() < 0 or array.max() > 65535:
                raise N2NError(f"{path}: 32-bit integer pixels outside 0..65535")
            return array.astype(np.uint16)
        elif mode not in ("L", "LA", "RGB", "RGBA", "F"):
            raise N2NError(f"{path}: unsupported image mode {mode}; convert to RGB or L")
        return np.asarray(im)


def write_pillow(path: Path, array: np.ndarray, fmt: str, **options: Any) -> None:
    """Encode an (H, W, C) uint8 array with Pillow as ``fmt`` (its ``options``)."""
    data = array[:, :, 0] if array.shape[2] == 1 else array
    PILImage.fromarray(data, mode=MODES[array.shape[2]]).save(path, format=fmt, **options)


def pillow_mark(path: Path) -> str | None:
    """The kind of an image n2n-lite wrote, from the text it left (PNG ``Software``, a JPEG or
    WebP comment); None for a file it did not write, or one it cannot read."""
    try:
        with PILImage.open(path) as im:
            mark = im.info.get("Software") or im.info.get("comment", b"")
    except Exception:  # unreadable: not ours to replace
        return None
    text = mark.decode(errors="replace") if isinstance(mark, bytes) else mark
    return kind_of_mark(text, IMAGE)


def check_pillow(path: Path) -> None:
    """The header's size, read by Pillow (JPEG, WebP, other formats under an image suffix)."""
    try:
        with PILImage.open(path) as im:
            width, height = im.size
    except PILImage.DecompressionBombError as err:
        pixels = re.search(r"\((\d+) pixels\)", str(err))
        count = f"{pixels[1]} pixels" if pixels else "its size"
        raise N2NError(f"{path}: {count} exceeds the limit of {MAX_PIXELS} (a decompression "
                       "bomb or a corrupt header)") from None
    check_size(path, height, width)
