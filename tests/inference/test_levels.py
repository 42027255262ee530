"""Passes tiled by their network's levels (n2n.inference.levels): the coarse levels whole, the
fine ones in windows with small margins; the result equals the untiled one through every door
that tiles, and passes that cannot be cut (self-ensemble, a given tile) tile as before."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from n2n.inference.denoiser import Denoiser
from n2n.inference.levels import tiled_map
from n2n.inference.tiling import budget_plan
from n2n.models import ModelConfig, build_model


def test_tiled_map_keeps_each_core_once_at_every_scale():
    torch.manual_seed(0)
    x, coarse = torch.randn(3, 2, 64, 96), torch.randn(3, 1, 16, 24)

    def run(a, b):  # pools 4x, adds the coarse input: no reach beyond its own cell
        return F.avg_pool2d(a, 4) + b

    plan = budget_plan(3, 64, 96, 0, 16, pixels=1000)
    assert plan[1] < 64 and plan[2] < 96  # tiles, not the whole
    out = tiled_map(run, [(x, 1), (coarse, 4)], 0, plan, shrink=4)
    torch.testing.assert_close(out, run(x, coarse))


def _spied(model):
    calls = []
    encode = model.encode
    model.encode = lambda x: calls.append(x.shape) or encode(x)
    return calls


@pytest.mark.parametrize("config, pd, refine, fast", [
    (ModelConfig(width=8, depth=4, residual=True), 1, False, True),
    (ModelConfig(width=8, depth=4, residual=True, clip_input=True), 2, True, False),
    (ModelConfig(arch="n2n", width=8), 1, False, True),
    (ModelConfig(arch="n2n", width=8, residual=True), 2, True, True),
])
def test_a_pass_tiled_by_levels_equals_the_untiled_one(photo, config, pd, refine, fast):
    torch.manual_seed(0)
    model = build_model(config)
    second = build_model(ModelConfig(width=8, depth=4)) if refine else None
    big = np.tile(photo, (4, 5, 1))[:301, :377] * 1.1 - 10  # odd sizes, values beyond 0..255
    denoiser = Denoiser(model, pd=pd, refine=second, fast=fast, backend="torch")
    untiled = denoiser(big, tiled=False, clip=False)
    calls = _spied(model)
    denoiser.budget_pixels = 9000  # windows of 94 x 94 at most
    tiled = denoiser(big, clip=False)
    assert len(calls) > pd * pd  # the coarse levels' input made in windows
    assert np.abs(tiled - untiled).max() < 1e-3


def test_a_context_model_by_levels_equals_the_untiled_one():
    torch.manual_seed(0)
    model = build_model(ModelConfig(channels=1, width=8, depth=4, context=3, residual=True))
    window = np.random.default_rng(0).uniform(0, 255, (160, 200, 3)).astype(np.float32)
    denoiser = Denoiser(model, backend="torch")
    untiled = denoiser(window, tiled=False, clip=False)
    calls = _spied(model)
    denoiser.budget_pixels = 6000
    assert np.abs(denoiser(window, clip=False) - untiled).max() < 1e-3
    assert calls


@pytest.mark.parametrize("options", [{"ensemble": True}, {"tile": 64}])
def test_ensembles_and_given_tiles_run_the_whole_network_per_tile(photo, options):
    torch.manual_seed(0)
    model = build_model(ModelConfig(width=8, depth=4, residual=True))
    big = np.tile(photo, (3, 3, 1))[:200, :150]
    denoiser = Denoiser(model, backend="torch", **options)
    untiled = denoiser(big, tiled=False, clip=False)
    calls = _spied(model)
    denoiser.budget_pixels = 9000
    assert np.abs(denoiser(big, tiled=True, clip=False) - untiled).max() < 1e-3
    assert not calls


def test_an_onnx_runtime_pass_is_not_cut():
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    denoiser = Denoiser(build_model(ModelConfig(width=8, depth=4)), backend="onnxruntime")
    assert denoiser._passes[0].leveled is None
    plain = Denoiser(build_model(ModelConfig(width=8, depth=4)), backend="torch")
    assert plain._passes[0].leveled is plain.model


def test_sub_images_that_fit_whole_run_the_whole_network(photo):
    torch.manual_seed(0)
    model = build_model(ModelConfig(width=8, depth=4, residual=True))
    image = np.tile(photo, (2, 2, 1))[:160, :150]  # pd 2: four 80 x 80 sub-images
    denoiser = Denoiser(model, pd=2, backend="torch")
    untiled = denoiser(image, tiled=False, clip=False)
    calls = _spied(model)
    denoiser.budget_pixels = 2 * 80 * 80  # two sub-images at a time: no margins to save
    assert np.abs(denoiser(image, clip=False) - untiled).max() < 1e-3
    assert not calls
