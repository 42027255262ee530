"""The second hostile pass (issue 38), over the surfaces of that round: the inference spec
through every door, the value convention, the training library call and the new formats.

Each case broke before its fix (a traceback, a silently wrong result, a file or folder left
where none was asked) or is a cheap guard of one that held; docs/results/hostile_round2.md
lists every case tried. Command cases assert the exit status, one ``n2n: error:`` line naming
the value, byte-identical files and no temporaries (:func:`test_adversarial.run_cli`).
"""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
from test_adversarial import run_cli

import n2n
from n2n.errors import N2NError
from n2n.io.images import Image, write_image
from n2n.training import DataConfig, TrainConfig, train

SHAPE = (48, 56)


@pytest.fixture
def folder(tmp_path):
    """A user's folder with one small noisy gray photo-like PNG."""
    rng = np.random.default_rng(0)
    ramp = np.linspace(40, 200, SHAPE[1], dtype=np.float32)[None, :].repeat(SHAPE[0], 0)
    noisy = np.clip(ramp + rng.normal(0, 20, SHAPE), 0, 255).astype(np.float32)
    write_image(tmp_path / "x.png", Image(noisy[..., None]))
    return tmp_path


def gray(scale: float = 1.0, dtype=np.float32) -> np.ndarray:
    rng = np.random.default_rng(1)
    return ((0.5 + rng.normal(0, 0.1, SHAPE)) * scale).astype(dtype)


# ------------------------------------------------------------- the spec through the CLI door


@pytest.mark.parametrize("flags, says", [
    (("--data-range", "0"), "--data-range"),
    (("--data-range", "-1"), "--data-range"),
    (("--data-range", "nan"), "--data-range"),
    (("--data-range", "inf"), "--data-range"),
    (("--data-range", "1e300"), "beyond float32"),  # was: exit 0, an all-black image
    (("--data-range", "1e-31"), "beyond float32"),
    (("--tile", "0"), "--tile 0"),
    (("--tile", "-5"), "--tile -5"),
    (("--pd", "0"), "--pd 0"),
    (("--pd", "9"), "--pd 9"),
    (("--device", "bogus"), "bogus"),
    (("--pd", "2", "--multiscale"), "--multiscale"),
    (("--pd", "1", "--refine"), "--refine"),
    (("--zero-shot", "--model", "camera"), "drop --model camera"),  # was: silently ignored
])
def test_denoise_options_that_cannot_apply_are_refused(folder, capsys, flags, says):
    model = () if "--model" in flags else ("--model", "photo")
    run_cli(capsys, folder, "denoise", folder / "x.png", "-o", folder / "y.png", *model,
            *flags, says=(says,))
    assert not (folder / "y.png").exists()


@pytest.mark.parametrize("name", ["x.gif", "x.bmp", "x.ico"])
def test_an_image_name_of_a_format_not_written_is_refused_not_made_a_folder(folder, capsys,
                                                                             name):
    run_cli(capsys, folder, "denoise", folder / "x.png", "-o", folder / name,
            "--model", "photo", says=(name, "does not write"))
    assert not (folder / name).exists()  # was: a folder x.gif/ holding x.png, exit 0


# ------------------------------------------------------------- the spec through the array door


@pytest.mark.parametrize("kwargs, says", [
    ({"model": None}, "model None"),
    ({"model": 123}, "model 123"),
    ({"pd": True}, "pd True"),  # was: ran with pd 1
    ({"pd": "2"}, "pd '2'"),
    ({"pd": 2.5}, "pd 2.5"),
    ({"tile": 2.5}, "tile 2.5"),
    ({"tile": "64"}, "tile '64'"),
    ({"ensemble": "no"}, "ensemble 'no'"),  # was: ran the 8x ensemble
    ({"fast": "off"}, "fast 'off'"),
    ({"data_range": True}, "data_range True"),  # was: white 1
    ({"data_range": 1e300}, "beyond float32"),  # was: an all-NaN result
    ({"channel_axis": 1.5}, "channel_axis 1.5"),
    ({"channel_axis": "2"}, "channel_axis '2'"),
])
def test_denoise_array_refuses_options_of_the_wrong_type(kwargs, says):
    array = np.dstack([gray()] * 3)
    kwargs = {"model": "photo", **kwargs}
    with pytest.raises(N2NError) as err:
        n2n.denoise_array(array, channel_axis=kwargs.pop("channel_axis", -1), **kwargs)
    assert says in str(err.value)


def test_numpy_integers_and_flags_stay_valid_options():
    out = n2n.denoise_array(gray(), "photo", pd=np.int64(1), tile=np.int64(32), fast=0,
                            ensemble=np.bool_(False))
    assert out.shape == SHAPE and np.isfinite(out).all()


def test_floats_beyond_float32_are_refused_not_a_traceback():
    with pytest.raises(N2NError, match="beyond float32"):
        n2n.denoise_array(gray(1e300, np.float64), "photo")


# ------------------------------------------------------------- the value convention, as files


