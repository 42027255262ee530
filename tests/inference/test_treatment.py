"""The automatic treatment: which model and pixel-shuffle factor each image gets, and the
commands and APIs that use it by default."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile
import torch
from scipy import ndimage
from skimage import data as skdata

from n2n.cli import main
from n2n.errors import N2NError
from n2n.evaluation.treatment import TEXTURE_WINDOW, measure_noise, residual_lag2
from n2n.inference.arrays import denoise_array
from n2n.inference.auto import AutoDenoiser
from n2n.inference.denoiser import Denoiser
from n2n.inference.files import denoise_file
from n2n.inference.multiscale import MultiScaleDenoiser, fuse, take_over_weight
from n2n.inference.policy import (
    CAMERA_MODEL,
    CORRELATED_LAG2,
    CORRELATED_RATIO,
    FLAT_PD,
    TAKE_OVER,
    UNCLIPPED_MODEL,
    WHITE_MODEL,
    choose_treatment,
    with_flat_pd,
)
from n2n.inference.spec import InferenceSpec, build_denoiser
from n2n.inference.strips import denoised_rows
from n2n.io.images import Image, read_image, write_image
from n2n.models import ModelConfig, build_model
from n2n.models.bundled import load_bundled


def scene(size: int = 160) -> np.ndarray:
    """A crop of scikit-image's astronaut (RGB, float32 0..255): real edges and texture."""
    return skdata.astronaut()[60:60 + size, 160:160 + size].astype(np.float32)


def camera_treatment() -> Denoiser:
    """What the rule runs on camera noise: camera at --pd 2, then photo at --pd 1."""
    return Denoiser(load_bundled(CAMERA_MODEL), pd=2, refine=load_bundled("photo"))


def white_noise(shape, sigma: float, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, sigma, shape).astype(np.float32)


def blurred_noise(shape, sigma: float, taps: list[int], seed: int = 0) -> np.ndarray:
    """White noise blurred by the separable kernel ``taps`` x ``taps`` (as demosaicking and
    in-camera processing mix neighbours), scaled back to ``sigma``."""
    kernel = np.outer(taps, taps)[:, :, None] / np.sum(taps) ** 2
    noise = ndimage.convolve(white_noise(shape, 1.0, seed), kernel, mode="wrap")
    return noise * (sigma / noise.std())


def camera_like_noise(shape, sigma: float, seed: int = 0) -> np.ndarray:
    """Noise correlated at 1 pixel and white from 2, as in phone photos (SIDD)."""
    return blurred_noise(shape, sigma, [1, 1], seed)


def dslr_like_noise(shape, sigma: float, seed: int = 0) -> np.ndarray:
    """Noise correlated over 2 pixels and more, as in DSLR photos (Nam's): lag-2 correlation
    0.41."""
    return blurred_noise(shape, sigma, [1, 4, 6, 4, 1], seed)


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
    at_1 = UNCLIPPED_MODEL if measure.unclipped else WHITE_MODEL  # auto at pd 1: by the noise
    assert choose_treatment(measure, pd=1).model == at_1
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
    """Planes of one stack are treated alike (chosen from the middle plane, the decision
    sample of every door), not flickering between treatments: here the first plane alone
    would be measured as white."""
    camera = np.clip(scene(96) + camera_like_noise((96, 96, 3), 8), 0, 255)
    white = np.clip(scene(96) + white_noise((96, 96, 3), 20), 0, 255)
    stack = np.stack([white, camera]).mean(axis=-1).astype(np.uint8)  # 2 gray planes
    tifffile.imwrite(tmp_path / "stack.tif", stack)
    auto = AutoDenoiser()
    denoise_file(auto, tmp_path / "stack.tif", tmp_path / "out.tif")
    assert auto.last.pd == 2
    out = tifffile.imread(tmp_path / "out.tif")
    expected = np.clip(np.rint(camera_treatment()(stack[0, :, :, None].astype(np.float32))), 0, 255)
    assert np.array_equal(out[0], expected[:, :, 0].astype(np.uint8))


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


def multiscale_treatment(tile: int = 512) -> MultiScaleDenoiser:
    """What the rule runs on noise correlated over 2 pixels: camera --pd 2, 3 and 4, each
    refined by photo, the coarser ones taking over flat areas."""
    return MultiScaleDenoiser([Denoiser(load_bundled(CAMERA_MODEL), pd=pd, tile=tile,
                                        refine=load_bundled("photo")) for pd in (2, 3, 4)],
                              TAKE_OVER)


