"""The 3-D U-Net (anisotropic pooling) and the exports of volume models: sub-volumes of one
parity against the other's planes, Z tiles with the model's halo equal to the whole volume,
training, resuming and denoising through the library and the CLI, and TorchScript, ONNX and
BioImage Model Zoo exports of context and 3-D models that compute what the checkpoint does.
All on generated volumes with tiny networks."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import tifffile
import torch
from conftest import generated_volume

from n2n.cli import main
from n2n.data.volumes import InterleavedVolumes
from n2n.errors import N2NError
from n2n.export.exporter import export_model
from n2n.inference.arrays import denoise_array
from n2n.inference.denoiser import Denoiser
from n2n.inference.exported import load_exported
from n2n.inference.files import denoise_file
from n2n.inference.volumes import mirrored, volume_planes, z_tiles
from n2n.models import ModelConfig, build_model
from n2n.models.checkpoint import load_model
from n2n.models.unet3d import z_grid
from n2n.training import DataConfig, TrainConfig, train

PACKAGE = {"name": "volume test model", "training_data": "generated", "author": "tests"}


@pytest.fixture(scope="module")
def model3d():
    """A random (untrained) 3-D U-Net, depth 2, pooling Z at its first level only."""
    return build_model(ModelConfig(arch="unet3d", channels=1, width=4, depth=2, z_pool=1,
                                   residual=True), seed=1).eval()


def test_config_refuses_what_a_3d_unet_cannot_take():
    with pytest.raises(N2NError, match="z_pool"):
        ModelConfig(arch="unet3d", depth=2, z_pool=3)
    with pytest.raises(N2NError, match="pd"):
        ModelConfig(arch="unet3d", pd=2)
    with pytest.raises(N2NError, match="train it on"):
        TrainConfig(data=DataConfig(source="clean", paths="x"), model={"arch": "unet3d"})


def test_z_is_pooled_only_where_asked_and_the_radius_bounds_the_field(model3d):
    assert model3d.net.z_multiple == 2 and model3d.net.multiple == 4
    x = torch.rand(1, 2 * model3d.net.z_radius + 3, 24, 20) * 255
    with torch.no_grad():
        base = model3d(x)
        moved = x.clone()
        moved[0, 0] += 80  # the first plane: beyond the Z radius of the last plane
        changed = (model3d(moved) - base).abs().amax(dim=(0, 2, 3))
    assert changed[0] > 0 and changed[-1] == 0
    assert model3d(x[:, :5]).shape == (1, 5, 24, 20)  # any number of planes, Z padded inside


def test_z_tiles_start_on_the_grid_and_mirror_past_the_ends():
    assert z_tiles(13, 4, 2, 4) == [(4, 8), (8, 12), (12, 16), (16, 18)]
    assert [mirrored(i, 4) for i in (-3, -1, 0, 3, 4, 7, 9)] == [3, 1, 0, 3, 2, 1, 3]
    assert mirrored(5, 1) == 0


def test_z_and_xy_tiles_equal_the_whole_volume(model3d):
    volume = np.random.default_rng(0).random((13, 37, 45)).astype(np.float32) * 200
    halo, multiple = z_grid(model3d)

    def run(core: int, tile: int | None) -> np.ndarray:
        denoiser = Denoiser(model3d, tile=tile, fast=False)
        return np.stack(list(volume_planes(lambda k: volume[k][..., None], 13,
                                           lambda x: denoiser(x, clip=False), halo, multiple,
                                           core)))

    whole, tiled = run(1000, None), run(2, 16)
    assert whole.shape == (13, 37, 45, 1)
    assert np.abs(whole - tiled).max() < 1e-4


def test_sub_volumes_pair_one_parity_with_the_other():
    runs = [torch.arange(20.0).view(20, 1, 1, 1).expand(20, 1, 8, 8).contiguous()]
    pairs = InterleavedVolumes(runs, depth=4, patch_size=8, patches_per_epoch=32)
    batch = next(pairs.batches(32, torch.Generator().manual_seed(0)))
    assert batch.input.shape == batch.target.shape == (32, 4, 8, 8)
    inputs, targets = batch.input[:, :, 0, 0], batch.target[:, :, 0, 0]
    assert ((inputs - targets).abs() == 1).all()  # the neighbour of the other parity
    assert (torch.diff(inputs, dim=1) == 2).all()  # consecutive planes of one parity
    with pytest.raises(N2NError, match="patch_depth"):
        InterleavedVolumes(runs, depth=12, patch_size=8)


def test_train_resume_and_denoise_a_stack(tmp_path):
    _, noisy = generated_volume(planes=12, size=32)
    source = tmp_path / "stack.tif"
    tifffile.imwrite(source, noisy, imagej=True, metadata={"axes": "ZYX"})
    data = DataConfig(source="volume", paths=source, patch_size=16, patches_per_epoch=4,
                      patch_depth=4)
    config = TrainConfig(data=data, model={"arch": "unet3d", "width": 4, "depth": 2,
                                           "residual": True}, batch_size=2, epochs=1, lr=1e-4)
    result = train(config, tmp_path / "run", device="cpu", progress=False)
    assert result.model.config.context == 1 and result.config.data.patch_depth == 4
    more = train(replace(result.config, epochs=2), tmp_path / "run", resume=True,
                 device="cpu", progress=False)
    assert len(more.history) == 2
    checkpoint = tmp_path / "run" / "last.pt"
    out = denoise_array(noisy, checkpoint, axes="ZYX", fast=False)
    assert out.shape == noisy.shape and out.dtype == np.uint8
    denoise_file(Denoiser(load_model(checkpoint), fast=False), source, tmp_path / "out.tif")
    assert np.array_equal(tifffile.imread(tmp_path / "out.tif"), out)
    assert np.array_equal(tifffile.imread(source), noisy)  # the input untouched


def test_cli_trains_a_3d_unet_and_denoises_a_time_lapse_of_volumes(tmp_path, capsys):
    _, noisy = generated_volume(planes=10, size=32)
    source = tmp_path / "stack.tif"
    tifffile.imwrite(source, np.stack([noisy, noisy[:, ::-1]]), imagej=True,
                     metadata={"axes": "TZYX"})
    assert main(["train", str(tmp_path / "run"), "--volume", str(source), "--arch", "unet3d",
                 "--width", "4", "--depth", "2", "--z-pool", "1", "--patch-depth", "4",
                 "--residual", "--lr", "1e-4",
                 "--patch-size", "16", "--patches-per-epoch", "2", "--batch-size", "2",
                 "--epochs", "1"]) == 0
    assert main(["denoise", str(source), "-o", str(tmp_path / "out.tif"), "--model",
                 str(tmp_path / "run" / "best.pt")]) == 0
    assert "3-D model" in capsys.readouterr().out
    assert tifffile.imread(tmp_path / "out.tif").shape == (2, 10, 32, 32)


@pytest.fixture
def one_thread():
    """Equal thread counts: the doors agree to the bit."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("axes", ["ZTYX", "TZYX"])
