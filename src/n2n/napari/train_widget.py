"""The Train widget: a denoiser trained from layers (a burst stack, two captured layers, or
single noisy images; or a context model from a 3-D/time layer, Noise2Noise between its
interleaved planes) by the library's :func:`n2n.training.api.train`, in a napari thread worker
so the viewer stays responsive. Stop asks the run to stop after its current step (last.pt
written, resumable); Resume continues the run. The layers are written as TIFFs beside the run
folder, in ``RUN-data`` (a run folder never holds the data it reads). Loss and validation PSNR
are plotted live from the run's log.json; best.pt joins the Denoise widgets' choices."""

from __future__ import annotations

import json
import threading
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
    LineEdit,
    PushButton,
    SpinBox,
)
from napari.qt.threading import thread_worker
from napari.utils.notifications import show_error, show_info
from qtpy.QtCore import QTimer

from n2n.data.config import DataConfig
from n2n.errors import N2NError
from n2n.io.files import MARK, atomic_path
from n2n.napari.canvas import figure_canvas
from n2n.napari.layers import (
    TrainedModels,
    follow_layers,
    image_layers,
    image_pixels,
    layer_axes,
)
from n2n.training.api import TrainResult, train
from n2n.training.config import VOLUME_CONTEXT, TrainConfig
from n2n.training.loop import Interrupted

SOURCES = {"burst stack (first axis: captures)": "bursts",
           "two layers (captured pairs)": "captured",
           "single noisy images (Neighbor2Neighbor)": "noisy",
           "volume or time-lapse (context model)": "volume",
           "one volume, Z not dense (context model, Neighbor2Neighbor)": "volume ne2ne"}
VOLUME_SOURCES = {"volume": "n2n", "volume ne2ne": "ne2ne"}  # source -> training mode


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
        self.context = SpinBox(label="window (planes)", min=3, max=15, step=2,
                               value=VOLUME_CONTEXT, visible=False)
        self.axes = LineEdit(label="axes (e.g. TZYX)", value="", visible=False)
        self.resume = CheckBox(label="resume the run in this folder")
        self.start, self.stop = PushButton(text="Train"), PushButton(text="Stop", enabled=False)
        self.status = Label(value="")
        super().__init__(widgets=[self.source, self.layer, self.second, self.run_dir,
                                  self.epochs, self.minutes, self.patch, self.patches,
                                  self.batch, self.net_width, self.device, self.context,
                                  self.axes, self.resume, self.start, self.stop, self.status])
        self.figure, self.canvas = figure_canvas(self)
        self.worker: Any = None  # the thread worker of the run in progress
        self.stopping = threading.Event()
        self.timer = QTimer()
        self.timer.setInterval(500)
        self.timer.timeout.connect(self.poll)
        self.source.changed.connect(self._show_options)
        self.start.clicked.connect(self.train)
        self.stop.clicked.connect(self.halt)
        follow_layers(napari_viewer, self.layer, self.second)

    def _show_options(self, choice: str) -> None:
        """The second layer for captured pairs; the window and axes for volumes."""
        self.second.visible = SOURCES[choice] == "captured"
        self.context.visible = self.axes.visible = SOURCES[choice] in VOLUME_SOURCES

    @property
    def folder(self) -> Path:
        if not str(self.run_dir.value) or str(self.run_dir.value) == ".":
            raise N2NError("choose a run folder for the logs and checkpoints")
        return Path(self.run_dir.value)

    def train(self) -> None:
        """Write the layers beside the run folder and train in a thread (or resume the run);
        refusals (a folder in use, a bad layer) are notifications, before anything starts."""
        try:
            if self.resume.value and not (self.folder / "last.pt").is_file():
                raise N2NError(f"{self.folder}: no last.pt to resume; untick resume to start")
            config = None if self.resume.value else self._fresh_config()
        except N2NError as err:
            show_error(str(err))
            return
        self.stopping = threading.Event()
        self.worker = _training(config, self.folder, resume=self.resume.value,
                                device=self.device.value, progress=False, stop=self.stopping)
        self.worker.returned.connect(self._done)
        self.worker.errored.connect(self._failed)
        self.worker.finished.connect(self._idle)
        self.start.enabled, self.stop.enabled = False, True
        self.status.value = "training..."
        self.timer.start()
        self.worker.start()

    def _fresh_config(self) -> TrainConfig:
        """The run the widget describes, its layers written as TIFFs into ``RUN-data``."""
        folder, kind = self.folder, SOURCES[self.source.value]
        if folder.exists() and any(folder.iterdir()):  # a run, or files n2n-lite did not write
            raise N2NError(f"{folder}: is not empty; choose a new or empty folder, or tick "
                           "resume to continue the run there")
        data = data_folder(folder)
        clear_layer_files(data)  # left by a start that failed: written again
        if kind in VOLUME_SOURCES:
            return self._volume_config(data, VOLUME_SOURCES[kind])
        layers = [self.layer.value] + ([self.second.value] if kind == "captured" else [])
        pixels = [(planes, white.value) for planes, white in map(image_pixels, layers)]
        if kind == "bursts":
            write_stack(data / "burst.tif", *pixels[0])
            paths = [data]
        elif kind == "captured":
            for name, (planes, white) in zip("ab", pixels, strict=True):
                write_planes(data / name, planes, white)
            paths = [data / "a", data / "b"]
        else:
            write_planes(data / "noisy", *pixels[0])
            paths = [data / "noisy"]
        source = DataConfig(source=kind, paths=paths, patch_size=self.patch.value,
                            patches_per_epoch=self.patches.value,
                            channels=pixels[0][0].shape[-1])
        return TrainConfig(data=source, mode="ne2ne" if kind == "noisy" else "n2n",
                           model={"width": self.net_width.value}, epochs=self.epochs.value,
                           batch_size=self.batch.value, minutes=self.minutes.value or None)

    def _volume_config(self, data: Path, mode: str) -> TrainConfig:
        """A context model trained on the layer as a stack (``mode`` n2n: interleaved planes;
        ne2ne: Neighbor2Neighbor within windows), written with its axes as one TIFF; the axes
        typed, else the layer's labels, else ZYX / TZYX."""
        layer = self.layer.value
        planes, white = image_pixels(layer)
        if layer.rgb or layer.data.ndim < 3:
            raise N2NError(f"layer '{layer.name}' of shape {layer.data.shape}: a context model "
                           "trains on a gray volume or time-lapse (ZYX, TYX, TZYX)")
        axes = layer_axes(layer, self.axes.value) or {3: "ZYX", 4: "TZYX"}.get(layer.data.ndim)
        write_stack(data / "volume.tif", planes.reshape((*layer.data.shape, 1)), white, axes)
        source = DataConfig(source="volume", paths=[data / "volume.tif"], axes=axes,
                            patch_size=self.patch.value, patches_per_epoch=self.patches.value)
        return TrainConfig(data=source, mode=mode, epochs=self.epochs.value,
                           model={"width": self.net_width.value, "context": self.context.value},
                           batch_size=self.batch.value, minutes=self.minutes.value or None)

    def halt(self) -> None:
        """Stop after the current step: last.pt is written; resume continues it."""
        if self.worker is not None:
            self.stopping.set()
            self.status.value = "stopping (writing last.pt)..."

    def poll(self) -> None:
        """Redraw the curves from the run's log.json."""
        self.plot(read_history(self.folder / "log.json"))

    def _done(self, result: TrainResult) -> None:
        trained = TrainedModels.of(self.viewer)
        if result.best.is_file() and result.best not in trained:
            trained.append(result.best)
        self.status.value = f"done: {result.best}"
        show_info(f"trained {result.best}; it is in the Denoise widget's models")

    def _failed(self, error: Exception) -> None:
        if isinstance(error, Interrupted):
            self.status.value = "stopped: tick resume and Train to continue"
            return
        self.status.value = "failed"
        show_error(f"training failed: {error}")

    def _idle(self) -> None:
        """The run ended, however: last curves, buttons back."""
        self.timer.stop()
        self.poll()
        self.worker = None
        self.start.enabled, self.stop.enabled = True, False

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