@pytest.mark.parametrize(("noise", "correlated"), [(white_noise, False),
                                                   (camera_like_noise, False),
                                                   (dslr_like_noise, True)])
def test_residual_correlation_over_2_pixels_tells_dslr_noise_apart(noise, correlated):
    clean = scene()
    lag2 = residual_lag2(clean + noise((160, 160, 3), 6), clean)  # what a perfect pass removes
    assert (lag2 > CORRELATED_LAG2) == correlated
    treatment = with_flat_pd(choose_treatment(measure_noise(clean + camera_like_noise(
        (160, 160, 3), 6))), lag2)
    assert treatment.flat_pd == (FLAT_PD if correlated else ())
    assert (f"{lag2:.2f}" in treatment.reason) == correlated


def test_residual_correlation_of_nothing_is_not_a_number():
    assert np.isnan(residual_lag2(np.zeros((2, 2, 3)), np.zeros((2, 2, 3))))
    flat = np.full((32, 32, 3), 100.0)
    assert np.isnan(residual_lag2(flat, flat))  # nothing removed: no noise to correlate
    assert with_flat_pd(choose_treatment(measure_noise(flat)), np.nan).flat_pd == ()


def test_coarser_results_take_over_flat_areas_and_leave_texture():
    texture = np.array([0.0, TAKE_OVER[1], TAKE_OVER[0], 1e4])
    for half in TAKE_OVER:
        w = take_over_weight(texture, half)
        assert w[0] == 1 and w[-1] < 0.001 and np.all(np.diff(w) < 0)
        assert w[list(texture).index(half)] == pytest.approx(0.5)
    flat = np.full((40, 40, 3), 100.0)
    edges = np.zeros((40, 40, 3))
    edges[:, ::2] = 255.0  # stripes: texture everywhere
    for finest, expected in ((flat, 3.0), (edges, 0.0)):
        assert np.allclose(fuse(finest, [finest + 2.0, finest + 3.0], TAKE_OVER) - finest, expected,
                           atol=0.05)


def test_auto_denoiser_lets_coarser_factors_take_over_flat_areas_of_dslr_noise():
    noisy = np.clip(scene(128) + dslr_like_noise((128, 128, 3), 6), 0, 255)
    auto = AutoDenoiser()
    out = auto(noisy)
    assert (auto.last.pd, auto.last.refine, auto.last.flat_pd) == (2, "photo", FLAT_PD)
    assert "correlated over 2 px" in auto.last.reason and "--pd 3 and 4" in str(auto.last)
    assert np.array_equal(out, multiscale_treatment()(noisy))
    assert not np.array_equal(out, camera_treatment()(noisy))
    off = AutoDenoiser(multiscale=False)
    assert np.array_equal(off(noisy), camera_treatment()(noisy)) and off.last.flat_pd == ()
    phone = np.clip(scene(128) + camera_like_noise((128, 128, 3), 6), 0, 255)
    forced = AutoDenoiser(multiscale=True)
    assert np.array_equal(forced(phone), multiscale_treatment()(phone))
    assert "--multiscale given" in forced.last.reason
    white = np.clip(scene(128) + white_noise((128, 128, 3), 20), 0, 255)
    forced(white)
    assert (forced.last.pd, forced.last.flat_pd) == (1, ())  # only where the rule takes pd 2


def test_multiscale_needs_the_automatic_factor(tmp_path, capsys):
    with pytest.raises(N2NError, match="multiscale"):
        build_denoiser(InferenceSpec(pd=2, multiscale=True))
    write_image(tmp_path / "a.png", Image(scene(32)))
    assert main(["denoise", str(tmp_path / "a.png"), "-o", str(tmp_path / "b.png"),
                 "--pd", "2", "--multiscale"]) == 2
    assert "--multiscale" in capsys.readouterr().err
    assert not (tmp_path / "b.png").exists()


def test_a_multiscale_image_tiles_and_streams_exactly():
    """Small random members (together: grid 48, margin 96) on a tall image: tiles, 17 strips
    and the texture window across their borders all give the whole-image result."""
    torch.manual_seed(0)
    members = [Denoiser(build_model(ModelConfig(pd=pd, depth=2, width=8)), tile=32, fast=False)
               for pd in (2, 3, 4)]
    small = MultiScaleDenoiser(members, TAKE_OVER)
    assert small.margin >= max(d.margin for d in members) + TEXTURE_WINDOW // 2 + 1
    photo = np.tile(scene(), (6, 1, 1))[:805, :70]
    noisy = np.rint(np.clip(photo + dslr_like_noise(photo.shape, 6), 0, 255))
    whole = small(noisy, tiled=False)
    assert np.abs(small(noisy, tiled=True) - whole).max() < 1e-3
    rows = iter(noisy.astype(np.uint8).reshape(805, -1, 3))
    streamed = np.stack(list(denoised_rows(small, rows, 805, 3, 8))).reshape(805, 70, 3)
    assert np.abs(streamed.astype(float) - np.rint(whole)).max() <= 1


