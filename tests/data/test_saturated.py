"""Saturated colours and clipped noise: the colour augmentation, clipped training inputs, and the
clipped benchmark protocol (``--clip``) with the user's own weights (``--weights``)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from conftest import ok

import n2n
from n2n.cli import main
from n2n.data.config import DataConfig, build_data
from n2n.data.noise import Gaussian
from n2n.data.pairs import SyntheticPairs
from n2n.data.recolor import recolor
from n2n.errors import N2NError
from n2n.evaluation.scoring import noisy_versions


def test_recolor_changes_the_chosen_share_keeps_range_and_gray():
    g = torch.Generator().manual_seed(0)
    patches = torch.rand(400, 3, 6, 6) * 255
    patches[:, :, 0, 0] = 77.0  # a gray pixel: no colour to permute or saturate
    out = recolor(patches, 0.5, g)
    changed = (out != patches).flatten(1).any(1).float().mean()
    assert 0.4 < float(changed) < 0.6
    assert out.min() >= 0 and out.max() <= 255
    assert torch.equal(out[:, :, 0, 0], patches[:, :, 0, 0])
    inside = (out > 0) & (out < 255)  # unclipped pixels keep their brightness (channel mean)
    kept = inside.all(1)
    assert torch.allclose(out.mean(1)[kept], patches.mean(1)[kept], atol=1e-3)


def test_recolor_raises_saturation_and_leaves_gray_images_alone():
    g = torch.Generator().manual_seed(1)
    patches = torch.tensor([100.0, 120.0, 140.0])[None, :, None, None].expand(50, 3, 4, 4)
    out = recolor(patches, 1.0, g)
    spread = out.amax(1) - out.amin(1)
    assert bool((spread >= 40 - 1e-3).all()) and float(spread.max()) > 60
    single = torch.rand(5, 1, 4, 4) * 255
    assert recolor(single, 1.0, g) is single
    assert recolor(patches, 0.0, g) is patches


def test_clipped_input_keeps_an_unclipped_zero_mean_target():
    bright = torch.full((3, 40, 40), 250.0)
    source = SyntheticPairs([bright], Gaussian((30.0, 30.0)), patch_size=16,
                            patches_per_epoch=64, clip_input=True)
    batch = next(source.batches(64, torch.Generator().manual_seed(0)))
    assert float(batch.input.max()) == 255.0
    assert float(batch.target.max()) > 255.0
    assert float(batch.target.mean()) == pytest.approx(250.0, abs=1.0)  # unbiased target
    assert float(batch.input.mean()) < 245.0  # clipping pulls the input's mean down


def test_data_config_checks_the_new_options(tmp_path):
    with pytest.raises(N2NError, match="color_fraction 1.5 must lie in 0..1"):
        DataConfig(source="clean", paths=["x"], color_fraction=1.5)
    with pytest.raises(N2NError, match=r"^clip_input: for synthetic noisy pairs \(source 'clean'\) "
                       "only, not source 'bursts'"):
        DataConfig(source="bursts", paths=["x"], clip_input=True)


def test_a_model_trained_on_clipped_inputs_clips_what_it_is_given(photo):
    from dataclasses import replace

    from n2n.models.bundled import load_bundled

    model = load_bundled("photo-plus")
    assert model.config.clip_input
    x = torch.from_numpy(photo).permute(2, 0, 1)[None]
    noisy = x + 40 * torch.randn(x.shape, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        assert torch.equal(model(noisy), model(noisy.clamp(0, 255)))
        model.config = replace(model.config, clip_input=False)
        assert not torch.equal(model(noisy), model(noisy.clamp(0, 255)))


def test_clipped_training_data_needs_a_model_that_clips():
    from n2n.models import ModelConfig
    from n2n.training.config import TrainConfig

    data = DataConfig(source="clean", paths=["x"], clip_input=True)
    with pytest.raises(N2NError, match="ModelConfig.clip_input=True."):
        TrainConfig(model=ModelConfig(), data=data)
    TrainConfig(model=ModelConfig(clip_input=True), data=data)


def test_held_out_validation_is_clipped_like_the_training_input(photo_folder):
    config = DataConfig(source="clean", paths=[photo_folder], noise="gaussian:60",
                        clip_input=True, patch_size=32)
    _, val = build_data(config)
    assert float(val.noisy.min()) >= 0 and float(val.noisy.max()) <= 255
    unclipped = build_data(DataConfig(source="clean", paths=[photo_folder],
                                      noise="gaussian:60", patch_size=32))[1]
    assert float(unclipped.noisy.max()) > 255
    assert torch.equal(unclipped.noisy.clamp(0, 255), val.noisy)  # same draws, then clipped


def test_noisy_versions_clip_the_same_draws(photo):
    from pathlib import Path

    args = ([Path("a.png")], [photo], Gaussian((40.0, 40.0)), 3)
    (_, raw, _), = noisy_versions(*args)
    (_, clipped, _), = noisy_versions(*args, clip=True)
    assert raw.min() < 0 or raw.max() > 255
    assert np.array_equal(np.clip(raw, 0, 255), clipped)


def test_train_with_colour_and_clipping_saves_them_and_resume_refuses_a_change(
        tmp_path, photo_folder, capsys):
    ok("train", tmp_path / "run", "--clean", photo_folder, "--noise", "gaussian:10-40",
       "--patch-size", "32", "--patches-per-epoch", "32", "--batch-size", "16", "--epochs", "1",
       "--width", "8", "--color-fraction", "0.5", "--clip-input")
    saved = torch.load(tmp_path / "run" / "last.pt", weights_only=True)
    data = saved["train_config"]["data"]
    assert data["color_fraction"] == 0.5 and data["clip_input"] is True
    assert saved["model_config"]["clip_input"] is True  # and it clips when it denoises
    code = main(["train", str(tmp_path / "run"), "--resume", "--color-fraction", "0.2",
                 "--epochs", "2"])
    err = capsys.readouterr().err
    assert code == 2 and "--color-fraction 0.2 (the run has 0.5)" in err


def test_eval_clip_scores_clipped_noisy_images(tmp_path, photo_folder):
    scores = {}
    for clip in (False, True):
        out = tmp_path / f"{clip}.json"
        ok("eval", photo_folder, "--noise", "gaussian:50", "--json", out, "--model", "photo",
           *(["--clip"] if clip else []))  # photo was trained unclipped: it sees the change
        scores[clip] = json.loads(out.read_text())
    assert scores[True]["setting"] == "gaussian:50, clipped to 0..255"
    # the noisy PSNR clips its estimate either way; the denoiser sees different inputs
    assert scores[True]["mean"]["noisy_psnr"] == scores[False]["mean"]["noisy_psnr"]
    assert scores[True]["mean"]["psnr"] != scores[False]["mean"]["psnr"]


def test_bench_scores_the_users_weights_on_clipped_noise(tmp_path, photo_folder, capsys):
    from n2n.models.bundled import bundled_weights_path

    weights = bundled_weights_path("photo")
    code = main(["bench", str(photo_folder), "-o", str(tmp_path / "out"), "--noise",
                 "gaussian:25", "--clip", "--methods", "noisy", "n2n-lite", "--weights",
                 str(weights)])
    assert code == 0
    record = json.loads((tmp_path / "out" / "results.json").read_text())
    psnr = {r["method"]: r["psnr"] for r in record["results"]}
    assert psnr[f"weights:{weights}"] == pytest.approx(psnr["n2n-lite"], abs=1e-6)
    assert record["config"]["clip"] is True
    per_image = record["results"][0]["per_image"]  # for the spread against another method
    assert sorted(per_image) == sorted(p.name for p in photo_folder.iterdir())
    code = main(["bench", str(photo_folder), "-o", str(tmp_path / "out2"), "--weights",
                 str(tmp_path / "nope.pt")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err[-1].endswith("nope.pt: no such file or folder")


@pytest.mark.parametrize("suffix", [".ts", ".onnx"])
def test_an_export_of_a_clipping_model_clips_too(tmp_path, photo, suffix):
    from n2n.inference.exported import load_exported
    from n2n.models.bundled import load_bundled

    ok("export", "photo-plus", tmp_path / f"p{suffix}")
    x = torch.from_numpy(photo[:40, :44]).permute(2, 0, 1)[None]
    noisy = x + 40 * torch.randn(x.shape, generator=torch.Generator().manual_seed(1))
    assert float(noisy.min()) < 0 and float(noisy.max()) > 255
    with torch.no_grad():
        exported = load_exported(tmp_path / f"p{suffix}")(noisy)
        assert float((exported - load_bundled("photo-plus")(noisy)).abs().max()) < 0.05


def test_clipped_inputs_belong_to_noise2noise_pairs():
    from n2n.models import ModelConfig
    from n2n.training.config import TrainConfig

    data = DataConfig(source="clean", paths=["x"], clip_input=True)
    with pytest.raises(N2NError, match="mode ne2ne builds its target from the"):
        TrainConfig(model=ModelConfig(clip_input=True), data=data, mode="ne2ne")


def test_dask_auto_takes_the_model_of_the_given_factor(photo):
    da = pytest.importorskip("dask.array")
    from n2n.inference.dask_arrays import denoise_dask
    from n2n.inference.denoiser import Denoiser
    from n2n.models.bundled import load_bundled

    noisy = np.clip(photo[:64, :64] + np.random.default_rng(0).normal(0, 10, (64, 64, 3)), 0, 255)
    lazy = da.from_array(noisy.astype(np.uint8), chunks=(64, 64, 3))
    out = denoise_dask(lazy, "auto", channel_axis=-1, pd=2, tile=64).compute()
    expected = Denoiser(load_bundled("camera"), pd=2)(noisy.astype(np.uint8).astype(np.float32))
    assert np.array_equal(out, np.clip(np.rint(expected), 0, 255).astype(np.uint8))
    # without pd, 'auto' chooses from the decision sample, as every door does
    chosen = denoise_dask(lazy, "auto", channel_axis=-1, tile=64).compute()
    assert np.array_equal(chosen, n2n.denoise_array(noisy.astype(np.uint8), channel_axis=-1,
                                                    tile=64))
