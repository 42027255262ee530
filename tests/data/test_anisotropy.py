"""A 3-D U-Net's Z pooling from physical sizes: the rule's values for several ratios and
depths, and the Z step and XY pixel read from ImageJ and OME TIFFs and OME-Zarr axes, or the
reason they are not known."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from n2n.data.anisotropy import FALLBACK_Z_POOL, VoxelSteps, data_z_pool, voxel_steps, z_pool_for
from n2n.io.formats.base import Axis
from n2n.models.unet3d import pool_factors

STACK = np.zeros((4, 16, 16), np.uint8)


@pytest.mark.parametrize(("depth", "ratio", "z_pool"), [
    (3, 0.5, 3), (3, 1.0, 3), (3, 2.0, 3),  # near isotropic: Z pooled at every level
    (3, 2.5, 2), (3, 3.0, 2), (3, 4.0, 2),  # the first level pools Y and X only
    (3, 5.0, 1), (3, 8.0, 1), (3, 10.0, 0), (3, 40.0, 0),
    (2, 3.0, 1), (2, 1.0, 2), (2, 16.0, 0),
    (4, 4.0, 3), (4, 16.0, 1), (4, 17.0, 0), (1, 2.0, 1), (1, 3.0, 0),
    (3, 4.0000001, 2), (3, 3.9999999, 2),  # rational TIFF resolutions round
])
def test_z_pool_for_ratios_and_depths(depth, ratio, z_pool):
    assert z_pool_for(depth, ratio) == z_pool


@pytest.mark.parametrize("ratio", [1.0, 3.0, 4.0, 6.0, 12.0])
def test_z_is_pooled_once_xy_has_caught_up_to_within_twice_z(ratio):
    """Walk the network's own pooling order: at each level, Z is pooled exactly when its
    spacing is at most twice the XY spacing there (nnU-Net's rule)."""
    z, xy = ratio, 1.0
    for fz, fxy in pool_factors(3, z_pool_for(3, ratio)):
        assert (fz == 2) == (z <= 2 * xy)
        z, xy = z * fz, xy * fxy


def test_imagej_spacing_and_resolution(tmp_path):
    path = tmp_path / "ij.tif"
    tifffile.imwrite(path, STACK, imagej=True, resolution=(2.0, 2.0),
                     metadata={"axes": "ZYX", "spacing": 2.0, "unit": "um"})
    assert voxel_steps(path) == VoxelSteps(2.0, 0.5, "micrometer")
    z_pool, reason = data_z_pool(path, 3)
    assert z_pool == 1  # the rule says 2; more Z pooling than 1 is not taken by default
    assert "Z step 2 um is 4x the XY pixel 0.5 um" in reason and "first 2 of 3" in reason
    assert "the rule's 2 is not taken by default" in reason and "--z-pool 2 takes it" in reason


def test_ome_tiff_physical_sizes(tmp_path):
    path = tmp_path / "ome.tif"
    tifffile.imwrite(path, STACK, ome=True, metadata={
        "axes": "ZYX", "PhysicalSizeX": 0.2, "PhysicalSizeY": 0.2, "PhysicalSizeZ": 1.6})
    assert data_z_pool(path, 3)[0] == 1  # 8x: the first two levels pool Y and X only
    coarse = tmp_path / "coarse.tif"
    tifffile.imwrite(coarse, STACK, ome=True, metadata={
        "axes": "ZYX", "PhysicalSizeX": 0.2, "PhysicalSizeY": 0.2, "PhysicalSizeZ": 2.0})
    z_pool, reason = data_z_pool(coarse, 3)  # 10x: no level pools Z
    assert z_pool == 0 and "first 3 of 3" in reason and "not taken" not in reason


def test_ome_zarr_scale_and_units(tmp_path):
    pytest.importorskip("zarr")
    from n2n.io.formats.ome_zarr import write_zarr

    def zarr_stack(name, unit_z):
        axes = [Axis("z", "space", 4, 3.0, unit_z), Axis("y", "space", 16, 1.0, "micrometer"),
                Axis("x", "space", 16, 1.0, "micrometer")]
        path = tmp_path / name
        write_zarr(path, axes, np.dtype(np.uint8), [((...,), STACK)], tmp_path / "src.tif")
        return path

    assert data_z_pool(zarr_stack("a.zarr", "micrometer"), 2)[0] == 1
    z_pool, reason = data_z_pool(zarr_stack("b.zarr", "nanometer"), 2)
    assert z_pool == FALLBACK_Z_POOL and "not one named unit" in reason


def test_unknown_sizes_fall_back_with_a_reason(tmp_path):
    plain = tmp_path / "plain.tif"
    tifffile.imwrite(plain, STACK, imagej=True, metadata={"axes": "ZYX"})
    z_pool, reason = data_z_pool(plain, 3)
    assert z_pool == FALLBACK_Z_POOL and "does not say its Z step" in reason
    frames = tmp_path / "frames.tif"
    tifffile.imwrite(frames, STACK, imagej=True, resolution=(1.0, 1.0),
                     metadata={"axes": "TYX", "unit": "um"})
    assert "no Z axis" in data_z_pool(frames, 3)[1]
    unnamed = tmp_path / "unnamed.tif"
    tifffile.imwrite(unnamed, STACK, imagej=True, metadata={"axes": "ZYX", "spacing": 3.0})
    assert "not one named unit" in data_z_pool(unnamed, 3)[1]
