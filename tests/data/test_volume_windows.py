"""Single noisy windows of consecutive planes for Neighbor2Neighbor on one volume: their shapes
for a context model and a 3-D U-Net, the planes they hold, refusals of runs too thin for them,
and the data and training configs that build them (``mode='ne2ne'`` with a volume)."""

from __future__ import annotations

import pytest
import tifffile
import torch
from conftest import generated_volume

from n2n.data.config import DataConfig, build_data
from n2n.data.volumes import InterleavedPairs, NoisyWindows
from n2n.errors import N2NError
from n2n.training.config import TrainConfig


def numbered_run(planes: int, channels: int = 1, size: int = 8) -> torch.Tensor:
    """A run (P, C, size, size) whose every pixel holds its plane's index."""
    values = torch.arange(planes, dtype=torch.float32)[:, None, None, None]
    return values.expand(planes, channels, size, size).contiguous()


def test_context_windows_are_consecutive_planes_mirrored_at_the_ends():
    source = NoisyWindows([numbered_run(6, channels=2)], context=3, patch_size=8,
                          patches_per_epoch=64)
    batches = list(source.batches(16, torch.Generator().manual_seed(0)))
    assert [b.input.shape for b in batches] == [(16, 3 * 2, 8, 8)] * 4
    assert all(b.target is None and b.clean is None for b in batches)
    for batch in batches:
        window = batch.input[:, ::2, 0, 0]  # the first channel of each plane
        assert torch.equal(batch.input[:, 1::2], batch.input[:, ::2])  # channels of one plane
        centre = window[:, 1]
        assert ((window[:, 0] - centre).abs() == 1).all()  # the planes beside the centre
        assert ((window[:, 2] - centre).abs() == 1).all()
        inside = (centre > 0) & (centre < 5)
        assert torch.equal(window[inside, 0], centre[inside] - 1)
        assert torch.equal(window[centre == 0, 0], window[centre == 0, 2])  # mirrored
    centres = torch.cat([b.input[:, 2, 0, 0] for b in batches])
    assert set(centres.tolist()) == set(range(6))  # every plane is a centre, ends included


def test_sub_volumes_are_depth_consecutive_planes():
    source = NoisyWindows([numbered_run(7)], depth=4, patch_size=8, patches_per_epoch=32)
    batch = next(source.batches(32, torch.Generator().manual_seed(0)))
    assert batch.input.shape == (32, 4, 8, 8) and batch.target is None
    planes = batch.input[:, :, 0, 0]
    assert (planes.diff(dim=1) == 1).all() and planes.min() == 0 and planes.max() == 6
    assert source.stats_sample(torch.Generator().manual_seed(0)).shape == (32, 4, 8, 8)


def test_runs_thinner_than_the_window_or_depth_are_refused():
    with pytest.raises(N2NError, match=r"run 0 .* 2 plane\(s\), too thin for a window of 3 "
                                       r"planes: it needs at least 3"):
        NoisyWindows([numbered_run(2)], context=3, patch_size=8)
    with pytest.raises(N2NError, match=r"run 1 .* 3 plane\(s\), too thin for sub-volumes of 4 "
                                       r"planes: it needs at least 4"):
        NoisyWindows([numbered_run(5), numbered_run(3)], depth=4, patch_size=8)
    with pytest.raises(N2NError, match="patch_size"):
        NoisyWindows([numbered_run(5)], context=3, patch_size=16)
    assert len(list(NoisyWindows([numbered_run(3)], context=3, patch_size=8,
                                 patches_per_epoch=4).batches(4, torch.Generator()))) == 1
    with pytest.raises(N2NError, match="too thin for interleaved pairs"):  # the base's check
        InterleavedPairs([numbered_run(3)], context=3, patch_size=8)


def test_mode_ne2ne_builds_single_windows_from_a_volume(tmp_path):
    _, noisy = generated_volume(planes=6, size=24)
    tifffile.imwrite(tmp_path / "stack.tif", noisy, imagej=True, metadata={"axes": "ZYX"})
    data = DataConfig(source="volume", paths=tmp_path / "stack.tif", patch_size=16,
                      patches_per_epoch=8, patch_depth=4)
    context = TrainConfig(mode="ne2ne", data=data)
    volume = TrainConfig(mode="ne2ne", data=data, model={"arch": "unet3d"})
    assert (context.model.context, volume.model.context) == (5, 1)
    windows, val = build_data(data, "ne2ne", context=5)
    assert isinstance(windows, NoisyWindows) and val is None
    assert next(windows.batches(8, torch.Generator())).input.shape == (8, 5, 16, 16)
    cubes, _ = build_data(data, "ne2ne", volumetric=True)
    assert next(cubes.batches(8, torch.Generator())).input.shape == (8, 4, 16, 16)
    pairs, _ = build_data(data, "n2n", context=5)
    assert isinstance(pairs, InterleavedPairs) and not isinstance(pairs, NoisyWindows)
    with pytest.raises(N2NError, match=r"single windows \(mode ne2ne\), not 'zs'"):
        TrainConfig(mode="zs", data=data)
