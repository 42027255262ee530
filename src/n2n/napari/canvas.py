"""A matplotlib Figure docked in a widget (Qt canvas, never pyplot)."""

from __future__ import annotations

from typing import Any

from magicgui.widgets import Container
from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure


def figure_canvas(container: Container, width: float = 4.5, height: float = 3.0
                  ) -> tuple[Figure, Any]:
    """A Figure and its canvas appended to ``container``; call ``canvas.draw_idle()`` after
    drawing."""
    figure = Figure(figsize=(width, height), tight_layout=True)
    canvas = FigureCanvasQTAgg(figure)
    canvas.setMinimumHeight(int(height * 60))
    container.native.layout().addWidget(canvas)
    return figure, canvas
