"""The automatic treatment: which model and pixel-shuffle factor each image gets, and the
commands and APIs that use it by default."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile
from scipy import ndimage
from skimage import data as skdata

from n2n.cli import main
from n2n.evaluation.treatment import (
    CAMERA_MODEL,
    CORRELATED_RATIO,
    UNCLIPPED_MODEL,
    WHITE_MODEL,
    choose_treatment,
    measure_noise,
)
from n2n.inference.auto import AutoDenoiser
from n2n.inference.denoiser import Denoiser
from n2n.inference.files import denoise_file
from n2n.io.images import Image, read_image, write_image
from n2n.models.bundled import load_bundled


def scene(size: int = 160) -> np.ndarray:
    """A crop of scikit-image's astronaut (RGB, float32 0..255): real edges and texture."""
    return skdata.astronaut()[60:60 + size, 160:160 + size].astype(np.float32)


def camera_treatment() -> Denoiser:
    """What the rule runs on camera noise: camera at --pd 2, then photo at --pd 1."""
    return Denoiser(load_bundled(CAMERA_MODEL), pd=2, refine=load_bundled("photo"))


def white_noise(shape, sigma: float, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, sigma, shape).astype(np.float32)


def camera_like_noise(shape, sigma: float, seed: int = 0) -> np.ndarray:
    """White noise blurred by a 3x3 binomial kernel (as demosaicking interpolates neighbours),
    scaled back to ``sigma``: correlated at 1 pixel, nearly white from 3."""
    noise = ndimage.convolve(white_noise(shape, 1.0, seed), np.outer([1, 2, 1], [1, 2, 1])[
        :, :, None] / 16.0, mode="wrap")
    return noise * (sigma / noise.std())


@pytest.mark.parametrize("sigma", [10, 25, 50])
def test_white_gaussian_noise_gets_full_resolution(sigma):
    noisy = scene() + white_noise((160, 160, 3), sigma)
    measure = measure_noise(noisy)
    assert 0.8 < measure.ratio < 1.4  # white: 1, image content adds a little
    assert measure.std == pytest.approx(sigma, rel=0.25)
    measure = measure_noise(np.clip(noisy, 0, 255))  # as an 8-bit file holds it
    treatment = choose_treatment(measure)
    assert (treatment.model, treatment.pd) == (WHITE_MODEL, 1)
    assert "white" in treatment.reason and f"{measure.ratio:.2f}" in treatment.reason


@pytest.mark.parametrize("sigma", [3, 10, 25])
def test_noise_correlated_between_neighbours_gets_pixel_shuffle_2(sigma):
    noisy = scene() + camera_like_noise((160, 160, 3), sigma)
    measure = measure_noise(noisy)
    assert measure.ratio > CORRELATED_RATIO
    treatment = choose_treatment(measure)
    assert (treatment.model, treatment.pd, treatment.refine) == (CAMERA_MODEL, 2, "photo")
    assert "correlated" in treatment.reason


def test_pixels_beyond_0_255_get_the_model_trained_on_unclipped_noise():
    noisy = scene() + white_noise((160, 160, 3), 25)  # float data: noise not clipped
    measure = measure_noise(noisy)
    assert measure.unclipped and not measure_noise(np.clip(noisy, 0, 255)).unclipped
    treatment = choose_treatment(measure)
    assert (treatment.model, treatment.pd) == (UNCLIPPED_MODEL, 1)
    assert "beyond 0..255" in treatment.reason
    assert not load_bundled(UNCLIPPED_MODEL).config.clip_input  # keeps values below 0
    assert choose_treatment(measure, model="photo").model == "photo"  # a named model wins
    correlated = measure_noise(scene() + camera_like_noise((160, 160, 3), 40))
    assert correlated.unclipped and choose_treatment(correlated).pd == 2


def test_given_factor_and_model_win_over_the_measurement():
    measure = measure_noise(scene() + camera_like_noise((160, 160, 3), 10))
    assert choose_treatment(measure, pd=1).model == WHITE_MODEL  # auto at pd 1: white noise's
    assert choose_treatment(measure, pd=3).reason == "--pd given"
    assert choose_treatment(measure, pd=3).model == CAMERA_MODEL
    assert choose_treatment(measure, model="photo").model == "photo"
    given = choose_treatment(measure, model="photo-plus")
    assert (given.model, given.pd, given.refine) == ("photo-plus", 2, "photo")


