"""Image folders as training data: loading (whole, or lazily by DataLoader workers), the
hold-out split, fixed validation pairs."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import torch

from n2n.data.noise import Noise
from n2n.data.pairs import Batch, Shard, SyntheticPairs, Validation, rank_share
from n2n.errors import N2NError
from n2n.io.images import convert_channels, list_images, read_image


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


def validation_from_clean(images: list[torch.Tensor], noise, seed: int,
                          clip: bool = False) -> Validation:
    """Fixed noisy versions of clean validation images (same-size crops so they batch),
    clipped to 0..255 with ``clip``."""
    side = min(256, *(min(im.shape[1:]) for im in images))
    crops = torch.stack([im[:, :side, :side] for im in images])
    noisy = noise(crops, torch.Generator().manual_seed(seed + 1))
    return Validation(noisy.clamp(0, 255) if clip else noisy, crops)


def validation_from_references(captures: Sequence[torch.Tensor],
                               references: Sequence[torch.Tensor]) -> Validation:
    """Fixed validation pairs from real data: one (C, H, W) capture against its reference,
    same-size crops so they batch."""
    side = min(256, *(min(r.shape[-2:]) for r in references))
    return Validation(torch.stack([c[:, :side, :side] for c in captures]),
                      torch.stack([r[:, :side, :side] for r in references]))


class LazyFolder:
    """Clean images read from disk only when needed, by DataLoader worker processes: for
    folders larger than memory. Each epoch draws images and per-image seeds up front; a worker
    turns one (image, seed) into ``patches_per_image`` pairs exactly as :class:`SyntheticPairs`
    would, so results do not depend on the number of workers."""

    def __init__(self, paths: Sequence[Path], noise: Noise, patch_size: int = 64,
                 patches_per_epoch: int = 5000, scales: Sequence[int] = (1,),
                 gray_fraction: float = 0.0, workers: int = 2, patches_per_image: int = 8,
                 channels: int | None = None, color_fraction: float = 0.0,
                 clip_input: bool = False) -> None:
        if not paths:
            raise N2NError("no training images")
        self.paths, self.noise, self.patch_size = list(paths), noise, patch_size
        self.patches_per_epoch = patches_per_epoch
        self.cut = {"scales": scales, "gray_fraction": gray_fraction,
                    "color_fraction": color_fraction, "clip_input": clip_input}
        self.workers, self.patches_per_image = workers, patches_per_image
        self.channels = channels or load_folder(self.paths[:1])[0].shape[0]

    def _pairs(self, index: int, seed: int) -> Batch:
        """``patches_per_image`` pairs from image ``index`` (runs in a worker process)."""
        image = load_folder([self.paths[index]], self.channels)[0]
        source = SyntheticPairs([image], self.noise, self.patch_size, self.patches_per_image,
                                **self.cut)
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
        for batch in loader:
            if isinstance(batch, N2NError):  # a worker's error, whole: message and parameters
                raise batch
            yield batch

    def _collate(self, items: list[tuple[int, int]]) -> Batch | N2NError:
        """The pairs of ``items``, or the error that made them impossible, returned rather
        than raised so that it crosses from the worker process intact."""
        try:
            parts = [self._pairs(index, seed) for index, seed in items]
        except N2NError as err:
            return err
        return Batch(*(torch.cat([getattr(p, f) for p in parts]) for f in
                       ("input", "target", "clean")))

    def stats_sample(self, generator: torch.Generator) -> torch.Tensor:
        picks = torch.randint(len(self.paths), (min(16, len(self.paths)),), generator=generator)
        seeds = torch.randint(2**62, (len(picks),), generator=generator)
        sample = self._collate(list(zip(picks.tolist(), seeds.tolist(), strict=True)))
        if isinstance(sample, N2NError):
            raise sample
        return sample.input
