"""What the widgets read from napari layers: pixels as (planes, H, W, C) and the value of
white, by the library's own dtype policy; and the trained models a viewer's Train widgets made."""

from __future__ import annotations

import weakref
from pathlib import Path
from typing import Any

import numpy as np

from n2n.errors import N2NError
from n2n.inference.spec import InferenceSpec, array_white
from n2n.io.values import WhiteLevel, check_float_pixels


def image_layers(viewer: Any) -> list:
    """The viewer's image layers, the choices of every widget's layer box."""
    from napari.layers import Image

    return [layer for layer in viewer.layers if isinstance(layer, Image)]


def follow_layers(viewer: Any, *boxes: Any) -> None:
    """Refresh the layer ``boxes`` whenever a layer is added to or removed from ``viewer``."""
    def refresh(_: Any) -> None:
        for box in boxes:
            box.reset_choices()

    viewer.layers.events.inserted.connect(refresh)
    viewer.layers.events.removed.connect(refresh)


def image_pixels(layer: Any) -> tuple[np.ndarray, WhiteLevel]:
    """A layer's data as (planes, H, W, C), and its white level with its reason, as every
    door finds it (:mod:`n2n.io.values`: uint8 255, uint16 65535, floats measured)."""
    from napari.layers import Image

    if not isinstance(layer, Image):
        raise N2NError(f"{getattr(layer, 'name', layer)}: choose an image layer")
    data = np.asarray(layer.data)
    channels = data.shape[-1] if layer.rgb else 1
    if layer.rgb and channels != 3:
        raise N2NError(f"layer '{layer.name}': {channels} colour channels (RGBA?); n2n-lite "
                       "denoises gray or RGB images; drop the alpha channel first")
    if data.ndim < (3 if layer.rgb else 2):
        raise N2NError(f"layer '{layer.name}' of shape {data.shape}: not an image")
    pixels = data if layer.rgb else data[..., None]
    white = array_white(pixels, InferenceSpec(), data.shape)
    check_float_pixels(data, white.value, f"layer '{layer.name}'")
    return pixels.reshape((-1,) + pixels.shape[-3:]), white


def layer_axes(layer: Any, given: str = "") -> str | None:
    """A stack layer's axes for a context model: ``given`` (typed by the user), else its
    axis labels where each is one of t, z, c, y, x (as napari-ome-zarr names them), else None
    (a 3-D layer's first axis is then the stack; a 4-D one is refused with a sentence)."""
    if given.strip():
        return given.strip().upper()
    labels = [str(label).lower() for label in getattr(layer, "axis_labels", ())]
    if labels and all(label in ("t", "z", "c", "y", "x") for label in labels):
        return "".join(labels).upper()
    return None


def layer_keywords(layer: Any) -> dict[str, Any]:
    """What a result layer takes over from its input: scale, translate, axis labels and
    units, so that it lies on the input in the viewer with the same voxel size."""
    keywords = {"scale": layer.scale, "translate": layer.translate}
    for name in ("axis_labels", "units"):  # napari 0.5 and later
        if hasattr(layer, name):
            keywords[name] = getattr(layer, name)
    return keywords


class TrainedModels:
    """The best.pt files trained in one viewer, offered by its Denoise widgets."""

    _by_viewer: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    @classmethod
    def of(cls, viewer: Any) -> list[Path]:
        """This viewer's list (created empty), shared by all its widgets."""
        return cls._by_viewer.setdefault(viewer, [])