@pytest.mark.parametrize("pixels", [
    np.full((64, 64, 3), 128.0, np.float32),  # constant: no noise at all
    np.zeros((12, 40, 1), np.float32),  # smaller than one block
])
def test_nothing_measurable_means_no_pixel_shuffle(pixels):
    measure = measure_noise(pixels)
    assert not measure.measured
    treatment = choose_treatment(measure)
    assert treatment.pd == 1 and "no noise measured" in treatment.reason


def test_clipped_blocks_do_not_count():
    noisy = scene() + camera_like_noise((160, 160, 3), 10)
    noisy[:, :80] = 255.0  # half the image blown out: flat but noiseless
    assert measure_noise(noisy).ratio > CORRELATED_RATIO


def test_large_images_are_sampled_and_measured_alike():
    noisy = np.tile(scene(), (5, 5, 1)) + camera_like_noise((800, 800, 3), 10)
    measure = measure_noise(noisy)
    assert measure.blocks <= 4096 * 3 and measure.ratio > CORRELATED_RATIO


def test_auto_denoiser_runs_the_chosen_treatment_and_says_which():
    auto = AutoDenoiser()
    white = np.clip(scene(96) + white_noise((96, 96, 3), 20), 0, 255)
    camera = np.clip(scene(96) + camera_like_noise((96, 96, 3), 8), 0, 255)
    out = auto(camera)
    assert (auto.last.pd, auto.last.refine) == (2, "photo")  # then photo at full resolution
    assert np.array_equal(out, camera_treatment()(camera))
    out = auto(white)
    assert auto.last.pd == 1
    assert np.array_equal(out, Denoiser(load_bundled(WHITE_MODEL), pd=1)(white))
    assert len(auto._denoisers) == 2  # one Denoiser per treatment, kept


def test_auto_denoiser_keeps_a_given_factor_and_model():
    auto = AutoDenoiser("photo", pd=1)
    camera = np.clip(scene(64) + camera_like_noise((64, 64, 3), 8), 0, 255)
    out = auto(camera)
    assert (auto.last.model, auto.last.pd) == ("photo", 1)
    assert np.array_equal(out, Denoiser(load_bundled("photo"))(camera))


def test_cli_denoise_reports_each_choice_and_writes_it_to_json(tmp_path, capsys):
    write_image(tmp_path / "white.png", Image(np.clip(scene(96) + white_noise(
        (96, 96, 3), 20), 0, 255)))
    write_image(tmp_path / "camera.png", Image(np.clip(scene(96) + camera_like_noise(
        (96, 96, 3), 8), 0, 255)))
    assert main(["denoise", str(tmp_path / "white.png"), str(tmp_path / "camera.png"), "-o",
                 str(tmp_path / "out"), "--json", str(tmp_path / "choices.json")]) == 0
    printed = capsys.readouterr().out
    assert "camera.png: camera --pd 2 --refine (then photo at --pd 1) (noise correlated" \
        in printed
    assert "white.png: photo-plus --pd 1 (spatially white" in printed
    record = json.loads((tmp_path / "choices.json").read_text())
    pds = {image["input"].rsplit("/", 1)[-1]: image["treatment"]["pd"]
           for image in record["images"]}
    assert pds == {"white.png": 1, "camera.png": 2}
    expected = camera_treatment()(read_image(tmp_path / "camera.png").pixels)
    got = read_image(tmp_path / "out" / "camera.png").pixels
    assert np.abs(got - np.clip(np.rint(expected), 0, 255)).max() == 0


def test_cli_explicit_flags_mean_no_measurement(tmp_path, capsys):
    noisy = np.clip(scene(64) + camera_like_noise((64, 64, 3), 8), 0, 255)
    write_image(tmp_path / "a.png", Image(noisy))
    assert main(["denoise", str(tmp_path / "a.png"), "-o", str(tmp_path / "b.png"),
                 "--model", "photo", "--pd", "1"]) == 0
    assert "--pd" not in capsys.readouterr().out  # nothing chosen, nothing reported
    expected = Denoiser(load_bundled("photo"))(read_image(tmp_path / "a.png").pixels)
    assert np.array_equal(read_image(tmp_path / "b.png").pixels,
                          np.clip(np.rint(expected), 0, 255))


def test_cli_pd_option_names_a_bad_value(capsys):
    with pytest.raises(SystemExit):
        main(["denoise", "x.png", "-o", "y.png", "--pd", "two"])
    assert "'two' is neither a factor (1..8) nor auto" in capsys.readouterr().err


