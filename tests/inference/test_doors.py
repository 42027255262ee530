"""Every door decides alike: the same images through ``n2n denoise``, ``denoise_array`` and
``denoise_dask`` on a LocalCluster give the same outputs, bit for bit at equal thread counts
(the napari door is compared in test_napari.py, on the same images). Thread counts are
pinned: 1 and 2 torch threads differ by one level in about 0.2 % of 16-bit pixels, and a
process that computed with one count may keep kernels made for it after changing count."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tifffile
from conftest import N2N, TESTS, door_images
from PIL import Image as PILImage

import n2n


def _write(path, array, channel_axis):
    """The image as a user's file: PNG for 8-bit, TIFF otherwise (a stack as pages)."""
    if path.suffix == ".png":
        PILImage.fromarray(array).save(path)
    else:
        tifffile.imwrite(path, array, photometric="rgb" if channel_axis is not None
                         else "minisblack")


def _read(path):
    return np.asarray(PILImage.open(path)) if path.suffix == ".png" else tifffile.imread(path)


THREADS = {**os.environ, "OMP_NUM_THREADS": "2", "MKL_NUM_THREADS": "2"}  # both doors alike


def _denoise_array_in_a_fresh_process(tmp_path, name: str, **options) -> np.ndarray:
    """``denoise_array`` on a door image, run as a fresh Python process with the command's
    thread count: a long test session's process may hold kernels made for another count."""
    code = ("import sys, json, numpy as np, n2n; sys.path.insert(0, sys.argv[1]); "
            "from conftest import door_images; a, c, _ = door_images()[sys.argv[2]]; "
            "np.save(sys.argv[3], n2n.denoise_array(a, channel_axis=c, **json.loads(sys.argv[4])))")
    subprocess.run([sys.executable, "-c", code, str(TESTS), name,
                    tmp_path / "expected.npy", json.dumps(options)], check=True, env=THREADS,
                   timeout=600)
    return np.load(tmp_path / "expected.npy")


@pytest.mark.parametrize("name", list(door_images()))
def test_the_cli_and_denoise_array_give_the_same_output(tmp_path, name):
    array, channel_axis, suffix = door_images()[name]
    source, target = tmp_path / f"in{suffix}", tmp_path / f"out{suffix}"
    _write(source, array, channel_axis)
    result = subprocess.run([N2N, "denoise", source, "-o", target, "--json",
                             tmp_path / "choice.json"], capture_output=True, text=True,
                            env=THREADS, timeout=600)
    assert result.returncode == 0, result.stderr
    expected = _denoise_array_in_a_fresh_process(tmp_path, name)
    out = _read(target)
    assert out.dtype == array.dtype and out.shape == array.shape
    np.testing.assert_array_equal(out, expected)
    assert "white" in result.stdout  # the choice line states the white level
    record = json.loads((tmp_path / "choice.json").read_text())["images"][0]
    assert record["white"] > 0 and record["white_reason"]


def test_the_dask_door_equals_denoise_array_on_a_local_cluster(tmp_path):
    da = pytest.importorskip("dask.array")
    distributed = pytest.importorskip("distributed")

    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, env=THREADS,
                                  dashboard_address=":0", silence_logs=40) as cluster, \
            distributed.Client(cluster):
        for name, (array, channel_axis, _) in door_images().items():
            lazy = da.from_array(array, chunks=array.shape)
            out = n2n.denoise_dask(lazy, channel_axis=channel_axis, tile=512).compute()
            expected = _denoise_array_in_a_fresh_process(tmp_path, name)
            np.testing.assert_array_equal(out, expected, err_msg=name)
        # options the Dask door once refused: coarser factors over flat areas, the ensemble
        rgb, channel_axis, _ = door_images()["rgb camera noise"]
        out = n2n.denoise_dask(da.from_array(rgb), channel_axis=channel_axis, ensemble=True)
        expected = _denoise_array_in_a_fresh_process(tmp_path, "rgb camera noise", ensemble=True)
        np.testing.assert_array_equal(out.compute(), expected)
        out = n2n.denoise_dask(da.from_array(rgb), channel_axis=channel_axis, multiscale=True)
        expected = _denoise_array_in_a_fresh_process(tmp_path, "rgb camera noise",
                                                     multiscale=True)
        np.testing.assert_array_equal(out.compute(), expected)


def test_every_door_states_the_same_choice(tmp_path):
    from n2n.inference.spec import InferenceSpec

    for name, (array, channel_axis, _) in door_images().items():
        decisions = []
        lazy = pytest.importorskip("dask.array").from_array(array)
        n2n.denoise_dask(lazy, channel_axis=channel_axis, on_decision=decisions.append)
        from n2n.inference.arrays import channels_last, decide
        from n2n.inference.spec import array_white

        data = channels_last(array, channel_axis)
        spec = InferenceSpec()
        mine = decide(spec, data.reshape((-1,) + data.shape[-3:]), array_white(data, spec))
        assert str(mine) == str(decisions[0]), name


def test_float_outliers_no_image_holds_are_refused_by_every_door(tmp_path):
    """One 1e30 pixel (uninitialised memory, a broken conversion) spread over the network's
    whole field of view and came back as an image of values near -4e25, exit 0."""
    from n2n.errors import N2NError

    array = door_images()["float 0..1"][0].copy()
    array[5, 5] = 1e30
    tifffile.imwrite(tmp_path / "broken.tif", array)
    result = subprocess.run([N2N, "denoise", tmp_path / "broken.tif", "-o", tmp_path / "o.tif"],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 2 and "times the white level 1" in result.stderr
    assert "--data-range" in result.stderr and not (tmp_path / "o.tif").exists()
    with pytest.raises(N2NError, match="outliers or a broken conversion; .* give data_range"):
        n2n.denoise_array(array)
    n2n.denoise_array(array * 0 + 0.5, data_range=None)  # a sane float image passes
    assert n2n.denoise_array(np.where(array > 1, 3e5, array), data_range=1.0).shape == (80, 96)
