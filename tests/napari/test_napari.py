"""The napari plugin, driven as a user drives it, in a real viewer on a virtual display (Xvfb
with Mesa's software OpenGL, started here when no display is set): denoise, train, diagnose,
the sample and the manifest napari discovers."""

from __future__ import annotations

import atexit
import json
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("napari", reason="the napari extra is not installed")
pytest.importorskip("pytestqt", reason="pytest-qt is not installed")

from conftest import door_images  # noqa: E402

import n2n  # noqa: E402
from n2n.models.checkpoint import load_record  # noqa: E402
from n2n.napari.denoise_widget import DenoiseWidget  # noqa: E402
from n2n.napari.diagnose_widget import DiagnoseWidget  # noqa: E402
from n2n.napari.layers import TrainedModels  # noqa: E402
from n2n.napari.sample import noisy_burst  # noqa: E402
from n2n.napari.train_widget import TrainWidget, write_stack  # noqa: E402
from n2n.training import train  # noqa: E402

SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "napari_plugin.png"


@pytest.fixture(scope="session")
def display():
    """A display for Qt and OpenGL: the one set, or an Xvfb server for these tests."""
    if os.environ.get("DISPLAY"):
        return os.environ["DISPLAY"]
    if shutil.which("Xvfb") is None:
        pytest.skip("no display and no Xvfb: apt-get install xvfb (see ../shared/HEADLESS.md)")
    number = 90 + os.getpid() % 100
    server = subprocess.Popen(["Xvfb", f":{number}", "-screen", "0", "1600x1000x24", "-nolisten",
                               "tcp"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while not Path(f"/tmp/.X11-unix/X{number}").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    os.environ["DISPLAY"], os.environ["QT_QPA_PLATFORM"] = f":{number}", "xcb"
    # stopped at exit, not at teardown: Qt ends the process when its display goes away, which
    # would come before pytest's report
    atexit.register(server.terminate)
    return os.environ["DISPLAY"]


@pytest.fixture(scope="session")
def qapp_args(display):
    """pytest-qt's QApplication arguments: asking for the display first starts it in time."""
    return ["n2n-napari-tests"]


@pytest.fixture
def viewer(display, make_napari_viewer):
    return make_napari_viewer()


def run_denoise(qtbot, widget: DenoiseWidget, viewer) -> None:
    count = len(viewer.layers)
    widget.run()
    qtbot.waitUntil(lambda: len(viewer.layers) > count, timeout=120_000)


def test_denoise_equals_denoise_array_and_carries_the_layer(qtbot, viewer):
    stack = (noisy_burst(3, 96).astype(np.uint16) * 257)
    layer = viewer.add_image(stack, name="cells", scale=(2.0, 0.5, 0.5), translate=(0, 4, 4))
    widget = DenoiseWidget(viewer)
    widget.layer.value, widget.tile.value = layer, 64
    run_denoise(qtbot, widget, viewer)
    out = viewer.layers["cells denoised"]
    np.testing.assert_array_equal(out.data, n2n.denoise_array(stack, tile=64))
    assert "confocal --pd 1" in widget.status.value  # gray shot noise: the fluorescence model
    assert "white 65535 (uint16)" in widget.status.value  # the choice line of every door
    assert out.data.dtype == np.uint16 and tuple(out.scale) == (2.0, 0.5, 0.5)
    assert tuple(out.translate) == (0, 4, 4) and widget.progress.value == 3


def test_rgb_layers_go_through_the_automatic_photo_treatment(qtbot, viewer):
    from skimage import data

    photo = data.astronaut()[:80, :96]
    layer = viewer.add_image(photo, name="astronaut", rgb=True)
    widget = DenoiseWidget(viewer)
    widget.layer.value = layer
    assert widget.model_name() == "auto"  # model and factor measured, as n2n denoise does
    run_denoise(qtbot, widget, viewer)
    expected = n2n.denoise_array(photo, channel_axis=-1)  # the same choice as the API's
    np.testing.assert_array_equal(viewer.layers["astronaut denoised"].data, expected)


def test_dslr_noise_gets_coarser_factors_in_flat_areas_and_says_so(qtbot, viewer):
    from scipy import ndimage
    from skimage import data

    noise = np.random.default_rng(0).normal(0, 1, (128, 128, 3))
    taps = np.array([1, 4, 6, 4, 1])  # correlated over 2 px and more, as in DSLR photos
    noise = ndimage.convolve(noise, np.outer(taps, taps)[:, :, None] / 256, mode="wrap")
    photo = np.clip(np.rint(data.astronaut()[60:188, 160:288] + noise * (6 / noise.std())),
                    0, 255).astype(np.uint8)
    layer = viewer.add_image(photo, name="dslr", rgb=True)
    widget = DenoiseWidget(viewer)
    widget.layer.value = layer
    run_denoise(qtbot, widget, viewer)
    assert "camera --pd 2 --refine" in widget.status.value
    assert "flat areas from --pd 3 and 4" in widget.status.value
    np.testing.assert_array_equal(viewer.layers["dslr denoised"].data,
                                  n2n.denoise_array(photo, channel_axis=-1))


@pytest.mark.parametrize("name", list(door_images()))
def test_the_napari_door_equals_denoise_array(qtbot, viewer, name):
    """The images every door must treat alike (tests/inference/test_doors.py), as napari layers."""
    array, channel_axis, _ = door_images()[name]
    layer = viewer.add_image(array, name="door", rgb=channel_axis is not None)
    widget = DenoiseWidget(viewer)
    widget.layer.value = layer
    run_denoise(qtbot, widget, viewer)
    np.testing.assert_array_equal(viewer.layers["door denoised"].data,
                                  n2n.denoise_array(array, channel_axis=channel_axis))


def test_cancel_adds_no_layer_and_bad_layers_are_messages(qtbot, viewer, monkeypatch):
    errors = []
    monkeypatch.setattr("n2n.napari.denoise_widget.show_error", errors.append)
    viewer.add_image(noisy_burst(30, 128), name="long")
    widget = DenoiseWidget(viewer)
    widget.run()
    widget.stop()
    qtbot.waitUntil(lambda: widget.run_button.enabled, timeout=120_000)
    assert [layer.name for layer in viewer.layers] == ["long"]
    rgba = viewer.add_image(np.zeros((40, 40, 4), np.uint8), rgb=True, name="rgba")
    widget.layer.value = rgba
    widget.run()
    widget.model.value = "file..."
    widget.layer.value = viewer.layers["long"]
    widget.run()
    assert "4 colour channels" in errors[0] and "choose a model file" in errors[1]
    assert len(viewer.layers) == 2


def context_file(tmp_path: Path) -> Path:
    """An untrained context model over 5 planes (fixed seed) saved as a checkpoint."""
    from n2n.models import ModelConfig, build_model
    from n2n.models.checkpoint import write_weights

    write_weights(build_model(ModelConfig(channels=1, width=8, depth=2, context=5,
                                          residual=True, linear_output=True), seed=1),
                  tmp_path / "context.pt")
    return tmp_path / "context.pt"


def test_a_context_model_denoises_a_3d_layer_as_a_volume(qtbot, viewer, tmp_path):
    """A ZYX layer with a 2.5-D model: each plane with its window, as denoise_array with axes
    does; the result keeps the layer's scale, translate and axis labels."""
    model = context_file(tmp_path)
    stack = noisy_burst(7, 48)
    viewer.add_image(stack, name="stack", scale=(3.0, 0.5, 0.5), translate=(1, 2, 3),
                     axis_labels=("z", "y", "x"))
    widget = DenoiseWidget(viewer)
    widget.model.value, widget.file.value = "file...", model
    run_denoise(qtbot, widget, viewer)
    out = viewer.layers["stack denoised"]
    np.testing.assert_array_equal(out.data, n2n.denoise_array(stack, model, axes="ZYX"))
    assert tuple(out.scale) == (3.0, 0.5, 0.5) and tuple(out.translate) == (1, 2, 3)
    assert tuple(out.axis_labels) == ("z", "y", "x") and widget.progress.value == 7


def test_automatic_on_a_labelled_z_stack_is_the_array_doors_choice(qtbot, viewer):
    """The stack rule through this door too: a gray layer labelled z, y, x on automatic gets
    what denoise_array(..., axes="ZYX") gives (the bundled context model for shot noise)."""
    stack = noisy_burst(7, 48)
    viewer.add_image(stack, name="zstack", axis_labels=("z", "y", "x"))
    widget = DenoiseWidget(viewer)
    run_denoise(qtbot, widget, viewer)
    np.testing.assert_array_equal(viewer.layers["zstack denoised"].data,
                                  n2n.denoise_array(stack, axes="ZYX"))


def test_a_time_lapse_of_volumes_needs_its_axes_and_thin_stacks_are_messages(
        qtbot, viewer, tmp_path, monkeypatch):
    errors = []
    monkeypatch.setattr("n2n.napari.denoise_widget.show_error", errors.append)
    model = context_file(tmp_path)
    lapse = noisy_burst(12, 40).reshape(2, 6, 40, 40)
    viewer.add_image(lapse, name="lapse")
    viewer.add_image(noisy_burst(4, 40), name="thin")
    widget = DenoiseWidget(viewer)
    widget.model.value, widget.file.value = "file...", model
    widget.layer.value = viewer.layers["lapse"]
    widget.run()  # 4-D, unlabelled: which axis is Z?
    widget.layer.value = viewer.layers["thin"]
    widget.run()
    assert "needs its axes named" in errors[0] and "too few for the model's window" in errors[1]
    widget.layer.value, widget.axes.value = viewer.layers["lapse"], "TZYX"
    run_denoise(qtbot, widget, viewer)
    np.testing.assert_array_equal(viewer.layers["lapse denoised"].data,
                                  n2n.denoise_array(lapse, model, axes="TZYX"))


@pytest.mark.parametrize("source, mode", [
    ("volume or time-lapse (context model)", "n2n"),
    ("one volume, Z not dense (context model, Neighbor2Neighbor)", "ne2ne")])
def test_train_a_context_model_on_a_volume_layer(qtbot, viewer, tmp_path, source, mode):
    from n2n.models.checkpoint import load_record

    viewer.add_image(noisy_burst(10, 48), name="volume")
    widget = TrainWidget(viewer)
    widget.source.value = source
    assert not widget.context.native.isHidden() and widget.second.native.isHidden()
    widget.run_dir.value = tmp_path / "run"
    widget.epochs.value, widget.patch.value, widget.patches.value = 1, 32, 16
    widget.batch.value, widget.net_width.value, widget.device.value = 4, 8, "cpu"
    widget.context.value = 3
    widget.train()
    qtbot.waitUntil(lambda: widget.start.enabled, timeout=300_000)
    assert widget.status.value.startswith("done"), widget.status.value
    best = tmp_path / "run" / "best.pt"
    record = load_record(best)
    assert record["model_config"]["context"] == 3 and record["train_config"]["mode"] == mode
    assert TrainedModels.of(viewer) == [best]


def burst_training(viewer, run: Path, epochs: int) -> TrainWidget:
    """A Train widget started on the sample burst with seconds-long CPU settings."""
    viewer.add_image(noisy_burst(), name="burst")
    widget = TrainWidget(viewer)
    run.mkdir()
    widget.run_dir.value = run
    widget.epochs.value, widget.patch.value, widget.patches.value = epochs, 32, 64
    widget.batch.value, widget.net_width.value, widget.device.value = 16, 8, "cpu"
    widget.train()
    return widget


def test_train_from_a_burst_layer_plots_and_offers_best(qtbot, viewer, tmp_path, monkeypatch):
    widget = burst_training(viewer, tmp_path / "run", epochs=2)
    qtbot.waitUntil(lambda: widget.start.enabled, timeout=300_000)
    assert widget.status.value.startswith("done"), (tmp_path / "run/napari-train.log").read_text()
    assert (tmp_path / "run" / "best.pt").is_file()
    assert (tmp_path / "run-data" / "burst.tif").is_file()  # the data beside the run, not in it
    assert len(widget.figure.axes[0].lines[0].get_xdata()) == 2  # both epochs plotted
    best = tmp_path / "run" / "best.pt"
    assert TrainedModels.of(viewer) == [best]
    denoise = DenoiseWidget(viewer)  # a Denoise widget of the same viewer offers it
    denoise.model.value = str(best)
    denoise.layer.value = viewer.layers["burst"]
    run_denoise(qtbot, denoise, viewer)
    expected = n2n.denoise_array(viewer.layers["burst"].data, best)
    np.testing.assert_array_equal(viewer.layers["burst denoised"].data, expected)
    errors = []
    monkeypatch.setattr("n2n.napari.train_widget.show_error", errors.append)
    before = best.read_bytes()
    widget.train()  # the same folder again without resume: refused, nothing touched
    assert "is not empty" in errors[0] and widget.worker is None
    assert best.read_bytes() == before


def test_stop_writes_last_pt_and_resume_continues(qtbot, viewer, tmp_path, monkeypatch):
    calls = []  # the library's train(), called in this process, off the main thread

    def spy(config, run_dir, **options):
        calls.append((config, options["resume"], threading.current_thread().name))
        return train(config, run_dir, **options)

    monkeypatch.setattr("n2n.napari.train_widget.train", spy)
    widget = burst_training(viewer, tmp_path / "run", epochs=50)
    qtbot.waitUntil(lambda: (tmp_path / "run" / "last.pt").is_file(), timeout=300_000)
    widget.halt()
    qtbot.waitUntil(lambda: widget.start.enabled, timeout=120_000)
    assert widget.status.value.startswith("stopped")
    stopped = load_record(tmp_path / "run" / "last.pt")  # valid, and resumable from its step
    assert stopped["position"]["epoch"] >= 1 and stopped["train_config"]["epochs"] == 50
    done = len(widget.figure.axes[0].lines[0].get_xdata())
    widget.resume.value = True
    widget.train()
    qtbot.waitUntil(lambda: len(widget.figure.axes[0].lines[0].get_xdata()) > done,
                    timeout=300_000)
    widget.halt()
    qtbot.waitUntil(lambda: widget.start.enabled, timeout=120_000)
    assert [(config is None, resume) for config, resume, _ in calls] == [(False, False),
                                                                        (True, True)]
    assert all(name != threading.main_thread().name for _, _, name in calls)
    epochs = [row["epoch"] for row in json.loads((tmp_path / "run" / "log.json").read_text())]
    assert epochs == list(range(1, len(epochs) + 1)) and len(epochs) > done
    assert not (tmp_path / "run" / "napari-train.log").exists()  # no child process


def test_layers_are_written_beside_the_run_and_foreign_files_there_refused(viewer, tmp_path,
                                                                          monkeypatch):
    errors = []
    monkeypatch.setattr("n2n.napari.train_widget.show_error", errors.append)
    (tmp_path / "run-data").mkdir()
    (tmp_path / "run-data" / "notes.txt").write_text("mine")
    viewer.add_image(noisy_burst(), name="burst")
    widget = TrainWidget(viewer)
    widget.run_dir.value = tmp_path / "run"
    widget.train()
    assert "notes.txt, which the Train widget did not write" in errors[0]
    assert widget.worker is None and not (tmp_path / "run").exists()
    (tmp_path / "run-data" / "notes.txt").unlink()
    write_stack(tmp_path / "run-data" / "old.tif", noisy_burst()[:2, ..., None], 255.0)
    config = widget._fresh_config()  # a failed start's own files are written afresh
    assert config.data.paths == [str(tmp_path / "run-data")]
    assert sorted(p.name for p in (tmp_path / "run-data").iterdir()) == ["burst.tif"]


def test_diagnose_the_sample_burst_and_one_plane(qtbot, viewer):
    viewer.open_sample("n2n-lite", "confocal_burst")
    widget = DiagnoseWidget(viewer)
    widget.run()
    d = widget.diagnosis
    assert d is not None and "burst of 4 captures" in d.source
    assert 2.5 < d.noise_model.a < 6.5 and d.white  # the FMD level it was made with, white
    assert "n2n train RUN --bursts DIR" in widget.report.value
    assert len(widget.figure.axes) >= 2
    widget.burst.value = False
    widget.run()
    assert "single image" in widget.diagnosis.source


def test_manifest_is_discovered_and_widgets_dock(qtbot, viewer):
    import npe2

    manifest = npe2.PluginManager.instance().get_manifest("n2n-lite")
    assert {w.display_name for w in manifest.contributions.widgets} == {"Denoise", "Train",
                                                                         "Diagnose"}
    viewer.open_sample("n2n-lite", "confocal_burst")
    docked = {name: viewer.window.add_plugin_dock_widget("n2n-lite", name)[1]
              for name in ("Denoise", "Train", "Diagnose")}
    run_denoise(qtbot, docked["Denoise"], viewer)
    docked["Diagnose"].run()
    assert docked["Diagnose"].diagnosis is not None
    viewer.layers[0].visible = False
    image = viewer.screenshot(canvas_only=False, flash=False)
    assert image.ndim == 3 and image.shape[2] == 4 and image[..., :3].std() > 1
    if os.environ.get("N2N_WRITE_SCREENSHOT") == "1":
        from skimage.io import imsave

        imsave(SCREENSHOT, image)
