"""Tiled inference: the plan covers the image exactly, and tiled equals untiled."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from n2n.errors import N2NError
from n2n.inference.denoiser import Denoiser, denoise_image, plan_tiles
from n2n.io.images import Image
from n2n.models import ModelConfig, build_model


def test_tile_cores_partition_the_image():
    covered = np.zeros((100, 70), int)
    for tile in plan_tiles(100, 70, tile=32, margin=16):
        top, bottom, left, right = tile.keep
        r_top, r_bottom, r_left, r_right = tile.read
        assert r_top <= top < bottom <= r_bottom and r_left <= left < right <= r_right
        covered[top:bottom, left:right] += 1
    assert (covered == 1).all()


class Identity(torch.nn.Module):
    multiple, receptive_radius = 16, 8
    config = ModelConfig()

    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))

    def forward(self, x):
        return x + self.weight


def test_identity_model_through_tiling_returns_the_input(photo):
    out = Denoiser(Identity(), tile=32)(photo, tiled=True)
    np.testing.assert_array_equal(out, photo)


@pytest.mark.parametrize("config", [ModelConfig(), ModelConfig(arch="n2n", width=8),
                                    ModelConfig(arch="halfres", width=8, depth=2)])
def test_tiled_and_untiled_agree(photo, config):
    torch.manual_seed(0)
    model = build_model(config)
    big = np.concatenate([photo, photo[::-1]], axis=0)[:, :, :]  # 192 x 80, odd tiles
    denoiser = Denoiser(model, tile=32)
    untiled = denoiser(big, tiled=False)
    tiled = denoiser(big, tiled=True)
    assert np.abs(untiled - tiled).max() < 1e-4


def test_gray_image_through_rgb_model_keeps_one_channel(gray_photo):
    image = Image(gray_photo, 16)
    out = denoise_image(Denoiser(build_model(ModelConfig())), image)
    assert out.pixels.shape == gray_photo.shape and out.bit_depth == 16


def test_rgb_image_through_gray_model_is_denoised_per_channel(photo):
    torch.manual_seed(0)
    denoiser = Denoiser(build_model(ModelConfig(channels=1)))
    out = denoiser(photo)
    assert out.shape == photo.shape
    np.testing.assert_allclose(out[:, :, 1:2], denoiser(photo[:, :, 1:2]), atol=1e-5)


def test_ensemble_averages_the_eight_flips_and_turns(photo):
    torch.manual_seed(0)
    model = build_model(ModelConfig(pd=2))
    square = photo[:64, :64]  # a whole number of grid cells: each view needs no padding
    plain = Denoiser(model, fast=False)
    views = []
    for flip in (False, True):
        for turns in range(4):
            view = np.rot90(square[:, ::-1] if flip else square, turns)
            out = np.rot90(plain(np.ascontiguousarray(view), clip=False), -turns)
            views.append(out[:, ::-1] if flip else out)
    ensemble = Denoiser(model, fast=False, ensemble=True)(square, clip=False)
    np.testing.assert_allclose(ensemble, np.mean(views, axis=0), atol=1e-3)
    assert np.abs(ensemble - plain(square, clip=False)).max() > 0.01  # the views differ


def test_an_ensemble_with_a_second_pass_tiles_exactly(photo):
    torch.manual_seed(0)
    big = np.concatenate([photo, photo[::-1]], axis=0)  # 192 x 80, odd tiles
    denoiser = Denoiser(build_model(ModelConfig(pd=2)), tile=32, ensemble=True,
                        refine=build_model(ModelConfig()))
    assert np.abs(denoiser(big, tiled=False) - denoiser(big, tiled=True)).max() < 0.02


class _OutOfMemory(torch.nn.Module):
    """A network whose every call fails as PyTorch's CPU allocator does."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate "
                           "68719476736 bytes. Error code 12 (Cannot allocate memory)")


@pytest.mark.parametrize("door", ["file", "array"])
def test_running_out_of_memory_is_said_as_such_not_as_an_unreadable_file(tmp_path, door):
    import tifffile

    from n2n.inference.arrays import denoise_array
    from n2n.inference.files import denoise_file

    model = build_model(ModelConfig(channels=1, width=4, depth=2))
    model.net.forward = _OutOfMemory().forward
    stack = np.random.default_rng(0).integers(0, 255, (3, 40, 48), dtype=np.uint8)
    source, target = tmp_path / "stack.tif", tmp_path / "out.tif"
    tifffile.imwrite(source, stack, photometric="minisblack")
    with pytest.raises(N2NError, match=r"out of memory on cpu running the network on 1 "
                                       r"window\(s\) of \d+ x \d+: free memory, or give a "
                                       r"smaller tile") as caught:
        if door == "file":
            denoise_file(Denoiser(model, fast=False), source, target)
        else:
            denoise_array(stack, model, fast=False)
    assert "cannot read" not in str(caught.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["stack.tif"]  # nothing written
