"""Pair sources: where (input, target) pairs come from, cut into patches and augmented.

Five sources share one interface, :class:`PairSource` (``batches`` for one epoch and
``stats_sample`` for normalisation):

* :class:`TensorPairs` - two tensors of noisy images, e.g. the EE-559 ``train_data.pkl``;
* :class:`SyntheticPairs` - clean images with fresh, independent noise on both members of each
  pair every epoch (the clean patch rides along for Noise2Clean and never for validation);
* :class:`LazyFolder` - the same, with images read from disk by DataLoader workers;
* :class:`CapturePairs` - real captures: two different captures of a scene (bursts, see
  :mod:`n2n.bursts`), or single noisy captures for Neighbor2Neighbor;
* :class:`WholeImage` - the one image zero-shot denoising fits to.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import torch
from torch.nn import functional as F

from n2n.errors import N2NError
from n2n.files import load_torch_file
from n2n.io import convert_channels, list_images, read_image
from n2n.noise import Noise, quantize


@dataclass
class Batch:
    """Pixels on the 0..255 scale, (N, C, H, W) float32; ``target`` is the second noisy copy
    (None for single noisy images), ``clean`` is there when it is known."""

    input: torch.Tensor
    target: torch.Tensor | None = None
    clean: torch.Tensor | None = None

    def to(self, device: torch.device) -> Batch:
        def move(x: torch.Tensor | None) -> torch.Tensor | None:
            return None if x is None else x.to(device)

        return Batch(self.input.to(device), move(self.target), move(self.clean))


@dataclass
class Validation:
    """Noisy images with their clean versions, (N, C, H, W) on the 0..255 scale."""

    noisy: torch.Tensor
    clean: torch.Tensor


Shard = tuple[int, int]  # (rank, world size): which part of each epoch a process trains on


class PairSource(Protocol):
    channels: int

    def batches(self, batch_size: int, generator: torch.Generator, shard: Shard = (0, 1)
                ) -> Iterator[Batch]:
        """The batches of one epoch, in an order drawn from ``generator``; with ``shard``
        (rank, world) only that rank's disjoint part, from a generator all ranks share."""
        ...

    def stats_sample(self, generator: torch.Generator) -> torch.Tensor:
        """Network inputs (N, C, H, W) to compute per-channel normalisation from."""
        ...


# --------------------------------------------------------------------------- EE-559 tensors


def check_image_tensor(x: torch.Tensor, name: str, channels: int | None = None) -> None:
    """Raise a clear error unless ``x`` is an (N, C, H, W) tensor of finite 0..255 values."""
    if not isinstance(x, torch.Tensor):
        raise N2NError(f"{name}: expected a torch.Tensor, got {type(x).__name__}")
    if x.ndim != 4:
        raise N2NError(f"{name}: expected shape N x C x H x W, got {tuple(x.shape)}")
    if channels is not None and x.shape[1] != channels:
        raise N2NError(f"{name}: expected {channels} channels, got shape {tuple(x.shape)}")
    if x.dtype == torch.bool or x.is_complex():
        raise N2NError(f"{name}: unsupported dtype {x.dtype} (use uint8 or float)")
    if x.is_floating_point():
        if not torch.isfinite(x).all():
            raise N2NError(f"{name}: contains NaN or infinite values")
    if x.numel() and (x.min() < 0 or x.max() > 255):
        raise N2NError(f"{name}: values must lie in 0..255, found "
                       f"{float(x.min()):g}..{float(x.max()):g}")


def load_ee559_pairs(path: str | Path) -> tuple[torch.Tensor, torch.Tensor]:
    """Load an EE-559 pkl (two tensors N x 3 x H x W), refusing anything that runs code."""
    data = load_torch_file(path, "EE-559 pkl")
    if not isinstance(data, tuple | list) or len(data) != 2:
        raise N2NError(f"{path}: expected a pair of tensors, got {type(data).__name__}")
    first, second = data
    for name, x in (("first tensor", first), ("second tensor", second)):
        check_image_tensor(x, f"{path} ({name})")
    if first.shape != second.shape:
        raise N2NError(f"{path}: the two tensors differ in shape: {tuple(first.shape)} vs "
                       f"{tuple(second.shape)}")
    return first, second


