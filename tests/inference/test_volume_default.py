"""The default knows stacks: ``n2n denoise`` and :func:`n2n.denoise_array` with no model give a
Z-stack or time-lapse of gray fluorescence-like captures (shot noise), whose axes say Z or T
and which holds a window of planes, to the bundled context model; everything else goes plane
by plane as before. One rule (inference/policy.py ``for_stack``) decides for both doors. All
on generated stacks."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile
from skimage import data as skdata

import n2n
from n2n.cli import main
from n2n.evaluation.treatment import Treatment
from n2n.inference.arrays import denoise_array
from n2n.inference.policy import for_stack
from n2n.models.bundled import CONTEXT_MODELS, is_bundled_name, load_bundled

WINDOW = CONTEXT_MODELS["confocal-context"].context
FRAMES = CONTEXT_MODELS["confocal-timelapse"].context  # the time-lapse model's wider window


def shot_stack(planes: int = 8, seed: int = 0) -> np.ndarray:
    """(planes, 64, 64) uint8 fluorescence-like captures: a drifting field, Poisson-Gaussian."""
    rng = np.random.default_rng(seed)
    cells = skdata.coins()[100:164, 100:164].astype(np.float64)
    clean = np.stack([np.roll(cells / cells.max() * 120, k, axis=1) for k in range(planes)])
    shot = rng.poisson(clean / 4.0) * 4.0 + rng.normal(0, 2, clean.shape)
    return np.clip(shot, 0, 255).round().astype(np.uint8)


def test_the_bundled_context_models_load_by_name():
    assert is_bundled_name("confocal-context") and is_bundled_name("confocal-timelapse")
    model = load_bundled("confocal-context")
    assert model.config.context == WINDOW == 5 and model.config.channels == 1
    model = load_bundled("confocal-timelapse")
    assert model.config.context == FRAMES == 9 and model.config.channels == 1


@pytest.mark.parametrize("axes, leading, name", [
    ("TYX", (FRAMES,), "confocal-timelapse"),  # a time-lapse holding the wider window
    ("TYX", (FRAMES - 1,), "confocal-context"),  # too short for it: the 5-frame window
    ("ZYX", (20,), "confocal-context"),  # a Z-stack's planes differ: never the time-lapse one
    ("TZYX", (20, 20), "confocal-context"),  # volumes in time: the window runs along Z
])
def test_the_widest_context_model_made_for_the_stack_axis_is_taken(axes, leading, name):
    chosen = for_stack(Treatment("confocal", 1, "shot noise"), axes, leading)
    assert chosen.model == name and chosen.context == CONTEXT_MODELS[name].context


def test_a_time_lapse_of_nine_frames_gets_the_time_lapse_model_at_the_array_door():
    stack = shot_stack(FRAMES + 1)
    auto = denoise_array(stack, axes="TYX")
    assert np.array_equal(auto, denoise_array(stack, "confocal-timelapse", axes="TYX"))


@pytest.mark.parametrize("axes", ["ZYX", "TYX"])  # 8 planes: under the time-lapse window
def test_array_door_takes_the_context_model_for_named_stacks(axes):
    stack = shot_stack()
    auto = denoise_array(stack, axes=axes)
    assert np.array_equal(auto, denoise_array(stack, "confocal-context", axes=axes))
    assert not np.array_equal(auto, denoise_array(stack, "confocal"))


def test_the_dask_door_decides_stacks_as_the_array_door_does():
    """One rule through every door: a named Z-stack gets the context model in Dask too (its
    chunks read a Z halo), equal to the array door's result to the bit."""
    da = pytest.importorskip("dask.array")
    stack = shot_stack()
    lazy = da.from_array(stack, chunks=(1, 64, 64))
    choices = []
    out = n2n.denoise_dask(lazy, axes="ZYX", on_decision=choices.append).compute(
        scheduler="synchronous")
    assert "confocal-context" in str(choices[0].treatment)
    assert np.array_equal(out, denoise_array(stack, axes="ZYX"))


