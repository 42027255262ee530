"""Read and write images in any format of the registry (:mod:`n2n.io.formats.registry`: PNG,
JPEG, TIFF, .npy, ...); 8/16-bit, grayscale or RGB; atomic writes.

Every image becomes an :class:`Image`: float32 pixels on the 0..255 scale (the scale the noise
models and networks use), the bit depth to write it back at, and its alpha channel, if any, kept
aside untouched. Policy, stated once:

* 8-bit files map 0..255 to 0..255; 16-bit files map 0..65535 to 0..255 and are written back as
  16-bit, so no precision is cut; float TIFF/.npy are scaled by their white level, measured
  (:mod:`n2n.io.values`: 1.0 for 0..1 floats, 255 for 8-bit-scale ones), and written back on
  their own scale.
* Palette images are expanded to RGB (or RGBA if the palette has transparency); an EXIF
  orientation is applied (the pixels come upright, as viewers show them, and are written so).
* Alpha is not denoised: it is carried through and written back where the format can hold it
  (PNG, TIFF, .npy, WebP: :attr:`~n2n.io.formats.base.Format.alpha`); JPEG output drops it.
* CMYK, Lab, HSV and multi-page images are refused with a message saying what to convert to.
"""

from __future__ import annotations

import glob
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from n2n.errors import N2NError, decoder_errors, os_error_sentence
from n2n.io.files import atomic_path
from n2n.io.formats.base import Format, check_size, image_axes, image_blocks
from n2n.io.formats.registry import IMAGE_SUFFIXES, format_for, known, suffixes, with_feature
from n2n.io.values import check_float_pixels, decision_sample, measured_white, white_level


@dataclass
class Image:
    """Pixels on the 0..255 scale plus what is needed to write them back faithfully."""

    pixels: np.ndarray  # (H, W, C) float32, C = 1 (gray) or 3 (RGB)
    bit_depth: int = 8  # 8 or 16 (integer files) or 32 (float32 files)
    alpha: np.ndarray | None = None  # (H, W), in the file's own dtype and scale
    white: float | None = None  # the file's value of white (io.values), 255 on the pixels'
    # scale; None: the depth's (255, 65535, or 255 for floats)
    white_why: str = ""  # how that value was found, for the choice line

    @property
    def white_level(self) -> float:
        """The file's value of white: given, or the depth's."""
        return self.white or (65535.0 if self.bit_depth == 16 else 255.0)

    @property
    def channels(self) -> int:
        return self.pixels.shape[2]

    def with_pixels(self, pixels: np.ndarray) -> Image:
        """The same image (depth, alpha) with new pixels of the same shape."""
        return Image(pixels.astype(np.float32, copy=False), self.bit_depth, self.alpha,
                     self.white, self.white_why)


def convert_channels(pixels: np.ndarray, channels: int, where: str = "image") -> np.ndarray:
    """(H, W, C) pixels with ``channels`` channels: gray to RGB by repetition, any to gray by
    the channel mean; other conversions are refused."""
    have = pixels.shape[2]
    if have == channels:
        return pixels
    if have == 1:
        return np.repeat(pixels, channels, axis=2)
    if channels == 1:
        return pixels.mean(axis=2, keepdims=True)
    raise N2NError(f"{where}: has {have} channels, cannot make {channels}")


# --------------------------------------------------------------------------- reading


def read_image(path: str | Path, white: float | None = None) -> Image:
    """Read one image file of a registered format (PNG, JPEG, TIFF, .npy, WebP; 8/16-bit or
    float; gray, RGB, alpha).

    Parameters
    ----------
    path : str or Path
        The file to read.
    white : float, optional
        Its value of white (``--data-range``); default: the dtype's, measured for floats.

    Returns
    -------
    Image
        ``pixels`` (H, W, C) float32 on the 0..255 scale, ``bit_depth`` to write it back at,
        and ``alpha`` kept aside.

    Raises
    ------
    N2NError
        Naming the file and the problem (missing, empty, corrupt, unsupported mode, too large).

    Examples
    --------
    >>> image = read_image("noisy.tif")  # doctest: +SKIP
    >>> image.pixels.shape, image.bit_depth  # doctest: +SKIP
    ((512, 512, 1), 16)
    """
    path = Path(path)
    fmt = image_file_format(path)
    with decoder_errors(path):
        array = fmt.read(path)
    return array_to_image(path, array, white)


