"""The Dask door with a 3-D U-Net: chunks that are the volume door's Z tiles, each read with
its Z halo (mirrored at the ends) and the XY margin, equal to
:func:`n2n.inference.arrays.denoise_array` to the bit, whatever the input's chunks; and the
refusals, before anything is computed. On generated volumes, with an untrained 3-D model of a
fixed seed."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import generated_volume

from n2n.errors import N2NError
from n2n.inference.arrays import denoise_array
from n2n.models import ModelConfig, build_model

da = pytest.importorskip("dask.array")


@pytest.fixture(scope="module")
def model3d():
    """A random 3-D U-Net (Z halo 16, Z multiple 2, XY margin 28), with a non-trivial output."""
    return build_model(ModelConfig(arch="unet3d", channels=1, width=4, depth=2, z_pool=1,
                                   residual=True), seed=1).eval()


@pytest.fixture(autouse=True)
def _one_thread():
    """Equal thread counts: the doors agree to the bit."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def volume(shape: tuple[int, ...], seed: int = 3) -> np.ndarray:
    """A uint8 stack of ``shape``, its planes those of one generated volume."""
    planes = int(np.prod(shape[:-2]))
    _, noisy = generated_volume(planes, max(shape[-2:]), seed=seed)
    return noisy[:, :shape[-2], :shape[-1]].reshape(shape)


@pytest.mark.parametrize("shape, axes, chunks, tile", [
    ((7, 36, 36), "ZYX", 1, None),  # one plane a chunk in; the halo deeper than the stack
    ((13, 40, 38), None, (5, 17, 40), None),  # uneven chunks, no axes: the first is Z
    ((2, 9, 36, 36), "TZYX", (1, 4, 36, 36), None),  # Z runs, never across T
    ((2, 5, 36, 36), "ZTYX", (3, 2, 20, 36), None),  # Z not the innermost stack axis
    ((40, 36, 36), "ZYX", (3, 36, 36), None),  # Z tiles of 32 and 8 planes
    ((70, 36, 36), "ZYX", (7, 20, 20), None),  # three Z tiles, halos across chunks
    ((9, 72, 66), "ZYX", (2, 30, 30), 32),  # XY chunks with the XY margin
])
def test_dask_door_with_a_3d_model_equals_the_volume_door(model3d, shape, axes, chunks, tile):
    from n2n.inference.dask_arrays import denoise_dask

    stack = volume(shape)
    expected = denoise_array(stack, model3d, axes=axes, tile=tile, fast=False)
    lazy = denoise_dask(da.from_array(stack, chunks=chunks), model3d, axes=axes, tile=tile,
                        fast=False)
    assert lazy.shape == stack.shape and lazy.dtype == stack.dtype
    assert all(len(set(c[:-1])) <= 1 and c[-1] <= c[0] for c in lazy.chunks)  # Zarr-regular
    assert np.array_equal(lazy.compute(scheduler="synchronous"), expected)


def test_dask_door_with_a_3d_model_chunks_by_z_tiles(model3d):
    from n2n.inference.dask_arrays import denoise_dask

    lazy = denoise_dask(da.zeros((2, 70, 36, 36), dtype="uint16", chunks=(2, 5, 36, 36)),
                        model3d, axes="TZYX", fast=False)
    assert lazy.chunks[:2] == ((1, 1), (32, 32, 6))  # a chunk per Z tile of one run


def test_dask_door_with_a_3d_model_refuses_colour_unnamed_axes_and_other_channels(model3d):
    from n2n.inference.dask_arrays import denoise_dask

    with pytest.raises(N2NError, match="a 3-D model takes gray stacks"):
        denoise_dask(da.zeros((6, 36, 36, 3), dtype="uint8"), model3d, channel_axis=-1,
                     fast=False)
    with pytest.raises(N2NError, match="needs its axes named"):
        denoise_dask(da.zeros((2, 5, 36, 36), dtype="uint8"), model3d, fast=False)
    with pytest.raises(N2NError, match="a single plane"):
        denoise_dask(da.zeros((36, 36), dtype="uint8"), model3d, fast=False)
    colour = build_model(ModelConfig(arch="unet3d", channels=3, width=4, depth=2, z_pool=1),
                         seed=1).eval()
    with pytest.raises(N2NError, match="3-D model takes planes of 3 channels"):
        denoise_dask(da.zeros((6, 36, 36), dtype="uint8"), colour, axes="ZYX", fast=False)


def test_cli_dask_denoises_a_tiff_stack_with_a_3d_model(tmp_path, model3d):
    pytest.importorskip("distributed")
    zarr = pytest.importorskip("zarr")
    import tifffile

    from n2n.cli import main
    from n2n.models.checkpoint import write_weights

    write_weights(model3d, tmp_path / "vol3d.pt")
    stack = volume((9, 36, 40))
    tifffile.imwrite(tmp_path / "stack.tif", stack, imagej=True, metadata={"axes": "ZYX"})
    assert main(["denoise", str(tmp_path / "stack.tif"), "-o", str(tmp_path / "out.zarr"),
                 "--dask", "--workers", "1", "--model", str(tmp_path / "vol3d.pt")]) == 0
    out = zarr.open_group(str(tmp_path / "out.zarr"), mode="r")["0"][:]
    assert np.array_equal(out, denoise_array(stack, model3d, axes="ZYX", fast=False))
