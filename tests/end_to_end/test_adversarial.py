"""Hostile but ordinary use, as a new user meets it: paths that point back at inputs, outputs
someone else wrote, signals and full disks mid-write, two trainings on one folder, resumes that
change the run, odd TIFF layouts, broken models and odd arrays.

Every command case asserts its exit status, one ``n2n: error:`` line naming the file and the
problem, that every file present before is byte-identical after, and that no temporary is left.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import tifffile
import torch
from conftest import N2N, noisy_stack
from PIL import Image as PILImage

import n2n
from n2n.cli import main
from n2n.errors import N2NError
from n2n.io.images import Image, write_image
from n2n.models import ModelConfig, build_model
from n2n.models.checkpoint import write_weights

ZARR_METADATA = {".zgroup", ".zattrs", ".zarray"}


def snapshot(root: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in root.rglob("*") if p.is_file() and not p.is_symlink()}


def temporaries(root: Path) -> list[Path]:
    """What a writer leaves behind when it fails: hidden files or folders beside the target.
    Polled while a writer runs, a scan can meet a temporary as it is renamed into place: it
    is scanned again then."""
    while True:
        try:
            return [p for p in root.rglob(".*") if p.name not in ZARR_METADATA]
        except FileNotFoundError:
            continue


def run_cli(capsys, root: Path, *args, code: int = 2, says: tuple[str, ...] = ()) -> str:
    """Run ``n2n ARGS`` in this process; check the exit status, the one-line message naming
    what ``says`` lists, untouched files and no temporaries. Returns what was printed."""
    before = snapshot(root)
    status = main([str(a) for a in args])
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert status == code, (status, err)
    if code == 2:
        assert len(lines) == 1 and lines[0].startswith("n2n: error:"), lines
        assert all(s in lines[0] for s in says), (says, lines[0])
    after = snapshot(root)
    if code != 0:
        assert all(after.get(p) == data for p, data in before.items()), "a file changed"
    assert not temporaries(root), temporaries(root)
    return out + err


@pytest.fixture
def work(tmp_path, photo):
    """A user's folder: a photo, a 16-bit TIFF stack, a checkpoint and a run folder's name."""
    write_image(tmp_path / "x.png", Image(photo))
    tifffile.imwrite(tmp_path / "stack.tif", noisy_stack((3, 40, 48)), photometric="minisblack")
    model = build_model(ModelConfig(width=8, depth=2))
    write_weights(model, tmp_path / "w.pt")
    return tmp_path


# ---------------------------------------------------------------- a target is never an input


def test_output_equal_to_the_input_by_another_path_is_refused(work, capsys):
    (work / "sub").mkdir()
    run_cli(capsys, work, "denoise", work / "x.png", "-o", work / "sub" / ".." / "x.png",
            says=("x.png", "would overwrite the input"))


@pytest.mark.parametrize("link", ["symlink", "hardlink"])
def test_output_linked_to_the_input_is_refused(work, capsys, link):
    (os.symlink if link == "symlink" else os.link)(work / "x.png", work / "y.png")
    run_cli(capsys, work, "denoise", work / "x.png", "-o", work / "y.png",
            says=("y.png", "would overwrite the input"))


def test_output_inside_an_input_folder_is_refused(work, capsys):
    (work / "photos").mkdir()
    (work / "x.png").rename(work / "photos" / "x.png")
    run_cli(capsys, work, "denoise", work / "photos", "-o", work / "photos" / "x_clean.png",
            says=("x_clean.png", "lies inside the input folder"))
    run_cli(capsys, work, "denoise", work / "photos", "-o", work / "photos" / "clean", code=0)


def test_zarr_output_that_holds_the_input_is_refused(work, capsys):
    holder = work / "holder.zarr"
    holder.mkdir()
    (work / "stack.tif").rename(holder / "stack.tif")
    run_cli(capsys, work, "denoise", holder / "stack.tif", "-o", holder,
            says=("holder.zarr", "would hold the input"))


def test_several_inputs_into_one_zarr_image_is_refused(work, capsys):
    write_image(work / "z.png", Image(np.zeros((16, 16, 3), np.float32)))
    run_cli(capsys, work, "denoise", work / "x.png", work / "z.png", "-o", work / "out.zarr",
            says=("out.zarr", "one OME-Zarr image holds one input"))


@pytest.mark.parametrize("output, extra", [("w.pt", ()), ("./w.pt", ("--half",)),
                                           ("w.ts", ())])
def test_export_never_replaces_its_own_input(work, capsys, monkeypatch, output, extra):
    monkeypatch.chdir(work)
    if output == "w.ts":
        os.symlink(work / "w.pt", work / "w.ts")
    run_cli(capsys, work, "export", work / "w.pt", output, *extra, says=("the input",))


def test_make_pairs_into_its_own_input_folder_is_refused(work, capsys):
    run_cli(capsys, work, "make-pairs", work, work, "--train-count", "4", "--val-count", "2",
            says=("train_data.pkl", "inside the input folder"))


def test_scratch_train_onto_its_data_is_refused(work, capsys):
    first = torch.zeros(4, 3, 32, 32, dtype=torch.uint8)
    torch.save((first, first), work / "train.pkl")
    run_cli(capsys, work, "scratch-train", work / "train.pkl", work / "train.pkl",
            says=("train.pkl", "would overwrite the input"))


def test_eval_json_onto_its_input_is_refused(work, capsys):
    run_cli(capsys, work, "eval", work / "x.png", "--json", work / "x.png",
            says=("x.png", "would overwrite the input"))


# ---------------------------------------------------------------- only n2n's own outputs replaced


def foreign(path: Path) -> None:
    """A file or folder at ``path`` that another program wrote."""
    suffix = path.suffix
    if suffix == ".zarr":
        (path / "labels").mkdir(parents=True)
        (path / ".zgroup").write_text('{"zarr_format": 2}')
        (path / "labels" / ".zattrs").write_text('{"labels": ["cells"]}')
    elif suffix in (".png", ".jpg"):
        PILImage.fromarray(np.zeros((8, 8), np.uint8)).save(path)
    elif suffix == ".tif":
        tifffile.imwrite(path, np.zeros((8, 8), np.uint8))
    elif suffix == ".npy":
        np.save(path, np.zeros((8, 8)))
    elif suffix == ".pt":
        torch.save({"weights": torch.zeros(3)}, path)
    else:
        path.write_bytes(b"someone's data")


@pytest.mark.parametrize("name", ["y.png", "y.jpg", "y.tif", "y.npy", "y.zarr"])
def test_denoise_refuses_an_output_it_did_not_write(work, capsys, name):
    foreign(work / name)
    run_cli(capsys, work, "denoise", work / "x.png", "-o", work / name,
            says=(name, "n2n-lite did not write", "--overwrite"))


@pytest.mark.parametrize("name", ["m.pt", "m.onnx", "m.ts", "m.zip"])
def test_export_refuses_a_file_it_did_not_write(work, capsys, name):
    foreign(work / name)
    run_cli(capsys, work, "export", work / "w.pt", work / name,
            says=(name, "n2n-lite did not write"))


def test_eval_json_and_make_pairs_refuse_files_they_did_not_write(work, capsys):
    foreign(work / "scores.json")
    run_cli(capsys, work, "eval", work / "x.png", "--json", work / "scores.json",
            says=("scores.json", "did not write"))
    (work / "pairs").mkdir()
    foreign(work / "pairs" / "train_data.pkl")
    run_cli(capsys, work, "make-pairs", work / "x.png", work / "x.png", work / "pairs",
            says=("train_data.pkl", "--overwrite"))


def test_demo_and_diagnose_refuse_files_they_did_not_write_and_rerun_over_their_own(work,
                                                                                     capsys):
    (work / "demo").mkdir()
    foreign(work / "demo" / "noisy.png")
    run_cli(capsys, work, "demo", "-o", work / "demo", says=("noisy.png", "did not write"))
    (work / "demo" / "noisy.png").unlink()
    for _ in range(2):
        run_cli(capsys, work, "demo", "-o", work / "demo", code=0)
    for _ in range(2):
        run_cli(capsys, work, "diagnose", work / "x.png", "-o", work / "noise", code=0)
    run_cli(capsys, work, "diagnose", work / "noise" / "noise.png", "-o", work / "noise",
            says=("noise.png", "would overwrite the input"))


def test_diagnose_output_inside_the_captures_folder_is_refused(work, capsys):
    (work / "scene").mkdir()
    for k in range(2):
        write_image(work / "scene" / f"c{k}.png", Image(np.full((64, 64, 1), 100.0 + k)))
    run_cli(capsys, work, "diagnose", work / "scene", "-o", work / "scene",
            says=("diagnosis.json", "inside the input folder"))


def test_a_folder_where_an_image_should_go_is_refused(work, capsys):
    (work / "y.png").mkdir()
    run_cli(capsys, work, "denoise", work / "x.png", "-o", work / "y.png", says=("y.png",))


def test_a_zarr_output_with_a_label_layer_added_is_kept(work, capsys):
    assert main(["denoise", str(work / "stack.tif"), "-o", str(work / "out.zarr")]) == 0
    (work / "out.zarr" / "labels").mkdir()
    (work / "out.zarr" / "labels" / ".zattrs").write_text('{"labels": ["cells"]}')
    capsys.readouterr()
    run_cli(capsys, work, "denoise", work / "stack.tif", "-o", work / "out.zarr",
            says=("out.zarr", "did not write"))


@pytest.mark.parametrize("name", ["y.png", "y.tif", "y.jpg", "y.zarr"])
def test_n2n_replaces_its_own_output_on_a_rerun(work, capsys, name):
    source = work / ("stack.tif" if name.endswith((".tif", ".zarr")) else "x.png")
    for _ in range(2):
        assert main(["denoise", str(source), "-o", str(work / name)]) == 0
    assert not temporaries(work)


def test_overwrite_replaces_what_n2n_did_not_write(work, capsys):
    foreign(work / "y.png")
    assert main(["denoise", str(work / "x.png"), "-o", str(work / "y.png"), "--overwrite"]) == 0
    assert PILImage.open(work / "y.png").size == (80, 96)


# ---------------------------------------------------------------- signals mid-write


def default_sigint() -> None:
    """In the child: SIGINT as a terminal's Ctrl-C delivers it, even where this test runs
    under a launcher that ignores it (a background job of a non-interactive shell)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def big_stack(path: Path) -> None:
    tifffile.imwrite(path, noisy_stack((24, 384, 384)), photometric="minisblack")  # seconds


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP])
@pytest.mark.parametrize("suffix", [".tif", ".zarr"])
def test_a_signal_mid_write_leaves_no_temporary_and_the_old_output_whole(tmp_path, signum,
                                                                         suffix):
    big_stack(tmp_path / "big.tif")
    target = tmp_path / f"out{suffix}"
    small = tmp_path / "small.tif"
    tifffile.imwrite(small, noisy_stack((2, 32, 32)), photometric="minisblack")
    subprocess.run([N2N, "denoise", small, "-o", target, "--model", "confocal"], check=True,
                   capture_output=True)
    before = snapshot(tmp_path)
    proc = subprocess.Popen([N2N, "denoise", tmp_path / "big.tif", "-o", target, "--model",
                             "confocal"], stderr=subprocess.PIPE, text=True,
                            preexec_fn=default_sigint)
    deadline = time.monotonic() + 120
    while not temporaries(tmp_path) and time.monotonic() < deadline:
        time.sleep(0.05)  # until the temporary output exists: mid-write
    assert temporaries(tmp_path), "the denoise never started writing"
    proc.send_signal(signum)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signum, err
    assert err.strip().splitlines()[-1].startswith("n2n: "), err  # the last word is ours
    assert snapshot(tmp_path) == before  # the earlier output whole, nothing else
    assert not temporaries(tmp_path)