class TensorPairs:
    """Pairs held as two (N, C, H, W) tensors, shuffled each epoch, optionally with clean."""

    def __init__(self, inputs: torch.Tensor, targets: torch.Tensor,
                 clean: torch.Tensor | None = None) -> None:
        check_image_tensor(inputs, "train_input")
        check_image_tensor(targets, "train_target")
        if inputs.shape != targets.shape:
            raise N2NError(f"train_input {tuple(inputs.shape)} and train_target "
                           f"{tuple(targets.shape)} must have the same shape")
        if len(inputs) == 0:
            raise N2NError("train_input is empty")
        self.inputs, self.targets, self.clean = inputs, targets, clean
        self.channels = inputs.shape[1]

    def batches(self, batch_size: int, generator: torch.Generator, shard: Shard = (0, 1)
                ) -> Iterator[Batch]:
        rank, world = shard
        order = torch.randperm(len(self.inputs), generator=generator)[rank::world]
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            clean = None if self.clean is None else self.clean[idx].float()
            yield Batch(self.inputs[idx].float(), self.targets[idx].float(), clean)

    def stats_sample(self, generator: torch.Generator) -> torch.Tensor:
        return self.inputs[:5000].float()


def rank_share(generator: torch.Generator, shard: Shard, total: int
               ) -> tuple[torch.Generator, int]:
    """A generator of this rank's own (from the one all ranks share) and its share of
    ``total`` random patches; unchanged for a single process."""
    rank, world = shard
    if world == 1:
        return generator, total
    base = int(torch.randint(2**62, (1,), generator=generator))
    return torch.Generator().manual_seed(base + rank), -(-total // world)


# --------------------------------------------------------------------------- image folders


def load_folder(inputs: Sequence[str | Path], channels: int | None = None) -> list[torch.Tensor]:
    """Read every image as a (C, H, W) uint8-range float tensor; all must share a channel count."""
    images = []
    for path in list_images(inputs):
        pixels = read_image(path).pixels
        if channels is None:
            channels = pixels.shape[2]
        pixels = convert_channels(pixels, channels, str(path))
        images.append(torch.from_numpy(pixels).permute(2, 0, 1).contiguous())
    return images


def split_holdout(items: list, fraction: float) -> tuple[list, list]:
    """The last ``fraction`` of ``items`` (at least one) held out, the rest kept."""
    if len(items) < 2:
        raise N2NError("need at least 2 clean images to hold some out for validation; "
                       "give validation images (val)")
    count = max(1, round(len(items) * fraction))
    return items[:-count], items[-count:]


def validation_from_clean(images: list[torch.Tensor], noise, seed: int):
    """Fixed noisy versions of clean validation images (same-size crops so they batch)."""
    side = min(256, *(min(im.shape[1:]) for im in images))
    crops = torch.stack([im[:, :side, :side] for im in images])
    generator = torch.Generator().manual_seed(seed + 1)
    return Validation(noise(crops, generator), crops)


def random_crop_corners(sizes: Sequence[tuple[int, int]], crop: int,
                        generator: torch.Generator) -> list[tuple[int, int]]:
    """One random top-left corner per (H, W) so that a crop x crop window fits."""
    corners = []
    for height, width in sizes:
        top = int(torch.randint(0, height - crop + 1, (1,), generator=generator))
        left = int(torch.randint(0, width - crop + 1, (1,), generator=generator))
        corners.append((top, left))
    return corners


class SyntheticPairs:
    """Clean images -> random patches -> two independent noisy copies, redrawn every epoch.

    ``scales`` box-downsamples a crop of ``patch_size * s`` pixels by ``s`` (drawn per patch), which
    gives the "downsampled, pixelated" look of the EE-559 data when s > 1. ``gray_fraction`` of
    the patches are made gray, with the same noise in every channel: what a grayscale image looks
    like to an RGB model, which otherwise takes such channel-correlated noise for signal.
    """

    def __init__(self, images: Sequence[torch.Tensor], noise: Noise, patch_size: int = 64,
                 patches_per_epoch: int = 5000, scales: Sequence[int] = (1,),
                 gray_fraction: float = 0.0) -> None:
        if not images:
            raise N2NError("no training images")
        if not 0.0 <= gray_fraction <= 1.0:
            raise N2NError(f"gray fraction {gray_fraction} must lie in 0..1")
        self.images, self.noise, self.gray_fraction = list(images), noise, gray_fraction
        self.patch_size, self.patches_per_epoch = patch_size, patches_per_epoch
        self.channels = images[0].shape[0]
        usable = [s for s in scales if any(min(im.shape[1:]) >= patch_size * s for im in images)]
        if not usable:
            smallest = min(min(im.shape[1:]) for im in images)
            raise N2NError(f"patch_size {patch_size} is larger than every image (smallest side "
                           f"{smallest}); choose a smaller patch_size")
        self.scales = usable
        self.noise_device = torch.device("cpu")  # the trainer sets its GPU: noise drawn there

    def clean_patches(self, count: int, generator: torch.Generator) -> torch.Tensor:
        """(count, C, P, P) clean patches from random images, positions and scales."""
        patches = []
        for _ in range(count):
            scale = self.scales[int(torch.randint(len(self.scales), (1,), generator=generator))]
            crop = self.patch_size * scale
            while True:
                image = self.images[int(torch.randint(len(self.images), (1,),
                                                      generator=generator))]
                if min(image.shape[1:]) >= crop:
                    break
            (top, left), = random_crop_corners([image.shape[1:]], crop, generator)
            patch = image[:, top:top + crop, left:left + crop]
            if scale > 1:
                patch = F.avg_pool2d(patch[None], scale)[0]
            patches.append(patch)
        return torch.stack(patches)

    def batches(self, batch_size: int, generator: torch.Generator, shard: Shard = (0, 1)
                ) -> Iterator[Batch]:
        generator, count = rank_share(generator, shard, self.patches_per_epoch)
        for start in range(0, count, batch_size):
            clean = self.clean_patches(min(batch_size, count - start), generator)
            gray = torch.rand(len(clean), generator=generator) < self.gray_fraction
            noise_generator = generator
            if self.noise_device.type != "cpu" and self.noise.on_any_device:
                clean, gray = clean.to(self.noise_device), gray.to(self.noise_device)
                noise_generator = torch.Generator(self.noise_device).manual_seed(
                    int(torch.randint(2**62, (1,), generator=generator)))
            if not gray.any():
                yield Batch(self.noise(clean, noise_generator),
                            self.noise(clean, noise_generator), clean)
                continue
            clean[gray] = clean[gray].mean(1, keepdim=True).expand(-1, self.channels, -1, -1)
            yield Batch(self._noisy(clean, gray, noise_generator),
                        self._noisy(clean, gray, noise_generator), clean)

    def _noisy(self, clean: torch.Tensor, gray: torch.Tensor,
               generator: torch.Generator) -> torch.Tensor:
        """Independent noise per channel, except on gray patches: one noise for all channels."""
        noisy = self.noise(clean, generator)
        noisy[gray] = self.noise(clean[gray][:, :1], generator).expand(-1, self.channels, -1, -1)
        return noisy

    def stats_sample(self, generator: torch.Generator) -> torch.Tensor:
        clean = self.clean_patches(min(512, self.patches_per_epoch), generator)
        return self.noise(clean, generator)


class LazyFolder:
    """Clean images read from disk only when needed, by DataLoader worker processes: for
    folders larger than memory. Each epoch draws images and per-image seeds up front; a worker
    turns one (image, seed) into ``patches_per_image`` pairs exactly as :class:`SyntheticPairs`
    would, so results do not depend on the number of workers."""

    def __init__(self, paths: Sequence[Path], noise: Noise, patch_size: int = 64,
                 patches_per_epoch: int = 5000, scales: Sequence[int] = (1,),
                 gray_fraction: float = 0.0, workers: int = 2, patches_per_image: int = 8,
                 channels: int | None = None) -> None:
        if not paths:
            raise N2NError("no training images")
        self.paths, self.noise, self.patch_size = list(paths), noise, patch_size
        self.patches_per_epoch, self.scales, self.gray_fraction = patches_per_epoch, scales, \
            gray_fraction
        self.workers, self.patches_per_image = workers, patches_per_image
        self.channels = channels or load_folder(self.paths[:1])[0].shape[0]

    def _pairs(self, index: int, seed: int) -> Batch:
        """``patches_per_image`` pairs from image ``index`` (runs in a worker process)."""
        image = load_folder([self.paths[index]], self.channels)[0]
        source = SyntheticPairs([image], self.noise, self.patch_size, self.patches_per_image,
                                self.scales, self.gray_fraction)
        return next(source.batches(self.patches_per_image, torch.Generator().manual_seed(seed)))

    def batches(self, batch_size: int, generator: torch.Generator, shard: Shard = (0, 1)
                ) -> Iterator[Batch]:
        from torch.utils.data import DataLoader

        generator, total = rank_share(generator, shard, self.patches_per_epoch)
        count = -(-total // self.patches_per_image)
        picks = torch.randint(len(self.paths), (count,), generator=generator).tolist()
        seeds = torch.randint(2**62, (count,), generator=generator).tolist()
        loader = DataLoader(list(zip(picks, seeds, strict=True)), num_workers=self.workers,
                            batch_size=max(1, batch_size // self.patches_per_image),
                            collate_fn=self._collate)
        try:
            yield from loader
        except N2NError as err:  # raised in a worker: keep the message, drop its traceback
            raise N2NError(str(err).strip().splitlines()[-1].split("N2NError: ")[-1]) from None

    def _collate(self, items: list[tuple[int, int]]) -> Batch:
        parts = [self._pairs(index, seed) for index, seed in items]
        return Batch(*(torch.cat([getattr(p, f) for p in parts]) for f in
                       ("input", "target", "clean")))

    def stats_sample(self, generator: torch.Generator) -> torch.Tensor:
        picks = torch.randint(len(self.paths), (min(16, len(self.paths)),), generator=generator)
        seeds = torch.randint(2**62, (len(picks),), generator=generator)
        return self._collate(list(zip(picks.tolist(), seeds.tolist(), strict=True))).input


class CapturePairs:
    """Random aligned patches from real captures: scenes of K noisy captures (K, C, H, W).

    With ``pairs`` each patch pairs two *different* captures of one scene, drawn at random, so
    that all K(K-1) ordered pairs are used over training (Noise2Noise on bursts); a scene's
    reference, when given, rides along as ``clean`` (for the Noise2Clean bound only). Without
    ``pairs`` each patch is one capture (target None), for modes that make their own pairs from
    one image (Neighbor2Neighbor); then K may be 1.
    """

    def __init__(self, scenes: Sequence[torch.Tensor], references: Sequence[torch.Tensor | None]
                 | None = None, pairs: bool = True, patch_size: int = 64,
                 patches_per_epoch: int = 5000) -> None:
        if not scenes:
            raise N2NError("no training images")
        small = [tuple(s.shape[-3:]) for s in scenes if min(s.shape[-2:]) < patch_size]
        if small:
            raise N2NError(f"patch_size {patch_size} exceeds captures of shape {small[0]}; "
                           "choose a smaller patch_size")
        if pairs and min(len(s) for s in scenes) < 2:
            raise N2NError("Noise2Noise pairs need at least 2 captures of every scene")
        self.scenes, self.pairs = list(scenes), pairs
        self.references = list(references) if references is not None else [None] * len(scenes)
        self.patch_size, self.patches_per_epoch = patch_size, patches_per_epoch
        self.channels = scenes[0].shape[1]

    def batches(self, batch_size: int, generator: torch.Generator, shard: Shard = (0, 1)
                ) -> Iterator[Batch]:
        p = self.patch_size
        generator, total = rank_share(generator, shard, self.patches_per_epoch)
        for start in range(0, total, batch_size):
            count = min(batch_size, total - start)
            picks = torch.randint(len(self.scenes), (count,), generator=generator).tolist()
            sizes = [len(self.scenes[i]) for i in picks]
            first = [int(torch.randint(k, (1,), generator=generator)) for k in sizes]
            corners = random_crop_corners([self.scenes[i].shape[-2:] for i in picks], p,
                                          generator)
            windows = list(zip(picks, corners, strict=True))
            a = torch.stack([self.scenes[i][f, :, t:t + p, s:s + p]
                             for (i, (t, s)), f in zip(windows, first, strict=True)])
            if not self.pairs:
                yield Batch(a)
                continue
            # a different capture: shift by 1..K-1, so every ordered pair is equally likely
            second = [(f + 1 + int(torch.randint(k - 1, (1,), generator=generator))) % k
                      for f, k in zip(first, sizes, strict=True)]
            b = torch.stack([self.scenes[i][f, :, t:t + p, s:s + p]
                             for (i, (t, s)), f in zip(windows, second, strict=True)])
            refs = [self.references[i] for i in picks]
            clean = None if any(r is None for r in refs) else torch.stack(
                [r[:, t:t + p, s:s + p] for r, (_, (t, s)) in zip(refs, windows, strict=True)])
            yield Batch(a, b, clean)

    def stats_sample(self, generator: torch.Generator) -> torch.Tensor:
        return next(self.batches(min(512, self.patches_per_epoch), generator)).input


def validation_from_references(captures: Sequence[torch.Tensor],
                               references: Sequence[torch.Tensor]) -> Validation:
    """Fixed validation pairs from real data: one (C, H, W) capture against its reference,
    same-size crops so they batch."""
    side = min(256, *(min(r.shape[-2:]) for r in references))
    return Validation(torch.stack([c[:, :side, :side] for c in captures]),
                      torch.stack([r[:, :side, :side] for r in references]))


class WholeImage:
    """One noisy (C, H, W) image as the whole data set: ``steps`` batches of it per epoch, for
    zero-shot denoising, which fits a network to the image it denoises."""

    def __init__(self, image: torch.Tensor, steps: int = 100) -> None:
        if image.ndim != 3 or not torch.isfinite(image).all():
            raise N2NError(f"image: expected finite C x H x W pixels, got shape "
                           f"{tuple(image.shape)}")
        self.image, self.steps = image[None].float(), steps
        self.channels = image.shape[0]

    def batches(self, batch_size: int, generator: torch.Generator, shard: Shard = (0, 1)
                ) -> Iterator[Batch]:
        for _ in range(self.steps):
            yield Batch(self.image)

    def stats_sample(self, generator: torch.Generator) -> torch.Tensor:
        return self.image


# --------------------------------------------------------------------------- augmentation


def dihedral(x: torch.Tensor, k: int) -> torch.Tensor:
    """The k-th of the 8 flips/rotations of the square (k in 0..7) on the last two axes."""
    if k >= 4:
        x = x.flip(-1)
    return torch.rot90(x, k % 4, dims=(-2, -1))


def augment(batch: Batch, generator: torch.Generator) -> Batch:
    """Apply one random dihedral transform per pair, the same to input, target and clean."""
    codes = torch.randint(8, (len(batch.input),), generator=generator)
    square = batch.input.shape[-1] == batch.input.shape[-2]
    sources = (batch.input, batch.target, batch.clean)
    outs = [None if x is None else x.clone() for x in sources]
    for k in range(1, 8):
        if not square and k % 2 == 1:
            continue  # odd rotations would change a non-square patch's shape
        idx = (codes == k).nonzero().flatten()
        if len(idx) == 0:
            continue
        for out, src in zip(outs, sources, strict=True):
            if out is not None:
                out[idx] = dihedral(src[idx], k)
    return Batch(*outs)


# --------------------------------------------------------------------------- EE-559 files


def make_ee559_pairs(images: Sequence[torch.Tensor], count: int, noise: Noise,
                     scales: Sequence[int], generator: torch.Generator, patch_size: int = 32,
                     name: str = "count") -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``count`` patches as uint8 (noisy, noisy, clean), like the course's data files;
    ``name`` is how an error calls ``count``."""
    if count < 1:
        raise N2NError(f"{name} {count} must be >= 1")
    source = SyntheticPairs(images, noise, patch_size, count, scales)
    clean = source.clean_patches(count, generator)
    return quantize(noise(clean, generator)), quantize(noise(clean, generator)), quantize(clean)
