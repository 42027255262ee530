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
from n2n.inference.arrays import channels_last, decide, gray_stack
from n2n.inference.dask_chunks import (
    chunk_edges,
    members,
    plane_graph,
    volume_graph,
    window_graph,
)
from n2n.inference.policy import AUTO
from n2n.inference.spec import Decision, InferenceSpec
from n2n.inference.volumes import denoiser_context, denoiser_volumetric
from n2n.io.lazy import dask_array
from n2n.io.values import decision_sample, white_level


def denoise_dask(array: Any, model: str | Path | torch.nn.Module = AUTO, *,
                 channel_axis: int | None = None, data_range: float | None = None,
                 tile: int | None = None, pd: int | str | None = None,
                 refine: bool | None = None,
                 multiscale: bool | None = None, ensemble: bool = False, device: str = "cpu",
                 fast: bool = True, on_decision: Callable[[Decision], None] | None = None,
                 axes: str | None = None) -> Any:
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
    axes : str, optional
        The array's axes for a context or 3-D model (e.g. ``ZYX``, ``TZYX``), as for
        :func:`n2n.denoise_array`: its chunks then hold runs of planes along Z (else T), read
        with a halo of the window's half-width (a context model) or each a Z tile of the
        volume door with its Z halo (a 3-D model), mirrored at the ends
        (:mod:`n2n.inference.dask_chunks`), so the result equals the volume door's to the bit.
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
    stack = gray_stack(tuple(array.shape), axes, channel_axis,
                       f"dask array of shape {tuple(array.shape)}")
    decision = decide(spec, sample[None], white, stack)  # a one-plane stack: its own sample
    if on_decision is not None:
        on_decision(decision)
    denoiser, white = decision.denoiser, white.value  # built here; moved on the workers
    for member in members(denoiser):
        member.device = torch.device(device)  # moved there on the worker (dask_chunks.to_device)
    height, width = data.shape[-3:-1]
    edges = tuple(chunk_edges(size, denoiser.tile, denoiser.margin) for size in (height, width))
    if denoiser_context(denoiser) > 1 or denoiser_volumetric(denoiser):
        return _windowed(data, denoiser, white, edges, axes, channel_axis, tuple(array.shape))
    out = plane_graph(data, denoiser, white, edges)
    return out[..., 0] if channel_axis is None else da.moveaxis(out, -1, channel_axis)


def _windowed(data: Any, denoiser: Any, white: float, edges: Any, axes: str | None,
              channel_axis: int | None, shape: tuple[int, ...]) -> Any:
    """A gray stack's lazy result with a context model or a 3-D model (in Z tiles): chunks
    with a Z (else T) halo."""
    where = f"dask array of shape {shape}"
    volumetric = denoiser_volumetric(denoiser)
    kind = "a 3-D model" if volumetric else "a context model"
    if channel_axis is not None:
        raise N2NError(f"{where}: {kind} takes gray stacks; name a channel axis C "
                       "in {axes} instead of {channel_axis}", param=("axes", "channel_axis"))
    if volumetric and denoiser.channels != 1:  # found before any chunk is computed
        raise N2NError(f"{where}: the 3-D model takes planes of {denoiser.channels} "
                       "channels, the stack gray ones: use a 3-D model trained on gray stacks")
    graph = volume_graph if volumetric else window_graph
    return graph(data, denoiser, white, edges, axes, where)[..., 0]
