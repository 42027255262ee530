"""NumPy ``.npy``: any of uint8, uint16 or float pixels, (H, W[, C]) for an image, (K, H, W[, C])
for a stack of captures; no mark (an existing file is replaced only on request)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from n2n.errors import N2NError
from n2n.io.files import IMAGE
from n2n.io.formats.base import Format, check_size, unmarked


def read_npy(path: Path) -> np.ndarray:
    """The array, its size checked from the header before it is read."""
    header = np.load(path, mmap_mode="r", allow_pickle=False)
    if header.ndim in (2, 3):
        check_size(path, header.shape[0], header.shape[1])
    return np.array(header)


def write_npy(path: Path, array: np.ndarray) -> None:
    """An (H, W, C) array, one channel stored as (H, W)."""
    with open(path, "wb") as stream:  # a handle: np.save would append .npy to a name
        np.save(stream, array[:, :, 0] if array.shape[2] == 1 else array)


def read_npy_stack(path: Path) -> np.ndarray:
    """A (K, H, W[, C]) stack of captures, memory-mapped."""
    array = np.load(path, mmap_mode="r", allow_pickle=False)
    if array.ndim not in (3, 4):
        raise N2NError(f"{path}: a .npy stack has shape K x H x W or K x H x W x C, got "
                       f"{tuple(array.shape)}")
    return array


def is_npy_stack(path: Path) -> bool:
    """Of 3 dimensions that are not (H, W, C<=4), or of 4."""
    shape = np.load(path, mmap_mode="r", allow_pickle=False).shape
    return len(shape) == 4 or (len(shape) == 3 and shape[2] > 4)


def check_npy(path: Path) -> None:
    """The header's size, and the file holding as many bytes as it says."""
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError as err:
        if "mmap length" in str(err):
            raise N2NError(f"{path}: cannot read image (truncated .npy: fewer bytes than its "
                           "header says); copy it again") from None
        raise
    if array.ndim >= 2:
        check_size(path, array.shape[0], array.shape[1])


FORMAT = Format("NumPy", (".npy",), IMAGE, unmarked, check_npy, read_npy, write_npy,
                depths=(8, 16, 32), alpha=True,
                read_stack=read_npy_stack, is_stack=is_npy_stack)
