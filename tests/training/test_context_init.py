"""A context model started from a 2-D model's weights (``init`` with ``context``): it starts
as the 2-D model denoises each plane, trains on a stack, and only a 2-D Lite model widens."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
import torch
from conftest import generated_volume

from n2n.errors import N2NError
from n2n.inference.arrays import denoise_array
from n2n.models import ModelConfig, build_model
from n2n.models.bundled import load_named
from n2n.models.checkpoint import write_weights
from n2n.models.wrapper import with_context
from n2n.training import DataConfig, TrainConfig, train


@pytest.mark.parametrize("channels, context", [(1, 5), (3, 3)])
def test_a_widened_model_computes_what_the_2d_model_computes(channels, context):
    flat = build_model(ModelConfig(channels=channels, width=6, depth=2, residual=True,
                                   linear_output=True), seed=0)
    flat.set_normalization(torch.rand(2, channels, 8, 8) * 200)
    wide = with_context(flat, context)
    window = torch.rand(2, context * channels, 20, 24) * 255
    centre = window[:, (context // 2) * channels:(context // 2 + 1) * channels]
    assert wide.config.context == context and wide.in_channels == context * channels
    torch.testing.assert_close(wide(window), flat(centre), rtol=0, atol=1e-4)
    assert torch.equal(wide.mean, flat.mean) and torch.equal(wide.std, flat.std)


def test_the_bundled_confocal_model_widens_to_a_window():
    confocal = load_named("confocal")
    wide = with_context(confocal, 5)
    window = torch.rand(1, 5, 32, 32) * 255  # the neighbours are ignored until trained
    torch.testing.assert_close(wide(window), confocal(window[:, 2:3]), rtol=0, atol=1e-3)


@pytest.mark.parametrize("config", [ModelConfig(channels=1, width=4, depth=2, context=3),
                                    ModelConfig(arch="n2n", channels=1)])
def test_only_a_2d_lite_model_widens(config):
    with pytest.raises(N2NError, match="only a 2-D Lite model"):
        with_context(build_model(config), 5)


def test_training_a_context_model_from_2d_weights(tmp_path):
    clean, noisy = generated_volume(planes=12, size=40)
    tifffile.imwrite(tmp_path / "stack.tif", noisy, imagej=True, metadata={"axes": "ZYX"})
    flat = build_model(ModelConfig(channels=1, width=6, depth=2, residual=True,
                                   linear_output=True), seed=0)
    write_weights(flat, tmp_path / "flat.pt")
    data = DataConfig(source="volume", paths=[str(tmp_path / "stack.tif")], patch_size=16,
                      patches_per_epoch=16)
    config = TrainConfig(data=data, init=str(tmp_path / "flat.pt"), model={"context": 3},
                         batch_size=8, epochs=1, lr=1e-3, seed=0)
    before = with_context(flat, 3)
    result = train(config, tmp_path / "run", device="cpu", progress=False)
    assert result.config.model.context == 3 and result.config.model.width == 6
    trained = result.model.net.head[0].weight.detach()
    assert trained.shape == (6, 3, 3, 3)
    assert not torch.equal(trained, before.net.head[0].weight)  # the neighbours are learnt
    out = denoise_array(noisy, result.run_dir / "last.pt", axes="ZYX", fast=False)
    assert out.shape == noisy.shape and np.isfinite(out).all()

