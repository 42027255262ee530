"""Neighbor2Neighbor on one noisy volume (``mode='ne2ne'`` with a volume): the target planes
(the centre plane for a context model, every plane for a 3-D U-Net), picks shared by every
plane, command-line runs of both kinds that denoise a stack, and that it learns. Tiny networks
on generated volumes."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
import torch
from conftest import generated_volume

from n2n.cli import main
from n2n.data.pairs import Batch
from n2n.evaluation.metrics import psnr
from n2n.inference.arrays import denoise_array
from n2n.models import ModelConfig, build_model
from n2n.training import DataConfig, TrainConfig, train
from n2n.training.objectives import Neighbor2Neighbor, target_planes

CONTEXT = ModelConfig(channels=2, width=4, depth=2, context=3)
VOLUME = ModelConfig(arch="unet3d", channels=1, width=4, depth=2)


def layered(planes: int, channels: int = 1, step: float = 100.0, texture: float = 50.0
            ) -> torch.Tensor:
    """A window (1, planes * channels, 8, 8): the same random image (of amplitude
    ``texture``) in every plane and channel, plus ``step`` times the plane's index."""
    image = torch.rand(1, 1, 8, 8, generator=torch.Generator().manual_seed(0)) * texture
    offsets = step * torch.arange(planes, dtype=torch.float32).repeat_interleave(channels)
    return image + offsets.view(1, -1, 1, 1)


def recorded_loss(config: ModelConfig, window: torch.Tensor, run) -> tuple[float, list]:
    """The Neighbor2Neighbor loss (with its regulariser at full weight) of ``run`` standing in
    for the network, and the inputs ``run`` was called with (full window, then sub-window)."""
    model, calls = build_model(config), []

    def recorder(x: torch.Tensor) -> torch.Tensor:
        calls.append(x)
        return run(x)

    loss = Neighbor2Neighbor().batch_loss(recorder, model, Batch(window), 1.0,
                                          torch.Generator().manual_seed(0))
    return float(loss), calls


def test_target_planes_are_the_centre_plane_of_a_context_window_else_all():
    window = torch.arange(2 * 6 * 4 * 4, dtype=torch.float32).view(2, 6, 4, 4)
    assert torch.equal(target_planes(build_model(CONTEXT), window), window[:, 2:4])
    assert torch.equal(target_planes(build_model(VOLUME), window), window)
    assert torch.equal(target_planes(build_model(ModelConfig(channels=6)), window), window)


def test_a_context_model_is_compared_with_the_centre_plane_of_the_other_half():
    window = layered(3, channels=2, texture=0.0)  # flat planes 0, 100, 200: no wrong plane fits
    centre = lambda x: x[:, 2:4]  # noqa: E731 - a perfect denoiser of a noiseless centre
    loss, calls = recorded_loss(CONTEXT, window, centre)
    assert calls[0].shape == (1, 6, 8, 8) and calls[1].shape == (1, 6, 4, 4)
    first_plane = lambda x: x[:, 0:2]  # noqa: E731
    assert loss < 1e-3 < recorded_loss(CONTEXT, window, first_plane)[0]


def test_picks_are_shared_by_every_plane_so_sub_volumes_stay_aligned():
    window = layered(5, step=10.0)
    loss, calls = recorded_loss(VOLUME, window, lambda x: x)  # identity: every plane its own
    sub = calls[1]
    assert sub.shape == (1, 5, 4, 4)
    for k in range(5):  # the same pixel of each plane: the planes differ by their offset only
        assert torch.allclose(sub[:, k] - sub[:, 0], torch.full_like(sub[:, 0], 10.0 * k))
    flat = torch.full_like(window, 7.0)  # identical planes give identical sub-planes
    _, calls = recorded_loss(VOLUME, flat, lambda x: x)
    assert (calls[1] == 7.0).all()
    flat_planes = layered(5, step=10.0, texture=0.0)  # each plane compared with its own
    assert recorded_loss(VOLUME, flat_planes, lambda x: x)[0] < 1e-6
    assert recorded_loss(VOLUME, flat_planes, lambda x: x.flip(1))[0] > 1e-3


@pytest.mark.parametrize("arch", ["lite", "unet3d"])
def test_cli_trains_on_one_volume_and_denoises_a_stack(tmp_path, arch):
    _, noisy = generated_volume(planes=8, size=24)
    source = tmp_path / "stack.tif"
    tifffile.imwrite(source, noisy, imagej=True, metadata={"axes": "ZYX"})
    kind = (["--arch", "unet3d", "--z-pool", "1", "--patch-depth", "4"] if arch == "unet3d"
            else ["--context", "3"])
    assert main(["train", str(tmp_path / "run"), "--volume", str(source), "--mode", "ne2ne",
                 *kind, "--width", "4", "--depth", "2", "--patch-size", "16",
                 "--patches-per-epoch", "4", "--batch-size", "2", "--epochs", "1"]) == 0
    out = denoise_array(noisy, tmp_path / "run" / "best.pt", axes="ZYX", fast=False)
    assert out.shape == noisy.shape and out.dtype == np.uint8
    assert np.array_equal(tifffile.imread(source), noisy)  # the input untouched


def test_neighbor2neighbor_on_one_volume_beats_its_noisy_input(tmp_path):
    clean, noisy = generated_volume(planes=12, size=40)
    source = tmp_path / "stack.tif"
    tifffile.imwrite(source, noisy, imagej=True, metadata={"axes": "ZYX"})
    data = DataConfig(source="volume", paths=source, patch_size=32, patches_per_epoch=8 * 40)
    config = TrainConfig(mode="ne2ne", data=data, batch_size=8, epochs=1, lr=3e-3, seed=0,
                         model={"context": 3, "width": 8, "depth": 2, "residual": True,
                                "linear_output": True})
    result = train(config, tmp_path / "run", device="cpu", progress=False)
    out = denoise_array(noisy, result.run_dir / "last.pt", axes="ZYX", fast=False)
    assert psnr(out, clean) > psnr(noisy.astype(np.float32), clean) + 5.0  # 8 dB measured
