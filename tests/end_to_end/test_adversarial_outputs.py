"""Hostile cases of the second trust round: outputs that know their kind (one command's outputs
never land on each other, and an output replaces only a file of its own kind), model results
that are looked at before anything is written, and degenerate images that come back sane.

Every command case asserts its exit status, one ``n2n: error:`` line naming the file and the
problem, that every file present before is byte-identical after, and that no temporary is left
(:func:`test_adversarial.run_cli`).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import PIL.Image
import pytest
import tifffile
import torch
from conftest import noisy_stack
from test_adversarial import run_cli, snapshot, temporaries

import n2n
from n2n.cli import main
from n2n.errors import N2NError
from n2n.inference.denoiser import Denoiser
from n2n.io.images import Image, write_image
from n2n.models import ModelConfig, build_model
from n2n.models.bundled import load_bundled
from n2n.models.checkpoint import model_record, save_atomic, write_weights


@pytest.fixture
def work(tmp_path, photo):
    """A user's folder: a photo, a 16-bit TIFF stack and a small checkpoint."""
    write_image(tmp_path / "x.png", Image(photo))
    tifffile.imwrite(tmp_path / "stack.tif", noisy_stack((3, 40, 48)), photometric="minisblack")
    write_weights(build_model(ModelConfig(width=8, depth=2), seed=0), tmp_path / "w.pt")
    return tmp_path


def ok(*args) -> None:
    """Run ``n2n ARGS`` in this process; it must succeed."""
    assert main([str(a) for a in args]) == 0


def parse_error(capsys, root: Path, *args, says: tuple[str, ...]) -> None:
    """``n2n ARGS`` refused while its arguments are read: exit status 2, the last line the
    error naming what ``says`` lists, every file as it was, nothing written."""
    before = snapshot(root)
    with pytest.raises(SystemExit) as stop:
        main([str(a) for a in args])
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert stop.value.code == 2 and "error:" in last, last
    assert all(s in last for s in says), (says, last)
    assert snapshot(root) == before and not temporaries(root)


# ---------------------------------------------------------------- one command's outputs


@pytest.mark.parametrize("output, record, says", [
    ("y.png", "y.png", "the same path as this command's image"),
    ("y.tif", "y.tif", "the same path as this command's image"),
    ("out", "out/x.png", "the same path as this command's image"),
    ("out.zarr", "out.zarr/denoised.json", "a path overlapping this command's OME-Zarr image"),
    ("out/y.png", "out", "a path overlapping this command's image"),
])
def test_a_json_record_never_lands_on_the_same_commands_image(work, capsys, output, record,
                                                              says):
    run_cli(capsys, work, "denoise", work / "x.png", "-o", work / output, "--json",
            work / record, "--model", "photo", says=(record.split("/")[0], "JSON record", says))
    assert not (work / output).exists()  # refused before any work: no output folder either


@pytest.mark.parametrize("record, says", [
    ("y.zarr", "the same path as this command's JSON record"),
    ("y.zarr/r.json", "a path overlapping this command's JSON record"),
    ("stack.tif", "stack.tif"),
])
def test_dask_json_record_is_checked_like_the_single_process_one(work, capsys, record, says):
    pytest.importorskip("distributed")
    run_cli(capsys, work, "denoise", work / "stack.tif", "-o", work / "y.zarr", "--dask",
            "--json", work / record, "--model", "confocal", says=(says,))
    assert not (work / "y.zarr").exists()


def test_an_output_inside_an_earlier_ome_zarr_output_is_refused(work, capsys):
    ok("denoise", work / "stack.tif", "-o", work / "y.zarr", "--model", "confocal")
    run_cli(capsys, work, "denoise", work / "x.png", "-o", work / "z.png", "--json",
            work / "y.zarr" / "r.json", says=("r.json", "lies inside the OME-Zarr image"))
    run_cli(capsys, work, "denoise", work / "x.png", "-o", work / "y.zarr" / "0" / "z.png",
            says=("z.png", "lies inside the OME-Zarr image"))


