"""What one Dask chunk computes (:mod:`n2n.inference.dask_arrays`): a plane's core tile by tile;
for a context model (:mod:`n2n.models.context`), the core of a run of planes read with a halo
of the window's half-width along Z (else T) besides the XY margin; for a 3-D model
(:mod:`n2n.models.unet3d`), one Z tile's core read with its Z halo besides the XY margin.

The halo is what :func:`n2n.inference.volumes.plane_windows` reads around each plane: a chunk
holds its planes plus ``radius`` planes on each side (fewer at the stack's ends, where windows
are mirrored inside the stack by :func:`n2n.data.volumes.window_indices`, exactly as the
single-process volume door mirrors them). Every window then goes through the same tile plan as
the whole plane, so the result equals :func:`n2n.denoise_array` with ``axes`` to the bit.

A 3-D model's chunks are the Z tiles :func:`n2n.inference.volumes.z_tiles` gives the
single-process door, read with the same planes (:func:`n2n.inference.volumes.mirrored` beyond
the stack's ends): a chunk holds one tile's core planes, its input the core and ``halo`` planes
either side, gathered from the stack (the halo may be deeper than a neighbouring chunk, or than
the stack), so each tile's numbers are the volume door's.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from n2n.data.volumes import window_indices
from n2n.inference.arrays import denoise_plane
from n2n.inference.denoiser import Denoiser, plan_tiles
from n2n.inference.multiscale import MultiScaleDenoiser
from n2n.inference.volumes import (
    Z_CORE,
    check_thickness,
    denoiser_context,
    mirrored,
    stack_axes,
    z_tiles,
)
from n2n.io.values import check_float_pixels

Edges = tuple[tuple[int, ...], tuple[int, ...]]  # chunk sizes along y and along x


def members(denoiser: Denoiser | MultiScaleDenoiser) -> list[Denoiser]:
    """The Denoisers a settled denoiser runs (one, or one per factor of a multi-scale one)."""
    return list(getattr(denoiser, "denoisers", [denoiser]))


def to_device(denoiser: Denoiser | MultiScaleDenoiser) -> None:
    """The networks moved to the device set on the client (a no-op after the first chunk)."""
    for member in members(denoiser):
        for network in (member.model, member.refine):
            if network is not None:
                network.to(member.device)


def chunk_edges(size: int, tile: int, margin: int) -> tuple[int, ...]:
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


def chunk_name(plane: np.ndarray, origin: list[int], starts: list[int],
               lead: tuple[int, ...]) -> str:
    """How a message names a chunk: its plane and, where a pixel is not finite, the first such
    pixel (which may lie in the margin read from a neighbour), else the chunk's corner."""
    bad = np.argwhere(~np.isfinite(plane).all(axis=-1)) if plane.dtype.kind == "f" else ()
    y, x = (origin[0] + bad[0][0], origin[1] + bad[0][1]) if len(bad) else starts
    return f"plane {', '.join(str(int(i)) for i in lead) or 0}, pixel y={y}, x={x}"


def denoise_core(plane: np.ndarray, denoiser: Denoiser, white: float, edges: Edges,
                 where: tuple[int, int], lead: tuple[int, ...]) -> np.ndarray:
    """An (h, w, C') plane (or window of planes) read with its neighbours' XY margin -> the
    core of chunk ``where`` (its y and x chunk indices), tile by tile as the whole plane's tile
    plan cuts it; ``lead`` names the plane in messages."""
    height, width = (sum(e) for e in edges)
    starts = [sum(e[:i]) for e, i in zip(edges, where, strict=True)]
    cores = [(s, s + e[i]) for s, e, i in zip(starts, edges, where, strict=True)]
    origin = [max(s - denoiser.margin, 0) for s in starts]  # the block's first pixel
    check_float_pixels(plane, white, chunk_name(plane, origin, starts, lead))
    out = None
    for tile in plan_tiles(height, width, denoiser.tile, denoiser.margin,
                           (*cores[0], *cores[1])):
        top, bottom, left, right = tile.keep
        r_top, r_bottom, r_left, r_right = tile.read
        window = plane[r_top - origin[0]:r_bottom - origin[0],
                       r_left - origin[1]:r_right - origin[1]]
        result = denoise_plane(denoiser, window, white, tiled=False)
        if out is None:
            out = np.empty((cores[0][1] - cores[0][0], cores[1][1] - cores[1][0],
                            result.shape[2]), plane.dtype)
        out[top - cores[0][0]:bottom - cores[0][0], left - cores[1][0]:right - cores[1][0]] = (
            result[top - r_top:bottom - r_top, left - r_left:right - r_left])
    return out


