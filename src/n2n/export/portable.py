"""The exported form of a model: :class:`PixelModel`'s forward (normalisation, padding to the
network's multiple, pixel-shuffle, cropping) written so that TorchScript compiles it and ONNX
exports it with dynamic height and width, and the metadata that travels with it.

A context model (:mod:`n2n.models.context`) takes its window of ``k`` planes (Z or T) as
channels and gives the centre plane; a 3-D U-Net (:mod:`n2n.models.unet3d`) takes any number
of planes (Z) as channels and gives them all, padding Z to its multiple inside. With
``volume_io`` (the BioImage Model Zoo package's TorchScript) the planes travel as a Z axis
instead: (N, C, Z, H, W) in and out.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict

import torch
from torch import nn
from torch.nn import functional as F

from n2n.inference.exported import METADATA_VERSION
from n2n.models import PixelModel
from n2n.models.pd import pd_merge, pd_split
from n2n.models.unet3d import z_grid


class _VolumeNet(nn.Module):
    """A 3-D U-Net's (N, C, D, H, W) forward, to trace."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net.volume_forward(x)


class PortableModel(nn.Module):
    """:class:`PixelModel`'s forward in a form TorchScript compiles and ONNX exports with
    dynamic height and width (and planes, for a 3-D U-Net)."""

    def __init__(self, model: PixelModel, volume_io: bool = False) -> None:
        super().__init__()
        channels, side = model.config.channels, 2 * model.net.multiple
        self.volumetric = model.config.arch == "unet3d"
        self.z_multiple = model.net.z_multiple if self.volumetric else 1
        if self.volumetric:
            traced: nn.Module = _VolumeNet(model.net.eval())
            example = torch.rand(1, channels, 2 * self.z_multiple, side, side)
        else:
            traced, example = model.net.eval(), torch.rand(
                1, channels * model.config.context, side, side)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer warnings about python values
            self.net = torch.jit.trace(traced, example)
        self.register_buffer("mean", model.mean.detach().view(1, -1, 1, 1).clone())
        self.register_buffer("std", model.std.detach().view(1, -1, 1, 1).clone())
        self.multiple, self.pd = model.multiple, model.config.pd
        self.residual, self.clip_input = model.config.residual, model.config.clip_input
        self.channels, self.context = channels, model.config.context
        self.volume_io = volume_io

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.volume_io:  # (N, C, Z, H, W) -> (N, Z * C, H, W)
            x = x.permute(0, 2, 1, 3, 4).flatten(1, 2)
        height, width = x.shape[2], x.shape[3]
        planes = x.shape[1] // self.channels
        if self.clip_input:  # as PixelModel: a model trained on clipped input sees it so
            x = x.clamp(0, 255)
        z = (x - self.mean.repeat(1, planes, 1, 1)) / self.std.repeat(1, planes, 1, 1)
        pad_h = (self.multiple - height % self.multiple) % self.multiple
        pad_w = (self.multiple - width % self.multiple) % self.multiple
        if pad_h < height and pad_w < width:  # as pad_to_multiple: reflect unless too small
            z = F.pad(z, [0, pad_w, 0, pad_h], mode="reflect")
        else:
            z = F.pad(z, [0, pad_w, 0, pad_h], mode="replicate")
        z = pd_split(z, self.pd)
        out = self._volume(z) if self.volumetric else self.net(z)
        if self.residual:
            first = (self.context // 2) * self.channels  # the centre plane of a window
            out = out + (z if self.volumetric else z[:, first:first + self.channels])
        out = pd_merge(out, self.pd)
        kept = out.shape[1] // self.channels
        out = out[:, :, :height, :width] * self.std.repeat(1, kept, 1, 1) + self.mean.repeat(
            1, kept, 1, 1)
        if self.volume_io:
            out = out.reshape(out.shape[0], kept, self.channels, height, width).permute(
                0, 2, 1, 3, 4)
        return out

    def _volume(self, z: torch.Tensor) -> torch.Tensor:
        """A 3-D U-Net on (N, D * C, H, W) planes, Z mirrored up to its multiple."""
        n, height, width = z.shape[0], z.shape[2], z.shape[3]
        depth = z.shape[1] // self.channels
        v = z.reshape(n, depth, self.channels, height, width).permute(0, 2, 1, 3, 4)
        pad = (self.z_multiple - depth % self.z_multiple) % self.z_multiple
        if pad > 0 and pad < depth:  # as planes_forward: mirrored, replicated where too thin
            v = F.pad(v, [0, 0, 0, 0, 0, pad], mode="reflect")
        elif pad > 0:
            v = F.pad(v, [0, 0, 0, 0, 0, pad], mode="replicate")
        out = self.net(v.contiguous())[:, :, :depth]
        return out.permute(0, 2, 1, 3, 4).reshape(n, depth * self.channels, height, width)


def metadata(model: PixelModel, volume_io: bool = False) -> dict:
    """What a user of the exported file needs besides the graph: for a context model its
    window and axes, for a 3-D U-Net its Z halo (the Z receptive radius rounded up to its Z
    multiple: what a Z tile reads beyond its core)."""
    info = {"format": "n2n-lite", "version": METADATA_VERSION,
            "model_config": asdict(model.config), "multiple": model.multiple,
            "receptive_radius": model.receptive_radius, "axes": "yx",
            "input": "float32 (N, C, H, W), pixels on the 0..255 scale, any H x W",
            "output": "the same shape, denoised, 0..255 (not clipped)"}
    k = model.config.context
    if k > 1:
        info.update(axes="zyx or tyx", window=k,
                    input=f"float32 (N, {k} * C, H, W): a window of {k} neighbouring planes "
                          "(Z) or frames (T), each plane's channels together, 0..255",
                    output="(N, C, H, W): the window's centre plane denoised")
    if model.config.arch == "unet3d":
        halo, multiple = z_grid(model)
        info.update(axes="zyx", z_halo=halo, z_multiple=multiple,
                    z_receptive_radius=model.net.z_radius,
                    input="float32 (N, D * C, H, W): D planes along Z, each plane's channels "
                          "together, 0..255, any D, H, W",
                    output="the same shape: every plane denoised")
    if volume_io:
        info.update(interface="bczyx", input="float32 (N, C, Z, H, W), 0..255",
                    output="(N, C, Z, H, W)" if k == 1 else "(N, C, 1, H, W): the centre plane")
    return info
