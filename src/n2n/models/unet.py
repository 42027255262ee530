"""The U-Nets: the weight-shared Lite U-Net, the original Noise2Noise U-Net, and a wide U-Net
working at half resolution (the quality model).

Both map normalised (N, C, H, W) tensors to the same shape, for H and W multiples of
``multiple``; :class:`n2n.models.wrapper.PixelModel` handles scale, padding and cropping. Their
decoder blocks (:class:`UpBlock`) fold the upsampling into their first convolution.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F


def conv3x3(in_channels: int, out_channels: int) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1)


def full_precision(layer: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    """``layer(x)`` in its weights' precision even under bfloat16 autocast: each network's output
    layer stays float32, which brings bfloat16 inference to within 0.003 dB of float32 on average
    (0.008-0.009 dB lower with the output layer in bfloat16 too; ``n2n.bench.inference``)."""
    with torch.autocast(x.device.type, enabled=False):
        return layer(x.to(layer.weight.dtype))


class LiteUNet(nn.Module):
    """U-Net whose encoder block and decoder block are each shared across all scales.

    Sharing keeps the parameter count tiny (37,788 at width 24) so it converges in minutes,
    as in the EE-559 course project; the input is concatenated before the last convolution as in
    Lehtinen et al. (2018). ReLU inside, LeakyReLU(0.1) on the output unless ``linear_output``.
    """

    def __init__(self, channels: int = 3, width: int = 24, depth: int = 4,
                 linear_output: bool = False) -> None:
        super().__init__()
        self.depth = depth
        self.head = nn.Sequential(conv3x3(channels, width), nn.ReLU(inplace=True))
        self.down = nn.Sequential(conv3x3(width, width), nn.ReLU(inplace=True))  # shared
        self.up = UpBlock(  # shared
            conv3x3(2 * width, 2 * width), nn.ReLU(inplace=True),
            conv3x3(2 * width, width), nn.ReLU(inplace=True),
        )
        self.tail = conv3x3(width + channels, channels)
        self.out_act = nn.Identity() if linear_output else nn.LeakyReLU(0.1)

    @property
    def multiple(self) -> int:
        return 2**self.depth

    @property
    def receptive_radius(self) -> int:
        """Pixels beyond which an input cannot change an output (3x3 convs, 2x pools, 2x ups)."""
        down = sum(2**k + 2 ** (k - 1) for k in range(1, self.depth + 1))  # pool + conv
        up = sum(2 * 2**k + 2**k for k in range(self.depth))  # upsample + two convs
        return 2 + down + up

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = self._descend(self.head(x), self.depth)
        return self._out(self._ascend(skips.pop(), skips), x)

    def _descend(self, h: torch.Tensor, levels: int) -> list[torch.Tensor]:
        """``h`` and the ``levels`` coarser features below it, each ``down(pool(...))``."""
        skips = [h]  # (N, w, H, W)
        for _ in range(levels):
            skips.append(self.down(F.max_pool2d(skips[-1], 2)))  # (N, w, H/2^k, W/2^k)
        return skips

    def _ascend(self, h: torch.Tensor, skips: list[torch.Tensor]) -> torch.Tensor:
        for skip in reversed(skips):
            h = self.up(h, skip)  # (N, w, 2h, 2w)
        return h

    def _out(self, h: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return self.out_act(full_precision(self.tail, torch.cat([h.to(x.dtype), x], 1)))

    @property
    def levels(self) -> Levels | None:
        """Where :mod:`n2n.inference.levels` splits the network: after half its poolings."""
        level = self.depth // 2
        if level == 0:
            return None
        fine = range(1, level)  # the encoder's levels below the split
        encode = 1 + sum(2**k + 2 ** (k - 1) for k in fine) + 2 ** (level - 1)
        middle = 1 + sum(2 ** (k - level) + 2 ** (k - level - 1)
                         for k in range(level + 1, self.depth + 1))
        middle += sum(3 * 2 ** (k - level) for k in range(level, self.depth))
        decode = 2 + sum(2**k + 2 ** (k - 1) for k in fine) + sum(3 * 2**k for k in range(level))
        return Levels(level, encode, middle, 2 ** (self.depth - level), decode)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The input of the coarse levels: (N, w, H / 2^L, W / 2^L) at the split level L."""
        return F.max_pool2d(self._descend(self.head(x), self.levels.level - 1)[-1], 2)

    def middle(self, c: torch.Tensor) -> torch.Tensor:
        """The coarse levels, from :meth:`encode`'s output to the decoder's at level L."""
        skips = self._descend(self.down(c), self.depth - self.levels.level)
        return self._ascend(skips.pop(), skips)

    def decode(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """The output from the input ``x`` and :meth:`middle`'s ``h`` (the fine encoder again)."""
        return self._out(self._ascend(h, self._descend(self.head(x), self.levels.level - 1)), x)


class N2NUNet(nn.Module):
    """The U-Net of Lehtinen et al. (2018), appendix A: 48 channels, 5 poolings, LeakyReLU(0.1)."""

    def __init__(self, channels: int = 3, width: int = 48) -> None:
        super().__init__()
        w = width

        def block(cin: int, *couts: int, up: bool = False) -> nn.Sequential:
            layers: list[nn.Module] = []
            for cout in couts:
                layers += [conv3x3(cin, cout), nn.LeakyReLU(0.1, inplace=True)]
                cin = cout
            return UpBlock(*layers) if up else nn.Sequential(*layers)

        self.enc0 = block(channels, w, w)
        self.enc = nn.ModuleList([block(w, w) for _ in range(5)])  # enc_conv2..6 after each pool
        self.dec5 = block(2 * w, 2 * w, 2 * w, up=True)
        self.dec = nn.ModuleList([block(3 * w, 2 * w, 2 * w, up=True)
                                  for _ in range(3)])  # dec4..dec2
        self.dec1 = block(2 * w + channels, 64, 32, up=True)
        self.out = conv3x3(32, channels)
        self.depth = 5

    @property
    def multiple(self) -> int:
        return 32

    @property
    def receptive_radius(self) -> int:
        down = sum(2 ** (k - 1) + 2**k for k in range(1, 6))
        up = sum(3 * 2**k for k in range(5))
        return 3 + down + up

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pools = self._pools(self.enc0(x), 1, 5)  # pool1..pool5
        return self._out(self._ascend(self.enc[4](pools.pop()), pools, 1), x)

    def _pools(self, h: torch.Tensor, first: int, last: int) -> list[torch.Tensor]:
        """pool``first``..pool``last`` from ``h`` at level ``first`` - 1; each pooled level
        but the last goes through its encoder convolution before the next pooling."""
        pools = []
        for k in range(first, last + 1):
            pools.append(F.max_pool2d(h, 2))  # (N, w, H/2^k, W/2^k)
            if k < last:
                h = self.enc[k - 1](pools[-1])
        return pools

    def _ascend(self, h: torch.Tensor, pools: list[torch.Tensor], first: int) -> torch.Tensor:
        """From ``h`` up through the skips ``pools`` (pool``first``.., finest first) to the
        decoder's output at level ``first``."""
        blocks = [self.dec5, *self.dec]  # the outputs of levels 4, 3, 2, 1
        for level in reversed(range(first, first + len(pools))):
            h = blocks[4 - level](h, pools[level - first])
        return h

    def _out(self, h: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return full_precision(self.out, self.dec1(h, x.to(h.dtype)))  # dec1: (N, 32, H, W)

    @property
    def levels(self) -> Levels:
        """Where :mod:`n2n.inference.levels` splits the network: at level 3, whose stored
        tensors take 9 bytes per input pixel (level 2: 36)."""
        level = 3
        fine = range(1, level)
        encode = 2 + sum(2 ** (k - 1) + 2**k for k in fine) + 2 ** (level - 1)
        middle = 1 + sum(2 ** (k - level - 1) + 2 ** (k - level) for k in range(level + 1, 6))
        middle += sum(3 * 2 ** (k - level) for k in range(level, 5))
        decode = 3 + sum(2 ** (k - 1) + 2**k for k in fine) + sum(3 * 2**k for k in range(level))
        return Levels(level, encode, middle, 2 ** (5 - level), decode)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The input of the coarse levels: pool``L`` at the split level L."""
        return self._pools(self.enc0(x), 1, self.levels.level)[-1]

    def middle(self, c: torch.Tensor) -> torch.Tensor:
        """The coarse levels, from :meth:`encode`'s output to the decoder's at level L."""
        level = self.levels.level
        pools = [c, *self._pools(self.enc[level - 1](c), level + 1, 5)]
        return self._ascend(self.enc[4](pools.pop()), pools, level)

    def decode(self, x: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """The output from the input ``x`` and :meth:`middle`'s ``h`` (the fine encoder again)."""
        pools = self._pools(self.enc0(x), 1, self.levels.level - 1)
        return self._out(self._ascend(h, pools, 1), x)


@dataclass(frozen=True)
class Levels:
    """A U-Net cut at ``level`` L for :mod:`n2n.inference.levels`: the radius, in input pixels,
    of :meth:`encode` (the fine encoder down to the coarse levels' input) and of
    :meth:`decode` given the coarse result, and of :meth:`middle` in level-L pixels, whose
    inputs are multiples of ``middle_multiple``."""

    level: int
    encode_radius: int
    middle_radius: int
    middle_multiple: int
    decode_radius: int


class HalfResUNet(nn.Module):
    """U-Net on half-resolution features: pixel-unshuffle by 2 first (as FFDNet does), so each
    3x3 convolution costs a quarter and the network can afford wide layers; two convolutions
    per level, widths doubling at each of ``depth`` poolings, nearest upsampling, ReLU."""

    def __init__(self, channels: int = 3, width: int = 64, depth: int = 2) -> None:
        super().__init__()
        widths = [width * 2**k for k in range(depth + 1)]

        def block(cin: int, cout: int, up: bool = False) -> nn.Sequential:
            layers = (conv3x3(cin, cout), nn.ReLU(inplace=True),
                      conv3x3(cout, cout), nn.ReLU(inplace=True))
            return UpBlock(*layers) if up else nn.Sequential(*layers)

        self.head = block(4 * channels, widths[0])
        self.down = nn.ModuleList([block(widths[k], widths[k + 1]) for k in range(depth)])
        self.up = nn.ModuleList([block(widths[k + 1] + widths[k], widths[k], up=True)
                                 for k in reversed(range(depth))])
        self.tail = conv3x3(widths[0], 4 * channels)
        self.depth = depth

    @property
    def multiple(self) -> int:
        return 2 ** (self.depth + 1)

    @property
    def receptive_radius(self) -> int:
        """In half-resolution pixels: pool + two convs down, upsample + two convs up; then x2."""
        down = sum(2 ** (k - 1) + 2 * 2**k for k in range(1, self.depth + 1))
        up = sum(2**k + 2 * 2**k for k in range(self.depth))
        return 2 * (2 + down + up + 1) + 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = [self.head(F.pixel_unshuffle(x, 2))]  # (N, w, H/2, W/2)
        for down in self.down:
            skips.append(down(F.max_pool2d(skips[-1], 2)))  # (N, w 2^k, H/2^(k+1), W/2^(k+1))
        h = skips.pop()
        for up in self.up:
            h = up(h, skips.pop())
        return F.pixel_shuffle(full_precision(self.tail, h), 2)


class UpBlock(nn.Sequential):
    """A decoder block: its layers, the first a 3x3 convolution, run on ``cat([up(h), skip])``
    (``h`` upsampled 2x, nearest) without either tensor being made (:func:`up_conv`)."""

    def forward(self, h: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        out = up_conv(h, skip, self[0].weight, self[0].bias)
        for k, layer in enumerate(self):
            if k > 0:
                out = layer(out)
        return out


def up_conv(h: torch.Tensor, skip: torch.Tensor, weight: torch.Tensor,
            bias: torch.Tensor | None) -> torch.Tensor:
    """``conv3x3(cat([up(h), skip]), weight, bias)`` for (N, c, H, W) ``h`` and (N, s, 2H, 2W)
    ``skip``, ``up`` a nearest 2x upsampling: the same sums in another order.

    Each output pixel of a 3x3 convolution over a nearest-upsampled input reads a 2 x 2 block
    of ``h``, with weights summed by the pixel's phase (row and column parity). So ``h``'s part
    is four 2x2 convolutions at ``h``'s resolution (4/9 of the multiply-adds), added phase by
    phase into the skip's convolution; neither the upsampled nor the concatenated tensor is
    made: in two runs each, the camera network ran 1.26-1.34x faster and held 0.64-0.73x the
    memory per pixel, the photo network 1.03-1.14x and 0.86-0.88x (PyTorch channels-last, AVX2
    without bfloat16, 2 threads; benchmarks/decoder_phases.py, activation_memory.py).
    """
    if torch.jit.is_scripting() or torch.jit.is_tracing():  # exports: the plain graph, which
        # ONNX Runtime runs faster (photo 1.08 against 0.77 MP/s in phases) and with no writes
        # into views, which the ONNX exporter gets wrong
        upsampled = F.interpolate(h, scale_factor=2.0, mode="nearest")
        return F.conv2d(torch.cat([upsampled, skip], 1), weight, bias, padding=1)
    c = h.shape[1]
    up, own = weight[:, :c], weight[:, c:]
    out = F.conv2d(skip, own, bias, padding=1)
    # the phase's taps: even rows read h's rows (i-1, i) with kernel rows (0, 1 + 2), odd
    # rows (i, i+1) with (0 + 1, 2); the same for columns
    rows = [torch.stack([up[:, :, 0], up[:, :, 1] + up[:, :, 2]], 2),
            torch.stack([up[:, :, 0] + up[:, :, 1], up[:, :, 2]], 2)]
    kernels = []
    for r in rows:
        kernels.append(torch.stack([r[..., 0], r[..., 1] + r[..., 2]], -1))
        kernels.append(torch.stack([r[..., 0] + r[..., 1], r[..., 2]], -1))
    # position p of the padded 2x2 convolution reads h's rows (p-1, p): the even phase of row i
    # is at p = i, the odd one at p = i + 1
    phases = F.conv2d(h, torch.cat(kernels, 0), padding=1)  # (N, 4 * out, H+1, W+1)
    height, width, channels = h.shape[2], h.shape[3], out.shape[1]
    grid = out.unflatten(2, (height, 2)).unflatten(4, (width, 2))  # (N, out, H, 2, W, 2)
    for k in range(4):  # phase k: row k // 2, column k % 2
        row, col = k // 2, k % 2
        grid[:, :, :, row, :, col] += phases[:, k * channels:(k + 1) * channels,
                                             row:row + height, col:col + width]
    return out