def denoise_chunk(block: np.ndarray, denoiser: Denoiser, white: float, edges: Edges,
                  block_info: dict | None = None) -> np.ndarray:
    """One chunk (1, ..., h, w, C) read with its neighbours' margin -> its core, denoised."""
    to_device(denoiser)
    location = block_info[0]["chunk-location"]
    out = denoise_core(block.reshape(block.shape[-3:]), denoiser, white, edges,
                       location[-3:-1], location[:-3])
    return out.reshape(block.shape[:-3] + out.shape)


def plane_graph(data: Any, denoiser: Denoiser, white: float, edges: Edges) -> Any:
    """(..., H, W, C) planes -> their lazy result, chunked one plane by the tile plan's
    chunks, each read with the XY margin of its neighbours."""
    import dask

    data = data.rechunk((1,) * (data.ndim - 3) + (*edges, -1))
    # no neighbour, no margin: an axis of one chunk reads nothing more (and may be short)
    depth = {data.ndim - 3 + k: denoiser.margin if len(e) > 1 else 0 for k, e in enumerate(edges)}
    out = data.map_overlap(
        denoise_chunk, depth=depth, boundary="none", trim=False, chunks=data.chunks,
        dtype=data.dtype, meta=np.empty((0,) * data.ndim, data.dtype), name="n2n-denoise",
        denoiser=dask.delayed(denoiser, pure=True), white=white, edges=edges)
    # regular chunks again (a joined short tile split off), as Zarr writers want them
    return out.rechunk({data.ndim - 3: edges[0][0], data.ndim - 2: edges[1][0]})


def window_graph(data: Any, denoiser: Denoiser, white: float, edges: Edges, axes: str | None,
                 where: str) -> Any:
    """(..., H, W, 1) gray planes -> the lazy result of a context model: chunks of planes
    along the context axis (one plane of every other leading axis) read with a halo of the
    window's half-width along it and the XY margin, ``axes`` naming the leading axes."""
    import dask

    leading = tuple(data.shape[:-3])
    context = denoiser_context(denoiser)
    axis = check_thickness(leading, stack_axes(leading, None, axes, where), context, where)
    radius, length = context // 2, leading[axis]
    depths = chunk_edges(length, context, radius)  # whole windows, each chunk >= the halo
    data = data.rechunk(tuple(depths if i == axis else 1 for i in range(len(leading)))
                        + (*edges, -1))
    nd = data.ndim
    depth = {axis: radius if len(depths) > 1 else 0,
             **{nd - 3 + k: denoiser.margin if len(e) > 1 else 0 for k, e in enumerate(edges)}}
    out = data.map_overlap(
        _denoise_windows, depth=depth, boundary="none", trim=False, chunks=data.chunks,
        dtype=data.dtype, meta=np.empty((0,) * nd, data.dtype), name="n2n-denoise",
        denoiser=dask.delayed(denoiser, pure=True), white=white, edges=edges, axis=axis,
        depths=depths, radius=radius)
    # regular chunks again (a joined short run or tile split off): no two share a Zarr chunk
    return out.rechunk({axis: depths[0], nd - 3: edges[0][0], nd - 2: edges[1][0]})


def _denoise_windows(block: np.ndarray, denoiser: Denoiser, white: float, edges: Edges,
                     axis: int, depths: tuple[int, ...], radius: int,
                     block_info: dict | None = None) -> np.ndarray:
    """One chunk of planes along ``axis`` with its halo -> the core planes, each denoised with
    its window (mirrored at the stack's ends) through :func:`denoise_core`."""
    to_device(denoiser)
    location = block_info[0]["chunk-location"]
    start = sum(depths[:location[axis]])
    first = max(start - radius, 0) if len(depths) > 1 else 0  # the halo's first plane
    planes = np.moveaxis(block, axis, 0).reshape((block.shape[axis], *block.shape[-3:]))
    out = []
    for z in range(start, start + depths[location[axis]]):
        window = np.concatenate([planes[i - first] for i in
                                 window_indices(z, sum(depths), 2 * radius + 1)], axis=2)
        lead = tuple(z if k == axis else i for k, i in enumerate(location[:-3]))
        out.append(denoise_core(window, denoiser, white, edges, location[-3:-1], lead))
    shape = list(block.shape)
    shape[axis], shape[-3:] = len(out), out[0].shape  # the other leading axes are one plane
    return np.stack(out).reshape(shape)


