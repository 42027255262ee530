"""Denoise dask arrays lazily, chunk by chunk, with the same result as one process.

The image plane is cut into chunks of the denoiser's tile size and each chunk is read with the
model's receptive margin of its neighbours (``dask.array.map_overlap``). Inside a chunk the
tiles are exactly those :func:`~n2n.inference.denoiser.plan_tiles` gives the whole image, each
read with the same window, so every pixel is computed from the same numbers as in
:func:`~n2n.inference.arrays.denoise_array`: the results agree to the bit. The denoiser enters
the graph once (a delayed object), so each Dask worker receives the model once.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from n2n.errors import N2NError
from n2n.inference.arrays import channels_last, decide, denoise_plane
from n2n.inference.denoiser import Denoiser, plan_tiles
from n2n.inference.multiscale import MultiScaleDenoiser
from n2n.inference.policy import AUTO
from n2n.inference.spec import Decision, InferenceSpec
from n2n.inference.volumes import refuse_context
from n2n.io.lazy import dask_array
from n2n.io.values import check_float_pixels, decision_sample, white_level


def denoise_dask(array: Any, model: str | Path | torch.nn.Module = AUTO, *,
                 channel_axis: int | None = None, data_range: float | None = None,
                 tile: int | None = None, pd: int | str | None = None,
                 refine: bool | None = None,
                 multiscale: bool | None = None, ensemble: bool = False, device: str = "cpu",
                 fast: bool = True, on_decision: Callable[[Decision], None] | None = None
                 ) -> Any:
    """A lazy dask array: ``array`` denoised as :func:`n2n.denoise_array` would, chunk by chunk.

    Parameters
    ----------
    array : dask.array.Array
        (..., H, W) gray images, or with a ``channel_axis`` of 1 or 3 colour channels; every
        other axis is a plane of a stack (independent fluorescence channels belong here too).
    model, channel_axis, data_range, tile, pd, refine, multiscale, ensemble
        As for :func:`n2n.denoise_array`, the same spec; ``tile`` (default 512) is
        also the chunk size of y and x. The treatment is chosen once, from the decision
        sample (the central 1024 x 1024 of the middle plane, the only part computed for it),
        for every chunk.
    on_decision : callable, optional
        Called with the :class:`~n2n.inference.spec.Decision` (treatment, white level) before
        anything is computed, e.g. to print it.
    device : str
        Where each worker runs the model: 'cpu', or 'cuda' on workers with a GPU.
    fast : bool
        As for :class:`n2n.inference.denoiser.Denoiser` (off: plain float32).

    Returns
    -------
    dask.array.Array
        The same shape and dtype, chunked one plane by ``tile`` x ``tile``; nothing is computed
        until it is (``.compute()``, ``da.store``, ``.to_zarr``).

    Examples
    --------
    >>> import dask.array as da
    >>> stack = da.zeros((4, 300, 300), dtype="uint16", chunks=(1, 300, 300))
    >>> denoise_dask(stack, "confocal", tile=128).chunks[1]
    (128, 128, 44)
    """
    da = dask_array("Denoising dask arrays")
    if not isinstance(array, da.Array):
        raise N2NError(f"{type(array).__name__}: denoise_dask takes a dask array; use "
                       "n2n.denoise_array for numpy arrays")
    data = channels_last(array if channel_axis is not None else array[..., None],
                         -1 if channel_axis is None else channel_axis)
    spec = InferenceSpec(model, pd, refine, multiscale, ensemble, fast, tile, "cpu", data_range)
    # the decision sample computed once (its chunks read once) for white level and treatment
    planes = data.reshape((-1,) + data.shape[-3:])
    sample = None if 0 in data.shape else np.asarray(decision_sample(planes, spatial=3))
    white = white_level(data.dtype, sample, data_range, tuple(array.shape))
    decision = decide(spec, sample[None], white)  # a one-plane stack: its own sample
    refuse_context(decision.denoiser, "the Dask door")
    if on_decision is not None:
        on_decision(decision)
    denoiser, white = decision.denoiser, white.value  # built here; moved on the workers
    for member in _members(denoiser):
        member.device = torch.device(device)  # moved there on the worker (see _denoise_chunk)
    height, width = data.shape[-3:-1]
    edges = tuple(_chunk_edges(size, denoiser.tile, denoiser.margin) for size in (height, width))
    data = data.rechunk((1,) * (data.ndim - 3) + (*edges, -1))
    import dask

    # no neighbour, no margin: an axis of one chunk reads nothing more (and may be short)
    depth = {data.ndim - 3 + k: denoiser.margin if len(e) > 1 else 0 for k, e in enumerate(edges)}
    out = data.map_overlap(
        _denoise_chunk, depth=depth, boundary="none", trim=False, chunks=data.chunks,
        dtype=data.dtype, meta=np.empty((0,) * data.ndim, data.dtype), name="n2n-denoise",
        denoiser=dask.delayed(denoiser, pure=True), white=white, edges=edges)
    # regular chunks again (a joined short tile split off), as Zarr writers want them
    out = out.rechunk({data.ndim - 3: edges[0][0], data.ndim - 2: edges[1][0]})
    return out[..., 0] if channel_axis is None else da.moveaxis(out, -1, channel_axis)


def _members(denoiser: Denoiser | MultiScaleDenoiser) -> list[Denoiser]:
    """The Denoisers a settled denoiser runs (one, or one per factor of a multi-scale one)."""
    return list(getattr(denoiser, "denoisers", [denoiser]))


def _chunk_edges(size: int, tile: int, margin: int) -> tuple[int, ...]:
    """Chunk sizes along one axis: whole tiles, each chunk at least ``margin`` (Dask's overlap
    reads a margin from the neighbour alone), a short last tile joined to the one before."""
    step = tile * max(1, -(-margin // tile))
    edges = [step] * (size // step)
    rest = size - sum(edges)
    if rest and edges and rest < margin:
        edges[-1] += rest
    elif rest:
        edges.append(rest)
    return tuple(edges)


def _chunk_name(plane: np.ndarray, origin: list[int], starts: list[int],
                lead: tuple[int, ...]) -> str:
    """How a message names a chunk: its plane and, where a pixel is not finite, the first such
    pixel (which may lie in the margin read from a neighbour), else the chunk's corner."""
    bad = np.argwhere(~np.isfinite(plane).all(axis=-1)) if plane.dtype.kind == "f" else ()
    y, x = (origin[0] + bad[0][0], origin[1] + bad[0][1]) if len(bad) else starts
    return f"plane {', '.join(str(int(i)) for i in lead) or 0}, pixel y={y}, x={x}"


