"""Results no working model gives, refused before anything is written: NaN or infinite
values, values far beyond the image's range (exploded weights), a result wholly outside it, or
one flat colour where the image is not flat. Every door that runs a network asks here."""

from __future__ import annotations

import numpy as np
import torch

from n2n.errors import N2NError


def model_name(model: torch.nn.Module) -> str:
    """The file a model was loaded from (:attr:`source` of a checkpoint's, :attr:`path` of an
    export's), else "the model"."""
    return str(getattr(model, "source", None) or getattr(model, "path", None) or "the model")


def check_result(pixels: np.ndarray, out: np.ndarray, model: str) -> None:
    """Refuse a denoised (H, W, C) result, unclipped, that no working model gives for
    ``pixels``, before anything is written: NaN or infinite values; values far beyond the
    image's range (weights that exploded); a result wholly darker or brighter than the image
    (written, it would be one flat colour); one flat colour where the image is not flat."""
    bad = out.size - int(np.count_nonzero(np.isfinite(out)))
    if bad:
        raise N2NError(f"{model}: the model's result holds {bad} NaN or infinite value(s); "
                       "its weights are broken (a diverged training?); nothing written")
    if out.size == 0:
        return
    low, high, span = float(pixels.min()), float(pixels.max()), float(np.ptp(pixels))
    least, most = float(out.min()), float(out.max())
    found = f"from {least:.3g} to {most:.3g} for an image of {low:.3g} to {high:.3g}"
    if least < low - max(span, 255.0) or most > high + max(span, 255.0):
        raise N2NError(f"{model}: the model's result runs {found} (0..255 scale); its weights "
                       "have exploded; nothing written")
    if most < low - OUTSIDE or least > high + OUTSIDE:
        raise N2NError(f"{model}: the model's result runs {found}, wholly outside it (it would "
                       "be written as one flat colour); the model is broken; nothing written")
    if _spread(out) <= COLLAPSED and _spread(pixels) > FLAT:
        raise N2NError(f"{model}: the model's result is one flat colour ({least:.4g}) where "
                       "the image is not flat; the model is broken; nothing written")


COLLAPSED = 1e-3  # a result whose every channel varies less than this (0..255 scale) is flat
FLAT = 1.0  # ... which is a collapse where some channel of the image varies more than this
OUTSIDE = 16.0  # no working model puts every pixel this far below or above the image's range


def _spread(pixels: np.ndarray) -> float:
    """The largest range of values over the pixels of one channel of (H, W, C) ``pixels``."""
    flat = pixels.reshape(-1, pixels.shape[-1])
    return float((flat.max(axis=0) - flat.min(axis=0)).max())
