"""Dask: lazy arrays and cluster runs give the single-process result to the bit, read OME-Zarr
0.4 and 0.5 in any axis order, survive a lost worker and leave the target alone when stopped."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import tifffile
from conftest import N2N, ok
from conftest import n2n as run_n2n

import n2n
from n2n.errors import N2NError
from n2n.inference.cluster import denoise_on_dask
from n2n.inference.spec import InferenceSpec
from n2n.models import ModelConfig, build_model
from n2n.models.bundled import load_bundled

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")
zarr = pytest.importorskip("zarr")
ngff = pytest.importorskip("ome_zarr_models.v04.image")


@pytest.fixture(scope="module")
def cluster():
    """Two worker processes, as an existing scheduler a user would pass by address."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=":0",
                                  silence_logs=50) as local:
        yield local


@pytest.fixture(scope="module")
def confocal():
    return load_bundled("confocal")


def stack(shape, dtype=np.uint16, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    high = 255 if dtype == np.uint8 else 65535
    smooth = np.linspace(0, high * 0.8, shape[-1])
    return np.clip(smooth + rng.normal(0, high * 0.1, shape), 0, high).astype(dtype)


@pytest.mark.parametrize("shape, tile, chunks", [((2, 300, 410), 128, 57),  # short last tile
                                                 ((1, 700, 200), 256, 300),
                                                 ((50, 70), 512, 20)])  # under one margin
def test_denoise_dask_equals_denoise_array_to_the_bit(confocal, shape, tile, chunks):
    x = stack(shape)
    lazy = n2n.denoise_dask(da.from_array(x, chunks=chunks), confocal, tile=tile)
    assert lazy.shape == x.shape and lazy.dtype == x.dtype
    out = lazy.compute(scheduler="threads")
    np.testing.assert_array_equal(out, n2n.denoise_array(x, confocal, tile=tile))


def test_colour_and_float_arrays_agree_with_denoise_array():
    photo = stack((2, 150, 170, 3), np.uint8)
    lazy = n2n.denoise_dask(da.from_array(photo, chunks=(1, 64, 64, 1)), "photo",
                            channel_axis=-1, tile=64)
    np.testing.assert_array_equal(lazy.compute(), n2n.denoise_array(photo, "photo",
                                                                    channel_axis=-1, tile=64))
    floats = photo[0, ..., 0].astype(np.float32) / 255
    lazy = n2n.denoise_dask(da.from_array(floats, chunks=50), "confocal", tile=64)
    expected = n2n.denoise_array(floats, "confocal", tile=64)
    assert np.abs(lazy.compute() - expected).max() <= 1e-4


def test_second_passes_agree_with_denoise_array():
    """A refined pixel-shuffled model, and a blind-spot network's random replacing, whose masks
    must fall alike on every chunk."""
    photo = stack((150, 170, 3), np.uint8)
    lazy = n2n.denoise_dask(da.from_array(photo, chunks=(64, 64, 3)), "photo", pd=2,
                            refine=True, channel_axis=-1, tile=64)
    expected = n2n.denoise_array(photo, "photo", pd=2, refine=True, channel_axis=-1, tile=64)
    np.testing.assert_array_equal(lazy.compute(), expected)
    blind = build_model(ModelConfig("bsn", width=8, depth=2, pd=2), seed=0)
    lazy = n2n.denoise_dask(da.from_array(photo, chunks=(64, 64, 3)), blind, channel_axis=-1,
                            tile=64)
    np.testing.assert_array_equal(lazy.compute(), n2n.denoise_array(photo, blind,
                                                                    channel_axis=-1, tile=64))


def test_denoise_dask_is_lazy_and_checks_before_computing(confocal):
    x = da.zeros((3, 300, 300), dtype=np.uint16, chunks=(3, 300, 300))
    lazy = n2n.denoise_dask(x, confocal, tile=128)
    assert lazy.chunks[1:] == ((128, 128, 44), (128, 128, 44))  # regular, as Zarr wants
    with pytest.raises(N2NError, match="data_range"):
        n2n.denoise_dask(x.astype(np.int32), confocal)
    with pytest.raises(N2NError, match="dask array"):
        n2n.denoise_dask(np.zeros((8, 8)), confocal)
    nan = da.from_array(np.full((40, 40), np.nan, np.float32))
    with pytest.raises(N2NError, match="NaN"):
        n2n.denoise_dask(nan, confocal).compute()


def write_ngff(path: Path, array: np.ndarray, axes: list[dict], scale: list[float],
               version: str) -> None:
    """An OME-Zarr image as another tool would write it: 0.4 on Zarr v2, 0.5 on Zarr v3."""
    multiscale = {"axes": axes, "datasets": [{"path": "s0", "coordinateTransformations": [
        {"type": "scale", "scale": scale}]}]}
    group = zarr.open_group(str(path), mode="w", zarr_format=2 if version == "0.4" else 3)
    group.create_array("s0", data=array, chunks=(1,) * (array.ndim - 2) + (64, 64))
    if version == "0.4":
        group.attrs["multiscales"] = [{"version": "0.4", **multiscale}]
    else:
        group.attrs["ome"] = {"version": "0.5", "multiscales": [multiscale]}


def read_output(path: Path) -> tuple[np.ndarray, dict]:
    group = zarr.open_group(str(path), mode="r")
    return group["0"][:], dict(group.attrs)["multiscales"][0]


def test_ome_zarr_05_channels_are_planes_and_axes_scale_units_kept(tmp_path, cluster, confocal):
    x = stack((2, 3, 150, 140))
    axes = [{"name": "c", "type": "channel"}, {"name": "z", "type": "space", "unit": "micrometer"},
            {"name": "y", "type": "space", "unit": "micrometer"},
            {"name": "x", "type": "space", "unit": "micrometer"}]
    write_ngff(tmp_path / "in.zarr", x, axes, [1.0, 2.0, 0.3, 0.3], "0.5")
    denoise_on_dask(InferenceSpec(confocal, tile=64), tmp_path / "in.zarr",
                    tmp_path / "out.zarr",
                    address=cluster.scheduler_address, progress=False)
    out, meta = read_output(tmp_path / "out.zarr")
    np.testing.assert_array_equal(out, n2n.denoise_array(x, confocal, tile=64))
    assert meta["axes"] == axes
    assert meta["datasets"][0]["coordinateTransformations"][0]["scale"] == [1.0, 2.0, 0.3, 0.3]
    ngff.Image.from_zarr(zarr.open_group(str(tmp_path / "out.zarr"), mode="r"))


def test_ome_zarr_04_in_an_unusual_axis_order(tmp_path, cluster, confocal):
    x = stack((130, 150, 2))  # y, x, z: planes along the last axis
    axes = [{"name": n, "type": "space"} for n in "yxz"]
    write_ngff(tmp_path / "in.zarr", x, axes, [0.5, 0.5, 1.0], "0.4")
    denoise_on_dask(InferenceSpec(confocal, tile=64), tmp_path / "in.zarr",
                    tmp_path / "out.zarr",
                    address=cluster.scheduler_address, progress=False)
    out, meta = read_output(tmp_path / "out.zarr")
    expected = np.moveaxis(n2n.denoise_array(np.moveaxis(x, 2, 0), confocal, tile=64), 0, 2)
    np.testing.assert_array_equal(out, expected)
    assert [a["name"] for a in meta["axes"]] == ["y", "x", "z"]


def test_cli_tiff_stack_on_a_local_cluster_equals_the_single_process_output(tmp_path):
    x = stack((3, 200, 230))
    tifffile.imwrite(tmp_path / "s.tif", x, imagej=True, resolution=(2.0, 2.0),
                     metadata={"axes": "ZYX", "spacing": 0.5, "unit": "um"})
    for fast, flags in (("fast", []), ("plain", ["--no-fast"])):
        printed = ok("denoise", tmp_path / "s.tif", "-o", tmp_path / f"dask_{fast}.zarr",
                     "--dask", "--workers", "2", "--model", "confocal", "--tile", "128", *flags,
                     "--json", tmp_path / f"dask_{fast}.json")
        assert "2 worker(s), dashboard http" in printed
        ok("denoise", tmp_path / "s.tif", "-o", tmp_path / f"one_{fast}.zarr", "--model",
           "confocal", "--tile", "128", *flags, "--json", tmp_path / f"one_{fast}.json")
        records = [json.loads((tmp_path / f"{n}_{fast}.json").read_text())["images"][0]
                   for n in ("dask", "one")]  # the same decision, recorded by both doors
        assert [{k: v for k, v in r.items() if k != "output"} for r in records][0] == {
            k: v for k, v in records[1].items() if k != "output"}
    (dask_out, dask_meta), (one_out, one_meta) = (read_output(tmp_path / f"{n}_plain.zarr")
                                                  for n in ("dask", "one"))
    np.testing.assert_array_equal(dask_out, one_out)  # float32: to the bit
    (dask_fast, _), (one_fast, _) = (read_output(tmp_path / f"{n}_fast.zarr")
                                     for n in ("dask", "one"))
    # bfloat16 sums depend on the convolution's shape: a rare pixel moves by one 16-bit level
    assert np.abs(dask_fast.astype(np.int64) - one_fast).max() <= 1
    assert dask_meta["axes"] == one_meta["axes"]
    assert dask_meta["datasets"] == one_meta["datasets"]
    ngff.Image.from_zarr(zarr.open_group(str(tmp_path / "dask_fast.zarr"), mode="r"))


def test_outputs_obey_the_safety_rules(tmp_path, confocal):
    tifffile.imwrite(tmp_path / "s.tif", stack((2, 64, 64)))
    (tmp_path / "theirs.zarr").mkdir()
    (tmp_path / "theirs.zarr" / "notes.txt").write_text("keep")
    for target, match in ((tmp_path / "theirs.zarr", "did not write"),
                          (tmp_path / "s.tif", "input"), (tmp_path / "o.tif", "OME-Zarr")):
        with pytest.raises(N2NError, match=match):
            denoise_on_dask(InferenceSpec(confocal), tmp_path / "s.tif", target, progress=False)
    assert (tmp_path / "theirs.zarr" / "notes.txt").read_text() == "keep"
    with pytest.raises(N2NError, match="--dask reads an image in TIFF or OME-Zarr"):
        denoise_on_dask(InferenceSpec(confocal), tmp_path / "theirs.zarr", tmp_path / "o.zarr")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.tif", "theirs.zarr"]


def test_a_worker_lost_mid_run_is_replaced_and_the_result_unchanged(tmp_path, confocal):
    x = stack((6, 256, 256))
    tifffile.imwrite(tmp_path / "s.tif", x)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, dashboard_address=":0",
                                  silence_logs=50) as local, distributed.Client(local) as client:
        pids = list(client.run(os.getpid).values())
        errors = []

        def run() -> None:
            try:
                denoise_on_dask(InferenceSpec(confocal, tile=64), tmp_path / "s.tif",
                                tmp_path / "out.zarr",
                                address=local.scheduler_address, progress=False)
            except BaseException as err:  # noqa: BLE001 - reported by the test
                errors.append(err)

        job = threading.Thread(target=run)
        job.start()
        deadline = time.monotonic() + 120
        while not list(tmp_path.glob(".out.zarr.*/0/0/*")) and time.monotonic() < deadline:
            time.sleep(0.05)  # until the first chunks are written
        assert job.is_alive()  # mid-run: chunks written, more to come
        os.kill(pids[0], signal.SIGKILL)
        job.join(300)
    assert not errors
    out, _ = read_output(tmp_path / "out.zarr")
    np.testing.assert_array_equal(out, n2n.denoise_array(x, confocal, tile=64))


