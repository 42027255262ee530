"""The Train widget: a denoiser trained from layers (a burst stack, two captured layers, or
single noisy images) by ``n2n train`` in a child process, so the viewer stays responsive and
Stop is the CLI's own SIGTERM (last.pt written, resumable). Loss and validation PSNR are
plotted live from the run's log.json; best.pt joins the Denoise widgets' choices."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import tifffile
from magicgui.widgets import (
    CheckBox,
    ComboBox,
    Container,
    FileEdit,
    FloatSpinBox,
    Label,
    PushButton,
    SpinBox,
)
from napari.utils.notifications import show_error, show_info
from qtpy.QtCore import QTimer

from n2n.errors import N2NError
from n2n.io.files import MARK, atomic_path
from n2n.napari.canvas import figure_canvas
from n2n.napari.layers import TrainedModels, follow_layers, image_layers, image_pixels

SOURCES = {"burst stack (first axis: captures)": "bursts",
           "two layers (captured pairs)": "captured",
           "single noisy images (Neighbor2Neighbor)": "noisy"}


class TrainWidget(Container):
    """Train from layers into a run folder; plots as it goes; Stop and Resume."""

    def __init__(self, napari_viewer: Any) -> None:
        self.viewer = napari_viewer
        self.source = ComboBox(label="data", choices=list(SOURCES))
        layers = lambda _: image_layers(napari_viewer)  # noqa: E731 - the boxes' choices
        self.layer = ComboBox(label="layer", choices=layers)
        self.second = ComboBox(label="second layer", choices=layers, visible=False)
        self.run_dir = FileEdit(label="run folder", mode="d")
        self.epochs = SpinBox(label="epochs", min=1, max=10000, value=20)
        self.minutes = FloatSpinBox(label="minutes (0: no limit)", min=0, max=10000, value=0)
        self.patch = SpinBox(label="patch size", min=16, max=512, step=16, value=64)
        self.patches = SpinBox(label="patches per epoch", min=16, max=1_000_000, value=2000)
        self.batch = SpinBox(label="batch size", min=1, max=1024, value=32)
        self.net_width = SpinBox(label="network width", min=4, max=128, value=24)
        self.device = ComboBox(label="device", choices=["auto", "cpu", "cuda"])
        self.resume = CheckBox(label="resume the run in this folder")
        self.start, self.stop = PushButton(text="Train"), PushButton(text="Stop", enabled=False)
        self.status = Label(value="")
        super().__init__(widgets=[self.source, self.layer, self.second, self.run_dir,
                                  self.epochs, self.minutes, self.patch, self.patches,
                                  self.batch, self.net_width, self.device, self.resume, self.start,
                                  self.stop, self.status])
        self.figure, self.canvas = figure_canvas(self)
        self.process: subprocess.Popen | None = None
        self.timer = QTimer()
        self.timer.setInterval(500)
        self.timer.timeout.connect(self.poll)
        self.source.changed.connect(lambda v: setattr(self.second, "visible",
                                                      SOURCES[v] == "captured"))
        self.start.clicked.connect(self.train)
        self.stop.clicked.connect(self.halt)
        follow_layers(napari_viewer, self.layer, self.second)

    @property
    def folder(self) -> Path:
        if not str(self.run_dir.value) or str(self.run_dir.value) == ".":
            raise N2NError("choose a run folder for the data, logs and checkpoints")
        return Path(self.run_dir.value)

    def train(self) -> None:
        """Write the layers into RUN/data and start ``n2n train`` (or resume it)."""
        try:
            command = self._resume_command() if self.resume.value else self._fresh_command()
        except N2NError as err:
            show_error(str(err))
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        log = open(self.folder / "napari-train.log", "a")  # noqa: SIM115 - the child's output
        self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        self.start.enabled, self.stop.enabled = False, True
        self.status.value = "training..."
        self.timer.start()

    def _resume_command(self) -> list[str]:
        if not (self.folder / "last.pt").is_file():
            raise N2NError(f"{self.folder}: no last.pt to resume; untick resume to start")
        return [sys.executable, "-m", "n2n", "train", str(self.folder), "--resume"]

    def _fresh_command(self) -> list[str]:
        folder, kind = self.folder, SOURCES[self.source.value]
        if folder.exists() and any(folder.iterdir()):  # a run, or files n2n-lite did not write
            raise N2NError(f"{folder}: is not empty; choose a new or empty folder, or tick "
                           "resume to continue the run there")
        layers = [self.layer.value] + ([self.second.value] if kind == "captured" else [])
        pixels = [image_pixels(layer) for layer in layers]
        data = folder / "data"
        if kind == "bursts":
            write_stack(data / "burst.tif", *pixels[0])
            flags = ["--bursts", str(data)]
        elif kind == "captured":
            for name, (planes, white) in zip("ab", pixels, strict=True):
                write_planes(data / name, planes, white)
            flags = ["--captured", str(data / "a"), str(data / "b")]
        else:
            write_planes(data / "noisy", *pixels[0])
            flags = ["--mode", "ne2ne", "--noisy", str(data / "noisy")]
        channels = pixels[0][0].shape[-1]
        options = {"--epochs": self.epochs.value, "--patch-size": self.patch.value,
                   "--patches-per-epoch": self.patches.value, "--batch-size": self.batch.value,
                   "--width": self.net_width.value, "--device": self.device.value,
                   "--channels": channels}
        if self.minutes.value:
            options["--minutes"] = self.minutes.value
        settings = [str(x) for item in options.items() for x in item]
        return [sys.executable, "-m", "n2n", "train", str(folder), *flags, *settings]

    def halt(self) -> None:
        """Stop as the CLI stops on SIGTERM: last.pt is written; resume continues it."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.status.value = "stopping (writing last.pt)..."

    def poll(self) -> None:
        """Redraw the curves; when the child ends, say how and offer best.pt."""
        self.plot(read_history(self.folder / "log.json"))
        if self.process is None or self.process.poll() is None:
            return
        self.timer.stop()
        code, self.process = self.process.returncode, None
        self.start.enabled, self.stop.enabled = True, False
        best = self.folder / "best.pt"
        trained = TrainedModels.of(self.viewer)
        if best.is_file() and best not in trained:
            trained.append(best)
        if code == 0:
            self.status.value = f"done: {best}"
            show_info(f"trained {best}; it is in the Denoise widget's models")
        elif code == 128 + signal.SIGTERM:
            self.status.value = "stopped: tick resume and Train to continue"
        else:
            tail = (self.folder / "napari-train.log").read_text().strip().splitlines()[-1:]
            self.status.value = "failed"
            show_error(f"training failed: {tail[0] if tail else f'exit {code}'}")

    def plot(self, history: list[dict]) -> None:
        self.figure.clear()
        loss = self.figure.add_subplot(1, 2, 1)
        loss.set(title="train loss", xlabel="epoch")
        psnr = self.figure.add_subplot(1, 2, 2)
        psnr.set(title="validation PSNR (dB)", xlabel="epoch")
        epochs = [row["epoch"] for row in history]
        loss.plot(epochs, [row.get("train_loss", np.nan) for row in history], "o-")
        psnr.plot(epochs, [row.get("val_psnr", np.nan) for row in history], "o-", color="C1")
        self.canvas.draw_idle()


def read_history(path: Path) -> list[dict]:
    """A run's log.json rows so far ([] before the first epoch ends)."""
    try:
        rows = json.loads(path.read_text())
    except (OSError, ValueError):
        return []
    return rows if isinstance(rows, list) else []


def write_stack(path: Path, planes: np.ndarray, white: float) -> None:
    """(K, H, W, C) pixels as a multi-page TIFF, in their dtype (floats on 0..255)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    stack = planes[..., 0] if planes.shape[-1] == 1 else planes
    if stack.dtype.kind == "f":
        stack = (stack * (255.0 / white)).astype(np.float32)
    with atomic_path(path) as tmp:
        tifffile.imwrite(tmp, stack, software=MARK,
                         photometric="rgb" if planes.shape[-1] == 3 else "minisblack")


def write_planes(folder: Path, planes: np.ndarray, white: float) -> None:
    """Each (H, W, C) plane as its own TIFF, named in order."""
    for k, plane in enumerate(planes):
        write_stack(folder / f"image_{k:04d}.tif", plane[None], white)
