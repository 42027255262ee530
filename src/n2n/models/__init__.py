"""Denoising networks and the wrapper that makes any of them work on 0..255 images of any size."""

from n2n.models.wrapper import ModelConfig, PixelModel, build_model

__all__ = ["ModelConfig", "PixelModel", "build_model"]
