"""Writes a napari screenshot of a real noisy volume beside its denoised result, made through
the plugin's Denoise widget (a context model reads each plane with its neighbours), the
widget docked. Needs a display (``xvfb-run -a -s "-screen 0 1280x1024x24"``, see the
development guide) and napari:

    xvfb-run -a -s "-screen 0 1280x1024x24" python docs/make_napari_volume.py \\
        ../shared/data/volumes/lightsheet_nuclei_124x86x94.tif runs/ls/last.pt \\
        docs/images/napari_volume.png --axes ZYX
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import napari
import numpy as np
import tifffile
from qtpy.QtWidgets import QApplication, QWidget
from skimage.io import imsave


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("volume", type=Path)
    parser.add_argument("model", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--axes", default="ZYX")
    parser.add_argument("--timeout", type=float, default=600.0)
    args = parser.parse_args()
    viewer = napari.Viewer()
    volume = tifffile.imread(args.volume)
    name = args.volume.stem
    limits = [float(v) for v in np.percentile(volume, (0.5, 99.8))]
    viewer.add_image(volume, name=name, axis_labels=tuple(args.axes.lower()),
                     contrast_limits=limits)
    _, widget = viewer.window.add_plugin_dock_widget("n2n-lite", "Denoise")
    widget.model.value, widget.file.value = "file...", args.model
    widget.axes.value = args.axes
    widget.run()
    start = time.monotonic()
    while f"{name} denoised" not in viewer.layers:  # the widget denoises in a worker thread
        if time.monotonic() - start > args.timeout:
            raise SystemExit(f"no denoised layer after {args.timeout:.0f} s")
        QApplication.processEvents()
        time.sleep(0.05)
    viewer.layers[f"{name} denoised"].contrast_limits = limits
    viewer.grid.enabled, viewer.grid.shape = True, (2, 1)  # noisy over denoised, one plane
    viewer.dims.set_point(0, volume.shape[0] // 2)
    viewer.window.resize(1500, 820)
    viewer.reset_view()
    for toast in viewer.window._qt_window.findChildren(QWidget):  # the "denoised" notification
        if type(toast).__name__ == "NapariQtNotification":
            toast.close()
    for _ in range(20):
        QApplication.processEvents()
        time.sleep(0.05)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    imsave(args.out, viewer.screenshot(canvas_only=False, flash=False))
    print(f"{args.out}: {widget.status.value}")
    viewer.close()


if __name__ == "__main__":
    main()