# ---------------------------------------------------------------- a full disk


@pytest.fixture
def small_disk(tmp_path):
    """A tmpfs with 64 kB free where the machine allows mounting one (root on Linux), else
    skip: the simulated full disk below covers the same path."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(disk)],
                             capture_output=True)
    if mounted.returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    (disk / "filler").write_bytes(b"x" * (1024 * 1024 - 64 * 1024))
    yield disk
    subprocess.run(["umount", str(disk)], check=True)


@pytest.mark.parametrize("suffix, says", [(".tif", "not enough disk space"),
                                          (".zarr", "No space left"), (".png", "No space left")])
def test_a_full_disk_is_one_line_and_leaves_nothing(tmp_path, small_disk, suffix, says):
    source = tmp_path / "in.tif"
    rng = np.random.default_rng(0)
    tifffile.imwrite(source, rng.integers(0, 255, (3, 300, 300), np.uint8),
                     photometric="minisblack")
    if suffix == ".png":
        write_image(source.with_suffix(".png"), Image(rng.uniform(0, 255, (300, 300, 3))))
        source = source.with_suffix(".png")
    before = snapshot(small_disk)
    result = subprocess.run([N2N, "denoise", source, "-o", small_disk / f"out{suffix}",
                             "--model", "confocal"], capture_output=True, text=True,
                            timeout=600)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1 and says in lines[0], result.stderr
    assert f"out{suffix}" in lines[0] and snapshot(small_disk) == before
    assert [p.name for p in small_disk.iterdir()] == ["filler"]


def test_a_full_disk_under_a_memory_map_is_an_error_not_a_bus_error(work, capsys, monkeypatch):
    def full(fd, offset, length):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "posix_fallocate", full)
    run_cli(capsys, work, "denoise", work / "stack.tif", "-o", work / "out.tif",
            says=("out.tif", "not enough disk space", "MiB"))


# ---------------------------------------------------------------- run folders


TRAIN = ("--patch-size", "32", "--patches-per-epoch", "8", "--batch-size", "4", "--width", "8",
         "--depth", "2", "--epochs", "1")


@pytest.fixture
def trained(tmp_path, photo_folder, capsys):
    """A finished one-epoch run in ``tmp_path/run``."""
    assert main(["train", str(tmp_path / "run"), "--clean", str(photo_folder), *TRAIN]) == 0
    capsys.readouterr()
    return tmp_path / "run"


def test_a_second_training_into_a_finished_run_is_refused(trained, photo_folder, capsys):
    run_cli(capsys, trained.parent, "train", trained, "--clean", photo_folder, *TRAIN,
            says=("run", "holds a training run", "--resume", "--overwrite"))


@pytest.mark.parametrize("flags, says", [
    (("--patch-size", "16"), "--patch-size 16 (the run has 32)"),
    (("--clean", "elsewhere"), "--clean elsewhere"),
    (("--channels", "1"), "--channels 1 (the run has None)"),
    (("--arch", "n2n"), "--arch n2n (the run has lite)"),
    (("--lr", "0.1"), "--lr 0.1 (the run has 0.006)"),
    (("--no-augment",), "--no-augment (the run has no --no-augment)"),
    (("--overwrite",), "choose one"),
])
def test_resume_refuses_flags_that_change_the_run(trained, capsys, flags, says):
    run_cli(capsys, trained.parent, "train", trained, "--resume", *flags, says=(says,))


def test_resume_applies_a_new_budget_and_says_so(trained, capsys):
    out = run_cli(capsys, trained.parent, "train", trained, "--resume", "--epochs", "2",
                  code=0)
    assert "resuming" in out and "--epochs 2 (was 1)" in out
    assert len(json.loads((trained / "log.json").read_text())) == 2


def test_overwrite_starts_a_finished_run_afresh(trained, photo_folder, capsys):
    run_cli(capsys, trained.parent, "train", trained, "--clean", photo_folder, *TRAIN,
            "--epochs", "2", "--overwrite", code=0)
    assert len(json.loads((trained / "log.json").read_text())) == 2


def test_resume_after_the_data_changed_channels_is_one_line(trained, photo_folder, capsys):
    for path in photo_folder.iterdir():
        PILImage.open(path).convert("L").save(path)
    run_cli(capsys, trained.parent, "train", trained, "--resume",
            says=("run", "3 channel(s)", "now has 1"))


def locked(folder: Path) -> bool:
    """Another process holds the folder's lock (a flock on the folder itself)."""
    import fcntl

    if not folder.is_dir():
        return False
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