@thread_worker(ignore_errors=True)  # errors come back through `errored`, as notifications
def _training(config: TrainConfig | None, run_dir: Path, **options: Any) -> TrainResult:
    """The library's train() in napari's worker thread (no signals there: ``stop`` stops it)."""
    return train(config, run_dir, **options)


def data_folder(run_dir: Path) -> Path:
    """Where the widget writes a run's layers: beside the run folder, never inside it."""
    return run_dir.parent / f"{run_dir.name}-data"


def clear_layer_files(folder: Path) -> None:
    """Empty a ``RUN-data`` folder this widget wrote before (every file a TIFF it marked), so
    that a new start writes it afresh; one that holds anything else is refused."""
    files = [p for p in folder.rglob("*") if not p.is_dir()] if folder.is_dir() else []
    foreign = [p for p in files if not _marked_tiff(p)]
    if foreign:
        raise N2NError(f"{folder}: holds {foreign[0].name}, which the Train widget did not "
                       "write; choose another run folder, or move that folder away")
    for path in files:
        path.unlink()
    for sub in sorted((p for p in folder.rglob("*") if p.is_dir()), reverse=True):
        sub.rmdir()


def _marked_tiff(path: Path) -> bool:
    try:
        with tifffile.TiffFile(path) as tif:
            software = tif.pages[0].tags.get("Software")
    except Exception:  # any decoder error: not a TIFF this widget wrote
        return False
    return software is not None and software.value == MARK


def read_history(path: Path) -> list[dict]:
    """A run's log.json rows so far ([] before the first epoch ends)."""
    try:
        rows = json.loads(path.read_text())
    except (OSError, ValueError):
        return []
    return rows if isinstance(rows, list) else []


def write_stack(path: Path, planes: np.ndarray, white: float, axes: str | None = None) -> None:
    """(K, H, W, C) pixels as a multi-page TIFF, in their dtype (floats on 0..255); with
    ``axes``, (..., H, W, 1) gray pixels of that shape, its axes in the file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    stack = planes[..., 0] if planes.shape[-1] == 1 else planes
    if stack.dtype.kind == "f":
        stack = (stack * (255.0 / white)).astype(np.float32)
    with atomic_path(path) as tmp:
        tifffile.imwrite(tmp, stack, software=MARK,
                         photometric="rgb" if planes.shape[-1] == 3 else "minisblack",
                         metadata={"axes": axes} if axes else {})


def write_planes(folder: Path, planes: np.ndarray, white: float) -> None:
    """Each (H, W, C) plane as its own TIFF, named in order."""
    for k, plane in enumerate(planes):
        write_stack(folder / f"image_{k:04d}.tif", plane[None], white)
