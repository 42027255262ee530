"""The EE-559 course's data: (N, C, H, W) 0..255 tensors, its pkl files, and making them."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import torch

from n2n.data.noise import Noise, quantize
from n2n.data.pairs import Batch, Shard, SyntheticPairs
from n2n.errors import N2NError
from n2n.io.files import load_torch_file


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


def make_ee559_pairs(images: Sequence[torch.Tensor], count: int, noise: Noise,
                     scales: Sequence[int], generator: torch.Generator, patch_size: int = 32,
                     name: str = "count") -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``count`` patches as uint8 (noisy, noisy, clean), like the course's data files;
    ``name`` is how an error calls ``count``."""
    if count < 1:
        raise N2NError(f"{{{name}}} {count} must be >= 1", param=name)
    source = SyntheticPairs(images, noise, patch_size, count, scales)
    clean = source.clean_patches(count, generator)
    return quantize(noise(clean, generator)), quantize(noise(clean, generator)), quantize(clean)