def volume_graph(data: Any, denoiser: Denoiser, white: float, edges: Edges, axes: str | None,
                 where: str) -> Any:
    """(..., H, W, 1) gray planes -> the lazy result of a 3-D model: a chunk per Z tile along
    Z (else T; the single-process door's tiles) and one plane of every other leading axis,
    each read with its Z halo (mirrored planes at the stack's ends) and the XY margin."""
    import dask

    leading = tuple(data.shape[:-3])
    axis = check_thickness(leading, stack_axes(leading, None, axes, where), 1, where)
    length, (halo, multiple) = leading[axis], denoiser.z_grid
    tiles = z_tiles(length, halo, multiple, Z_CORE)
    cores = tuple(min(end, halo + length) - first for first, end in tiles)  # in the stack
    data = data.rechunk(tuple(cores if i == axis else 1 for i in range(len(leading)))
                        + (*edges, -1))
    wanted = [mirrored(v - halo, length) for first, end in tiles
              for v in range(first - halo, end + halo)]
    slabs = gathered(data, axis, wanted).rechunk(
        {axis: tuple(end - first + 2 * halo for first, end in tiles)})
    nd = data.ndim
    out = slabs.map_overlap(
        _denoise_slab, depth={nd - 3 + k: denoiser.margin if len(e) > 1 else 0
                              for k, e in enumerate(edges)},
        boundary="none", trim=False, chunks=data.chunks, dtype=data.dtype,
        meta=np.empty((0,) * nd, data.dtype), name="n2n-denoise",
        denoiser=dask.delayed(denoiser, pure=True), white=white, edges=edges, axis=axis,
        halo=halo, cores=cores)
    # regular chunks again (a joined short tile split off): no two share a Zarr chunk
    return out.rechunk({nd - 3: edges[0][0], nd - 2: edges[1][0]})


def gathered(data: Any, axis: int, indices: list[int]) -> Any:
    """``data``'s planes ``indices`` along ``axis``, in order: runs of consecutive planes
    (ascending or, where mirrored, descending) sliced whole and joined."""
    import dask.array as da

    pieces, first = [], 0
    for k in range(1, len(indices) + 1):
        step = indices[k] - indices[k - 1] if k < len(indices) else 0
        if abs(step) == 1 and (k - first == 1 or step == indices[first + 1] - indices[first]):
            continue  # the run goes on
        start, last = indices[first], indices[k - 1]
        sign = 1 if last >= start else -1
        stop = last + sign if last + sign >= 0 else None  # a descending run down to plane 0
        pieces.append(data[(slice(None),) * axis + (slice(start, stop, sign),)])
        first = k
    return da.concatenate(pieces, axis=axis)


def _denoise_slab(block: np.ndarray, denoiser: Denoiser, white: float, edges: Edges,
                  axis: int, halo: int, cores: tuple[int, ...],
                  block_info: dict | None = None) -> np.ndarray:
    """One Z tile's planes along ``axis`` with its halo and XY margin -> its core planes,
    denoised as one (h, w, n * C) tile through :func:`denoise_core`."""
    to_device(denoiser)
    location = block_info[0]["chunk-location"]
    planes = np.moveaxis(block, axis, 0).reshape((block.shape[axis], *block.shape[-3:]))
    lead = tuple(sum(cores[:i]) if k == axis else i for k, i in enumerate(location[:-3]))
    out = denoise_core(np.concatenate(list(planes), axis=2), denoiser, white, edges,
                       location[-3:-1], lead)
    count, channels = cores[location[axis]], planes.shape[-1]
    kept = out[:, :, halo * channels:(halo + count) * channels]
    kept = np.moveaxis(kept.reshape((*kept.shape[:2], count, channels)), 2, 0)
    shape = list(block.shape)
    shape[axis], shape[-3:] = count, kept.shape[1:]  # the other leading axes are one plane
    return kept.reshape(shape)