def image_file_format(path: Path) -> Format:
    """The format of an image file that exists, is not empty and has a format read here
    (its content decides where its suffix is wrong: a PNG named .jpg); else an N2NError saying
    which of these it is not."""
    if not path.is_file():
        raise N2NError(f"{path}: no such file")
    fmt = format_for(path)
    if fmt.read is None:
        raise N2NError(f"{path}: {fmt.name} is not an image file (use {suffixes()})")
    if path.stat().st_size == 0:
        raise N2NError(f"{path}: file is empty (0 bytes)")
    return format_for(path, content=True)


def array_to_image(path: Path, array: np.ndarray, white: float | None = None) -> Image:
    """An (H, W[, C]) array read from ``path`` as an :class:`Image`: channels and alpha split,
    the dtype mapped to the 0..255 scale, values checked; errors name ``path``. Floats are
    scaled by ``white``, measured on the array where not given (a stack's planes share one)."""
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3 or array.shape[2] not in (1, 2, 3, 4):
        raise N2NError(
            f"{path}: array of shape {tuple(array.shape)} is not an image "
            "(expected H x W, H x W x 1, 3 or 4)"
        )
    height, width, channels = array.shape
    if height < 1 or width < 1:
        raise N2NError(f"{path}: image has no pixels ({width}x{height})")
    alpha = None
    if channels in (2, 4):
        alpha, array = array[:, :, -1].copy(), array[:, :, :-1]
    if array.dtype == np.bool_:  # a bilevel image (1-bit TIFF, a mask): True is white
        array = array.astype(np.uint8) * np.uint8(255)
    depth = {np.dtype(np.uint8): 8, np.dtype(np.uint16): 16}.get(array.dtype, 32)
    if depth == 32 and not np.issubdtype(array.dtype, np.floating):
        raise N2NError(f"{path}: unsupported pixel type {array.dtype} (use uint8, uint16 or float)")
    if depth == 32 and not np.isfinite(array).all():
        raise N2NError(f"{path}: image contains NaN or infinite values")
    # floats measure their white on it; a given white is checked against it
    sample = decision_sample(array, spatial=3) if depth == 32 or white is not None else None
    level = white_level(array.dtype, sample, white, array.shape, str(path))
    check_float_pixels(array, level.value, str(path))
    pixels = array.astype(np.float32) * np.float32(255.0 / level.value)
    return Image(np.ascontiguousarray(pixels), depth, alpha, level.value, level.why)


def read_stack(path: str | Path) -> list[Image]:
    """Read a stack of captures of one scene: a multi-page TIFF, or a ``.npy`` array of shape
    (K, H, W) or (K, H, W, C) with the captures along the first axis; one :class:`Image` each."""
    path = Path(path)
    if not path.is_file():
        raise N2NError(f"{path}: no such file")
    fmt = format_for(path)
    if fmt.read_stack is None:
        raise N2NError(f"{path}: a stack must be a file of "
                       f"{suffixes(with_feature('read_stack'))}")
    with decoder_errors(path, "stack"):
        array = fmt.read_stack(path)
        check_size(path, array.shape[1], array.shape[2])
        frames = [np.array(frame) for frame in array]
    # one white level for the stack, from its decision sample (a float stack's planes alike)
    white = None if array.dtype.kind != "f" else measured_white(
        decision_sample(array, spatial=array.ndim - 1)).value
    return [array_to_image(Path(f"{path}[{k}]"), frame, white) for k, frame in enumerate(frames)]


# --------------------------------------------------------------------------- writing