def test_two_trainings_on_one_folder_the_second_is_refused_naming_the_first(tmp_path,
                                                                             photo_folder):
    run = tmp_path / "run"
    slow = [N2N, "train", run, "--clean", photo_folder, *TRAIN, "--epochs", "1000",
            "--minutes", "2"]
    first = subprocess.Popen(slow, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not locked(run):
            assert time.monotonic() < deadline and first.poll() is None
            time.sleep(0.1)
        second = subprocess.run([N2N, "train", run, "--resume"], capture_output=True,
                                text=True, timeout=300)
    finally:
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=120)
    lines = second.stderr.strip().splitlines()
    assert second.returncode == 2 and len(lines) == 1
    assert f"PID {first.pid}" in lines[0] and "another training" in lines[0]
    assert first.returncode == 128 + signal.SIGTERM


@pytest.mark.parametrize("source", ["bursts", "captured"])
def test_val_with_real_captures_is_refused_not_ignored(tmp_path, photo_folder, capsys, source):
    paths = [photo_folder] if source == "bursts" else [photo_folder, photo_folder]
    run_cli(capsys, tmp_path, "train", tmp_path / "run", f"--{source}", *paths, "--val",
            photo_folder, says=("--val", f"--{source}", "--reference-name"))


def test_a_burst_stack_of_two_series_is_refused_in_training(tmp_path, capsys):
    (tmp_path / "bursts").mkdir()
    with tifffile.TiffWriter(tmp_path / "bursts" / "scene.tif") as tif:
        tif.write(noisy_stack((3, 40, 40), np.uint8))
        tif.write(noisy_stack((3, 40, 40), np.uint8, seed=1))
    run_cli(capsys, tmp_path, "train", tmp_path / "run", "--bursts", tmp_path / "bursts",
            says=("scene.tif", "2 image series"))


