"""Tiles in sub-image space and from a memory budget: plans cover every pixel once within the
budget, and a pixel-shuffled image tiled in its sub-images equals the untiled result."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from n2n.inference.denoiser import Denoiser
from n2n.inference.strips import STRIP_MARGINS, denoised_rows, strip_rows
from n2n.inference.tiling import BUDGET_PIXELS, budget_plan, plan_tiles, read_length, window_pixels
from n2n.models import ModelConfig, build_model
from n2n.models.bundled import load_bundled
from n2n.models.wrapper import pad_to_multiple


@pytest.mark.parametrize("shape", [(1000, 750), (97, 1500), (1536, 2048), (64, 64)])
def test_budget_plan_fits_the_budget_and_covers_every_pixel_once(shape):
    height, width = shape
    group, rows, cols = budget_plan(4, height, width, margin=96, multiple=16, pixels=300_000)
    covered = np.zeros(shape, int)
    for tile in plan_tiles(height, width, (rows, cols), 96):
        r_top, r_bottom, r_left, r_right = tile.read
        top, bottom, left, right = tile.keep
        assert (r_bottom - r_top) * (r_right - r_left) <= 300_000
        covered[top:bottom, left:right] += 1
    assert (covered == 1).all()
    assert rows % 16 == 0 or rows == height
    assert group * min(rows, height) * min(cols, width) <= max(300_000, rows * cols)


def test_budget_plan_takes_whole_images_as_many_as_fit():
    assert budget_plan(9, 100, 100, 50, 16, pixels=35_000) == (3, 100, 100)
    assert budget_plan(9, 100, 100, 50, 16, pixels=1_000_000) == (9, 100, 100)


def test_budget_plan_reads_fewer_pixels_than_fixed_tiles():
    _, rows, cols = budget_plan(1, 1500, 2000, 192, 32, pixels=1_000_000)
    best = read_length(1500, rows, 192) * read_length(2000, cols, 192)
    # 512-px tiles read windows of 896 x 896 = 0.8 MP at most
    assert best < read_length(1500, 512, 192) * read_length(2000, 512, 192)


def test_windows_hold_what_each_network_and_engine_was_measured_to_need():
    camera = window_pixels("n2n", 48, "channels-last")
    assert window_pixels("lite", 24, "channels-last") > window_pixels("lite", 32, "channels-last")
    assert window_pixels("lite", 64, "channels-last") < window_pixels("lite", 32, "channels-last")
    assert window_pixels("n2n", 48, "nchw") < camera  # the plain layout holds more per pixel
    assert window_pixels("n2n", 48, "onnxruntime") < camera
    assert window_pixels("halfres", 64, "channels-last") == BUDGET_PIXELS  # not measured


def test_each_pass_tiles_with_its_own_networks_budget():
    denoiser = Denoiser(load_bundled("camera"), pd=2, refine=load_bundled("photo"),
                        backend="torch")
    first, refine = (step.budget for step in denoiser._passes)
    assert first == window_pixels("n2n", 48, "channels-last")
    assert refine == window_pixels("lite", 24, "channels-last") > first
    plain = Denoiser(load_bundled("camera"), pd=2, fast=False)
    assert plain._passes[0].budget == window_pixels("n2n", 48, "nchw")


def test_a_pixel_shuffled_pass_reads_the_networks_own_radius():
    model = build_model(ModelConfig(arch="n2n", width=8))
    denoiser = Denoiser(model, pd=4)
    radius = model.net.receptive_radius  # 189 px of a sub-image, 756 of the image
    assert denoiser._passes[0].margin == -(-radius // 32) * 32
    assert denoiser._passes[0].split == 4
    assert denoiser.margin >= 4 * radius  # strips and chunks still read the image's reach


@pytest.mark.parametrize("pd, fast, budget", [(1, True, 3600), (2, True, 3600),
                                               (3, True, 3600), (3, False, 12000),
                                               (2, False, 12000)])
def test_tiles_of_sub_images_equal_the_untiled_result(photo, pd, fast, budget):
    torch.manual_seed(0)
    model = build_model(ModelConfig(width=8, depth=2, residual=True))
    refine = build_model(ModelConfig(width=8, depth=2)) if pd > 1 else None
    big = np.tile(photo, (3, 3, 1))[:251, :171]  # odd sizes
    denoiser = Denoiser(model, pd=pd, refine=refine, fast=fast)
    untiled = denoiser(big, tiled=False, clip=False)
    assert np.abs(denoiser(big, clip=False) - untiled).max() == 0  # fits the budget: one run
    # windows of 60 x 60 input pixels at most: sub-images in tiles; or 2 sub-images at once
    denoiser.budget_pixels = budget
    tiled = denoiser(big, clip=False)
    assert np.abs(tiled - untiled).max() < 1e-4


@pytest.mark.parametrize("pd", [2, 3])
def test_the_split_once_pass_equals_the_models_own_split(photo, pd):
    torch.manual_seed(0)
    model = build_model(ModelConfig(width=8, depth=2, residual=True))
    image = photo[:90, :70]
    denoiser = Denoiser(model, pd=pd, fast=False)
    x = torch.from_numpy(np.ascontiguousarray(image, np.float32)).permute(2, 0, 1)[None]
    with torch.no_grad():
        whole = model(pad_to_multiple(x, denoiser.grid))[0, :, :90, :70].permute(1, 2, 0)
    np.testing.assert_array_equal(denoiser(image, tiled=False, clip=False), whole.numpy())


def test_strips_are_several_margins_high_and_equal_the_whole_image(photo):
    torch.manual_seed(0)
    model = build_model(ModelConfig(width=8, depth=2, residual=True))
    denoiser = Denoiser(model, pd=2, refine=build_model(ModelConfig(width=8, depth=2)))
    denoiser.budget_pixels = 4000  # strips tiled inside too
    image = np.tile(photo, (7, 1, 1))[:601, :77]
    rows = strip_rows(denoiser, 77)
    assert rows >= STRIP_MARGINS * denoiser.margin // denoiser.grid * denoiser.grid
    assert rows < 601  # several strips
    out = np.stack(list(denoised_rows(denoiser, iter(image), 601, 3, 32)))
    whole = denoiser(image, tiled=False, clip=False)
    assert np.abs(out.reshape(whole.shape) - whole).max() < 1e-4