def test_a_saturated_area_does_not_pass_for_noise_correlated_over_2_pixels():
    """A blown-out sky (or black bars) leaves a smooth residual where the noise was clipped:
    left out, a phone photo stays at one factor."""
    for level in (255.0, 0.0):
        image = scene(192)
        image[:80] = level
        noisy = np.clip(image + camera_like_noise((192, 192, 3), 6), 0, 255)
        auto = AutoDenoiser()
        auto(noisy)
        assert (auto.last.pd, auto.last.flat_pd) == (2, ()), level
    saturated = np.full((32, 32, 3), 255.0)
    assert np.isnan(residual_lag2(saturated, saturated - 1.0))


def test_cli_multiscale_flags_and_json(tmp_path, capsys):
    noisy = np.clip(scene(96) + dslr_like_noise((96, 96, 3), 6), 0, 255)
    write_image(tmp_path / "a.png", Image(noisy))
    read = read_image(tmp_path / "a.png").pixels
    assert main(["denoise", str(tmp_path / "a.png"), "-o", str(tmp_path / "on.png"),
                 "--json", str(tmp_path / "on.json")]) == 0
    assert "flat areas from --pd 3 and 4" in capsys.readouterr().out
    assert json.loads((tmp_path / "on.json").read_text())["images"][0]["treatment"][
        "flat_pd"] == list(FLAT_PD)
    assert np.array_equal(read_image(tmp_path / "on.png").pixels,
                          np.clip(np.rint(multiscale_treatment()(read)), 0, 255))
    assert main(["denoise", str(tmp_path / "a.png"), "-o", str(tmp_path / "off.png"),
                 "--no-multiscale"]) == 0
    assert np.array_equal(read_image(tmp_path / "off.png").pixels,
                          np.clip(np.rint(camera_treatment()(read)), 0, 255))
    for folder, pixels in (("noisy", noisy), ("clean", scene(96))):
        (tmp_path / folder).mkdir()
        write_image(tmp_path / folder / "a.png", Image(pixels))
    capsys.readouterr()
    assert main(["eval", "--noisy", str(tmp_path / "noisy"), "--reference",
                 str(tmp_path / "clean")]) == 0
    assert "camera pd 2 + photo, flat areas pd 3, 4" in capsys.readouterr().out


def test_a_stack_of_dslr_noise_gets_the_multiscale_treatment_for_every_plane():
    """denoise_array chooses once, from the first plane (AutoDenoiser.settle), with the first
    pass's residual: every plane then gets the three factors."""
    stack = np.rint(np.stack([np.clip(scene(128) + dslr_like_noise((128, 128, 3), 6, seed),
                                      0, 255) for seed in (0, 1)])).astype(np.uint8)
    out = denoise_array(stack, channel_axis=-1, device="cpu")
    expected = multiscale_treatment()(stack[1].astype(np.float32), clip=False)
    assert np.array_equal(out[1], np.clip(np.rint(expected), 0, 255).astype(np.uint8))
    plain = camera_treatment()(stack[1].astype(np.float32), clip=False)
    assert not np.array_equal(out[1], np.clip(np.rint(plain), 0, 255).astype(np.uint8))


def test_cli_ensemble_averages_each_pass_over_eight_views(tmp_path, capsys):
    write_image(tmp_path / "a.png", Image(np.clip(scene(64) + white_noise((64, 64, 3), 20),
                                                  0, 255)))
    read = read_image(tmp_path / "a.png").pixels
    assert main(["denoise", str(tmp_path / "a.png"), "-o", str(tmp_path / "b.png"),
                 "--model", "photo", "--pd", "1", "--ensemble"]) == 0
    expected = Denoiser(load_bundled("photo"), ensemble=True)(read)
    assert np.array_equal(read_image(tmp_path / "b.png").pixels,
                          np.clip(np.rint(expected), 0, 255))
    for flag in ("--ensemble", "--multiscale"):
        assert main(["denoise", str(tmp_path / "a.png"), "-o", str(tmp_path / "c.png"),
                     "--zero-shot", flag]) == 2
        assert f"{flag} is for trained models" in capsys.readouterr().err
    assert not (tmp_path / "c.png").exists()
