"""Neighbor2Neighbor and zero-shot Noise2Noise: their samplers, and that they learn."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from n2n.data.noise import Gaussian
from n2n.data.pairs import Batch, CapturePairs, WholeImage
from n2n.errors import N2NError
from n2n.evaluation.metrics import psnr
from n2n.inference.zeroshot import ZeroShotDenoiser
from n2n.models import ModelConfig, build_model
from n2n.training.config import TrainConfig
from n2n.training.loop import Validation, fit, validate
from n2n.training.objectives import (
    diagonal_pair,
    even_crop,
    make_objective,
    neighbour_picks,
    take_cells,
)


def numbered(n: int, c: int, h: int, w: int) -> torch.Tensor:
    """Pixels whose value encodes their own (image, channel, row, column)."""
    return torch.arange(n * c * h * w, dtype=torch.float32).view(n, c, h, w)


def test_neighbour_subsampler_gives_disjoint_adjacent_pixels_of_the_same_cells():
    n, c, h, w = 3, 2, 10, 14
    x = numbered(n, c, h, w)
    first, second = neighbour_picks(x, torch.Generator().manual_seed(0))
    a, b = take_cells(x, first), take_cells(x, second)
    assert a.shape == b.shape == (n, c, h // 2, w // 2)
    for img in (a, b):
        flat = img.long()
        rows, cols = (flat % (h * w)) // w, flat % w
        cell_rows = torch.arange(h // 2).view(1, 1, -1, 1)
        cell_cols = torch.arange(w // 2).view(1, 1, 1, -1)
        assert torch.equal(rows // 2, cell_rows.expand_as(rows))  # from its own 2x2 cell
        assert torch.equal(cols // 2, cell_cols.expand_as(cols))
        assert torch.equal(flat // (h * w) % c, torch.arange(c).view(1, -1, 1, 1).expand_as(flat))
    offset = (a - b).abs().long()
    assert ((offset == 1) | (offset == w)).all()  # neighbours: never the same, never diagonal
    assert torch.equal(a[:, 1] - a[:, 0], torch.full_like(a[:, 0], h * w))  # same pick per channel
    assert len(torch.unique(first)) == 4 and len(torch.unique(second)) == 4  # all positions used


def test_diagonal_pair_averages_each_cells_diagonals():
    x = torch.tensor([[[[1.0, 2.0, 5.0, 6.0], [3.0, 4.0, 7.0, 8.0]]]])
    a, b = diagonal_pair(x)
    assert torch.equal(a, torch.tensor([[[[2.5, 6.5]]]]))  # (1 + 4) / 2, (5 + 8) / 2
    assert torch.equal(b, torch.tensor([[[[2.5, 6.5]]]]))  # (2 + 3) / 2, (6 + 7) / 2
    a, b = diagonal_pair(torch.tensor([[[[0.0, 2.0], [4.0, 8.0]]]]))
    assert a.item() == 4.0 and b.item() == 3.0


def test_odd_sizes_are_cropped_and_tiny_images_refused():
    assert even_crop(torch.zeros(1, 3, 7, 9)).shape == (1, 3, 6, 8)
    with pytest.raises(N2NError, match="1x5 pixels is smaller than the 2x2"):
        even_crop(torch.zeros(1, 3, 1, 5))


def test_pair_mode_refuses_single_images_and_clean_targets_need_pairs_mode():
    model = build_model(ModelConfig(width=4))
    with pytest.raises(N2NError, match="use mode ne2ne"):
        make_objective("n2n")(model, Batch(torch.zeros(1, 3, 16, 16)), 0.0, torch.Generator())
    with pytest.raises(N2NError, match="needs mode n2n"):
        make_objective("ne2ne", target="clean")


def noisy_photo_setup(photo):
    clean = torch.from_numpy(photo).permute(2, 0, 1)
    noise = Gaussian((25.0, 25.0))
    g = torch.Generator().manual_seed(3)
    singles = [noise(clean[None], g)[0] for _ in range(2)]  # single noisy captures, no pairs
    val_clean = clean[None, :, :64, :64]
    return singles, Validation(noise(val_clean, g), val_clean)


def test_neighbor2neighbor_learns_from_single_noisy_images(photo):
    torch.manual_seed(0)
    singles, val = noisy_photo_setup(photo)
    source = CapturePairs([x[None] for x in singles], pairs=False, patch_size=32,
                          patches_per_epoch=640)
    config = TrainConfig(model=ModelConfig(width=8, residual=True, linear_output=True),
                         mode="ne2ne", lr=3e-3, batch_size=32, epochs=2)
    model = build_model(config.model)
    model.set_normalization(source.stats_sample(torch.Generator().manual_seed(0)))
    before = validate(model, val)
    history = fit(model, source, config, val, progress=False)
    assert history[-1]["val_psnr"] > before + 3.0
    assert history[-1]["val_psnr"] > psnr(val.noisy.numpy(), val.clean.numpy()) + 2.0


@pytest.mark.parametrize("channels", [3, 1])
def test_zero_shot_beats_the_noisy_input(photo, channels):
    clean = photo[:64, :62] if channels == 3 else photo[:64, :62].mean(2, keepdims=True)
    rng = np.random.default_rng(0)
    noisy = np.clip(clean + rng.normal(0, 25, clean.shape), 0, 255).astype(np.float32)
    out = ZeroShotDenoiser(iterations=200, progress=False)(noisy)
    assert out.shape == noisy.shape
    assert psnr(out, clean) > psnr(noisy, clean) + 3.0


def test_zero_shot_on_random_windows_denoises_the_whole_image(photo):
    clean = photo[:96, :80]
    rng = np.random.default_rng(0)
    noisy = np.clip(clean + rng.normal(0, 25, clean.shape), 0, 255).astype(np.float32)
    out = ZeroShotDenoiser(iterations=200, crop=32, progress=False)(noisy)
    assert out.shape == noisy.shape
    assert psnr(out, clean) > psnr(noisy, clean) + 3.0


def test_whole_image_crops_windows_at_random_places():
    image = torch.arange(3 * 40 * 50, dtype=torch.float32).view(3, 40, 50)
    batches = list(WholeImage(image, steps=6, crop=16).batches(1, torch.Generator()))
    corners = set()
    for batch in batches:
        assert batch.input.shape == (1, 3, 16, 16)
        top, left = divmod(int(batch.input[0, 0, 0, 0]), 50)
        assert torch.equal(batch.input[0], image[:, top:top + 16, left:left + 16])
        corners.add((top, left))
    assert len(corners) > 1
    whole = next(WholeImage(image, steps=1, crop=64).batches(1, torch.Generator()))
    assert torch.equal(whole.input[0], image)  # a window larger than the image: all of it


def test_zero_shot_windows_work_with_pixel_shuffle(photo):
    noisy = photo[:64, :64].astype(np.float32)
    out = ZeroShotDenoiser(iterations=20, crop=32, pd=2, progress=False)(noisy)
    assert out.shape == noisy.shape and np.isfinite(out).all()
