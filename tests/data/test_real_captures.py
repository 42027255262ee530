"""Real-capture paths on small generated data: bursts and stacks, single-channel models,
16-bit round trips, signal-dependent noise and pixel-shuffle down-sampling."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
import torch

from n2n.cli import main
from n2n.data.bursts import load_bursts
from n2n.data.noise import parse_noise
from n2n.data.pairs import CapturePairs
from n2n.inference.denoiser import Denoiser
from n2n.io.images import Image, read_image, write_image
from n2n.models import ModelConfig, build_model
from n2n.models.checkpoint import load_model
from n2n.models.pd import pd_merge, pd_split
from n2n.training.loop import Validation, validate


def write_bursts(root, gray_photo, scenes=2, captures=4, sigma=20.0, seed=0):
    """``scenes`` folders of ``captures`` noisy 8-bit gray captures each, plus ``avg.png``."""
    rng = np.random.default_rng(seed)
    for s in range(scenes):
        clean = np.roll(gray_photo, 7 * s, axis=1)
        folder = root / f"scene{s}"
        folder.mkdir(parents=True)
        for k in range(captures):
            noisy = np.clip(clean + rng.normal(0, sigma, clean.shape), 0, 255)
            write_image(folder / f"c{k}.png", Image(noisy.astype(np.float32)))
        write_image(folder / "avg.png", Image(clean))
    return root


def test_burst_pairs_are_two_different_captures_of_one_scene_and_cover_all_pairs():
    scenes = [torch.stack([torch.full((1, 16, 16), 100.0 * s + k) for k in range(4)])
              for s in range(3)]
    source = CapturePairs(scenes, patch_size=8, patches_per_epoch=600)
    seen = set()
    for batch in source.batches(100, torch.Generator().manual_seed(0)):
        a, b = batch.input[:, 0, 0, 0], batch.target[:, 0, 0, 0]
        assert torch.equal(a // 100, b // 100)  # the same scene
        assert not (a == b).any()  # never the same capture
        seen |= {(int(x), int(y)) for x, y in zip(a, b, strict=True)}
    assert seen == {(100 * s + i, 100 * s + j) for s in range(3) for i in range(4)
                    for j in range(4) if i != j}  # all K(K-1) ordered pairs of every scene


def test_bursts_from_folders_tiff_and_npy_stacks_with_references(tmp_path, gray_photo):
    root = write_bursts(tmp_path / "bursts", gray_photo, scenes=1, captures=3)
    stack = np.stack([gray_photo[:, :, 0] + k for k in range(5)]).astype(np.uint16) * 200
    tifffile.imwrite(root / "deep.tif", stack)  # a 16-bit multi-page TIFF
    write_image(root / "deep_avg.png", Image(gray_photo))
    np.save(root / "rgb.npy", np.stack([np.dstack([gray_photo[:, :, 0]] * 3)] * 2)
            .astype(np.uint8))
    write_image(root / "rgb_avg.png", Image(np.dstack([gray_photo] * 3)))
    bursts = {b.name: b for b in load_bursts(root, "avg.png", channels=1)}
    assert sorted(bursts) == ["deep", "rgb", "scene0"]
    assert bursts["scene0"].captures.shape == (3, 1, 64, 72)  # avg.png is not a capture
    assert bursts["deep"].captures.shape == (5, 1, 64, 72) and bursts["deep"].bit_depth == 16
    assert torch.allclose(bursts["deep"].captures[1, 0] * 65535 / 255,
                          torch.from_numpy(stack[1].astype(np.float32)), atol=0.05)
    assert bursts["rgb"].captures.shape == (2, 1, 64, 72)  # RGB made gray by --channels 1
    assert all(b.reference is not None for b in bursts.values())


def test_train_on_gray_bursts_gives_a_one_channel_model_that_denoises(tmp_path, gray_photo):
    root = write_bursts(tmp_path / "bursts", gray_photo, scenes=3)
    run = tmp_path / "run"
    assert main(["train", str(run), "--bursts", str(root), "--reference-name", "avg.png",
                 "--channels", "1", "--patch-size", "32", "--patches-per-epoch", "256",
                 "--batch-size", "32", "--epochs", "3", "--width", "8", "--residual",
                 "--linear-output", "--lr", "3e-3"]) == 0
    record = torch.load(run / "best.pt", weights_only=True)
    assert record["model_config"]["channels"] == 1
    history = record["history"]
    assert history[-1]["val_psnr"] > history[0]["val_psnr"]  # validated on the held-out scene
    noisy = read_image(root / "scene2" / "c0.png")
    clean = read_image(root / "scene2" / "avg.png").pixels
    assert main(["denoise", str(root / "scene2" / "c0.png"), "-o", str(tmp_path / "d.png"),
                 "--weights", str(run / "best.pt")]) == 0
    out = read_image(tmp_path / "d.png").pixels
    assert out.shape == (64, 72, 1)
    assert np.mean((out - clean) ** 2) < 0.6 * np.mean((noisy.pixels - clean) ** 2)


def test_16_bit_tiff_goes_through_denoise_as_16_bit(tmp_path, gray_photo):
    deep = (gray_photo[:, :, 0] * 257).astype(np.uint16)
    tifffile.imwrite(tmp_path / "deep.tif", deep)
    assert main(["denoise", str(tmp_path / "deep.tif"), "-o", str(tmp_path / "out.tif")]) == 0
    out = tifffile.imread(tmp_path / "out.tif")
    assert out.dtype == np.uint16 and out.shape == deep.shape
    assert np.abs(out.astype(float) - deep).mean() < 0.05 * 65535  # still on the 16-bit scale


def test_float_images_are_not_clipped_around_zero():
    model = build_model(ModelConfig(channels=1, width=4, residual=True, linear_output=True),
                        seed=0)  # not the global generator, which earlier tests move
    pixels = np.random.default_rng(0).normal(0, 5, (32, 32, 1)).astype(np.float32)
    out = Denoiser(model)(pixels, clip=False)
    assert (out < 0).any()


@pytest.mark.parametrize("a, b", [(0.5, 4.0), (2.0, 0.0), (0.0, 9.0)])
def test_poisson_gaussian_noise_has_variance_a_x_plus_b(a, b):
    noise = parse_noise(f"poisson-gaussian:{a},{b}")
    assert noise.spec == f"poisson-gaussian:{a:g},{b:g}"
    clean = torch.tensor([20.0, 100.0, 200.0]).view(3, 1, 1).expand(3, 200, 200)
    noisy = noise(clean[None], torch.Generator().manual_seed(0))[0]
    for level, x in zip(clean[:, 0, 0].tolist(), noisy, strict=True):
        assert abs(x.mean().item() - level) < 0.3
        assert x.var().item() == pytest.approx(a * level + b, rel=0.05)


@pytest.mark.parametrize("factor", [1, 2, 3, 4])
def test_pixel_shuffle_split_and_merge_are_exact_inverses(factor):
    x = torch.randn(2, 3, 12 * factor, 8 * factor)
    parts = pd_split(x, factor)
    assert parts.shape == (2 * factor**2, 3, 12, 8)
    assert torch.equal(parts[1 if factor > 1 else 0], x[0, :, 0::factor, (1 % factor)::factor])
    assert torch.equal(pd_merge(parts, factor), x)


def test_pd_model_tiles_exactly_and_denoises_any_size(photo):
    model = build_model(ModelConfig(width=8, depth=2, residual=True, pd=2), seed=0)
    assert model.multiple == 8 and model.receptive_radius == 2 * model.net.receptive_radius
    tiled = Denoiser(model, tile=32)(photo[:61, :75], tiled=True)
    whole = Denoiser(model, tile=32)(photo[:61, :75], tiled=False)
    assert tiled.shape == (61, 75, 3) and np.abs(tiled - whole).max() < 1e-3


def test_ne2ne_with_pd_trains_on_sub_images(tmp_path, noisy_photo_folder):
    folder = noisy_photo_folder
    run = tmp_path / "run"
    assert main(["train", str(run), "--noisy", str(folder), "--mode", "ne2ne", "--pd", "2",
                 "--patch-size", "64", "--patches-per-epoch", "64", "--batch-size", "16",
                 "--epochs", "1", "--width", "8", "--residual", "--linear-output"]) == 0
    assert torch.load(run / "best.pt", weights_only=True)["model_config"]["pd"] == 2


def test_a_run_saved_by_an_older_version_still_resumes(tmp_path, photo_folder):
    """Before DataConfig, checkpoints held the data as an untyped dict and the command line."""
    run = tmp_path / "run"
    assert main(["train", str(run), "--clean", str(photo_folder), "--patch-size", "32",
                 "--patches-per-epoch", "32", "--batch-size", "16", "--epochs", "1",
                 "--width", "4"]) == 0
    record = torch.load(run / "last.pt", weights_only=True)
    config = record["train_config"]
    config["data"] = {"clean": [str(photo_folder)], "ee559": None, "captured": None,
                      "noise": "gaussian:25", "scales": "1", "patch_size": 32,
                      "patches_per_epoch": 32, "gray_fraction": 0.0, "init": None}
    del config["init"], config["threads"]
    config["epochs"] = 2
    record["cli"] = {"clean": [str(photo_folder)], "epochs": 2}
    torch.save(record, run / "last.pt")
    assert main(["train", str(run), "--resume"]) == 0
    assert len(torch.load(run / "last.pt", weights_only=True)["history"]) == 2


def test_any_run_can_be_validated_on_real_captures_and_their_references(tmp_path, photo,
                                                                       photo_folder, capsys):
    """A model trained on synthetic noise, chosen by its PSNR on real noisy/reference pairs."""
    rng = np.random.default_rng(1)
    for name in ("real_noisy", "real_ref"):
        (tmp_path / name).mkdir()
    for i in range(2):
        write_image(tmp_path / "real_ref" / f"{i}.png", Image(photo))
        write_image(tmp_path / "real_noisy" / f"{i}.png", Image(np.clip(
            photo + rng.normal(0, 20, photo.shape), 0, 255).astype(np.float32)))
    run = tmp_path / "run"
    assert main(["train", str(run), "--clean", str(photo_folder), "--patch-size", "32",
                 "--patches-per-epoch", "32", "--batch-size", "16", "--epochs", "1",
                 "--width", "4", "--val-captured", str(tmp_path / "real_noisy"),
                 str(tmp_path / "real_ref")]) == 0
    record = torch.load(run / "best.pt", weights_only=True)
    noisy = torch.stack([torch.from_numpy(read_image(tmp_path / "real_noisy" / f"{i}.png")
                                          .pixels).permute(2, 0, 1) for i in range(2)])
    side = min(photo.shape[:2])  # validation crops to squares that batch
    assert record["history"][-1]["val_psnr"] == pytest.approx(validate(load_model(
        run / "best.pt"), Validation(noisy[..., :side, :side], torch.from_numpy(
            photo[:side, :side]).permute(2, 0, 1)[None].expand(2, -1, -1, -1))), abs=0.05)
    assert main(["train", str(tmp_path / "run2"), "--clean", str(photo_folder),
                 "--val-captured", str(tmp_path / "real_noisy"), str(tmp_path / "real_ref"),
                 "--val", str(photo_folder)]) == 2
    assert "--val-captured replaces --val and --val-pkl" in capsys.readouterr().err
