"""Pair sources: where (input, target) pairs come from, cut into patches.

Every source shares one interface, :class:`PairSource` (``batches`` for one epoch and
``stats_sample`` for normalisation):

* :class:`SyntheticPairs` - clean images with fresh, independent noise on both members of each
  pair every epoch (the clean patch rides along for Noise2Clean and never for validation);
* :class:`n2n.data.folders.LazyFolder` - the same, with images read from disk by DataLoader
  workers;
* :class:`CapturePairs` - real captures: two different captures of a scene (bursts, see
  :mod:`n2n.data.bursts`), or single noisy captures for Neighbor2Neighbor;
* :class:`WholeImage` - the one image zero-shot denoising fits to;
* :class:`n2n.data.ee559.TensorPairs` - two tensors of noisy images (EE-559 ``train_data.pkl``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

import torch
from torch.nn import functional as F

from n2n.data.noise import Noise
from n2n.data.recolor import recolor
from n2n.errors import N2NError


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


def rank_share(generator: torch.Generator, shard: Shard, total: int
               ) -> tuple[torch.Generator, int]:
    """A generator of this rank's own (from the one all ranks share) and its share of
    ``total`` random patches; unchanged for a single process."""
    rank, world = shard
    if world == 1:
        return generator, total
    base = int(torch.randint(2**62, (1,), generator=generator))
    return torch.Generator().manual_seed(base + rank), -(-total // world)


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
    ``color_fraction`` of them get new colours (:func:`n2n.data.recolor.recolor`); with
    ``clip_input`` the input copy is clipped to 0..255 as an 8-bit file is, the target left
    unclipped so that its noise stays zero-mean.
    """

    def __init__(self, images: Sequence[torch.Tensor], noise: Noise, patch_size: int = 64,
                 patches_per_epoch: int = 5000, scales: Sequence[int] = (1,),
                 gray_fraction: float = 0.0, color_fraction: float = 0.0,
                 clip_input: bool = False) -> None:
        if not images:
            raise N2NError("no training images")
        if not 0.0 <= gray_fraction <= 1.0:
            raise N2NError(f"{{gray_fraction}} {gray_fraction} must lie in 0..1",
                           param="gray_fraction")
        self.images, self.noise, self.gray_fraction = list(images), noise, gray_fraction
        self.color_fraction, self.clip_input = color_fraction, clip_input
        self.patch_size, self.patches_per_epoch = patch_size, patches_per_epoch
        self.channels = images[0].shape[0]
        usable = [s for s in scales if any(min(im.shape[1:]) >= patch_size * s for im in images)]
        if not usable:
            smallest = min(min(im.shape[1:]) for im in images)
            raise N2NError(f"{{patch_size}} {patch_size} is larger than every image (smallest "
                           f"side {smallest}); choose a smaller {{patch_size}}", param="patch_size")
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
            clean = recolor(clean, self.color_fraction, generator)
            gray = torch.rand(len(clean), generator=generator) < self.gray_fraction
            noise_generator = generator
            if self.noise_device.type != "cpu" and self.noise.on_any_device:
                clean, gray = clean.to(self.noise_device), gray.to(self.noise_device)
                noise_generator = torch.Generator(self.noise_device).manual_seed(
                    int(torch.randint(2**62, (1,), generator=generator)))
            if gray.any():
                clean[gray] = clean[gray].mean(1, keepdim=True).expand(-1, self.channels, -1, -1)
            noisy = self._noisy(clean, gray, noise_generator)
            yield Batch(noisy.clamp(0, 255) if self.clip_input else noisy,
                        self._noisy(clean, gray, noise_generator), clean)

    def _noisy(self, clean: torch.Tensor, gray: torch.Tensor,
               generator: torch.Generator) -> torch.Tensor:
        """Independent noise per channel, except on gray patches: one noise for all channels."""
        noisy = self.noise(clean, generator)
        if not gray.any():
            return noisy
        noisy[gray] = self.noise(clean[gray][:, :1], generator).expand(-1, self.channels, -1, -1)
        return noisy

    def stats_sample(self, generator: torch.Generator) -> torch.Tensor:
        clean = self.clean_patches(min(512, self.patches_per_epoch), generator)
        noisy = self.noise(recolor(clean, self.color_fraction, generator), generator)
        return noisy.clamp(0, 255) if self.clip_input else noisy


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
            raise N2NError(f"{{patch_size}} {patch_size} exceeds captures of shape {small[0]}; "
                           "choose a smaller {patch_size}", param="patch_size")
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


class WholeImage:
    """One noisy (C, H, W) image as the whole data set: ``steps`` batches of it per epoch, for
    zero-shot denoising, which fits a network to the image it denoises. With ``crop``, each
    batch is a random ``crop`` x ``crop`` window of it (a cheaper step on large images)."""

    def __init__(self, image: torch.Tensor, steps: int = 100, crop: int | None = None) -> None:
        if image.ndim != 3 or not torch.isfinite(image).all():
            raise N2NError(f"image: expected finite C x H x W pixels, got shape "
                           f"{tuple(image.shape)}")
        self.image, self.steps, self.crop = image[None].float(), steps, crop
        self.channels = image.shape[0]

    def batches(self, batch_size: int, generator: torch.Generator, shard: Shard = (0, 1)
                ) -> Iterator[Batch]:
        height, width = self.image.shape[-2:]
        crop_h, crop_w = min(self.crop or height, height), min(self.crop or width, width)
        for _ in range(self.steps):
            top = int(torch.randint(height - crop_h + 1, (), generator=generator))
            left = int(torch.randint(width - crop_w + 1, (), generator=generator))
            yield Batch(self.image[..., top:top + crop_h, left:left + crop_w])

    def stats_sample(self, generator: torch.Generator) -> torch.Tensor:
        return self.image