def test_cli_eval_json_records_the_treatment_of_each_image(tmp_path):
    for folder in ("noisy", "clean"):
        (tmp_path / folder).mkdir()
    clean = np.clip(scene(96), 0, 255)
    write_image(tmp_path / "clean" / "a.png", Image(clean))
    write_image(tmp_path / "noisy" / "a.png", Image(np.clip(clean + camera_like_noise(
        (96, 96, 3), 8), 0, 255)))
    assert main(["eval", "--noisy", str(tmp_path / "noisy"), "--reference",
                 str(tmp_path / "clean"), "--json", str(tmp_path / "s.json")]) == 0
    image = json.loads((tmp_path / "s.json").read_text())["images"][0]
    assert image["treatment"]["pd"] == 2 and image["psnr"] > image["noisy_psnr"]


def test_a_stack_gets_one_treatment_for_every_plane(tmp_path):
    """Planes of one stack are treated alike (chosen from the first), not flickering between
    treatments: here the second plane alone would be measured as white."""
    camera = np.clip(scene(96) + camera_like_noise((96, 96, 3), 8), 0, 255)
    white = np.clip(scene(96) + white_noise((96, 96, 3), 20), 0, 255)
    stack = np.stack([camera, white]).mean(axis=-1).astype(np.uint8)  # 2 gray planes
    tifffile.imwrite(tmp_path / "stack.tif", stack)
    auto = AutoDenoiser()
    denoise_file(auto, tmp_path / "stack.tif", tmp_path / "out.tif")
    assert auto.last.pd == 2
    out = tifffile.imread(tmp_path / "out.tif")
    expected = np.clip(np.rint(camera_treatment()(stack[1, :, :, None].astype(np.float32))), 0, 255)
    assert np.array_equal(out[1], expected[:, :, 0].astype(np.uint8))


def test_refine_flags_turn_the_second_pass_off_and_on(tmp_path):
    noisy = np.clip(scene(64) + camera_like_noise((64, 64, 3), 8), 0, 255)
    write_image(tmp_path / "a.png", Image(noisy))
    read = read_image(tmp_path / "a.png").pixels
    runs = {"plain": (["--no-refine"], Denoiser(load_bundled(CAMERA_MODEL), pd=2)),
            "fixed": (["--model", "photo", "--pd", "2", "--refine"],
                      Denoiser(load_bundled("photo"), pd=2, refine=load_bundled("photo")))}
    for name, (flags, expected) in runs.items():
        assert main(["denoise", str(tmp_path / "a.png"), "-o", str(tmp_path / f"{name}.png"),
                     *flags]) == 0
        assert np.array_equal(read_image(tmp_path / f"{name}.png").pixels,
                              np.clip(np.rint(expected(read)), 0, 255)), name


def test_refine_needs_a_pixel_shuffled_first_pass(tmp_path, capsys):
    write_image(tmp_path / "a.png", Image(scene(32)))
    assert main(["denoise", str(tmp_path / "a.png"), "-o", str(tmp_path / "b.png"),
                 "--pd", "1", "--refine"]) == 2
    assert "--refine: a second pass after a pixel-shuffled one" in capsys.readouterr().err
    assert not (tmp_path / "b.png").exists()


def test_a_refined_image_tiles_exactly():
    noisy = np.clip(scene(150)[:, :131] + camera_like_noise((150, 131, 3), 8), 0, 255)
    refined = camera_treatment()
    tiled = Denoiser(load_bundled(CAMERA_MODEL), pd=2, refine=load_bundled("photo"), tile=64)
    assert tiled.margin >= refined.model.receptive_radius + refined.refine.net.receptive_radius
    assert np.abs(tiled(noisy, tiled=True) - refined(noisy, tiled=False)).max() < 0.02


def test_a_given_factor_with_the_automatic_model_takes_the_model_for_that_factor(tmp_path):
    noisy = np.clip(scene(64) + camera_like_noise((64, 64, 3), 8), 0, 255)
    write_image(tmp_path / "a.png", Image(noisy))
    read = read_image(tmp_path / "a.png").pixels
    for pd, model in ((2, CAMERA_MODEL), (1, WHITE_MODEL)):
        out = tmp_path / f"pd{pd}.png"
        assert main(["denoise", str(tmp_path / "a.png"), "-o", str(out), "--pd", str(pd)]) == 0
        expected = Denoiser(load_bundled(model), pd=pd)(read)
        assert np.array_equal(read_image(out).pixels, np.clip(np.rint(expected), 0, 255)), pd
