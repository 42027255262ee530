"""Deprecated: the import the README once documented; the code lives in :mod:`n2n.inference`."""

import warnings

warnings.warn("n2n.denoise is deprecated and will be removed; import from "
              "n2n.denoise_array, or n2n.inference.denoiser for Denoiser and denoise_image",
              DeprecationWarning, stacklevel=2)

from n2n.inference.arrays import denoise_array  # noqa: E402
from n2n.inference.denoiser import Denoiser, denoise_image  # noqa: E402

__all__ = ["Denoiser", "denoise_array", "denoise_image"]
