"""The blind-spot mode (AP-BSN): a network that never sees the pixel it predicts, trained on
sub-images at stride 5, denoising at its own pd with random-replacing refinement."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from n2n.cli import main
from n2n.data.pairs import Batch
from n2n.errors import N2NError
from n2n.inference.denoiser import Denoiser
from n2n.inference.replacing import PERIOD, SHARE, replacement_masks
from n2n.io.images import read_image
from n2n.models import ModelConfig, build_model
from n2n.training.config import TrainConfig
from n2n.training.objectives import BSN_TRAIN_STRIDE, make_objective


def blind_spot_model(pd: int = 2):
    return build_model(ModelConfig("bsn", width=8, depth=2, pd=pd), seed=0).eval()


def test_the_network_never_sees_the_pixel_it_predicts():
    model = blind_spot_model()
    x = (torch.rand(1, 3, 41, 41) * 255).requires_grad_(True)
    model(x, split=False)[0, :, 20, 20].sum().backward()
    reach = x.grad[0].abs().sum(0)
    radius = model.net.receptive_radius
    assert reach[20, 20] == 0  # the blind spot
    assert reach[20, 21] > 0 and reach[19, 20] > 0  # its neighbours are seen
    rows, cols = torch.nonzero(reach, as_tuple=True)
    assert (rows - 20).abs().max() == radius and (cols - 20).abs().max() == radius


def test_the_objective_trains_on_stride_5_sub_images_whatever_the_model_denoises_at():
    model = blind_spot_model(pd=2)
    seen = []
    model.net.register_forward_pre_hook(lambda _, args: seen.append(tuple(args[0].shape)))
    noisy = torch.rand(2, 3, 52, 50) * 255
    loss = make_objective("bsn")(model, Batch(noisy), 0.0, torch.Generator().manual_seed(0))
    assert BSN_TRAIN_STRIDE == 5 and seen == [(2 * 25, 3, 10, 10)]  # 52x50 cut to 50x50
    assert loss.item() > 0


def test_only_a_blind_spot_network_may_learn_from_its_own_input():
    with pytest.raises(N2NError, match="needs a blind-spot network"):
        TrainConfig(model=ModelConfig("lite"), mode="bsn")
    with pytest.raises(N2NError, match="cannot add its input to its output"):
        ModelConfig("bsn", residual=True)
    with pytest.raises(N2NError, match="width 1: a blind-spot network needs >= 2"):
        ModelConfig("bsn", width=1)


def test_random_replacing_masks_are_fixed_and_replace_the_set_share():
    masks = replacement_masks(150, 130)
    assert masks.shape == (8, 1, 150, 130) and torch.equal(masks, replacement_masks(150, 130))
    assert abs(masks.float().mean().item() - SHARE) < 0.02
    assert torch.equal(masks[..., PERIOD:2 * PERIOD, :PERIOD], masks[..., :PERIOD, :PERIOD])
    assert not torch.equal(masks[0], masks[1])  # each pass its own pixels


def test_a_blind_spot_network_tiles_exactly_with_random_replacing(photo):
    model = blind_spot_model()
    image = photo[:90, :77]
    tiled = Denoiser(model, tile=40, fast=False)
    assert tiled.tile % PERIOD == 0 and tiled.margin % PERIOD == 0  # masks fall alike
    whole = Denoiser(model, fast=False)(image, tiled=False)
    assert np.abs(tiled(image, tiled=True) - whole).max() < 1e-3
    with torch.no_grad():  # the pixel-shuffled pass alone
        first = model(torch.from_numpy(image).permute(2, 0, 1)[None])[0].permute(1, 2, 0)
    assert np.abs(first.numpy() - whole).max() > 0.1  # the refinement changed the result


def test_cli_trains_a_blind_spot_network_on_noisy_photos_and_denoises_with_it(
        tmp_path, photo, noisy_photo_folder):
    folder = noisy_photo_folder
    run = tmp_path / "run"
    assert main(["train", str(run), "--noisy", str(folder), "--mode", "bsn", "--patch-size",
                 "60", "--patches-per-epoch", "96", "--batch-size", "8", "--epochs", "3",
                 "--width", "8", "--depth", "2", "--lr", "3e-3"]) == 0
    record = torch.load(run / "best.pt", weights_only=True)
    assert (record["model_config"]["arch"], record["model_config"]["pd"]) == ("bsn", 2)
    losses = [epoch["train_loss"] for epoch in record["history"]]
    assert losses[-1] < losses[0]
    out = tmp_path / "clean.png"
    assert main(["denoise", str(folder / "0.png"), "-o", str(out), "--weights",
                 str(run / "best.pt")]) == 0
    assert read_image(out).pixels.shape == photo.shape


def test_what_would_silently_lose_the_blind_spot_is_refused(tmp_path, capsys):
    from n2n.export.exporter import export_model

    with pytest.raises(N2NError, match="exports as pt only"):
        export_model(blind_spot_model(), tmp_path / "m.onnx", "onnx")
    assert not (tmp_path / "m.onnx").exists()
    with pytest.raises(N2NError, match="refines its result by random replacing already"):
        Denoiser(blind_spot_model(), refine=blind_spot_model())
    missing = tmp_path / "not_read"  # refused before any data is read
    assert main(["train", str(tmp_path / "run"), "--noisy", str(missing), "--mode", "bsn",
                 "--init", "photo"]) == 2
    assert "needs a blind-spot network" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()