def test_overwrite_does_not_let_a_json_record_land_on_the_same_commands_image(work, capsys):
    run_cli(capsys, work, "denoise", work / "x.png", "-o", work / "y.png", "--json",
            work / "y.png", "--overwrite", says=("y.png", "give each output its own name"))


def test_scratch_train_weights_named_like_their_log_are_refused(work, capsys):
    first = torch.zeros(4, 3, 32, 32, dtype=torch.uint8)
    torch.save((first, first), work / "train.pkl")
    run_cli(capsys, work, "scratch-train", work / "train.pkl", work / "weights.json",
            says=("weights.json", "the same path as this command's checkpoint"))


@pytest.mark.parametrize("output", ["out/two.png", "two.tif", "two.jpg"])
def test_several_inputs_into_one_image_name_are_refused_naming_it(work, capsys, output):
    write_image(work / "z.png", Image(np.full((16, 16, 3), 60.0, np.float32)))
    run_cli(capsys, work, "denoise", work / "x.png", work / "z.png", "-o", work / output,
            says=(output.split("/")[-1], "names one image file", "2 images", "folder"))
    assert not (work / output).exists() and not (work / "out").exists()


@pytest.mark.parametrize("args, flag", [
    (("denoise", "x.png", "-o", ""), "-o/--output"),
    (("denoise", "x.png", "-o", "y.png", "--json", ""), "--json"),
    (("eval", "x.png", "--json", " "), "--json"),
    (("demo", "-o", ""), "-o/--output"),
    (("diagnose", "x.png", "-o", ""), "-o/--output"),
    (("export", "w.pt", ""), "output"),
    (("make-pairs", "x.png", ""), "out_dir"),
    (("train", ""), "run_dir"),  # it trained into the current folder
    (("train", "r", "--clean", ""), "--clean"),
    (("train", "r", "--noisy", "x.png", "--val", ""), "--val"),
    (("denoise", "", "-o", "y.png"), "inputs"),
    (("denoise", "x.png", "-o", "y.png", "--weights", ""), "--weights"),
    (("eval", "--noisy", "", "--reference", "."), "--noisy"),
    (("diagnose", ""), "inputs"),
])
def test_an_empty_output_name_is_refused_not_taken_for_the_current_folder(work, capsys,
                                                                          monkeypatch, args,
                                                                          flag):
    monkeypatch.chdir(work)
    parse_error(capsys, work, *args, says=(flag, "an empty name"))


# ---------------------------------------------------------------- an output replaces its own kind


def test_a_json_record_does_not_replace_an_earlier_denoised_image(work, capsys):
    ok("denoise", work / "x.png", "-o", work / "y.png", "--model", "photo")
    says = ("y.png", "holds an image n2n-lite wrote", "a JSON record", "--overwrite")
    run_cli(capsys, work, "denoise", work / "x.png", "-o", work / "z.png", "--json",
            work / "y.png", "--model", "photo", says=says)
    run_cli(capsys, work, "eval", work / "x.png", "--json", work / "y.png", "--model", "photo",
            says=says)
    assert not (work / "z.png").exists()


def test_overwrite_lets_a_json_record_replace_an_image_on_request(work, capsys):
    ok("denoise", work / "x.png", "-o", work / "y.png", "--model", "photo")
    ok("eval", work / "x.png", "--json", work / "y.png", "--model", "photo", "--overwrite")
    assert json.loads((work / "y.png").read_text())["written_by"] == "n2n-lite"


