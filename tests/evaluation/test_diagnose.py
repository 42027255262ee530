"""``n2n diagnose`` on synthetic noise with known parameters, the residual check, and real-style
pairs through eval and bench."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from scipy import ndimage
from skimage import data as skdata

from n2n.cli import main
from n2n.data.noise import parse_noise
from n2n.evaluation.diagnose import check_residual, diagnose_burst, diagnose_image
from n2n.inference.policy import first_choice
from n2n.io.images import Image, read_image, write_image


@pytest.fixture(scope="module")
def camera() -> np.ndarray:
    return skdata.camera()[:256, 128:384, None].astype(np.float32)


def noisy_copies(clean: np.ndarray, spec: str, count: int, seed: int = 0) -> np.ndarray:
    noise, g = parse_noise(spec), torch.Generator().manual_seed(seed)
    x = torch.from_numpy(clean).permute(2, 0, 1)
    return np.stack([noise(x, g).permute(1, 2, 0).numpy() for _ in range(count)])


def correlated(clean: np.ndarray, sigma: float, seed: int) -> np.ndarray:
    """Gaussian noise of std ``sigma`` blurred over about a pixel, as demosaicking does."""
    noise = ndimage.gaussian_filter(np.random.default_rng(seed).normal(size=clean.shape),
                                    (1, 1, 0))
    return clean + noise / noise.std() * sigma


@pytest.mark.parametrize("a, b", [(0.5, 4.0), (2.0, 16.0)])
def test_burst_recovers_poisson_gaussian_parameters_within_10_percent(camera, a, b):
    found = diagnose_burst(noisy_copies(camera, f"poisson-gaussian:{a},{b}", 4))
    assert found.noise_model.a == pytest.approx(a, rel=0.1)
    assert found.noise_model.b == pytest.approx(b, rel=0.1)
    assert found.white and "--bursts" in " ".join(found.recommendation)


def test_single_image_recovers_the_parameters_roughly(camera):
    found = diagnose_image(noisy_copies(camera, "poisson-gaussian:0.5,4", 1)[0])
    assert found.noise_model.a == pytest.approx(0.5, rel=0.25)
    assert found.noise_std == pytest.approx(np.sqrt(0.5 * camera.mean() + 4), rel=0.15)
    assert found.white and "--mode ne2ne" in " ".join(found.recommendation)


def test_white_and_correlated_noise_are_told_apart(camera):
    noisy = camera + np.random.default_rng(0).normal(0, 10, camera.shape)
    white = diagnose_image(noisy, treatment=first_choice(noisy).to_json())
    corr = diagnose_image(correlated(camera, 10, 0),
                          treatment=first_choice(correlated(camera, 10, 0)).to_json())
    assert white.white and white.correlation_length == 0
    assert not corr.white and corr.correlation_length >= 1
    assert "--pd" in " ".join(corr.recommendation)
    assert ("--pd 3 and 4 results take over its flat areas" in " ".join(corr.recommendation)) \
        == (corr.treatment["pd"] == 2)
    assert "take over" not in " ".join(white.recommendation)
    assert corr.noise_std == pytest.approx(10, rel=0.2)  # spaced differences see all of it
    burst = diagnose_burst(np.stack([correlated(camera, 10, s) for s in range(3)]))
    assert not burst.white and burst.correlation_length >= 1


def test_residual_check_passes_noise_and_flags_image_edges(camera):
    noisy = noisy_copies(camera, "poisson-gaussian:0.5,4", 1)[0]
    good = check_residual(noisy, camera)  # what an ideal denoiser removes: the noise alone
    assert good.passed and good.white and abs(good.edge_correlation) < 0.05
    blurred = ndimage.gaussian_filter(noisy, (2, 2, 0))  # removes noise and details
    bad = check_residual(noisy, blurred)
    assert not bad.structure_ok and bad.edge_correlation > 0.2 and not bad.passed
    with pytest.raises(Exception, match="differ in shape"):
        check_residual(noisy, blurred[:10])


def test_diagnose_cli_on_a_burst_folder_and_a_residual(tmp_path, camera, capsys):
    folder = tmp_path / "scene"
    folder.mkdir()
    for k, x in enumerate(noisy_copies(camera, "poisson-gaussian:1,9", 3)):
        write_image(folder / f"c{k}.tif", Image(np.clip(x, 0, 255), 16))
    write_image(folder / "avg.png", Image(camera))
    assert main(["diagnose", str(folder), "--reference-name", "avg.png",
                 "-o", str(tmp_path / "out")]) == 0
    report = json.loads((tmp_path / "out" / "diagnosis.json").read_text())
    assert "burst of 3 captures" in report["source"]
    assert report["noise_model"]["a"] == pytest.approx(1.0, rel=0.15)
    assert (tmp_path / "out" / "noise.png").stat().st_size > 0
    write_image(tmp_path / "clean.tif", Image(camera, 16))
    assert main(["diagnose", "--residual", str(folder / "c0.tif"), str(tmp_path / "clean.tif"),
                 "-o", str(tmp_path / "res")]) == 0
    assert "PASSED" in capsys.readouterr().out
    assert json.loads((tmp_path / "res" / "residual.json").read_text())["passed"]


def test_eval_and_bench_on_real_style_pairs(tmp_path, photo):
    noisy_dir, ref_dir = tmp_path / "noisy", tmp_path / "clean"
    noisy_dir.mkdir(), ref_dir.mkdir()
    for i in range(2):
        clean = np.roll(photo, 11 * i, axis=0)
        write_image(ref_dir / f"{i}.png", Image(clean))
        write_image(noisy_dir / f"{i}.png", Image(np.clip(correlated(clean, 12, i), 0, 255)))
    assert main(["eval", "--noisy", str(noisy_dir), "--reference", str(ref_dir), "--pd", "2",
                 "--json", str(tmp_path / "eval.json")]) == 0
    record = json.loads((tmp_path / "eval.json").read_text())
    assert record["setting"] == "real noise" and len(record["images"]) == 2
    assert record["mean"]["psnr"] > record["mean"]["noisy_psnr"]
    assert main(["bench", "--noisy", str(noisy_dir), "--reference", str(ref_dir), "--methods",
                 "noisy", "n2n-lite", "-o", str(tmp_path / "bench")]) == 0
    results = json.loads((tmp_path / "bench" / "results.json").read_text())["results"]
    assert {r["noise"] for r in results} == {"real noise"}
    assert len(results) == 2 and results[1]["psnr"] > results[0]["psnr"]


def test_models_lists_both_and_the_confocal_model_denoises_gray(tmp_path, camera, capsys):
    assert main(["models"]) == 0
    listing = capsys.readouterr().out
    assert "photo (3 channels" in listing and "confocal (1 channel" in listing
    assert "photo-plus (3 channels" in listing and "camera (3 channels" in listing
    assert "zs-gray (1 channel" in listing and "zs-rgb (3 channels" in listing
    noisy = noisy_copies(camera, "poisson-gaussian:4,0", 1)[0]
    write_image(tmp_path / "cells.png", Image(np.clip(noisy, 0, 255)))
    assert main(["denoise", str(tmp_path / "cells.png"), "-o", str(tmp_path / "out.png"),
                 "--model", "confocal"]) == 0
    out = read_image(tmp_path / "out.png").pixels
    assert out.shape == camera.shape
    assert np.mean((out - camera) ** 2) < 0.5 * np.mean((np.clip(noisy, 0, 255) - camera) ** 2)
