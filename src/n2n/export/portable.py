"""The exported form of a model: :class:`PixelModel`'s forward (normalisation, padding to the
network's multiple, pixel-shuffle, cropping) written so that TorchScript compiles it and ONNX
exports it with dynamic height and width, and the metadata that travels with it."""

from __future__ import annotations

import warnings
from dataclasses import asdict

import torch
from torch import nn
from torch.nn import functional as F

from n2n.inference.exported import METADATA_VERSION
from n2n.models import PixelModel
from n2n.models.pd import pd_merge, pd_split


class PortableModel(nn.Module):
    """:class:`PixelModel`'s forward in a form TorchScript compiles and ONNX exports with
    dynamic height and width."""

    def __init__(self, model: PixelModel) -> None:
        super().__init__()
        channels = model.config.channels
        example = torch.rand(1, channels, 2 * model.net.multiple, 2 * model.net.multiple)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer warnings about python values
            self.net = torch.jit.trace(model.net.eval(), example)
        self.register_buffer("mean", model.mean.detach().view(1, -1, 1, 1).clone())
        self.register_buffer("std", model.std.detach().view(1, -1, 1, 1).clone())
        self.multiple, self.pd = model.multiple, model.config.pd
        self.residual, self.clip_input = model.config.residual, model.config.clip_input

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[2], x.shape[3]
        if self.clip_input:  # as PixelModel: a model trained on clipped input sees it so
            x = x.clamp(0, 255)
        z = (x - self.mean) / self.std
        pad_h = (self.multiple - height % self.multiple) % self.multiple
        pad_w = (self.multiple - width % self.multiple) % self.multiple
        if pad_h < height and pad_w < width:  # as pad_to_multiple: reflect unless too small
            z = F.pad(z, [0, pad_w, 0, pad_h], mode="reflect")
        else:
            z = F.pad(z, [0, pad_w, 0, pad_h], mode="replicate")
        z = pd_split(z, self.pd)
        out = self.net(z)
        if self.residual:
            out = out + z
        out = pd_merge(out, self.pd)
        return out[:, :, :height, :width] * self.std + self.mean


def metadata(model: PixelModel) -> dict:
    """What a user of the exported file needs besides the graph."""
    return {"format": "n2n-lite", "version": METADATA_VERSION, "model_config": asdict(model.config),
            "multiple": model.multiple, "receptive_radius": model.receptive_radius,
            "input": "float32 (N, C, H, W), pixels on the 0..255 scale, any H x W",
            "output": "the same shape, denoised, 0..255 (not clipped)"}
