"""The import the README once documented; the code lives in :mod:`n2n.inference`."""

from n2n.inference.arrays import denoise_array
from n2n.inference.denoiser import Denoiser, denoise_image

__all__ = ["Denoiser", "denoise_array", "denoise_image"]