@pytest.mark.parametrize("pixels, says", [
    (np.full(SHAPE, np.nan, np.float32), "contains NaN or infinite"),  # was: IndexError
    (np.where(np.eye(*SHAPE, dtype=bool), np.inf, gray()).astype(np.float32), "infinite"),
    (np.zeros(SHAPE, np.int16) + 5, "unsupported pixel type int16"),
    (np.zeros(SHAPE, np.uint32) + 5, "unsupported pixel type uint32"),
])
def test_tiff_pixels_that_cannot_be_denoised_are_refused_in_one_line(folder, capsys, pixels,
                                                                     says):
    tifffile.imwrite(folder / "in.tif", pixels)
    for extra in ((), ("--data-range", "100")):  # int16 with --data-range said the opposite
        run_cli(capsys, folder, "denoise", folder / "in.tif", "-o", folder / "out.tif",
                "--model", "photo", *extra, says=("in.tif", says))


def test_a_float64_file_beyond_float32_is_refused(folder, capsys):
    np.save(folder / "in.npy", gray(1e300, np.float64))
    run_cli(capsys, folder, "denoise", folder / "in.npy", "-o", folder / "out.npy",
            "--model", "photo", says=("in.npy", "beyond float32"))


def test_a_bilevel_file_reads_true_as_white(folder, capsys):
    mask = np.zeros(SHAPE, bool)
    mask[:, SHAPE[1] // 2:] = True
    np.save(folder / "mask.npy", mask)
    run_cli(capsys, folder, "denoise", folder / "mask.npy", "-o", folder / "out.npy",
            "--model", "photo", code=0)
    out = np.load(folder / "out.npy")
    assert out[:, -8:].mean() > 200 and out[:, :8].mean() < 55  # was: all below 2


@pytest.mark.parametrize("value, dtype", [(0.5, np.float32), (1234, np.uint16)])
def test_a_constant_tiff_comes_back_unchanged(folder, capsys, value, dtype):
    tifffile.imwrite(folder / "flat.tif", np.full(SHAPE, value, dtype))
    run_cli(capsys, folder, "denoise", folder / "flat.tif", "-o", folder / "out.tif",
            "--model", "photo", code=0)
    assert (tifffile.imread(folder / "out.tif") == value).all()


# ------------------------------------------------------------- the training library call


@pytest.mark.parametrize("kwargs, says", [
    ({"epochs": "2"}, "epochs '2' must be a whole number"),  # was: TypeError
    ({"epochs": 2.5}, "epochs 2.5"),
    ({"lr": "0.1"}, "lr '0.1' must be a number"),
    ({"batch_size": None}, "batch_size None"),
    ({"epochs": 0}, "epochs 0 must be >= 1"),
    ({"minutes": 0}, "minutes 0 must be > 0"),
])
def test_train_refuses_settings_of_the_wrong_type_before_any_work(tmp_path, kwargs, says):
    data = DataConfig(source="clean", paths=str(tmp_path), noise="gaussian:25")
    with pytest.raises(N2NError) as err:
        train(TrainConfig(data=data, **kwargs), tmp_path / "run", progress=False)
    assert says in str(err.value) and not (tmp_path / "run").exists()


def test_train_takes_numpy_numbers(tmp_path):
    config = TrainConfig(data=DataConfig(source="clean", paths="x", noise="gaussian:25"),
                         epochs=np.int64(3), lr=np.float32(1e-3))
    assert config.epochs == 3


@pytest.mark.parametrize("where", ["file", "inside", "holds"])
def test_a_run_folder_that_meets_the_data_is_refused(folder, capsys, where):
    (folder / "data").mkdir()
    (folder / "x.png").rename(folder / "data" / "x.png")
    (folder / "afile").write_text("mine")
    run_dir = {"file": folder / "afile", "inside": folder / "data" / "run",
               "holds": folder}[where]
    run_cli(capsys, folder, "train", run_dir, "--clean", folder / "data",
            says=(str(run_dir),))


# ------------------------------------------------------------- the Dask door


def test_dask_names_the_plane_and_pixel_that_is_not_finite():
    dask_array = pytest.importorskip("dask.array")
    import dask

    stack = np.stack([gray(), gray(), gray()])
    stack[0, 40, 50] = np.nan  # outside the decision sample (the middle plane)
    lazy = n2n.denoise_dask(dask_array.from_array(stack, chunks=(1, 32, 32)), "photo", tile=32)
    with dask.config.set(scheduler="synchronous"), pytest.raises(N2NError) as err:
        lazy.compute()
    assert "plane 0, pixel y=40, x=50" in str(err.value)  # was: "chunk at y=0, x=0"


@pytest.mark.parametrize("door", ["cli", "array"])
def test_a_given_white_far_below_the_pixels_is_refused_not_an_all_white_result(folder, capsys,
                                                                              door):
    """8-bit pixels with ``--data-range 1`` came back with every pixel white, exit 0."""
    if door == "cli":
        run_cli(capsys, folder, "denoise", folder / "x.png", "-o", folder / "y.png",
                "--data-range", "1", "--model", "photo", says=("x.png", "the given white 1"))
        assert not (folder / "y.png").exists()
    else:
        with pytest.raises(N2NError, match="over 4 times the given white 1"):
            n2n.denoise_array(np.full((40, 48), 200, np.uint8), "photo", data_range=1)