@pytest.mark.parametrize("first, then, says", [
    (("denoise", "stack.tif", "-o", "y.tif"), ("denoise", "x.png", "-o", "y.tif"),
     "holds a stack n2n-lite wrote, which an image would replace"),
    (("denoise", "stack.tif", "-o", "y.zarr"), ("eval", "x.png", "--json", "y.zarr"),
     "holds an OME-Zarr image n2n-lite wrote, which a JSON record would replace"),
    (("diagnose", "x.png", "-o", "d"), ("denoise", "x.png", "-o", "d/noise.png"),
     "holds a plot n2n-lite wrote, which an image would replace"),
    (("denoise", "x.png", "-o", "d/noise.png"), ("diagnose", "x.png", "-o", "d"),
     "holds an image n2n-lite wrote, which a plot would replace"),
    (("eval", "x.png", "--json", "r.json"), ("scratch-train", "train.pkl", "r.json"),
     "holds a JSON record n2n-lite wrote, which a checkpoint would replace"),
    (("export", "w.pt", "e.pt"), ("eval", "x.png", "--json", "e.pt"),
     "holds an export n2n-lite wrote, which a JSON record would replace"),
    (("denoise", "x.png", "-o", "y.png"), ("export", "w.pt", "y.png"),
     "holds an image n2n-lite wrote, which an export would replace"),
])
def test_an_output_replaces_only_a_file_of_its_own_kind(work, capsys, monkeypatch, first,
                                                        then, says):
    monkeypatch.chdir(work)
    torch.save((torch.zeros(4, 3, 32, 32, dtype=torch.uint8),) * 2, work / "train.pkl")
    ok(*first, *(("--model", "confocal") if first[0] in ("denoise", "eval") else ()))
    capsys.readouterr()
    extra = ("--model", "confocal") if then[0] in ("denoise", "eval") else ()
    run_cli(capsys, work, *then, *extra, says=(then[-1].split("/")[-1], says, "--overwrite"))


def resumable(path: Path) -> None:
    """A checkpoint as training writes ``last.pt``: weights, optimizer state, position."""
    model = build_model(ModelConfig(width=8, depth=2), seed=0)
    optimizer = torch.optim.Adam(model.parameters())
    save_atomic(model_record(model, optimizer=optimizer.state_dict(), epoch=1,
                             position={"epoch": 1, "step": 0}), path)


@pytest.mark.parametrize("output", ["last.pt", "best.pt"])
def test_export_does_not_replace_a_resumable_checkpoint(work, capsys, output):
    (work / "run").mkdir()
    for name in ("last.pt", "best.pt"):
        resumable(work / "run" / name)
    source = "best.pt" if output == "last.pt" else "last.pt"
    run_cli(capsys, work, "export", work / "run" / source, work / "run" / output,
            says=(output, "holds a resumable checkpoint n2n-lite wrote",
                  "which an export would replace", "--overwrite"))


def test_export_onto_a_real_runs_last_pt_is_refused_and_the_run_still_resumes(
        tmp_path, photo_folder, capsys):
    train = ("--patch-size", "32", "--patches-per-epoch", "8", "--batch-size", "4", "--width",
             "8", "--depth", "2", "--epochs", "1")
    ok("train", tmp_path / "run", "--clean", photo_folder, *train)
    capsys.readouterr()
    run_cli(capsys, tmp_path, "export", tmp_path / "run" / "best.pt",
            tmp_path / "run" / "last.pt", says=("last.pt", "resumable checkpoint"))
    ok("train", tmp_path / "run", "--resume", "--epochs", "2")


def test_an_export_replaces_its_own_earlier_export(work, capsys):
    for _ in range(2):
        ok("export", work / "w.pt", work / "e.pt")
    assert "optimizer" not in torch.load(work / "e.pt", weights_only=True)
    assert not temporaries(work)


# ---------------------------------------------------------------- no unchecked model output


def broken(path: Path, change) -> None:
    """A checkpoint whose weights ``change`` breaks, though every value stays finite."""
    model = build_model(ModelConfig(width=8, depth=2, linear_output=True), seed=0)
    with torch.no_grad():
        change(model.net)
    write_weights(model, path)


def times_1e30(net) -> None:
    for p in net.parameters():
        p.mul_(1e30)


def dead(net) -> None:  # every weight zero: the output is the last layer's bias
    for p in net.parameters():
        p.zero_()


def shifted(net) -> None:  # the last layer pushes every pixel far below black
    net.tail.weight.mul_(1e-3)
    net.tail.bias.fill_(-3.0)