def _denoise_chunk(block: np.ndarray, denoiser: Denoiser, white: float,
                   edges: tuple[tuple[int, ...], tuple[int, ...]],
                   block_info: dict | None = None) -> np.ndarray:
    """One chunk (1, ..., h, w, C) read with its neighbours' margin -> its core, denoised tile by
    tile exactly as the whole image's tile plan cuts it."""
    for member in _members(denoiser):  # a no-op after the first chunk
        for network in (member.model, member.refine):
            if network is not None:
                network.to(member.device)
    where = block_info[0]["chunk-location"][-3:-1]
    height, width = (sum(e) for e in edges)
    starts = [sum(e[:i]) for e, i in zip(edges, where, strict=True)]
    cores = [(s, s + e[i]) for s, e, i in zip(starts, edges, where, strict=True)]
    origin = [max(s - denoiser.margin, 0) for s in starts]  # the block's first pixel
    plane = block.reshape(block.shape[-3:])
    check_float_pixels(plane, white, _chunk_name(plane, origin, starts,
                                                 block_info[0]["chunk-location"][:-3]))
    out = np.empty((cores[0][1] - cores[0][0], cores[1][1] - cores[1][0], plane.shape[2]),
                   plane.dtype)
    region = (*cores[0], *cores[1])
    for tile in plan_tiles(height, width, denoiser.tile, denoiser.margin, region):
        top, bottom, left, right = tile.keep
        r_top, r_bottom, r_left, r_right = tile.read
        window = plane[r_top - origin[0]:r_bottom - origin[0],
                       r_left - origin[1]:r_right - origin[1]]
        result = denoise_plane(denoiser, window, white, tiled=False)
        out[top - cores[0][0]:bottom - cores[0][0], left - cores[1][0]:right - cores[1][0]] = (
            result[top - r_top:bottom - r_top, left - r_left:right - r_left])
    return out.reshape(block.shape[:-3] + out.shape)
