"""The Denoise widget: an image layer (2-D, stack, RGB, 8/16-bit or float) into a new layer,
plane by plane in a thread, with a progress bar and a cancel button. With a context model
(:mod:`n2n.models.context`) a 3-D (ZYX, TYX) or 4-D (TZYX) layer is denoised as a volume: each
plane with the window of its neighbours, as :func:`n2n.denoise_array` with ``axes`` does."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
from magicgui.widgets import (
    ComboBox,
    Container,
    FileEdit,
    Label,
    LineEdit,
    ProgressBar,
    PushButton,
    SpinBox,
)
from napari.qt.threading import thread_worker
from napari.utils.notifications import show_error, show_info

from n2n.errors import N2NError
from n2n.inference.arrays import decide, denoise_plane, gray_stack, stack_planes
from n2n.inference.denoiser import Denoiser
from n2n.inference.policy import AUTO
from n2n.inference.spec import InferenceSpec
from n2n.inference.volumes import denoiser_context, denoiser_volumetric
from n2n.models.bundled import BUNDLED_MODELS
from n2n.napari.layers import (
    TrainedModels,
    follow_layers,
    image_layers,
    image_pixels,
    layer_axes,
    layer_keywords,
)

AUTOMATIC, FILE = "automatic", "file..."


class DenoiseWidget(Container):
    """Denoise the chosen layer with a bundled, trained or exported model."""

    def __init__(self, napari_viewer: Any) -> None:
        self.viewer = napari_viewer
        self.trained = TrainedModels.of(napari_viewer)
        self.layer = ComboBox(label="image", choices=lambda _: image_layers(napari_viewer))
        self.model = ComboBox(label="model", choices=self._model_choices, value=AUTOMATIC)
        self.file = FileEdit(label="model file", mode="r", filter="*.pt *.ts *.onnx",
                             visible=False)
        self.pd = SpinBox(label="pd (0: auto)", min=0, max=4, value=0)
        # 0: tiles from a memory budget (see n2n.inference.tiling)
        self.tile = SpinBox(label="tile (0: auto)", min=0, max=4096, step=32, value=0)
        self.device = ComboBox(label="device", choices=["auto", "cpu", "cuda"], value="auto")
        # a context model's stack axes where the layer's axis labels do not say them
        self.axes = LineEdit(label="axes (e.g. TZYX)", value="")
        self.progress = ProgressBar(label="planes", value=0)
        self.run_button, self.cancel = PushButton(text="Denoise"), PushButton(text="Cancel",
                                                                                enabled=False)
        self.status = Label(value="")
        super().__init__(widgets=[self.layer, self.model, self.file, self.pd, self.tile,
                                  self.device, self.axes,
                                  self.run_button, self.cancel, self.progress, self.status])
        self.worker = None
        self.model.changed.connect(lambda v: setattr(self.file, "visible", v == FILE))
        self.run_button.clicked.connect(self.run)
        self.cancel.clicked.connect(self.stop)
        follow_layers(napari_viewer, self.layer)

    def _model_choices(self, _: Any = None) -> list:
        trained = [(f"trained: {p.parent.name}/{p.name}", str(p)) for p in self.trained]
        names = [AUTOMATIC, *BUNDLED_MODELS]
        return [*((n, n) for n in names), *trained, (FILE, FILE)]  # (label, value) pairs

    def model_name(self) -> str | Path:
        """What the choice means: automatic is ``auto``, the model and pixel-shuffle factor
        chosen from the layer's noise by the rule every door applies."""
        choice = self.model.value
        if choice == AUTOMATIC:
            return AUTO
        if choice == FILE:
            if not self.file.value or not Path(self.file.value).is_file():
                raise N2NError("choose a model file (a checkpoint .pt, or a .ts/.onnx export)")
            return Path(self.file.value)
        return choice

    def run(self) -> None:
        """Start denoising the chosen layer; errors become notifications."""
        layer = self.layer.value
        try:
            planes, white = image_pixels(layer)
            # pd 0: measured for bundled models, a file's own otherwise
            spec = InferenceSpec(self.model_name(), self.pd.value or None,
                                 tile=self.tile.value or None, device=self.device.value)
            axes = None if layer.rgb else layer_axes(layer, self.axes.value)
            where = f"layer '{layer.name}' of shape {layer.data.shape}"
            decision = decide(spec, planes, white, gray_stack(layer.data.shape, axes, None, where))
            if denoiser_context(decision.denoiser) > 1 or denoiser_volumetric(decision.denoiser):
                outputs = self._volume(layer, decision.denoiser, white.value, axes, where)
            else:
                outputs = (denoise_plane(decision.denoiser, p, white.value) for p in planes)
        except N2NError as err:
            show_error(str(err))
            return
        self.progress.max, self.progress.value = len(planes), 0
        name = str(decision.treatment or Path(str(spec.model)).name)
        self.status.value = f"{layer.name} with {name}; {decision.white}"
        self.worker = _denoise_planes(outputs, planes)
        self.worker.yielded.connect(lambda done: setattr(self.progress, "value", done))
        self.worker.returned.connect(lambda out: self._add_result(layer, out, name))
        self.worker.errored.connect(lambda err: show_error(str(err)))
        self.worker.finished.connect(self._idle)
        self.run_button.enabled, self.cancel.enabled = False, True
        self.worker.start()

    @staticmethod
    def _volume(layer: Any, denoiser: Denoiser, white: float, axes: str | None, where: str
                ) -> Iterator[np.ndarray]:
        """A gray layer's planes, each denoised with its window (axes and thickness checked
        now, so that a bad layer is a message and starts no thread), along ``axes`` (typed in
        the widget, else the layer's axis labels)."""
        if layer.rgb:
            raise N2NError(f"{where}: a context model denoises gray stacks, not RGB layers")
        return (plane[..., None] for plane in stack_planes(denoiser, np.asarray(layer.data),
                                                            axes, white, where))

    def stop(self) -> None:
        """Cancel between planes: no layer is added."""
        if self.worker is not None:
            self.worker.quit()
            self.status.value = "cancelled"

    def _idle(self) -> None:
        self.run_button.enabled, self.cancel.enabled = True, False

    def _add_result(self, layer: Any, out: np.ndarray, name: str | Path) -> None:
        data = out.reshape(layer.data.shape)
        self.viewer.add_image(data, name=f"{layer.name} denoised", rgb=layer.rgb,
                              contrast_limits=layer.contrast_limits, colormap=layer.colormap,
                              metadata={**layer.metadata, "n2n_model": str(name)},
                              **layer_keywords(layer))
        show_info(f"denoised {layer.name} with {name}")


@thread_worker
def _denoise_planes(outputs: Iterator[np.ndarray], planes: np.ndarray) -> Iterator[int]:
    """The denoised planes (computed as they are taken, as denoise_array computes them) into
    an array like ``planes``; yields the count done (a cancel point each)."""
    out = np.empty_like(planes)
    for k, plane in enumerate(outputs):
        out[k] = plane
        yield k + 1
    return out
