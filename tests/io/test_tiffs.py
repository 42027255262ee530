"""TIFF stacks through `n2n denoise`: plane by plane, same dtype, shape, axes and metadata;
large planes streamed in strips with the in-memory result; bad input is one clear error."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
from conftest import noisy_stack

from n2n.cli import main
from n2n.errors import N2NError
from n2n.inference.denoiser import Denoiser, denoise_image
from n2n.inference.files import denoise_file
from n2n.io.images import array_to_image, to_array
from n2n.io.outputs import PLANES, plan_file
from n2n.models.bundled import load_bundled


@pytest.fixture(scope="module")
def gray_denoiser():
    return Denoiser(load_bundled("confocal"), tile=64)


def plane_by_plane(denoiser, stack):
    """What denoising each (H, W) plane alone in memory gives."""
    planes = stack.reshape((-1,) + stack.shape[-2:])
    out = [to_array(denoise_image(denoiser, array_to_image("plane", p)))[:, :, 0]
           for p in planes]
    return np.stack(out).reshape(stack.shape)


def test_imagej_hyperstack_keeps_dtype_shape_axes_and_metadata(tmp_path, gray_denoiser):
    stack = noisy_stack((3, 2, 40, 56))
    metadata = {"axes": "ZCYX", "spacing": 0.5, "unit": "um", "Labels": list("abcdef")}
    tifffile.imwrite(tmp_path / "in.tif", stack, imagej=True, metadata=metadata,
                     resolution=(5.0, 5.0))
    denoise_file(gray_denoiser, tmp_path / "in.tif", tmp_path / "out.tif")
    with tifffile.TiffFile(tmp_path / "out.tif") as tif:
        out, series = tif.asarray(), tif.series[0]
        assert tif.is_imagej and series.axes == "ZCYX"
        kept = tif.imagej_metadata
        assert (kept["spacing"], kept["unit"], kept["Labels"]) == (0.5, "um", list("abcdef"))
        assert tif.pages.first.resolution == (5.0, 5.0)
    assert out.dtype == np.uint16 and out.shape == stack.shape
    assert np.array_equal(out, plane_by_plane(gray_denoiser, stack))
    assert np.abs(out.astype(float) - stack).mean() > 1000  # it did denoise


def test_compressed_ome_tiff_keeps_physical_sizes_and_channel_names(tmp_path, gray_denoiser):
    stack = noisy_stack((2, 2, 33, 45), np.uint8)
    metadata = {"axes": "TCYX", "PhysicalSizeX": 0.25, "PhysicalSizeY": 0.25,
                "TimeIncrement": 2.0, "Channel": {"Name": ["dapi", "gfp"]}}
    tifffile.imwrite(tmp_path / "in.ome.tif", stack, ome=True, metadata=metadata,
                     compression="zlib")
    assert main(["denoise", str(tmp_path / "in.ome.tif"), "-o", str(tmp_path / "out.ome.tif"),
                 "--model", "confocal", "--tile", "64"]) == 0
    with tifffile.TiffFile(tmp_path / "out.ome.tif") as tif:
        out = tif.asarray()
        assert tif.is_ome and tif.series[0].axes == "TCYX"
        assert tif.pages.first.compression == tifffile.COMPRESSION.ADOBE_DEFLATE
        pixels = tifffile.xml2dict(tif.ome_metadata)["OME"]["Image"]["Pixels"]
    assert (pixels["PhysicalSizeX"], pixels["TimeIncrement"]) == (0.25, 2.0)
    assert [c["Name"] for c in pixels["Channel"]] == ["dapi", "gfp"]
    assert out.dtype == np.uint8 and out.shape == stack.shape
    assert np.array_equal(out, plane_by_plane(gray_denoiser, stack))


@pytest.mark.parametrize("planar", [False, True])
def test_rgb_stack_keeps_its_sample_layout(tmp_path, planar):
    rgb = np.stack([noisy_stack((2, 30, 40), np.uint8, seed=s) for s in range(3)], axis=-1)
    data = np.moveaxis(rgb, -1, 1) if planar else rgb  # (Z, S, Y, X) or (Z, Y, X, S)
    tifffile.imwrite(tmp_path / "in.tif", data, photometric="rgb",
                     planarconfig="separate" if planar else "contig")
    denoiser = Denoiser(load_bundled("photo"), tile=64)
    denoise_file(denoiser, tmp_path / "in.tif", tmp_path / "out.tif")
    out = tifffile.imread(tmp_path / "out.tif")
    assert out.shape == data.shape and out.dtype == np.uint8
    out_rgb = np.moveaxis(out, 1, -1) if planar else out
    expected = [to_array(denoise_image(denoiser, array_to_image("p", p))) for p in rgb]
    assert np.array_equal(out_rgb, np.stack(expected))


@pytest.mark.parametrize("dtype", [np.uint16, np.float32])
def test_streamed_plane_equals_in_memory(tmp_path, gray_denoiser, dtype):
    image = noisy_stack((250, 230), dtype)  # several strips and tiles at tile 64
    tifffile.imwrite(tmp_path / "in.tif", image, resolution=(3.0, 3.0))
    denoise_file(gray_denoiser, tmp_path / "in.tif", tmp_path / "strips.tif", stream_pixels=100)
    denoise_file(gray_denoiser, tmp_path / "in.tif", tmp_path / "whole.tif")
    strips = tifffile.imread(tmp_path / "strips.tif")
    whole = tifffile.imread(tmp_path / "whole.tif")
    assert strips.dtype == dtype and strips.shape == image.shape
    assert tifffile.TiffFile(tmp_path / "strips.tif").pages.first.resolution == (3.0, 3.0)
    difference = np.abs(strips.astype(np.float64) - whole)
    lsb = 1.0 if dtype == np.uint16 else 1e-3  # integer rounding ties; float32 summation order
    assert difference.max() <= lsb and difference.mean() < 0.01


def test_routing_and_clear_errors(tmp_path, gray_denoiser):
    stack = noisy_stack((3, 20, 24), np.uint8)
    tifffile.imwrite(tmp_path / "stack.tif", stack, photometric="minisblack")
    tifffile.imwrite(tmp_path / "one.tif", stack[0])
    def handles(source, target):  # plane by plane, layout kept
        return plan_file(source, target, streams=gray_denoiser.streams)[2] == PLANES

    assert handles(tmp_path / "stack.tif", tmp_path / "x.png")  # so that it can refuse
    assert handles(tmp_path / "one.tif", tmp_path / "x.tif")
    assert not handles(tmp_path / "one.tif", tmp_path / "x.png")  # one plane: as an image
    with pytest.raises(N2NError, match="stack of 3 planes is written as TIFF"):
        denoise_file(gray_denoiser, tmp_path / "stack.tif", tmp_path / "out.png")

    with tifffile.TiffWriter(tmp_path / "two.tif") as writer:  # two series
        writer.write(stack[0])
        writer.write(stack[:2, :10])
    with pytest.raises(N2NError, match="two.tif: holds 2 image series"):
        denoise_file(gray_denoiser, tmp_path / "two.tif", tmp_path / "out.tif")

    data = (tmp_path / "stack.tif").read_bytes()
    (tmp_path / "cut.tif").write_bytes(data[: len(data) // 2])
    with pytest.raises(N2NError, match="cut.tif: cannot read image"):
        denoise_file(gray_denoiser, tmp_path / "cut.tif", tmp_path / "out.tif")
    assert not (tmp_path / "out.tif").exists() and not (tmp_path / "out.png").exists()
    assert main(["denoise", str(tmp_path / "stack.tif"), "-o", str(tmp_path / "o.png")]) == 2