def test_a_signal_mid_run_leaves_the_previous_output_and_no_temporary(tmp_path):
    tifffile.imwrite(tmp_path / "s.tif", stack((2, 64, 64)))
    ok("denoise", tmp_path / "s.tif", "-o", tmp_path / "out.zarr", "--model", "confocal")
    before = {p: p.read_bytes() for p in (tmp_path / "out.zarr").rglob("*") if p.is_file()}
    tifffile.imwrite(tmp_path / "big.tif", stack((40, 256, 256), seed=1))
    job = subprocess.Popen([N2N, "denoise", tmp_path / "big.tif", "-o", tmp_path / "out.zarr",
                            "--dask", "--workers", "1", "--model", "confocal", "--tile", "64"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not list(tmp_path.glob(".out.zarr.*/0/*/0/*")) and time.monotonic() < deadline:
        time.sleep(0.05)  # until workers write into the temporary folder
    assert job.poll() is None  # mid-run
    job.send_signal(signal.SIGTERM)
    _, stderr = job.communicate(timeout=180)
    assert job.returncode == 128 + signal.SIGTERM, stderr
    after = {p: p.read_bytes() for p in (tmp_path / "out.zarr").rglob("*") if p.is_file()}
    assert after == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.tif", "out.zarr", "s.tif"]
    assert json.loads((tmp_path / "out.zarr" / ".zattrs").read_text())["n2n"]["source"] == "s.tif"


def test_cli_refuses_several_inputs_or_zero_shot(tmp_path):
    result = run_n2n("denoise", tmp_path / "a.tif", tmp_path / "b.tif", "-o",
                     tmp_path / "o.zarr", "--dask")
    assert result.returncode == 2 and "one OME-Zarr image or TIFF stack" in result.stderr


def test_the_automatic_treatment_is_chosen_once_from_a_sample_of_the_input(tmp_path):
    from scipy import ndimage

    from n2n.inference.dask_arrays import denoise_dask

    def choose_on_sample(path: Path, model: str):
        decisions = []
        denoise_dask(da.from_array(tifffile.imread(path), chunks=(1, 160, 160)), model,
                     on_decision=decisions.append)
        return decisions[0].treatment

    rng = np.random.default_rng(0)
    scene = np.linspace(60, 190, 160)[None, :].repeat(160, axis=0)
    white = rng.normal(0, 12, (3, 160, 160))
    blurred = ndimage.convolve(rng.normal(0, 1, (3, 160, 160)),
                               np.outer([1, 2, 1], [1, 2, 1])[None] / 16.0, mode="wrap")
    for name, noise in (("white", white), ("camera", blurred * 12 / blurred.std())):
        tifffile.imwrite(tmp_path / f"{name}.tif", np.clip(scene + noise, 0, 255).astype(np.uint8))
    white_choice = choose_on_sample(tmp_path / "white.tif", "auto")
    camera_choice = choose_on_sample(tmp_path / "camera.tif", "auto")
    assert (white_choice.model, white_choice.pd) == ("photo-plus", 1)
    assert (camera_choice.model, camera_choice.pd) == ("camera", 2)
    assert "correlated" in camera_choice.reason