# ---------------------------------------------------------------- TIFF layouts round-trip


@pytest.mark.parametrize("shape, options", [
    ((2, 5, 40, 48), {}),  # N-D without axes metadata: tifffile's Q axes
    ((2, 3, 40, 48), {"compression": "zlib"}),
    ((40, 48, 5), {"photometric": "minisblack", "planarconfig": "contig"}),  # 5 channels
    ((40, 48, 2), {"photometric": "minisblack", "planarconfig": "contig"}),  # not gray+alpha
    ((3, 40, 48), {"photometric": "minisblack", "metadata": {"axes": "ZYX"}}),
])
def test_tiff_shapes_axes_and_channels_round_trip(tmp_path, capsys, shape, options):
    data = noisy_stack(shape[:-1] if shape[-1] < 8 else shape, np.uint8)
    data = np.moveaxis(data, 0, -1) if shape[-1] < 8 else data
    tifffile.imwrite(tmp_path / "in.tif", data, **options)
    with tifffile.TiffFile(tmp_path / "in.tif") as tif:
        axes_in = tif.series[0].axes
    run_cli(capsys, tmp_path, "denoise", tmp_path / "in.tif", "-o", tmp_path / "out.tif",
            "--model", "confocal", code=0)
    with tifffile.TiffFile(tmp_path / "out.tif") as tif:
        out, axes_out = tif.series[0].asarray(), tif.series[0].axes
    assert out.shape == data.shape and axes_out == axes_in and out.dtype == data.dtype
    changed = (out != data).reshape(-1, data.shape[-1]).mean(0) if shape[-1] < 8 else None
    assert changed is None or (changed > 0.5).all()  # every sample denoised as a channel


