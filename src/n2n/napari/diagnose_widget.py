"""The Diagnose widget: a layer's noise (Poisson-Gaussian fit, spatial correlation) with the
plots of ``n2n diagnose`` and its advice on what to train; a burst layer (captures along the
first axis) is diagnosed from its captures, any other layer from the plane on screen."""

from __future__ import annotations

from typing import Any

import numpy as np
from magicgui.widgets import CheckBox, ComboBox, Container, PushButton, TextEdit
from napari.utils.notifications import show_error

from n2n.errors import N2NError
from n2n.evaluation.diagnose import Diagnosis, diagnose_burst, diagnose_image
from n2n.evaluation.plots import draw_noise
from n2n.inference.policy import first_choice
from n2n.napari.canvas import figure_canvas
from n2n.napari.layers import follow_layers, image_layers, image_pixels


class DiagnoseWidget(Container):
    """Fit the noise of the chosen layer and say what to train."""

    def __init__(self, napari_viewer: Any) -> None:
        self.viewer = napari_viewer
        self.layer = ComboBox(label="image", choices=lambda _: image_layers(napari_viewer))
        self.burst = CheckBox(label="burst: the first axis holds captures of one scene",
                              value=True)
        self.button = PushButton(text="Diagnose")
        self.report = TextEdit(value="")
        self.report.native.setReadOnly(True)
        super().__init__(widgets=[self.layer, self.burst, self.button, self.report])
        self.figure, self.canvas = figure_canvas(self, 6.0, 4.0)
        self.diagnosis: Diagnosis | None = None
        self.button.clicked.connect(self.run)
        follow_layers(napari_viewer, self.layer)

    def run(self) -> None:
        """Diagnose, draw the fit and the correlation map, and write the advice."""
        layer = self.layer.value
        try:
            planes, white = image_pixels(layer)
            pixels = planes.astype(np.float64) * (255.0 / white.value)  # on a 0..255 scale
            if self.burst.value and len(pixels) >= 2:
                d = diagnose_burst(pixels, layer.name)
            else:
                plane = pixels[self._current_plane(layer, len(pixels))]
                d = diagnose_image(plane, layer.name, first_choice(plane).to_json())
        except N2NError as err:
            show_error(str(err))
            return
        self.diagnosis = d
        self.figure.clear()
        draw_noise(self.figure, d.curve, d.noise_model, d.correlation, "noise variance")
        self.canvas.draw_idle()
        kind = "white" if d.white else "correlated"
        self.report.value = "\n".join([
            d.source,
            f"noise variance = {d.noise_model.a:.3g} x intensity + {d.noise_model.b:.3g} "
            f"(0..255 scale), std about {d.noise_std:.3g}",
            f"correlation length: {d.correlation_length} px ({kind})", "", *d.recommendation])

    def _current_plane(self, layer: Any, count: int) -> int:
        """The index of the plane the viewer shows, among the layer's planes."""
        leading = layer.data.shape[: layer.data.ndim - (3 if layer.rgb else 2)]
        if not leading:
            return 0
        step = self.viewer.dims.current_step[: len(leading)]
        index = np.ravel_multi_index([min(s, n - 1) for s, n in zip(step, leading,
                                                                    strict=True)], leading)
        return int(min(index, count - 1))
