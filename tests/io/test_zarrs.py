"""OME-Zarr output: the TIFF path's pixels in NGFF axis order, physical sizes kept, valid NGFF
0.4 (checked by ome-zarr-models), strips equal to whole planes, written atomically."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import tifffile
from conftest import noisy_stack

import n2n.io.formats.ome_zarr
from n2n.cli import main
from n2n.errors import N2NError
from n2n.inference.auto import AutoDenoiser
from n2n.inference.denoiser import Denoiser, denoise_image
from n2n.inference.files import denoise_file
from n2n.io.images import Image, read_image, to_array, write_image
from n2n.models.bundled import load_bundled

zarr = pytest.importorskip("zarr")
ngff = pytest.importorskip("ome_zarr_models.v04.image")


@pytest.fixture(scope="module")
def gray_denoiser():
    return Denoiser(load_bundled("confocal"), tile=64)


def read_ome_zarr(path):
    """The full-resolution array and the multiscale metadata, after NGFF 0.4 validation."""
    group = zarr.open_group(str(path), mode="r")
    ngff.Image.from_zarr(group)  # raises on anything NGFF 0.4 forbids
    multiscale = group.attrs["multiscales"][0]
    scale = multiscale["datasets"][0]["coordinateTransformations"][0]["scale"]
    axes = "".join(a["name"] for a in multiscale["axes"])
    units = {a["name"]: a.get("unit") for a in multiscale["axes"]}
    return group["0"][:], axes, scale, units


def test_imagej_hyperstack_in_ngff_order_with_physical_sizes(tmp_path, gray_denoiser):
    stack = noisy_stack((2, 3, 2, 40, 56))  # ImageJ's T, Z, C order
    metadata = {"axes": "TZCYX", "spacing": 0.5, "unit": "micron", "finterval": 3.0}
    tifffile.imwrite(tmp_path / "in.tif", stack, imagej=True, metadata=metadata,
                     resolution=(5.0, 4.0))
    denoise_file(gray_denoiser, tmp_path / "in.tif", tmp_path / "out.zarr")
    denoise_file(gray_denoiser, tmp_path / "in.tif", tmp_path / "out.tif")
    array, axes, scale, units = read_ome_zarr(tmp_path / "out.zarr")
    assert axes == "tczyx" and array.dtype == np.uint16
    assert np.array_equal(array, np.moveaxis(tifffile.imread(tmp_path / "out.tif"), 2, 1))
    assert scale == [3.0, 1.0, 0.5, 0.25, 0.2]
    assert units == {"t": "second", "c": None, "z": "micrometer", "y": "micrometer",
                     "x": "micrometer"}


def test_ome_tiff_physical_sizes_and_rgb_samples_as_channels(tmp_path):
    rgb = np.stack([noisy_stack((2, 30, 40), np.uint8, seed=s) for s in range(3)], axis=-1)
    metadata = {"axes": "ZYXS", "PhysicalSizeX": 0.25, "PhysicalSizeY": 0.3,
                "PhysicalSizeZ": 2.0}
    tifffile.imwrite(tmp_path / "in.ome.tif", rgb, ome=True, photometric="rgb",
                     metadata=metadata, compression="zlib")
    denoiser = Denoiser(load_bundled("photo"), tile=64)
    denoise_file(denoiser, tmp_path / "in.ome.tif", tmp_path / "out.ome.zarr")
    array, axes, scale, _ = read_ome_zarr(tmp_path / "out.ome.zarr")
    expected = np.stack([to_array(denoise_image(denoiser, Image(p.astype(np.float32))))
                         for p in rgb])
    assert axes == "czyx" and np.array_equal(array, np.moveaxis(expected, -1, 0))
    assert scale == [1.0, 2.0, 0.3, 0.25]


def test_large_planes_stream_in_strips_with_the_whole_plane_result(tmp_path, gray_denoiser,
                                                                  monkeypatch):
    image = noisy_stack((250, 230))
    tifffile.imwrite(tmp_path / "in.tif", image)
    write_image(tmp_path / "in.png", Image(image[:, :, None] * np.float32(255 / 65535), 16))
    monkeypatch.setattr(n2n.io.formats.ome_zarr, "CHUNK_EDGE", 64)  # several strips and chunks
    for name in ("in.tif", "in.png"):
        denoise_file(gray_denoiser, tmp_path / name, tmp_path / "strips.zarr",
                        stream_pixels=100)
        denoise_file(gray_denoiser, tmp_path / name, tmp_path / "whole.zarr")
        strips, axes, _, _ = read_ome_zarr(tmp_path / "strips.zarr")
        whole = read_ome_zarr(tmp_path / "whole.zarr")[0]
        assert axes == "yx" and strips.shape == image.shape and strips.dtype == np.uint16
        assert zarr.open_array(str(tmp_path / "strips.zarr" / "0")).chunks == (64, 64)
        difference = np.abs(strips.astype(np.float64) - whole)
        assert difference.max() <= 1 and difference.mean() < 0.01  # integer rounding ties


def test_cli_writes_a_png_with_alpha_as_four_channels(tmp_path, photo):
    alpha = np.arange(96 * 80, dtype=np.uint8).reshape(96, 80)
    write_image(tmp_path / "a.png", Image(photo, 8, alpha))
    assert main(["denoise", str(tmp_path / "a.png"), "-o", str(tmp_path / "a.zarr"),
                 "--tile", "64"]) == 0
    array, axes, _, _ = read_ome_zarr(tmp_path / "a.zarr")
    expected = to_array(denoise_image(AutoDenoiser(tile=64),  # the command's default
                                      read_image(tmp_path / "a.png")))
    assert axes == "cyx" and np.array_equal(array, np.moveaxis(expected, -1, 0))
    assert np.array_equal(array[3], alpha)


def test_replaces_only_zarr_folders_and_leaves_nothing_half_written(tmp_path, gray_denoiser):
    stack = noisy_stack((2, 20, 24), np.uint8)
    tifffile.imwrite(tmp_path / "stack.tif", stack)
    target = tmp_path / "out.zarr"
    denoise_file(gray_denoiser, tmp_path / "stack.tif", target)
    denoise_file(gray_denoiser, tmp_path / "stack.tif", target)  # replaced, same result
    assert read_ome_zarr(target)[0].shape == stack.shape

    (tmp_path / "notes.zarr").mkdir()
    (tmp_path / "notes.zarr" / "mine.txt").write_text("keep")
    with pytest.raises(N2NError, match="notes.zarr: exists and is a folder n2n-lite did not write"):
        denoise_file(gray_denoiser, tmp_path / "stack.tif", tmp_path / "notes.zarr")
    assert (tmp_path / "notes.zarr" / "mine.txt").read_text() == "keep"

    before = read_ome_zarr(target)[0]
    write_image(tmp_path / "big.png", Image(np.tile(stack[0], (4, 4))[:, :, None] * 1.0))
    for name in ("stack.tif", "big.png"):  # both on the strip path (stream_pixels=100)
        data = (tmp_path / name).read_bytes()
        cut = tmp_path / f"cut{name[-4:]}"
        cut.write_bytes(data[: len(data) * 3 // 4])
        with pytest.raises(N2NError, match=f"{cut.name}: cannot read image"):
            denoise_file(gray_denoiser, cut, target, stream_pixels=100)
        assert np.array_equal(read_ome_zarr(target)[0], before)  # the old output, whole
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "big.png", "cut.png", "cut.tif", "notes.zarr", "out.zarr", "stack.tif"]


def test_axes_ngff_cannot_hold_and_missing_zarr_are_one_clear_error(tmp_path, gray_denoiser,
                                                                   monkeypatch):
    rgb = np.zeros((2, 3, 16, 16, 3), np.uint8)  # channels and colour samples
    tifffile.imwrite(tmp_path / "two.tif", rgb, photometric="rgb", metadata={"axes": "CZYXS"})
    with pytest.raises(N2NError, match="axes CZYXS cannot be written as OME-Zarr"):
        denoise_file(gray_denoiser, tmp_path / "two.tif", tmp_path / "out.zarr")
    monkeypatch.setitem(sys.modules, "zarr", None)
    with pytest.raises(N2NError, match=r"pip install 'n2n-lite\[zarr\]'"):
        denoise_file(gray_denoiser, tmp_path / "two.tif", tmp_path / "out.zarr")
    assert not (tmp_path / "out.zarr").exists()
