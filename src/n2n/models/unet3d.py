"""The 3-D U-Net: ZYX sub-volumes in, the same sub-volumes denoised out, with anisotropic
pooling.

Light-sheet and confocal stacks are sampled more coarsely along Z than in the plane, and
interleaved Noise2Noise (:mod:`n2n.data.volumes`) halves Z again; pooling Z at every level would
merge planes microns apart. Each level pools Y and X by 2; only the last ``z_pool`` levels pool
Z too (``ModelConfig(arch="unet3d", z_pool=1)``), where Y and X have been pooled to Z's
coarser spacing; the first levels keep Z as it is.

At the model's interface a sub-volume travels as a stack of planes in the channel axis,
(N, D * C, H, W), as the 2.5-D context model's window does: :class:`PixelModel` normalises,
pads Y and X and crops as for any 2-D model, and inference tiles Y and X unchanged; the network
itself (:func:`planes_forward`) pads Z to its multiple with mirrored planes and runs in 3-D.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from n2n.errors import N2NError


def conv3(in_channels: int, out_channels: int) -> nn.Conv3d:
    """3x3x3, edges replicated, not zero: a training sub-volume is a few planes deep, and a
    network that learned zero planes beyond its ends misreads a whole stack's inside (on the
    light-sheet benchmark, zero padding gave 32.5 dB on the whole volume, 35.9 in blocks of
    the training depth)."""
    return nn.Conv3d(in_channels, out_channels, kernel_size=3, padding=1,
                     padding_mode="replicate")


def _block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(conv3(cin, cout), nn.ReLU(inplace=True),
                         conv3(cout, cout), nn.ReLU(inplace=True))


def pool_factors(depth: int, z_pool: int) -> list[tuple[int, int]]:
    """(Z, XY) pooling factor of each of ``depth`` levels: Z pooled at the last ``z_pool``,
    where Y and X have been pooled to Z's coarser spacing."""
    return [(2 if level >= depth - z_pool else 1, 2) for level in range(depth)]


def axis_radius(factors: list[int]) -> int:
    """Voxels along one axis beyond which an input cannot change an output, for levels pooling
    that axis by ``factors``: two 3-convs a level each way, pools, nearest upsampling, the
    tail's convolution."""
    scales = [1]
    for f in factors:
        scales.append(scales[-1] * f)
    down = sum((f - 1) * scales[k] + 2 * scales[k + 1] for k, f in enumerate(factors))
    up = sum((f - 1) * scales[k] + 2 * scales[k] for k, f in enumerate(factors))
    return 2 + down + up + 1


class UNet3D(nn.Module):
    """A 3-D U-Net on (N, C, D, H, W): two 3x3x3 convolutions a level, widths doubling with
    depth (capped at 4x), max pooling (Z only at the last ``z_pool`` levels), nearest
    upsampling, skips concatenated, the input concatenated before the last convolution (as in
    Lehtinen et al.), a linear output."""

    def __init__(self, channels: int = 1, width: int = 16, depth: int = 3,
                 z_pool: int = 1) -> None:
        super().__init__()
        if not 0 <= z_pool <= depth:
            raise N2NError(f"{{z_pool}} {z_pool}: the levels that pool Z lie in 0..{depth} "
                           "(the network's depth)", param="z_pool")
        widths = [width * min(2**k, 4) for k in range(depth + 1)]
        self.head = _block(channels, widths[0])
        self.down = nn.ModuleList([_block(widths[k], widths[k + 1]) for k in range(depth)])
        self.up = nn.ModuleList([_block(widths[k + 1] + widths[k], widths[k])
                                 for k in reversed(range(depth))])
        self.tail = conv3(widths[0] + channels, channels)
        self.depth, self.z_pool, self.channels = depth, z_pool, channels
        self.factors = pool_factors(depth, z_pool)

    @property
    def multiple(self) -> int:
        """Y and X sizes the network takes: multiples of this."""
        return 2**self.depth

    @property
    def z_multiple(self) -> int:
        return 2**self.z_pool

    @property
    def receptive_radius(self) -> int:
        return axis_radius([xy for _, xy in self.factors])

    @property
    def z_radius(self) -> int:
        return axis_radius([z for z, _ in self.factors])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, D * C, H, W) planes of a normalised sub-volume, H and W on :attr:`multiple`,
        to the same: the planes as a 3-D volume, Z padded to :attr:`z_multiple` inside."""
        return planes_forward(self, x)

    def volume_forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, C, D, H, W), every size on its multiple, to the same."""
        skips = [self.head(x)]
        for (fz, fxy), down in zip(self.factors, self.down, strict=True):
            skips.append(down(F.max_pool3d(skips[-1], (fz, fxy, fxy))))
        h = skips.pop()
        for (fz, fxy), up in zip(reversed(self.factors), self.up, strict=True):
            h = up(torch.cat([F.interpolate(h, scale_factor=(float(fz), float(fxy), float(fxy)),
                                            mode="nearest"), skips.pop()], 1))
        return self.tail(torch.cat([h, x], 1))


def planes_forward(net: UNet3D, x: torch.Tensor) -> torch.Tensor:
    """Run ``net`` on (N, D * C, H, W) planes: to (N, C, D, H, W), Z mirrored up to the Z
    multiple (replicated for a volume too thin to mirror), back to planes."""
    n, planes, height, width = x.shape
    c = net.channels
    depth = planes // c
    v = x.reshape(n, depth, c, height, width).permute(0, 2, 1, 3, 4)
    pad = -depth % net.z_multiple
    if pad:
        mode = "reflect" if pad < depth else "replicate"
        v = F.pad(v, (0, 0, 0, 0, 0, pad), mode=mode)
    out = net.volume_forward(v.contiguous())[:, :, :depth]
    return out.permute(0, 2, 1, 3, 4).reshape(n, planes, height, width)


def z_grid(model: nn.Module) -> tuple[int, int]:
    """(halo, multiple) of a 3-D model's Z tiles: the Z receptive radius rounded up to the Z
    multiple, so that tiles start on the pooling grid and equal the untiled result."""
    radius, multiple = z_extent(model)
    return -(-radius // multiple) * multiple, multiple


def z_extent(model: nn.Module) -> tuple[int, int]:
    """(Z receptive radius, Z multiple) of a 3-D model or its export (from its config)."""
    config = model.config
    factors = [z for z, _ in pool_factors(config.depth, config.z_pool)]
    return axis_radius(factors), 2**config.z_pool


def is_volumetric(model: object) -> bool:
    """Whether ``model`` (a PixelModel, an export, a Denoiser's model) is a 3-D U-Net."""
    config = getattr(model, "config", None)
    return getattr(config, "arch", None) == "unet3d"