# ---------------------------------------------------------------- broken models


def broken_checkpoint(path: Path) -> None:
    model = build_model(ModelConfig(width=8, depth=2))
    with torch.no_grad():
        next(model.parameters())[0] = float("nan")
    state = {k: v for k, v in model.state_dict().items()}
    torch.save({"format": "n2n-lite", "version": 1, "model_config": model.config.__dict__,
                "model": state}, path)


def test_a_checkpoint_with_nan_weights_is_refused_not_a_black_image(work, capsys):
    broken_checkpoint(work / "nan.pt")
    run_cli(capsys, work, "denoise", work / "x.png", "-o", work / "y.png", "--weights",
            work / "nan.pt", says=("nan.pt", "NaN or infinite"))


@pytest.mark.parametrize("change, says", [
    (lambda m: m.pop("multiple"), "lacks multiple"),
    (lambda m: m["model_config"].update(colour="blue"), "not understood"),
    (lambda m: m.update(version=99), "newer than this"),
    (lambda m: m.update(format="other"), "format tag"),
])
def test_an_export_with_bad_metadata_is_one_line(work, capsys, change, says):
    pytest.importorskip("onnx")
    import onnx

    from n2n.inference.exported import METADATA

    assert main(["export", str(work / "w.pt"), str(work / "m.onnx")]) == 0
    graph = onnx.load(str(work / "m.onnx"))
    entry = next(e for e in graph.metadata_props if e.key == METADATA)
    meta = json.loads(entry.value)
    change(meta)
    entry.value = json.dumps(meta)
    onnx.save(graph, str(work / "m.onnx"))
    capsys.readouterr()
    run_cli(capsys, work, "denoise", work / "x.png", "-o", work / "y.png", "--weights",
            work / "m.onnx", says=("m.onnx", says))


