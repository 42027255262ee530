"""The work of a tiled pass, whole network against tiles by levels, from the tile plans alone.

For each bundled U-Net pass of the default at a photo size: the input pixels its windows read
per image pixel when tiled as one network (the whole receptive radius as margin), and, tiled
by levels (``n2n.inference.levels``), each stage's share of the network's multiply-adds
(counted over its convolutions on 512 x 512) times the pixels that stage's windows read, summed:
network passes' worth of work per image pixel (1.0 = untiled). No timing, so no load to share.

Usage: ``python benchmarks/level_work.py [--sizes 2000x1500,4000x3000] [--out JSON]``
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from unittest import mock

import torch
from torch.nn import functional as F

from n2n.inference.levels import MIDDLE_SHARE
from n2n.inference.tiling import budget_plan, read_length, window_pixels
from n2n.models.bundled import load_bundled

PASSES = (("photo", "lite", 24, 1), ("camera", "n2n", 48, 2))  # name, arch, width, pd


def stage_shares(net: torch.nn.Module) -> dict[str, float]:
    """Multiply-adds of encode, middle and decode against the whole network's, 512 x 512."""
    count = [0]
    conv2d = F.conv2d

    def counted(x, weight, *args, **kwargs):
        out = conv2d(x, weight, *args, **kwargs)
        count[0] += out.numel() * weight[0].numel()
        return out

    def macs(run, *inputs) -> tuple[int, torch.Tensor]:
        count[0] = 0
        with mock.patch.object(F, "conv2d", counted), torch.no_grad():
            out = run(*inputs)
        return count[0], out

    x = torch.randn(1, 3, 512, 512)
    whole, _ = macs(net, x)
    encode, coarse_in = macs(net.encode, x)
    middle, coarse = macs(net.middle, coarse_in)
    decode, _ = macs(net.decode, x, coarse)
    return {name: round(n / whole, 4) for name, n in
            (("encode", encode), ("middle", middle), ("decode", decode))}


def reads(height: int, width: int, margin: int, multiple: int, pixels: int) -> float:
    """Input pixels read per pixel of an (H, W) input in the budget's tiles."""
    _, rows, cols = budget_plan(1, height, width, margin, multiple, pixels)
    return read_length(height, rows, margin) * read_length(width, cols, margin) / (height * width)


def work(name: str, arch: str, width: int, pd: int, height: int, width_px: int) -> dict:
    net = load_bundled(name).net.eval()
    levels, budget = net.levels, window_pixels(arch, width, "channels-last")
    h, w = height // pd, width_px // pd  # one sub-image
    up = -(-net.receptive_radius // net.multiple) * net.multiple
    scale = 2**levels.level

    def margin(radius: int, multiple: int) -> int:
        return -(-radius // multiple) * multiple

    whole = reads(h, w, up, net.multiple, budget)
    if h * w <= budget:  # one window: run whole, never by levels
        return {"pass": f"{name} --pd {pd}", "sub_image": f"{w}x{h}", "whole_network": whole,
                "by_levels": whole}
    shares = stage_shares(net)
    stages = {"encode": reads(h, w, margin(levels.encode_radius, scale), scale, budget),
              "middle": reads(h // scale, w // scale, margin(levels.middle_radius,
                                                             levels.middle_multiple),
                              levels.middle_multiple, budget // MIDDLE_SHARE),
              "decode": reads(h, w, margin(levels.decode_radius, scale), scale, budget)}
    return {"pass": f"{name} --pd {pd}", "sub_image": f"{w}x{h}",
            "whole_network": round(whole, 3),
            "by_levels": round(sum(shares[k] * stages[k] for k in stages), 3),
            "stage_shares": shares, "stage_reads": {k: round(v, 3) for k, v in stages.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="2000x1500,4000x3000")
    parser.add_argument("--out", help="JSON file (default: print only)")
    args = parser.parse_args()
    rows = []
    for size in args.sizes.split(","):
        width, height = (int(v) for v in size.split("x"))
        for name, arch, width_ch, pd in PASSES:
            rows.append({"size": size, **work(name, arch, width_ch, pd, height, width)})
            print(json.dumps(rows[-1]))
    if args.out:
        Path(args.out).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