def to_array(image: Image) -> np.ndarray:
    """The pixels (with alpha) in the image's own dtype, rounded and clipped, never wrapped."""
    pixels = image.pixels
    scaled = pixels * np.float32(image.white_level / 255.0)
    if image.bit_depth == 8:
        array = np.clip(np.rint(scaled), 0, 255).astype(np.uint8)
    elif image.bit_depth == 16:
        array = np.clip(np.rint(scaled), 0, 65535).astype(np.uint16)
    else:
        array = scaled.astype(np.float32)
    if image.alpha is not None:
        array = np.concatenate([array, image.alpha[:, :, None].astype(array.dtype)], axis=2)
    return array


def write_image(path: str | Path, image: Image, *, source: Path | None = None,
                overwrite: bool = False) -> None:
    """Write an image in the format its suffix names, at its own bit depth, atomically.

    Parameters
    ----------
    path : str or Path
        Output file of a registered format (``.png``, ``.jpg``, ``.tif``, ``.npy``...), or
        an image of a block writer (``.zarr``: one image of its own, named after ``source``,
        replacing an existing one only where n2n-lite wrote it, or with ``overwrite``); its
        folder must exist.
    image : Image
        What :func:`read_image` returns, or ``Image(pixels)`` for new 0..255 pixels.

    Notes
    -----
    A temporary file in the same folder is written, fsynced and renamed over ``path``: a crash
    leaves the old file or the new one, never half of one.

    Examples
    --------
    >>> write_image("clean.png", Image(np.zeros((8, 8, 3), np.float32)))  # doctest: +SKIP
    """
    path = Path(path)
    fmt = format_for(path)
    if fmt.blocks is not None:
        _write_blocks(fmt, path, image, source or path, overwrite)
        return
    if fmt.write is None:
        raise N2NError(f"{path}: {fmt.name} is not written image by image (use "
                       f"{suffixes(with_feature('write'))})")
    if image.bit_depth not in fmt.depths:
        holds = suffixes(tuple(f for f in with_feature("write") if image.bit_depth in f.depths))
        what = "float" if image.bit_depth == 32 else f"{image.bit_depth}-bit"
        bits = " or ".join(str(d) for d in fmt.depths if d < 32)
        raise N2NError(f"{path}: {fmt.name} holds {bits} bits only; write a {what} image as "
                       f"{holds}")
    if not fmt.alpha:
        image = Image(image.pixels, image.bit_depth, None)  # the format has no alpha
    array = to_array(image)
    if not path.parent.is_dir():
        raise N2NError(f"{path}: output folder {path.parent} does not exist")
    try:
        with atomic_path(path) as tmp:
            fmt.write(tmp, array)
    except OSError as err:
        raise N2NError(os_error_sentence(err, path)) from err


def _write_blocks(fmt: Format, path: Path, image: Image, source: Path, overwrite: bool
                  ) -> None:
    """An image as the one image of a block writer (OME-Zarr), written whole."""
    fmt.blocks.require()
    array = to_array(image)
    axes = image_axes(*array.shape)
    fmt.blocks.write(path, axes, array.dtype, image_blocks(axes, [(0, array)]), source,
                     overwrite)


# --------------------------------------------------------------------------- finding files


def _folder_image(path: Path) -> bool:
    """A folder that is itself an image (OME-Zarr), not a folder of images."""
    fmt = known(path)
    return fmt is not None and fmt.folder and (fmt.claims is None or fmt.claims(path))


def list_images(inputs: Iterable[str | Path]) -> list[Path]:
    """Expand files, folders (their images, sorted) and glob patterns; error if none is found."""
    found: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir() and _folder_image(path):
            found.append(path)  # an OME-Zarr image is one input
        elif path.is_dir():
            images = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES
                            and p.is_file() and not p.name.startswith("."))
            if not images:
                raise N2NError(f"{path}: folder holds no images ({', '.join(IMAGE_SUFFIXES)})")
            found.extend(images)
        elif path.is_file():
            found.append(path)
        elif glob.has_magic(str(item)):
            matches = sorted(Path(p) for p in glob.glob(str(item)) if Path(p).is_file())
            if not matches:
                raise N2NError(f"{item}: pattern matches no files")
            found.extend(matches)
        else:
            raise N2NError(f"{path}: no such file or folder")
    return found
