"""Training as one library call (n2n.training.train): the two-line run from Python, each
mode's defaults, channels from the data, --init, resume and Stop; and the run folder kept
apart from the data it reads, refused by the installed command before any work."""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import n2n
from PIL import Image

from n2n.cli import main
from n2n.errors import N2NError
from n2n.models.checkpoint import load_record
from n2n.training import DataConfig, Interrupted, TrainConfig, saved_config, train

TINY = {"batch_size": 4, "epochs": 1, "model": {"width": 8, "depth": 2}}


def tiny(folder: Path, **kw) -> TrainConfig:
    """A seconds-long CPU run on ``folder``'s clean images."""
    data = DataConfig(source="clean", paths=folder, patch_size=32, patches_per_epoch=8)
    return TrainConfig(**{"data": data, **TINY, **kw})


def snapshot(root: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_two_lines_train_then_resume_with_a_new_budget(tmp_path, photo_folder, capsys):
    result = train(tiny(photo_folder), tmp_path / "run", device="cpu")
    assert result.best.is_file() and len(result.history) == 1
    assert result.config.model.channels == 3 and result.config.data.patch_size == 32
    more = train(replace(saved_config(tmp_path / "run"), epochs=2), tmp_path / "run",
                 resume=True, device="cpu")
    assert len(more.history) == 2
    assert "resuming" in capsys.readouterr().out  # says what it changed: epochs 2 (was 1)
    assert load_record(tmp_path / "run" / "last.pt")["position"] == {"epoch": 3, "step": 0}


def test_channels_follow_the_data(tmp_path, photo_folder):
    for path in photo_folder.iterdir():
        Image.open(path).convert("L").save(path)
    result = train(tiny(photo_folder), tmp_path / "run", device="cpu", progress=False)
    assert result.config.model.channels == 1 and result.model.config.channels == 1


def test_each_mode_has_its_defaults_in_the_config():
    data = DataConfig(source="noisy", paths="photos")
    bsn = TrainConfig(mode="bsn", data=data)
    assert (bsn.model.arch, bsn.model.pd, bsn.data.patch_size) == ("bsn", 2, 160)
    assert TrainConfig(mode="bsn", data=data, model={"width": 8}).model.arch == "bsn"
    assert TrainConfig(mode="bsn", data=replace(data, patch_size=64)).data.patch_size == 64
    ne2ne = TrainConfig(mode="ne2ne", data=data)
    assert (ne2ne.model.arch, ne2ne.model.pd, ne2ne.data.patch_size) == ("lite", 1, 64)


@pytest.mark.parametrize("make, says", [
    (lambda: TrainConfig(epochs=0), "epochs 0 must be >= 1"),
    (lambda: TrainConfig(model={"widht": 8}), "model settings ['widht']"),
    (lambda: TrainConfig(init="photo", model={"width": 8}), "only ['pd', 'context'] may change"),
    (lambda: DataConfig(source="clean", paths="x", patch_size=0), "patch_size 0"),
    (lambda: train(None, "run"), "train needs a TrainConfig"),
    (lambda: train(TrainConfig(), "run"), "data: say where the training pairs come from"),
    (lambda: train(TrainConfig(), "run", resume=True, overwrite=True), "choose one"),
    (lambda: train(None, "run", resume=True), "holds no last.pt to resume"),
    (lambda: train(TrainConfig(), "run", device="gpu7"), "unknown device 'gpu7'"),
])
def test_bad_values_from_python_are_one_line_errors(tmp_path, monkeypatch, make, says):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(N2NError) as error:
        make()
    assert says in str(error.value) and "\n" not in str(error.value)
    assert not any(tmp_path.iterdir())


def test_init_missing_or_of_other_channels_is_refused_before_any_work(tmp_path, photo_folder):
    with pytest.raises(N2NError, match="no_such.pt"):
        train(tiny(photo_folder, init=tmp_path / "no_such.pt", model=None), tmp_path / "run")
    with pytest.raises(N2NError, match="confocal: model has 1 channels, the training images 3"):
        train(tiny(photo_folder, init="confocal", model=None), tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_resume_refuses_a_changed_config_naming_each_difference(tmp_path, photo_folder):
    config = tiny(photo_folder)
    train(config, tmp_path / "run", device="cpu", progress=False)
    changed = replace(config, lr=0.1, data=replace(config.data, patch_size=16))
    with pytest.raises(N2NError, match=r"patch_size 16 \(the run has 32\)") as error:
        train(changed, tmp_path / "run", resume=True)
    assert "lr 0.1 (the run has 0.006)" in str(error.value)


def test_stop_event_stops_after_a_step_and_resume_finishes(tmp_path, photo_folder):
    stop, failures = threading.Event(), []
    stop.set()  # asked before the first step: that step is taken, then last.pt written

    def run() -> None:
        try:
            train(tiny(photo_folder, epochs=2), tmp_path / "run", stop=stop, progress=False)
        except Interrupted as err:
            failures.append(err)

    worker = threading.Thread(target=run)  # as the napari widget runs it: no signals there
    worker.start()
    worker.join()
    assert failures and failures[0].signum is None and "stop requested" in str(failures[0])
    assert load_record(tmp_path / "run" / "last.pt")["position"] == {"epoch": 1, "step": 1}
    result = train(None, tmp_path / "run", resume=True, progress=False)
    assert len(result.history) == 2


CASES = [(flag, relation) for flag in ("--clean", "--noisy", "--bursts", "--captured", "--val")
         for relation in ("equal", "inside", "holding")] + [("--val-pkl", "holding")]


@pytest.mark.parametrize("flag, relation", CASES)
def test_a_run_folder_among_the_data_it_reads_is_refused(tmp_path, photo_folder, capsys, flag,
                                                         relation):
    data = tmp_path / "d" / "pics"
    data.parent.mkdir()
    photo_folder.rename(data)
    (tmp_path / "elsewhere").mkdir()
    read = data / "val.pkl" if flag == "--val-pkl" else data
    if flag == "--val-pkl":
        read.write_bytes(b"never read")
    run = {"equal": data, "inside": data / "run", "holding": data.parent}[relation]
    sources = {"--clean": [flag, data], "--noisy": ["--mode", "ne2ne", flag, data],
               "--bursts": [flag, data], "--captured": [flag, data, data]}
    args = sources.get(flag, ["--clean", tmp_path / "elsewhere", flag, read])
    before, listed = snapshot(tmp_path), sorted(tmp_path.rglob("*"))
    assert main(["train", str(run), *map(str, args), "--epochs", "1"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"n2n: error: {run}: the run folder")
    assert f" {read} ({flag})" in lines[0]
    assert snapshot(tmp_path) == before and sorted(tmp_path.rglob("*")) == listed


def test_the_installed_command_refuses_training_into_its_own_images(tmp_path, photo_folder):
    before = snapshot(photo_folder)
    result = n2n("train", "clean", "--clean", "clean", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == ("n2n: error: clean: the run folder is the data folder "
                                     "clean (--clean); checkpoints and curves.png written among "
                                     "training images are read back as data: choose a run "
                                     "folder apart from the data")
    assert snapshot(photo_folder) == before


def test_a_run_folder_that_is_a_file_is_refused(tmp_path, photo_folder):
    (tmp_path / "run").write_text("notes")
    with pytest.raises(N2NError, match="run: is a file, not a run folder"):
        train(tiny(photo_folder), tmp_path / "run")
    assert (tmp_path / "run").read_text() == "notes"
