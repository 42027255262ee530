"""Wrap a network so it maps 0..255 images of any size to 0..255 images of the same size.

The wrapper owns what every network needs and nothing else: per-channel normalisation (its
statistics are buffers, so they travel in the checkpoint), padding to the network's multiple
and cropping back, and an optional global residual (predict the noise, not the image).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch import nn
from torch.nn import functional as F

from n2n.errors import N2NError
from n2n.models.bsn import BlindSpotNet
from n2n.models.context import ContextUNet, centre_plane, check_context, widened
from n2n.models.pd import pd_merge, pd_split
from n2n.models.tiny import ZeroShotNet
from n2n.models.unet import HalfResUNet, Levels, LiteUNet, N2NUNet
from n2n.models.unet3d import UNet3D

NETWORKS = ("lite", "n2n", "halfres", "bsn", "unet3d")  # what `n2n train --arch` builds
ARCHITECTURES = (*NETWORKS, "zs")  # and zero-shot's tiny net


@dataclass
class ModelConfig:
    """What it takes to rebuild a network; saved in every checkpoint."""

    arch: str = "lite"  # "lite": weight-shared U-Net; "n2n": Lehtinen et al. (2018) U-Net;
    # "halfres": a wide U-Net after pixel-unshuffle by 2 (the quality model);
    # "bsn": a blind-spot network (models/bsn.py, for --mode bsn);
    # "zs": the tiny network of zero-shot Noise2Noise (fitted to one image);
    # "unet3d": a 3-D U-Net on ZYX sub-volumes (models/unet3d.py, for volumes)
    channels: int = 3  # 1 for grayscale, 3 for RGB
    width: int = 24  # feature channels (24 in the course project, 48 in the paper; for halfres
    # the first level's, doubling at each pooling)
    depth: int = 4  # poolings of the Lite and halfres U-Nets (the paper's is fixed at 5); for
    # bsn, the dilated blocks of each branch
    residual: bool = False  # add the input to the output: the network predicts the noise
    linear_output: bool = False  # Lite only: drop the output LeakyReLU(0.1)
    pd: int = 1  # pixel-shuffle down-sampling factor: the network sees pd**2 sub-images whose
    # pixels are pd apart (for spatially correlated noise; 1 = off; see models/pd.py)
    clip_input: bool = False  # trained on inputs clipped to 0..255 (as 8-bit files hold them):
    # inputs are clipped so before the network, which never saw values beyond and mis-denoises
    # them (photo-plus: -2.3 dB on unclipped gaussian 50 without this)
    context: int = 1  # planes/frames in (odd): a 2.5-D model takes the window of `context`
    # neighbouring planes as channels and denoises the centre one (models/context.py); 1 = 2-D
    z_pool: int | None = 1  # unet3d only: the last z_pool levels pool Z too, the first Y and
    # X only (Z sampled coarser than the plane: anisotropic pooling); 0 = never pool Z; None:
    # from the training stack's physical sizes, settled by train() (data/anisotropy.py)

    def __post_init__(self) -> None:
        if self.arch not in ARCHITECTURES:
            raise N2NError(f"model arch '{self.arch}': choose one of {ARCHITECTURES}")
        if self.channels < 1:
            raise N2NError(f"model channels {self.channels}: must be >= 1")
        if self.width < 1 or self.depth < 1:
            raise N2NError(f"model width {self.width} and depth {self.depth} must be >= 1")
        if self.arch == "bsn" and self.residual:
            raise N2NError("a blind-spot network (arch bsn) cannot add its input to its output "
                           "(residual): the output would see the pixel it must not")
        if self.arch == "bsn" and self.width < 2:
            raise N2NError(f"model width {self.width}: a blind-spot network needs >= 2 (its "
                           "tail halves it)")
        check_context(self.context)
        if self.context > 1 and self.arch != "lite":
            raise N2NError(f"{{context}} {self.context}: a window of planes is read by the Lite "
                           f"U-Net ({{arch:lite}}), not arch '{self.arch}'",
                           param=("context", "arch"))
        if self.arch == "unet3d" and (self.pd != 1 or not (
                self.z_pool is None or 0 <= self.z_pool <= self.depth)):
            raise N2NError(f"a 3-D U-Net ({{arch:unet3d}}) takes {{pd}} 1 and {{z_pool}} in "
                           f"0..{self.depth} (its depth), not {{pd}} {self.pd}, {{z_pool}} "
                           f"{self.z_pool}", param=("arch", "pd", "z_pool"))
        if not 1 <= self.pd <= 8:
            raise N2NError(f"pixel-shuffle factor {{pd}} {self.pd}: must lie in 1..8 (1 = off)",
                           param="pd")


def build_model(config: ModelConfig, seed: int | None = None) -> PixelModel:
    """A fresh, randomly initialised model for ``config``; with ``seed``, the same weights every
    time (torch's global generator is left as it was)."""
    if seed is None:
        return _build(config)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return _build(config)


def _build(config: ModelConfig) -> PixelModel:
    if config.context > 1:
        net: nn.Module = ContextUNet(config.channels, config.context, config.width,
                                     config.depth, config.linear_output)
    elif config.arch == "lite":
        net = LiteUNet(config.channels, config.width, config.depth,
                                  config.linear_output)
    elif config.arch == "n2n":
        net = N2NUNet(config.channels, config.width)
    elif config.arch == "halfres":
        net = HalfResUNet(config.channels, config.width, config.depth)
    elif config.arch == "unet3d":
        if config.z_pool is None:
            raise N2NError("{z_pool} None (from the data) is settled by train() from the "
                           "training stack's physical sizes; give a number to build a 3-D "
                           "U-Net by hand", param="z_pool")
        net = UNet3D(config.channels, config.width, config.depth, config.z_pool)
    elif config.arch == "bsn":
        net = BlindSpotNet(config.channels, config.width, config.depth)
    else:
        net = ZeroShotNet(config.channels, config.width)
    return PixelModel(net, config)


def with_context(model: PixelModel, context: int) -> PixelModel:
    """The 2-D Lite ``model`` as a context model reading ``context`` planes that computes what
    ``model`` computes (:func:`~n2n.models.context.widened`), its normalisation kept: where a
    context model fine-tuned from a 2-D one starts."""
    if model.config.arch != "lite" or model.config.context != 1:
        raise N2NError(f"{{context}} {context}: only a 2-D Lite model (arch 'lite', context 1) "
                       f"widens to a window of planes, not arch '{model.config.arch}' with "
                       f"context {model.config.context}", param="context")
    wide = PixelModel(widened(model.net, context), replace(model.config, context=context))
    wide.mean.copy_(model.mean)
    wide.std.copy_(model.std)
    return wide


def pad_to_multiple(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """Pad (N, C, H, W) at the bottom and right to multiples of ``multiple``.

    Reflection where the image is large enough, edge replication otherwise (e.g. 1-pixel images).
    """
    height, width = x.shape[-2:]
    pad_h, pad_w = -height % multiple, -width % multiple
    if pad_h == 0 and pad_w == 0:
        return x
    mode = "reflect" if pad_h < height and pad_w < width else "replicate"
    return F.pad(x, (0, pad_w, 0, pad_h), mode=mode)


class PixelModel(nn.Module):
    """0..255 in, 0..255 out, any H x W: normalise, pad, run the network, crop, denormalise."""

    def __init__(self, net: nn.Module, config: ModelConfig) -> None:
        super().__init__()
        self.net = net
        self.config = config
        self.register_buffer("mean", torch.full((config.channels,), 127.5))
        self.register_buffer("std", torch.full((config.channels,), 64.0))

    @property
    def multiple(self) -> int:
        return self.net.multiple * self.config.pd

    @property
    def receptive_radius(self) -> int:
        return self.net.receptive_radius * self.config.pd

    @property
    def in_channels(self) -> int:
        """Channels of an input: the window of ``context`` planes of ``channels`` each."""
        return self.config.channels * self.config.context

    def set_normalization(self, images: torch.Tensor) -> None:
        """Per-channel mean and std over the batch and spatial axes of (N, C, H, W) images
        (or of every plane of (N, context * C, H, W) windows)."""
        images = images.float()
        if images.shape[1] != self.config.channels:  # windows: their planes as images
            images = images.reshape(-1, self.config.channels, *images.shape[2:])
        self.mean.copy_(images.mean(dim=(0, 2, 3)))
        self.std.copy_(images.std(dim=(0, 2, 3)).clamp(min=1.0))

    def forward(self, x: torch.Tensor, split: bool = True) -> torch.Tensor:
        """Denoise (N, C, H, W) 0..255 pixels. With ``split=False`` the input is taken as
        already pixel-shuffled sub-images (the trainer splits batches itself)."""
        volume = self.config.arch == "unet3d"  # planes of a sub-volume, any number
        if x.ndim != 4 or (x.shape[1] % self.in_channels if volume
                           else x.shape[1] != self.in_channels):
            planes = "D * " if volume else ""
            raise N2NError(f"model expects (N, {planes}{self.in_channels}, H, W) input, "
                           f"got {tuple(x.shape)}")
        height, width = x.shape[-2:]
        context = x.shape[1] // self.config.channels if volume else self.config.context
        pd = self.config.pd if split else 1
        z = pad_to_multiple(self._normalized(x, context), self.net.multiple * pd)
        z = pd_split(z, pd).contiguous(memory_format=memory_format(x))  # padding returns NCHW;
        # a channels-last caller (fast inference) needs it kept for the skip concatenations
        out = self.net(z)
        if self.config.residual:
            out = out + (z if volume else centre_plane(z, self.config.channels, context))
        out = pd_merge(out, pd)
        return self._denormalized(out[..., :height, :width])

    def _normalized(self, x: torch.Tensor, context: int) -> torch.Tensor:
        """(x - mean) / std per channel of each of ``context`` planes, clipped first if the
        model was trained on clipped inputs; in ``x``'s layout."""
        if self.config.clip_input:
            x = x.clamp(0, 255)
        mean, std = self.mean.view(1, -1, 1, 1), self.std.view(1, -1, 1, 1)
        z = (x - mean.repeat(1, context, 1, 1)) / std.repeat(1, context, 1, 1)
        return z.contiguous(memory_format=memory_format(x))

    def _denormalized(self, out: torch.Tensor) -> torch.Tensor:
        return out * self.std.view(1, -1, 1, 1) + self.mean.view(1, -1, 1, 1)

    @property
    def levels(self) -> Levels | None:
        """Where the network splits into fine and coarse levels, if it does (the U-Nets run
        by PyTorch): a tiled pass then runs :meth:`encode`, :meth:`middle` and :meth:`decode`
        (:mod:`n2n.inference.levels`)."""
        levels = getattr(self.net, "levels", None)
        return levels if isinstance(levels, Levels) else None

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) 0..255 sub-images (H, W multiples of 2^L) -> the coarse levels' input."""
        return self.net.encode(self._normalized(x, self.config.context))

    def middle(self, c: torch.Tensor) -> torch.Tensor:
        """The coarse levels on :meth:`encode`'s output (whole, or a window of it)."""
        return self.net.middle(c)

    def decode(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """What ``self(x, split=False)`` gives, from ``x`` and the coarse result ``h`` over it."""
        z = self._normalized(x, self.config.context)
        out = self.net.decode(z, h)
        if self.config.residual:
            out = out + centre_plane(z, self.config.channels, self.config.context)
        return self._denormalized(out)


def memory_format(x: torch.Tensor) -> torch.memory_format:
    """channels-last if (N, C, H, W) ``x`` is laid out so (and not also plain contiguous)."""
    if x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous():
        return torch.channels_last
    return torch.contiguous_format


def tile_margin(model: torch.nn.Module) -> int:
    """The receptive radius rounded up to the network's multiple: tiles overlapping by it start
    on the network's pooling grid, so cropped tiles equal the untiled result."""
    return -(-model.receptive_radius // model.multiple) * model.multiple