def test_an_ome_zarr_z_stack_is_decided_as_the_array_door_does(tmp_path):
    """The file door reads an OME-Zarr image's axes from its metadata and asks the same rule
    (it once went plane by plane with the 2-D model, unlike the Dask door on the same file)."""
    pytest.importorskip("zarr")
    from n2n.io.formats.base import Axis
    from n2n.io.formats.ome_zarr import write_zarr

    stack = shot_stack()
    axes = [Axis("z", "space", 8, 2.0, "micrometer"), Axis("y", "space", 64, 0.5, "micrometer"),
            Axis("x", "space", 64, 0.5, "micrometer")]
    write_zarr(tmp_path / "in.zarr", axes, stack.dtype, [((...,), stack)], tmp_path / "in.tif")
    assert main(["denoise", str(tmp_path / "in.zarr"), "-o", str(tmp_path / "out.tif"),
                 "--json", str(tmp_path / "choice.json")]) == 0
    treatment = json.loads((tmp_path / "choice.json").read_text())["images"][0]["treatment"]
    assert treatment["model"] == "confocal-context" and treatment["context"] == WINDOW
    assert np.array_equal(tifffile.imread(tmp_path / "out.tif"), denoise_array(stack, axes="ZYX"))


@pytest.mark.parametrize("planes, axes", [(8, None), (8, "QYX"), (WINDOW - 1, "ZYX")])
def test_unnamed_or_thin_stacks_stay_plane_by_plane(planes, axes):
    stack = shot_stack(planes)
    assert np.array_equal(denoise_array(stack, axes=axes), denoise_array(stack, "confocal"))


def test_the_rule_leaves_other_treatments_and_given_models_alone():
    fluorescence = Treatment("confocal", 1, "shot noise")
    assert for_stack(fluorescence, "ZYX", (8,)).context == WINDOW
    assert for_stack(fluorescence, "ZYX", (8,), model="confocal") == fluorescence
    assert for_stack(fluorescence, "YXS", (), ) == fluorescence
    assert for_stack(fluorescence, "CYX", (8,)) == fluorescence  # channels are no window
    assert for_stack(fluorescence, None, (8,)) == fluorescence
    for other in (Treatment("photo-plus", 1, "white"), Treatment("camera", 2, "x", "photo")):
        assert for_stack(other, "ZYX", (8,)) == other
    assert "context" not in fluorescence.to_json()  # 2-D records keep their keys


def test_white_noise_stack_keeps_its_photo_model():
    rng = np.random.default_rng(1)
    photo = np.stack([np.roll(skdata.camera()[:64, :64], k, axis=1) for k in range(8)])
    gray = np.clip(photo + rng.normal(0, 20, photo.shape), 0, 255).round().astype(np.uint8)
    assert np.array_equal(denoise_array(gray, axes="ZYX"), denoise_array(gray, "photo-plus"))


def test_cli_says_the_context_model_and_records_it(tmp_path, capsys):
    stack = shot_stack()
    source, target = tmp_path / "lapse.tif", tmp_path / "out.tif"
    tifffile.imwrite(source, stack, imagej=True, metadata={"axes": "TYX"})
    assert main(["denoise", str(source), "-o", str(target), "--json",
                 str(tmp_path / "r.json")]) == 0
    out = capsys.readouterr().out
    assert "the bundled confocal-context model (each plane with a window of 5 planes)" in out
    treatment = json.loads((tmp_path / "r.json").read_text())["images"][0]["treatment"]
    assert treatment["model"] == "confocal-context" and treatment["context"] == WINDOW
    assert np.array_equal(tifffile.imread(target), denoise_array(stack, axes="TYX"))


def test_cli_file_without_axes_goes_plane_by_plane_unless_axes_given(tmp_path, capsys):
    stack = shot_stack()
    source = tmp_path / "plain.tif"
    tifffile.imwrite(source, stack)  # no axes in the file: tifffile says QYX
    assert main(["denoise", str(source), "-o", str(tmp_path / "a.tif")]) == 0
    assert "confocal --pd 1" in capsys.readouterr().out
    assert np.array_equal(tifffile.imread(tmp_path / "a.tif"), denoise_array(stack, "confocal"))
    assert main(["denoise", str(source), "-o", str(tmp_path / "b.tif"), "--axes", "ZYX"]) == 0
    assert "confocal-context" in capsys.readouterr().out
