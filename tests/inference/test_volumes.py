"""Volumes and time-lapses with a context model (2.5-D): windows of neighbouring planes in,
the centre plane out; trained on a noisy stack alone (Noise2Noise between interleaved planes),
denoised through the array and file doors, tiled equal to untiled, axes read or named, and
stacks too thin for the window refused with a sentence. All on generated volumes."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import tifffile
import torch
from conftest import generated_volume

from n2n.cli import main
from n2n.data.volumes import (
    InterleavedPairs,
    from_runs,
    resolve_axes,
    to_runs,
    window_indices,
)
from n2n.errors import N2NError
from n2n.inference.arrays import denoise_array
from n2n.inference.denoiser import Denoiser
from n2n.inference.files import denoise_file
from n2n.inference.volumes import plane_windows
from n2n.models import ModelConfig, build_model
from n2n.models.checkpoint import load_model, write_weights
from n2n.training import DataConfig, TrainConfig, train


@pytest.fixture
def context_model():
    """A random (untrained) context model over 5 gray planes, with a non-trivial output."""
    return build_model(ModelConfig(channels=1, width=8, depth=2, context=5, residual=True,
                                   linear_output=True), seed=1).eval()


def test_window_indices_mirror_at_both_ends():
    assert window_indices(0, 10, 5) == [2, 1, 0, 1, 2]
    assert window_indices(9, 10, 5) == [7, 8, 9, 8, 7]
    assert window_indices(4, 10, 3) == [3, 4, 5]
    with pytest.raises(N2NError, match="too thin"):
        window_indices(0, 2, 5)


def test_context_model_maps_a_window_to_its_centre_plane(context_model):
    out = context_model(torch.rand(2, 5, 20, 24) * 255)
    assert out.shape == (2, 1, 20, 24)
    with pytest.raises(N2NError, match="window of planes must be odd"):
        ModelConfig(context=4)
    with pytest.raises(N2NError, match="Lite U-Net"):
        ModelConfig(arch="n2n", context=3)


def test_axes_round_trip_through_runs():
    array = np.arange(2 * 3 * 4 * 5 * 6).reshape(2, 3, 4, 5, 6)  # T, Z, C, Y, X
    runs = to_runs(array, "TZCYX")  # the window runs along Z, inside each (T, C)
    assert runs.shape == (8, 3, 5, 6, 1)
    assert np.array_equal(runs[1, :, :, :, 0], array[0, :, 1])  # T 0, C 1: the Z planes
    assert np.array_equal(from_runs(runs, array.shape, "TZCYX"), array)
    assert resolve_axes("QYX", 3) == "QYX"
    with pytest.raises(N2NError, match="name them"):
        resolve_axes("QQYX", 4)
    with pytest.raises(N2NError, match="names 3 axes, the stack has 4"):
        resolve_axes("QQYX", 4, "ZYX")


def test_windows_hold_only_what_a_window_needs():
    leading, read = (3, 7), []  # T 3 x Z 7: windows along Z never cross T
    planes = np.arange(21, dtype=np.float32)[:, None, None] * np.ones((1, 2, 2), np.float32)

    def reader(k: int) -> np.ndarray:
        read.append(k)
        return planes[k]

    windows = list(plane_windows(reader, leading, 1, 5))
    assert sorted(read) == list(range(21))  # every plane read once
    assert [int(w[0, 0, 2]) for w in windows] == list(range(21))  # the centre is the plane
    assert [int(v) for v in windows[7][0, 0]] == [9, 8, 7, 8, 9]  # T 1, Z 0: mirrored in T 1


def test_tiled_equals_untiled_and_refuses_thin_stacks(context_model):
    _, noisy = generated_volume(planes=7, size=44)
    untiled = denoise_array(noisy, context_model, tile=512, fast=False)
    tiled = denoise_array(noisy, context_model, tile=8, fast=False)
    assert untiled.shape == noisy.shape and untiled.dtype == np.uint8
    assert np.array_equal(tiled, untiled)
    with pytest.raises(N2NError, match=r"4 plane\(s\) along T are too few for the model's "
                                       "window of 5 planes"):
        denoise_array(noisy[:4], context_model, axes="TYX")
    with pytest.raises(N2NError, match="a single plane"):
        denoise_array(noisy[0], context_model)
    with pytest.raises(N2NError, match="needs its axes named"):
        denoise_array(noisy.reshape(7, 1, 44, 44), context_model)


def test_file_door_keeps_axes_and_equals_the_array_door(tmp_path, context_model):
    _, noisy = generated_volume(planes=6, size=32)
    stack = np.stack([noisy, noisy[::-1]])  # T 2, Z 6
    source, target = tmp_path / "stack.tif", tmp_path / "out.tif"
    tifffile.imwrite(source, stack, imagej=True, metadata={"axes": "TZYX"})
    before = source.read_bytes()
    denoise_file(Denoiser(context_model, fast=False), source, target)
    with tifffile.TiffFile(target) as tif:
        assert tif.series[0].axes == "TZYX"
        written = tif.series[0].asarray()
    expected = denoise_array(stack, context_model, axes="TZYX", fast=False)
    assert np.array_equal(written, expected)
    assert source.read_bytes() == before  # the input untouched


def test_interleaved_pairs_never_pair_a_plane_with_itself():
    run = torch.arange(10, dtype=torch.float32)[:, None, None, None].expand(10, 1, 8, 8)
    pairs = InterleavedPairs([run.contiguous()], context=3, patch_size=8, patches_per_epoch=64)
    for batch in pairs.batches(16, torch.Generator().manual_seed(0)):
        window = batch.input[:, :, 0, 0]
        target = batch.target[:, 0, 0, 0]
        assert ((window - target[:, None]) % 2 != 0).all()  # inputs one parity, target other
        assert ((window[:, 1] - target).abs() == 1).all()  # the target is next to the centre
    with pytest.raises(N2NError, match="too thin for interleaved pairs"):
        InterleavedPairs([run[:3].contiguous()], context=3, patch_size=8)


def test_train_on_a_generated_time_lapse_then_denoise(tmp_path):
    clean, noisy = generated_volume(planes=12, size=40)
    tifffile.imwrite(tmp_path / "lapse.tif", noisy)  # no metadata: the axes are named
    data = DataConfig(source="volume", paths=tmp_path / "lapse.tif", axes="TYX",
                      patch_size=32, patches_per_epoch=16)
    result = train(TrainConfig(data=data, epochs=1, batch_size=4,
                               model={"width": 8, "depth": 2}), tmp_path / "run",
                   device="cpu", progress=False)
    assert result.config.model.context == 5  # a volume trains a context model by default
    model = load_model(result.best)
    assert model.config.context == 5
    out = denoise_array(noisy, result.best, axes="TYX")
    assert out.shape == noisy.shape and np.isfinite(out).all()
    more = train(replace(result.config, epochs=2), tmp_path / "run", resume=True,
                 device="cpu", progress=False)  # the saved axes and window come back
    assert len(more.history) == 2 and more.config.data.axes == "TYX"
    with pytest.raises(N2NError, match="train it on"):
        TrainConfig(data=DataConfig(source="clean", paths=tmp_path), model={"context": 3})


def test_cli_trains_and_denoises_a_stack(tmp_path, capsys):
    _, noisy = generated_volume(planes=12, size=40)
    source = tmp_path / "lapse.tif"
    tifffile.imwrite(source, noisy, imagej=True, metadata={"axes": "TYX"})
    assert main(["train", str(tmp_path / "run"), "--volume", str(source), "--patch-size",
                 "32", "--patches-per-epoch", "8", "--batch-size", "4", "--epochs", "1",
                 "--width", "8", "--depth", "2", "--context", "3"]) == 0
    assert main(["denoise", str(source), "-o", str(tmp_path / "out.tif"), "--model",
                 str(tmp_path / "run" / "best.pt")]) == 0
    assert "window of 3 planes" in capsys.readouterr().out
    assert tifffile.imread(tmp_path / "out.tif").shape == noisy.shape


def test_weights_file_keeps_the_context(tmp_path, context_model):
    write_weights(context_model, tmp_path / "w.pt")
    assert load_model(tmp_path / "w.pt").config.context == 5


def test_tiff_stack_into_ome_zarr_with_a_context_model(tmp_path, context_model):
    zarr = pytest.importorskip("zarr")
    _, noisy = generated_volume(planes=6, size=32)
    source = tmp_path / "stack.tif"
    stack = np.stack([noisy, noisy[:, ::-1]])  # T 2, Z 6
    tifffile.imwrite(source, stack, imagej=True, metadata={"axes": "TZYX"})
    denoise_file(Denoiser(context_model, fast=False), source, tmp_path / "out.zarr")
    written = zarr.open(str(tmp_path / "out.zarr"))["0"][:]
    expected = denoise_array(stack, context_model, axes="TZYX", fast=False)
    assert np.array_equal(written, expected)