@pytest.mark.parametrize("change, says", [
    (times_1e30, "NaN or infinite"),
    (dead, "one flat colour"),
    (shifted, "wholly outside it"),
    (lambda net: net.tail.bias.fill_(1e4), "weights have exploded"),
])
def test_a_broken_model_result_is_refused_naming_the_model(work, capsys, change, says):
    broken(work / "bad.pt", change)
    for output in ("y.png", "y.tif", "y.zarr"):
        run_cli(capsys, work, "denoise", work / "stack.tif" if output != "y.png" else
                work / "x.png", "-o", work / output, "--weights", work / "bad.pt",
                says=("bad.pt", says, "nothing written"))
        assert not (work / output).exists()


@pytest.mark.parametrize("output", ["m.pt", "m.ts", "m.onnx"])
def test_export_refuses_a_model_whose_result_is_broken(work, capsys, output):
    if output.endswith(".onnx"):
        pytest.importorskip("onnx")
    broken(work / "bad.pt", times_1e30)
    run_cli(capsys, work, "export", work / "bad.pt", work / output,
            says=("bad.pt", "NaN or infinite", "nothing written"))


def test_export_refuses_an_export_whose_result_is_nan(work, capsys, monkeypatch):
    import n2n.export.exporter as exporter

    load = exporter.load_exported
    monkeypatch.setattr(exporter, "load_exported",
                        lambda path: lambda x: load(path)(x) * float("nan"))
    run_cli(capsys, work, "export", work / "w.pt", work / "m.ts",
            says=("m.ts (the export)", "NaN or infinite"))


def test_denoise_array_refuses_a_collapsed_model():
    model = build_model(ModelConfig(width=8, depth=2), seed=0)
    with torch.no_grad():
        dead(model.net)
    with pytest.raises(N2NError, match="the model: the model's result is one flat colour"):
        n2n.denoise_array(noisy_stack((40, 48), np.uint8), model)


# ---------------------------------------------------------------- degenerate images


@pytest.mark.parametrize("pixels", [
    np.full((48, 56, 3), 128, np.uint8),  # constant grey
    np.full((48, 56, 3), 255, np.uint8),  # all white: corners darkened to 243 before
    np.full((40, 48), 30000, np.uint16),  # a 16-bit constant: the network's bias is 400 levels
    np.full((40, 48), 0.25, np.float32),  # a 0..1 float constant
], ids=["grey", "white", "uint16", "float"])
def test_a_constant_image_comes_back_unchanged_through_the_cli(tmp_path, pixels):
    suffix = ".tif" if pixels.dtype != np.uint8 else ".png"
    tifffile.imwrite(tmp_path / f"x{suffix}", pixels) if suffix == ".tif" else write_image(
        tmp_path / "x.png", Image(pixels.astype(np.float32)))
    ok("denoise", tmp_path / f"x{suffix}", "-o", tmp_path / f"y{suffix}")
    out = (tifffile.imread(tmp_path / f"y{suffix}") if suffix == ".tif"
           else np.asarray(PIL.Image.open(tmp_path / "y.png")))
    assert out.dtype == pixels.dtype and np.array_equal(out.reshape(pixels.shape), pixels)


def test_a_flat_area_far_from_any_detail_keeps_its_value_tiled_or_not(photo):
    """An image padded with a wide black border (as stitched or registered captures are): the
    border stays exactly black wherever the network sees only black, and a small tile plan
    decides every pixel as the whole image does."""
    padded = np.zeros((360, 380, 3), np.uint8)
    padded[140:236, 150:230] = photo.astype(np.uint8)
    whole = n2n.denoise_array(padded, "photo", pd=1, channel_axis=-1)
    tiled = n2n.denoise_array(padded, "photo", pd=1, channel_axis=-1, tile=64)
    assert np.array_equal(whole, tiled)
    margin = Denoiser(load_bundled("photo")).margin
    far = np.ones(padded.shape[:2], bool)
    far[140 - margin:236 + margin, 150 - margin:230 + margin] = False
    assert far.any() and not whole[far].any()