# ---------------------------------------------------------------- arrays: the dtype policy


@pytest.mark.parametrize("array, kwargs, says", [
    (np.zeros((16, 16), np.int16), {}, "give data_range"),
    (np.zeros((16, 16), np.int32), {}, "give data_range"),
    (np.zeros((16, 16), np.int64), {}, "give data_range"),
    (np.zeros((16, 16), np.uint32), {}, "give data_range"),
    (np.zeros((16, 16), bool), {}, "not image pixels"),
    (np.zeros((16, 16), complex), {}, "not image pixels"),
    (np.full((16, 16), "a"), {}, "not image pixels"),
    (np.zeros((16, 16), object), {}, "not image pixels"),
    (np.zeros((0, 16), np.uint8), {}, "empty"),
    (np.zeros((16, 16, 3), np.uint8), {"channel_axis": 5}, "channel_axis 5 is out of range"),
    (np.zeros((16, 16), np.uint8), {"data_range": 0}, "data_range 0 must be"),
    (np.zeros((16, 16), np.uint8), {"data_range": "white"}, "data_range 'white' must be"),
    (np.full((16, 16), np.nan, np.float32), {}, "256 pixel(s) are NaN or infinite"),
    (np.zeros((16,), np.uint8), {}, "expected (..., H, W)"),
])
def test_denoise_array_refuses_what_it_cannot_denoise_faithfully(array, kwargs, says):
    with pytest.raises(N2NError) as err:
        n2n.denoise_array(array, "confocal", **kwargs)
    assert says in str(err.value)


@pytest.mark.parametrize("dtype", [np.int16, np.int32, np.int64, np.uint32])
def test_denoise_array_takes_other_integers_with_their_range(dtype):
    noisy = noisy_stack((48, 48), np.uint16).astype(np.float64) / 65535 * 4095
    out = n2n.denoise_array(np.rint(noisy).astype(dtype), "confocal", data_range=4095)
    assert out.dtype == dtype and 0 <= out.min() and out.max() <= 4095
    clean = np.asarray(n2n.denoise_array(np.rint(noisy).astype(np.float64) / 4095, "confocal"))
    assert np.abs(out / 4095 - clean).max() < 2 / 4095  # the same result as the float path
