"""The 2.5-D context network: k neighbouring planes (Z) or frames (T) in as channels, the
centre plane out.

Neighbouring planes of a volume or frames of a time-lapse see the same structures under
independent noise; a 2-D network that sees them as extra input channels can use that prior at
the cost of one wider first convolution. The network is the Lite U-Net
(:class:`n2n.models.unet.LiteUNet`) with ``k * C`` input channels and ``C`` output channels;
:class:`n2n.models.wrapper.PixelModel` normalises every plane of the window with the same
per-channel statistics and adds the centre plane back when the model is residual.
"""

from __future__ import annotations

import torch

from n2n.errors import N2NError
from n2n.models.unet import LiteUNet, conv3x3


def check_context(context: int) -> None:
    """A window of ``context`` planes must have a centre: odd, at least 1 (1: a 2-D model)."""
    if context < 1 or context % 2 == 0:
        raise N2NError(f"{{context}} {context}: the window of planes must be odd (3, 5, 7; 1 "
                       "for a 2-D model), so that it has a centre plane to denoise",
                       param="context")


class ContextUNet(LiteUNet):
    """Lite U-Net from ``context * channels`` planes to ``channels``: its head reads the whole
    window, its tail sees the window again (the input concatenated as in Lehtinen et al.)."""

    def __init__(self, channels: int = 1, context: int = 5, width: int = 32, depth: int = 4,
                 linear_output: bool = False) -> None:
        check_context(context)
        super().__init__(channels, width, depth, linear_output)
        self.context = context
        planes = context * channels
        self.head[0] = conv3x3(planes, width)
        self.tail = conv3x3(width + planes, channels)


def widened(net: LiteUNet, context: int) -> ContextUNet:
    """A context network that computes exactly what the 2-D ``net`` computes: its head and tail
    weights on the centre plane, zeros on the others (the 2-D-to-3-D inflation of I3D, kept
    centred). Fine-tuned on stacks, it starts from everything the 2-D model learnt and only
    has to learn what the neighbours add."""
    channels = net.tail.out_channels
    width = net.head[0].out_channels
    wide = ContextUNet(channels, context, width, net.depth,
                       isinstance(net.out_act, torch.nn.Identity))
    wide.load_state_dict({k: v for k, v in net.state_dict().items()
                          if not k.startswith(("head.0.", "tail."))}, strict=False)
    centre = (context // 2) * channels
    with torch.no_grad():
        for new, old, start in ((wide.head[0], net.head[0], 0), (wide.tail, net.tail, width)):
            new.weight.zero_()
            new.weight[:, :start] = old.weight[:, :start]
            new.weight[:, start + centre:start + centre + channels] = old.weight[:, start:]
            new.bias.copy_(old.bias)
    return wide


def centre_plane(z: torch.Tensor, channels: int, context: int) -> torch.Tensor:
    """The centre plane's channels of an (N, context * channels, H, W) window."""
    first = (context // 2) * channels
    return z[:, first:first + channels]

