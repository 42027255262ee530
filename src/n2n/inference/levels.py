"""A tiled pass by levels: a U-Net's coarse levels run over the whole input, its fine levels in
windows whose margins are only their own radius.

A U-Net's receptive radius comes mostly from its coarse levels (the photo network's 92 px: 78
from levels 2-4; the camera network's 189: 156 from levels 3-5), yet they do little of its
work. Tiled as one network, every window pays the whole radius as margin. Cut at level L
(:class:`n2n.models.unet.Levels`), a pass runs in three stages, each tiled within the memory
budget with its own margin, each exact, so the result equals the untiled one:

1. encode: the fine encoder over windows of the input, down to the coarse levels' input
   (2^-L the size), kept whole;
2. middle: the coarse levels over it, in level-L pixels, kept whole;
3. decode: the fine encoder again and the fine decoder over windows of the input, each reading
   its part of the coarse result.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from n2n.device import Window
from n2n.inference.tiling import budget_plan, plan_tiles
from n2n.models import PixelModel

# the coarse levels' windows hold this many times fewer pixels than the budget: their tensors
# have more channels per pixel (the camera network's 96 at level 3, its input layer's 48)
MIDDLE_SHARE = 4


def by_levels(model: torch.nn.Module | None) -> PixelModel | None:
    """``model`` where its tiles can run by its network's levels, else None."""
    return model if isinstance(model, PixelModel) and model.levels is not None else None


def leveled_pass(model: PixelModel, x: torch.Tensor, budget: int,
                 on_device: Callable[[Window], Window]) -> torch.Tensor:
    """``model(x, split=False)`` on (N, C, H, W) ``x`` whose sides are multiples of the
    network's multiple, in windows of at most ``budget`` input pixels per stage;
    ``on_device(f)`` runs ``f`` where the model is and brings the result back."""
    levels = model.levels
    scale = 2**levels.level

    def stage(run: Window, inputs: list[tuple[torch.Tensor, int]], radius: int, multiple: int,
              pixels: int, shrink: int = 1) -> torch.Tensor:
        margin = -(-radius // multiple) * multiple
        count, _, height, width = inputs[0][0].shape
        plan = budget_plan(count, height, width, margin, multiple, pixels)
        return tiled_map(on_device(run), inputs, margin, plan, shrink)

    coarse_in = stage(model.encode, [(x, 1)], levels.encode_radius, scale, budget, scale)
    coarse = stage(model.middle, [(coarse_in, 1)], levels.middle_radius,
                   levels.middle_multiple, budget // MIDDLE_SHARE)
    del coarse_in
    return stage(model.decode, [(x, 1), (coarse, scale)], levels.decode_radius, scale, budget)


def tiled_map(run: Window, inputs: Sequence[tuple[torch.Tensor, int]], margin: int,
              plan: tuple[int, int, int], shrink: int = 1) -> torch.Tensor:
    """``run`` over windows of ``inputs`` (each a tensor and how many times smaller than the
    first it is), cut by ``plan`` (images per group, core rows, core cols:
    :func:`~n2n.inference.tiling.budget_plan`) on the first's (N, C, H, W) with ``margin``;
    each result ``shrink`` times smaller than its window, its core kept. Exact where
    ``margin`` covers ``run``'s radius: the result equals ``run`` over the whole inputs."""
    first = inputs[0][0]
    count, _, height, width = first.shape
    group, rows, cols = plan
    if group >= count and rows >= height and cols >= width:
        return run(*(tensor for tensor, _ in inputs))
    out = None
    for start in range(0, count, group):
        images = slice(start, start + group)
        for tile in plan_tiles(height, width, (rows, cols), margin):
            result = run(*(_window(tensor, images, tile.read, scale) for tensor, scale in inputs))
            r_top, _, r_left, _ = (side // shrink for side in tile.read)
            top, bottom, left, right = (side // shrink for side in tile.keep)
            if out is None:
                out = first.new_empty((count, result.shape[1], height // shrink,
                                       width // shrink), dtype=result.dtype)
            out[images, :, top:bottom, left:right] = result[
                ..., top - r_top:bottom - r_top, left - r_left:right - r_left]
    return out


def _window(tensor: torch.Tensor, images: slice, read: tuple[int, int, int, int],
            scale: int) -> torch.Tensor:
    top, bottom, left, right = (side // scale for side in read)
    return tensor[images, :, top:bottom, left:right]