def test_file_door_takes_a_3d_model_on_a_stack_whatever_its_axis_order(tmp_path, model3d, axes,
                                                                       one_thread):
    _, noisy = generated_volume(planes=2 * 40, size=36)
    stack = noisy.reshape(40, 2, 36, 36) if axes == "ZTYX" else noisy.reshape(2, 40, 36, 36)
    source = tmp_path / "stack.tif"
    tifffile.imwrite(source, stack, ome=True, metadata={"axes": axes})  # Z tiles of 32 and 8
    denoise_file(Denoiser(model3d, fast=False), source, tmp_path / "out.tif")
    out = tifffile.imread(tmp_path / "out.tif")
    assert np.array_equal(out, denoise_array(stack, model3d, axes=axes, fast=False))
    assert tifffile.TiffFile(tmp_path / "out.tif").series[0].axes == axes


@pytest.fixture(scope="module")
def context_model():
    return build_model(ModelConfig(channels=1, width=4, depth=2, context=3, residual=True,
                                   linear_output=True), seed=1).eval()


@pytest.mark.parametrize("which", ["context_model", "model3d"])
def test_torchscript_export_denoises_a_volume_as_the_checkpoint(tmp_path, which, request):
    model = request.getfixturevalue(which)
    path = tmp_path / "w.ts"
    assert export_model(model, path, "torchscript") <= 1e-3
    exported = load_exported(path)
    assert exported.config == model.config
    _, noisy = generated_volume(planes=7, size=24)
    expected = denoise_array(noisy, model, axes="ZYX", fast=False)
    assert np.array_equal(denoise_array(noisy, exported, axes="ZYX"), expected)


@pytest.mark.parametrize("which", ["context_model", "model3d"])
def test_onnx_export_of_volume_models(tmp_path, which, request):
    pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    model = request.getfixturevalue(which)
    assert export_model(model, tmp_path / "w.onnx", "onnx") <= 1e-3
    _, noisy = generated_volume(planes=7, size=24)
    expected = denoise_array(noisy, model, axes="ZYX", fast=False).astype(int)
    got = denoise_array(noisy, load_exported(tmp_path / "w.onnx"), axes="ZYX").astype(int)
    assert np.abs(got - expected).max() <= 1  # float rounding at a .5 may differ


def test_bmz_package_of_a_3d_unet_has_a_z_axis_with_its_halo(tmp_path, model3d):
    import json
    import zipfile

    export_model(model3d, tmp_path / "m.zip", "bmz", package=PACKAGE)
    with zipfile.ZipFile(tmp_path / "m.zip") as archive:
        rdf = json.loads(archive.read("rdf.yaml"))
    halo, multiple = z_grid(model3d)
    z_out = [a for a in rdf["outputs"][0]["axes"] if a.get("id") == "z"]
    assert z_out and z_out[0]["halo"] == halo
    assert rdf["config"]["n2n-lite"]["z_halo"] == halo
    assert rdf["config"]["n2n-lite"]["axes"] == "zyx"
    assert load_model(tmp_path / "m.zip").config == model3d.config


def test_bmz_package_of_a_context_model_takes_its_window_as_z(tmp_path, context_model):
    import json
    import zipfile

    export_model(context_model, tmp_path / "c.zip", "bmz", package=PACKAGE)
    with zipfile.ZipFile(tmp_path / "c.zip") as archive:
        rdf = json.loads(archive.read("rdf.yaml"))
    z_in = [a for a in rdf["inputs"][0]["axes"] if a.get("id") == "z"]
    assert z_in[0]["size"] == 3
    assert rdf["config"]["n2n-lite"]["window"] == 3
