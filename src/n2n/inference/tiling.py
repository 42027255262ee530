"""Tile plans: which windows of a pass's input are run, and which core of each is kept.

Plain data, testable without a model. A pass runs in its own space: image pixels, or, for a
pixel-shuffled pass, the sub-images' pixels (the image split once at ``pd`` k: each sub-image
is H/k x W/k and its tiles need the network's own receptive radius as margin, not k times it).
The tile is chosen from a memory budget (:data:`TILE_MEMORY`): as few, as large windows as
fit, so that each core pays for as little margin as possible.
"""

from __future__ import annotations

from dataclasses import dataclass

# bytes of network activations one window may take: a tile holds at most TILE_MEMORY /
# bytes-per-pixel input pixels (all sub-images of a group counted)
TILE_MEMORY = 1 << 30
# peak bytes per input pixel in float32 inference under each engine, the largest of the bundled
# networks (photo, camera, photo-plus, confocal, confocal-context, confocal-timelapse) on 1024 x
# 1024 (benchmarks/activation_memory.py, docs/results/speed/activation_memory.json): PyTorch
# channels-last 748 (confocal), NCHW 1042 (confocal), ONNX Runtime 785 (camera); with room
# for larger windows, which take more per pixel (photo-plus, channels-last: 597 at 1024 x 1024,
# 678 at 1152 x 1152), and for ONNX Runtime's 1.08 KB on a 928 x 928 photo-plus before
ACTIVATION_BYTES = {"channels-last": 900, "nchw": 1200, "onnxruntime": 1100}
# the width those figures belong to, per architecture: activations grow with the width (Lite
# U-Net: 547 bytes at width 24, 748 at 32, channels-last), so other widths scale them
MEASURED_WIDTH = {"lite": 32, "n2n": 48}
UNMEASURED_BYTES = 1280  # other architectures, as every network had before the measurement
BUDGET_PIXELS = TILE_MEMORY // UNMEASURED_BYTES
MOST_TILES = 64  # per axis, searched by budget_plan


@dataclass(frozen=True)
class Tile:
    """Rows/cols [top, bottom) x [left, right) to read, and the core to keep, in pixels."""

    read: tuple[int, int, int, int]  # top, bottom, left, right
    keep: tuple[int, int, int, int]


def plan_tiles(height: int, width: int, tile: int | tuple[int, int], margin: int,
               region: tuple[int, int, int, int] | None = None) -> list[Tile]:
    """Cover an (H, W) image with cores of ``tile`` pixels (or (rows, cols)) read with
    ``margin`` of context; ``region`` (top, bottom, left, right, starting on the tile grid)
    keeps the plan's tiles whose cores start inside it, for a worker that denoises one part."""
    rows, cols = (tile, tile) if isinstance(tile, int) else tile
    first_row, end_row, first_col, end_col = region or (0, height, 0, width)
    tiles = []
    for top in range(first_row, end_row, rows):
        for left in range(first_col, end_col, cols):
            bottom, right = min(top + rows, height), min(left + cols, width)
            read = (max(top - margin, 0), min(bottom + margin, height),
                    max(left - margin, 0), min(right + margin, width))
            tiles.append(Tile(read, (top, bottom, left, right)))
    return tiles


def read_length(size: int, core: int, margin: int) -> int:
    """Pixels read along one axis of ``size`` cut into cores of ``core`` with ``margin``."""
    return sum(min(start + core + margin, size) - max(start - margin, 0)
               for start in range(0, size, core))


def _round_up(size: int, multiple: int) -> int:
    return -(-size // multiple) * multiple


def _cores(size: int, multiple: int) -> list[int]:
    """The distinct core sizes (multiples of ``multiple``) that cut ``size`` into 1, 2, ...
    :data:`MOST_TILES` nearly equal parts, largest first."""
    cores: list[int] = []
    for parts in range(1, MOST_TILES + 1):
        core = _round_up(-(-size // parts), multiple)
        if not cores or core < cores[-1]:
            cores.append(core)
        if core <= multiple:
            break
    return cores


def window_pixels(arch: str, width: int, engine: str) -> int:
    """Input pixels one window of a pass may hold for a network of ``arch`` and ``width`` under
    ``engine`` (``channels-last``, ``nchw`` or ``onnxruntime``): :data:`TILE_MEMORY` over its
    measured bytes per pixel, in proportion to the width."""
    if arch not in MEASURED_WIDTH:
        return BUDGET_PIXELS
    return int(TILE_MEMORY * MEASURED_WIDTH[arch] / (ACTIVATION_BYTES[engine] * width))


def budget_plan(batch: int, height: int, width: int, margin: int, multiple: int,
                pixels: int = BUDGET_PIXELS) -> tuple[int, int, int]:
    """(images per group, core rows, core cols) for a pass over ``batch`` (H, W) images
    (sub-images) with ``margin``, cores on ``multiple``: whole images, as many at once as
    ``pixels`` holds, where one fits; else the cores that read the fewest pixels in all with
    no window over ``pixels`` (the smallest cores where none fits)."""
    if height * width <= pixels:
        return max(1, min(batch, pixels // max(height * width, 1))), height, width
    best: tuple[int, int, int] | None = None
    for rows in _cores(height, multiple):
        window_rows = min(rows + 2 * margin, height)
        for cols in _cores(width, multiple):
            if window_rows * min(cols + 2 * margin, width) > pixels:
                continue
            cost = read_length(height, rows, margin) * read_length(width, cols, margin)
            if best is None or cost < best[0]:
                best = (cost, rows, cols)
            break  # smaller cores along the columns only read more
    if best is None:
        return 1, multiple, multiple
    return 1, best[1], best[2]
