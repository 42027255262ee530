"""Real captures: bursts of K >= 2 aligned noisy captures of one scene, from disk.

A bursts folder holds one entry per scene:

* a folder of captures (any image format), or
* a stack file: a multi-page TIFF, or a ``.npy`` of shape (K, H, W) or (K, H, W, C).

An optional reference per scene (e.g. ``avg50.png``, the mean of many captures) is used to
score, never as a training target of a self-supervised mode: for a folder scene it is the file
named ``reference_name`` inside it (and is excluded from the captures); for a stack file
``cells.tif`` it is ``cells_<reference_name>`` beside it. Two folders of single captures
matched by name (``--captured A B``) are the K = 2 case (:func:`bursts_from_pairs`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from n2n.errors import N2NError
from n2n.io.formats.base import Format
from n2n.io.formats.registry import known
from n2n.io.images import Image, convert_channels, list_images, read_image, read_stack


@dataclass
class Burst:
    """K aligned noisy captures of one scene, (K, C, H, W) on the 0..255 scale, and an optional
    (C, H, W) reference; ``bit_depth`` of the files, for writing results back alike."""

    name: str
    captures: torch.Tensor
    reference: torch.Tensor | None = None
    bit_depth: int = 8

    @property
    def channels(self) -> int:
        return self.captures.shape[1]


def _tensor(image: Image, channels: int, where: str) -> torch.Tensor:
    """(C, H, W) float32 pixels with ``channels`` channels."""
    pixels = convert_channels(image.pixels, channels, where)
    return torch.from_numpy(np.ascontiguousarray(pixels)).permute(2, 0, 1)


def make_burst(name: str, images: Sequence[tuple[str, Image]], reference: tuple[str, Image]
               | None = None, channels: int | None = None) -> Burst:
    """One scene from its named captures (and reference), checking they can be paired."""
    if len(images) < 2:
        where = images[0][0] if images else name
        raise N2NError(f"{where}: a burst needs at least 2 captures of the scene, found "
                       f"{len(images)}")
    first_where, first = images[0]
    channels = channels or first.channels
    shape = (channels, *first.pixels.shape[:2])
    tensors = []
    for where, image in images:
        if image.channels != first.channels or image.pixels.shape[:2] != first.pixels.shape[:2]:
            raise N2NError(f"{where}: capture of shape {image.pixels.shape} differs from "
                           f"{first_where} ({first.pixels.shape}): captures of one scene must "
                           "be aligned and of one size")
        tensors.append(_tensor(image, channels, where))
    ref = None
    if reference is not None:
        where, image = reference
        ref = _tensor(image, channels, where)
        if tuple(ref.shape) != shape:
            raise N2NError(f"{where}: reference of shape {image.pixels.shape} does not match "
                           f"the captures ({first.pixels.shape})")
    return Burst(name, torch.stack(tensors), ref, first.bit_depth)


def load_bursts(root: str | Path, reference_name: str | None = None,
                channels: int | None = None) -> list[Burst]:
    """Every scene of a bursts folder (see the module docstring), sorted by name."""
    root = Path(root)
    if not root.is_dir():
        raise N2NError(f"{root}: no such folder (a bursts folder holds one folder or stack "
                       "file per scene)")
    entries = sorted(p for p in root.iterdir() if not p.name.startswith("."))
    suffix = f"_{reference_name}" if reference_name else None
    references = {p.name for p in entries if suffix and p.name.endswith(suffix)}
    bursts: list[Burst] = []
    for entry in entries:
        if entry.name in references:
            continue
        fmt = known(entry) if entry.is_file() else None
        if entry.is_dir():
            bursts.append(load_scene_folder(entry, reference_name, channels))
        elif fmt is not None and fmt.read_stack is not None:
            bursts.append(load_scene_stack(entry, reference_name, channels))
        elif fmt is not None:
            raise N2NError(f"{entry}: a single image, not a burst: put the captures of each "
                           "scene in a folder of its own (or a multi-page TIFF / .npy stack)")
    if not bursts:
        raise N2NError(f"{root}: holds no scenes (folders of captures or stack files)")
    channels = channels or bursts[0].channels
    for burst in bursts:
        if burst.channels != channels:
            raise N2NError(f"{root / burst.name}: {burst.channels} channel(s), but "
                           f"{bursts[0].name} has {channels}; pass --channels to convert")
    return bursts


def load_scene_folder(folder: Path, reference_name: str | None = None,
                      channels: int | None = None) -> Burst:
    """A folder of captures of one scene; ``reference_name`` inside it is the reference."""
    paths = list_images([folder])
    reference = None
    if reference_name:
        matches = [p for p in paths if p.name == reference_name]
        if not matches:
            raise N2NError(f"{folder}: no reference file named '{reference_name}'")
        paths.remove(matches[0])
        reference = (str(matches[0]), read_image(matches[0]))
    images = [(str(p), read_image(p)) for p in paths]
    return make_burst(folder.name, images, reference, channels)


def load_scene_stack(path: Path, reference_name: str | None = None,
                     channels: int | None = None) -> Burst:
    """A stack file of captures; ``<stem>_<reference_name>`` beside it is the reference."""
    frames = read_stack(path)
    if len(frames) < 2:
        raise N2NError(f"{path}: a stack with {len(frames)} frame is not a burst (need >= 2 "
                       "captures along the first axis)")
    reference = None
    if reference_name:
        ref_path = path.with_name(f"{path.stem}_{reference_name}")
        if not ref_path.is_file():
            raise N2NError(f"{path}: no reference file {ref_path.name} beside it")
        reference = (str(ref_path), read_image(ref_path))
    images = [(f"{path}[{k}]", frame) for k, frame in enumerate(frames)]
    return make_burst(path.stem, images, reference, channels)


def bursts_from_pairs(dir_a: str | Path, dir_b: str | Path,
                      channels: int | None = None) -> list[Burst]:
    """Two folders of noisy captures of the same scenes, matched by file name: K = 2 bursts."""
    files_a = {p.name: p for p in list_images([dir_a])}
    files_b = {p.name: p for p in list_images([dir_b])}
    common = sorted(files_a.keys() & files_b.keys())
    if not common:
        raise N2NError(f"{dir_a} and {dir_b} share no file names: pairs are matched by name")
    pairs = {name: [(str(files[name]), read_image(files[name])) for files in (files_a, files_b)]
             for name in common}
    channels = channels or pairs[common[0]][0][1].channels
    return [make_burst(name, images, channels=channels) for name, images in pairs.items()]


def load_captures(inputs: Sequence[str | Path], reference_name: str | None = None
                  ) -> list[np.ndarray]:
    """Captures of one scene as (H, W, C) arrays: a folder of them (without its reference
    file), one stack file, several image files, or one image (a list of one)."""
    if len(inputs) == 1 and Path(inputs[0]).is_dir():
        paths = [p for p in list_images(inputs) if p.name != reference_name]
        images = [(str(p), read_image(p)) for p in paths]
    elif len(inputs) == 1 and _stack_format(Path(inputs[0])):
        path = Path(inputs[0])
        frames = read_stack(path) if _stack_format(path).is_stack(path) else [read_image(path)]
        images = [(f"{path}[{k}]", frame) for k, frame in enumerate(frames)]
    else:
        images = [(str(p), read_image(p)) for p in list_images(inputs)]
    if len(images) == 1:
        return [images[0][1].pixels]
    burst = make_burst("scene", images)
    return list(burst.captures.permute(0, 2, 3, 1).numpy())


def _stack_format(path: Path) -> Format | None:
    """The format of a file that can hold a stack of captures (a TIFF, a .npy), else None."""
    fmt = known(path) if path.is_file() else None
    return fmt if fmt is not None and fmt.is_stack is not None else None
