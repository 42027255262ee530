"""JPEG: 8-bit gray or RGB, no alpha (dropped on output); marked by a comment. Read by Pillow
with its EXIF orientation applied; written at quality 95."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from n2n.io.files import IMAGE, marked
from n2n.io.formats.base import Format
from n2n.io.formats.pillow import check_pillow, pillow_mark, read_pillow, write_pillow


def write_jpeg(path: Path, array: np.ndarray) -> None:
    """An (H, W, 1 or 3) uint8 array as a marked JPEG."""
    write_pillow(path, array, "JPEG", quality=95, comment=marked(IMAGE))


FORMAT = Format("JPEG", (".jpg", ".jpeg"), IMAGE, pillow_mark, check_pillow, read_pillow,
                write_jpeg, depths=(8,), alpha=False, lossless=False)
