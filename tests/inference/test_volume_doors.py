"""The doors of a context model beyond the array and file ones: Dask with a Z (T) halo equal to
the volume door to the bit, OME-Zarr stacks in (training and inference) with their axes and
physical sizes carried onto the outputs, and no half-written volume output after an error.
All on generated volumes, with an untrained context model of a fixed seed."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from n2n.errors import N2NError
from n2n.inference.arrays import denoise_array
from n2n.models import ModelConfig, build_model


def generated_volume(planes: int = 12, size: int = 40, seed: int = 0) -> np.ndarray:
    """A (planes, size, size) uint8 stack of a blob drifting along the stack, with noise."""
    yy, xx = np.mgrid[:size, :size]
    clean = np.stack([60 + 120 * np.exp(-((yy - size / 2) ** 2 + (xx - size / 3 - k) ** 2)
                                        / (2 * 6.0 ** 2)) for k in range(planes)])
    noisy = clean + np.random.default_rng(seed).normal(0, 20, clean.shape)
    return np.clip(np.rint(noisy), 0, 255).astype(np.uint8)


@pytest.fixture
def context_model():
    """A random (untrained) context model over 5 gray planes, with a non-trivial output."""
    torch.set_num_threads(1)  # equal thread counts: the doors agree to the bit
    return build_model(ModelConfig(channels=1, width=8, depth=2, context=5, residual=True,
                                   linear_output=True), seed=1).eval()


@pytest.mark.parametrize("shape, axes, chunks", [
    ((13, 72, 66), None, (4, 40, 36)),  # Z runs of 5, 5, 3 and XY chunks: halos all round
    ((2, 7, 36, 30), "TZYX", (1, 2, 36, 30)),  # windows along Z, never across T
    ((11, 30, 30), "TYX", (11, 30, 30)),  # one chunk along T: no halo, mirrored inside
])
def test_dask_door_with_a_z_halo_equals_the_volume_door(context_model, shape, axes, chunks):
    da = pytest.importorskip("dask.array")
    from n2n.inference.dask_arrays import denoise_dask

    planes = int(np.prod(shape[:-2]))
    stack = np.stack([generated_volume(planes, max(shape[-2:]), seed=3)[k, :shape[-2],
                                                                        :shape[-1]]
                      for k in range(planes)]).reshape(shape)
    expected = denoise_array(stack, context_model, axes=axes, tile=16, fast=False)
    lazy = denoise_dask(da.from_array(stack, chunks=chunks), context_model, axes=axes,
                        tile=16, fast=False)
    assert lazy.shape == stack.shape and lazy.dtype == stack.dtype
    assert np.array_equal(lazy.compute(scheduler="synchronous"), expected)


def test_dask_door_refuses_thin_stacks_and_colour(context_model):
    da = pytest.importorskip("dask.array")
    from n2n.inference.dask_arrays import denoise_dask

    stack = da.from_array(generated_volume(4, 32))
    with pytest.raises(N2NError, match=r"4 plane\(s\) along its first axis are too few"):
        denoise_dask(stack, context_model)
    with pytest.raises(N2NError, match="gray stacks"):
        denoise_dask(da.zeros((6, 32, 32, 3), dtype="uint8"), context_model, channel_axis=-1)


ZYX_AXES = [{"name": n, "type": "space", "unit": "micrometer"} for n in "zyx"]


def write_ngff(path, array: np.ndarray, axes: list[dict], scale: list[float],
               version: str = "0.5") -> None:
    """An OME-Zarr image as another tool would write it: 0.4 on Zarr v2, 0.5 on Zarr v3."""
    zarr = pytest.importorskip("zarr")
    multiscale = {"axes": axes, "datasets": [{"path": "s0", "coordinateTransformations": [
        {"type": "scale", "scale": scale}]}]}
    group = zarr.open_group(str(path), mode="w", zarr_format=2 if version == "0.4" else 3)
    group.create_array("s0", data=array, chunks=(1,) * (array.ndim - 2) + (32, 32))
    if version == "0.4":
        group.attrs["multiscales"] = [{"version": "0.4", **multiscale}]
    else:
        group.attrs["ome"] = {"version": "0.5", "multiscales": [multiscale]}


def read_output(path) -> tuple[np.ndarray, dict]:
    zarr = pytest.importorskip("zarr")
    group = zarr.open_group(str(path), mode="r")
    return group["0"][:], dict(group.attrs)["multiscales"][0]


def test_cli_dask_denoises_an_ome_zarr_volume_keeping_axes_and_scale(tmp_path, context_model):
    pytest.importorskip("distributed")
    from n2n.cli import main
    from n2n.models.checkpoint import write_weights

    write_weights(context_model, tmp_path / "ctx.pt")
    volume = generated_volume(9, 70)
    write_ngff(tmp_path / "in.zarr", volume, ZYX_AXES, [2.0, 0.25, 0.25])
    assert main(["denoise", str(tmp_path / "in.zarr"), "-o", str(tmp_path / "out.zarr"),
                 "--dask", "--workers", "1", "--model", str(tmp_path / "ctx.pt"),
                 "--tile", "32"]) == 0
    out, meta = read_output(tmp_path / "out.zarr")
    assert np.array_equal(out, denoise_array(volume, context_model, axes="ZYX", tile=32))
    assert meta["axes"] == ZYX_AXES
    assert meta["datasets"][0]["coordinateTransformations"][0]["scale"] == [2.0, 0.25, 0.25]


def test_ome_zarr_volume_trains_through_the_library_and_the_cli(tmp_path):
    from n2n.cli import main
    from n2n.models.checkpoint import load_model
    from n2n.training import DataConfig, TrainConfig, train

    volume = generated_volume(10, 40)
    write_ngff(tmp_path / "x.ome.zarr", volume[None], [{"name": "t", "type": "time"},
                                                       *ZYX_AXES], [1.0, 2.0, 0.5, 0.5])
    data = DataConfig(source="volume", paths=[tmp_path / "x.ome.zarr"], patch_size=32,
                      patches_per_epoch=8)
    result = train(TrainConfig(data=data, epochs=1, batch_size=4,
                               model={"width": 8, "depth": 2, "context": 3}),
                   tmp_path / "run", device="cpu", progress=False)
    assert load_model(result.best).config.context == 3  # the window ran along z, not t
    assert main(["train", str(tmp_path / "cli"), "--volume", str(tmp_path / "x.ome.zarr"),
                 "--patch-size", "32", "--patches-per-epoch", "8", "--batch-size", "4",
                 "--epochs", "1", "--width", "8", "--depth", "2", "--context", "3"]) == 0
    with pytest.raises(N2NError, match="too thin for interleaved pairs"):
        train(TrainConfig(data=DataConfig(source="volume", paths=[tmp_path / "x.ome.zarr"],
                                          axes="ZTYX", patch_size=32),
                          model={"width": 8, "depth": 2, "context": 3}),
              tmp_path / "thin", device="cpu", progress=False)


def test_ome_zarr_volume_denoised_into_zarr_and_tiff_keeps_axes_and_scale(tmp_path,
                                                                         context_model):
    import tifffile

    from n2n.inference.denoiser import Denoiser
    from n2n.inference.files import denoise_file
    from n2n.io.formats.tiff import tiff_axes
    from n2n.io.formats.tiff_layout import read_layout

    volume = generated_volume(7, 36)
    write_ngff(tmp_path / "in.zarr", np.ascontiguousarray(volume.transpose(0, 2, 1)),
               [ZYX_AXES[0], ZYX_AXES[2], ZYX_AXES[1]], [2.0, 0.25, 0.5], "0.4")  # z, x, y
    expected = denoise_array(volume, context_model, axes="ZYX", fast=False)
    denoiser = Denoiser(context_model, fast=False)
    denoise_file(denoiser, tmp_path / "in.zarr", tmp_path / "out.zarr")
    out, meta = read_output(tmp_path / "out.zarr")
    assert np.array_equal(out.transpose(0, 2, 1), expected)
    assert [a["name"] for a in meta["axes"]] == ["z", "x", "y"]
    assert meta["datasets"][0]["coordinateTransformations"][0]["scale"] == [2.0, 0.25, 0.5]
    denoise_file(denoiser, tmp_path / "in.zarr", tmp_path / "out.tif")
    assert np.array_equal(tifffile.imread(tmp_path / "out.tif"), expected)
    axes, _ = tiff_axes(tmp_path / "out.tif", read_layout(tmp_path / "out.tif"))
    assert [(a.name, a.scale, a.unit) for a in axes] == [
        ("z", 2.0, "micrometer"), ("y", 0.5, "micrometer"), ("x", 0.25, "micrometer")]
    with tifffile.TiffFile(tmp_path / "out.tif") as tif:  # pixels per centimetre
        assert tif.pages[0].resolution == pytest.approx((40000.0, 20000.0))
    with pytest.raises(N2NError, match="written as TIFF or OME-Zarr"):
        denoise_file(denoiser, tmp_path / "in.zarr", tmp_path / "out.png")


def test_ome_zarr_volume_through_a_3d_model_equals_the_array_door(tmp_path):
    """An OME-Zarr image takes the TIFF stack's route: a 3-D U-Net reads Z tiles of it (it
    once ran plane by plane there, each plane a one-plane volume, and differed silently)."""
    from n2n.inference.denoiser import Denoiser
    from n2n.inference.files import denoise_file

    model = build_model(ModelConfig(arch="unet3d", channels=1, width=4, depth=2, z_pool=1,
                                    residual=True), seed=1).eval()
    volume = generated_volume(7, 36)
    write_ngff(tmp_path / "in.zarr", volume, list(ZYX_AXES), [2.0, 0.5, 0.5], "0.4")
    denoise_file(Denoiser(model, fast=False), tmp_path / "in.zarr", tmp_path / "out.zarr")
    out, _ = read_output(tmp_path / "out.zarr")
    assert np.array_equal(out, denoise_array(volume, model, axes="ZYX", fast=False))


def test_imagej_spacing_and_resolution_are_kept_on_a_tiff_and_an_ome_zarr(tmp_path,
                                                                          context_model):
    import tifffile

    from n2n.inference.denoiser import Denoiser
    from n2n.inference.files import denoise_file

    source = tmp_path / "s.tif"
    tifffile.imwrite(source, generated_volume(6, 32), imagej=True, resolution=(4.0, 4.0),
                     metadata={"axes": "ZYX", "spacing": 3.0, "unit": "um"})
    denoiser = Denoiser(context_model, fast=False)
    denoise_file(denoiser, source, tmp_path / "out.tif")
    with tifffile.TiffFile(tmp_path / "out.tif") as tif:
        assert tif.imagej_metadata["spacing"] == 3.0 and tif.imagej_metadata["unit"] == "um"
        assert tif.pages[0].resolution == (4.0, 4.0) and tif.series[0].axes == "ZYX"
    denoise_file(denoiser, source, tmp_path / "out.zarr")
    _, meta = read_output(tmp_path / "out.zarr")
    assert meta["datasets"][0]["coordinateTransformations"][0]["scale"] == [3.0, 0.25, 0.25]


def test_a_2d_model_denoises_an_ome_zarr_image_plane_by_plane_in_one_process(tmp_path):
    from n2n.cli import main
    from n2n.models.checkpoint import write_weights

    model = build_model(ModelConfig(channels=1, width=8, depth=2), seed=1).eval()
    write_weights(model, tmp_path / "flat.pt")
    x = generated_volume(6, 40).reshape(2, 3, 40, 40)  # c, z: every plane alone
    axes = [{"name": "c", "type": "channel"}, *ZYX_AXES]
    write_ngff(tmp_path / "in.zarr", x, axes, [1.0, 2.0, 0.5, 0.5], "0.4")
    assert main(["denoise", str(tmp_path / "in.zarr"), "-o", str(tmp_path / "out.zarr"),
                 "--model", str(tmp_path / "flat.pt")]) == 0
    out, meta = read_output(tmp_path / "out.zarr")
    assert np.array_equal(out, denoise_array(x, model))
    assert meta["axes"] == axes
