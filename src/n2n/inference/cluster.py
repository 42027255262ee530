"""Denoise an OME-Zarr image or TIFF stack on a Dask cluster into an OME-Zarr image.

Without an address, a ``LocalCluster`` of worker processes on this machine; with one, any Dask
deployment (SLURM through dask-jobqueue, Kubernetes, a scheduler started by hand) whose workers
see the same file system. Workers read their chunks from the input and write their results
straight into a temporary folder beside the target, which takes the target's place only when
every chunk is written (:func:`n2n.io.formats.ome_zarr.zarr_output`): an error, a signal or a lost
client leaves the target as it was. A worker lost mid-run is replaced and its chunks recomputed
by Dask itself.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from n2n.errors import N2NError, decoder_errors, optional_module
from n2n.inference.dask_arrays import denoise_dask
from n2n.inference.spec import Decision, InferenceSpec, weights_name
from n2n.io.files import RECORD, ZARR, write_json_record
from n2n.io.formats import ome_zarr
from n2n.io.formats.base import ngff_letter
from n2n.io.formats.registry import known
from n2n.io.lazy import dask_array, open_lazy
from n2n.io.outputs import claim_outputs

TASK_NAME = "n2n-denoise"  # the prefix of every denoising task's key, found again on cancel


def denoise_on_dask(spec: InferenceSpec, source: str | Path, target: str | Path, *,
                    address: str | None = None, workers: int | None = None,
                    threads_per_worker: int = 1, overwrite: bool = False, progress: bool = True,
                    on_decision: Callable[[Decision], None] | None = None,
                    record: str | Path | None = None) -> None:
    """Denoise ``source`` as ``spec`` says into the OME-Zarr image ``target`` with the input's
    axes, scale and units, chunk by chunk on Dask workers; the result equals the
    single-process one (:func:`~n2n.inference.dask_arrays.denoise_dask`), the treatment and
    white level chosen once from the decision sample and passed to ``on_decision``.

    ``workers`` (default: cores / ``threads_per_worker``) and ``threads_per_worker`` (torch
    threads per worker) shape the local cluster and are ignored with an ``address``; the
    spec's device is the workers' ('auto' runs them on the CPU). ``record`` names a JSON file
    that receives the output and the decision once every chunk is written.
    """
    source, target = Path(source), Path(target)
    weights = weights_name(spec)  # for the record, as every door names it
    claim_outputs({target: ZARR}, [source], overwrite=overwrite,
                  others={Path(record): RECORD} if record else None)
    if record:
        claim_outputs({Path(record): RECORD}, [source], overwrite=overwrite,
                      others={target: ZARR})
    if known(target) is not ome_zarr.FORMAT:
        raise N2NError(f"{target}: --dask writes OME-Zarr; name the output NAME.zarr")
    image = open_lazy(source)
    device = "cpu" if str(spec.device) == "auto" else str(spec.device)
    decisions: list[Decision] = []
    with decoder_errors(source):  # a corrupt chunk in the decision sample
        out = _denoised(image, model=spec.model, pd=spec.pd, refine=spec.refine,
                        multiscale=spec.multiscale, ensemble=spec.ensemble, fast=spec.fast,
                        tile=spec.tile, data_range=spec.data_range, device=device,
                        on_decision=decisions.append)
    if on_decision:
        on_decision(decisions[0])
    chunks = tuple(c[0] for c in out.chunks)  # a zarr chunk per task: no two tasks share one
    # the cluster outlives the output's temporary folder: no worker writes after it is gone
    with _client(address, workers, threads_per_worker) as client, ome_zarr.zarr_output(
            target, image.axes, out.dtype, source, overwrite, chunks) as array:
        _run(client, out, array, progress)
    if record:
        write_json_record(record, {"weights": weights, "images": [
            {"input": str(source), "output": str(target), **decisions[0].to_json()}]})


def _yx_last(image: Any) -> list[int]:
    """The axis order that puts y and x last, the other axes in their order."""
    names = [a.name for a in image.axes]
    for needed in ("y", "x"):
        if needed not in names:
            raise N2NError(f"axes {names}: no '{needed}' axis; an image needs y and x")
    return [i for i in range(len(names)) if names[i] not in "yx"] + [names.index("y"),
                                                                      names.index("x")]


def _denoised(image: Any, **options: Any) -> Any:
    """The lazy result in the input's axis order; y and x go last for the denoiser and back.
    A context model's window runs along the image's z (else t) axis, named by its metadata."""
    order = _yx_last(image)
    colour = None if image.colour_axis is None else order.index(image.colour_axis)
    axes = "".join(ngff_letter(image.axes[i].name) for i in order)
    out = denoise_dask(image.array.transpose(order), channel_axis=colour, axes=axes, **options)
    return out.transpose(np.argsort(order).tolist())


@contextmanager
def _client(address: str | None, workers: int | None, threads: int) -> Iterator[Any]:
    """A client of the scheduler at ``address``, or of a new local cluster closed on exit."""
    distributed = optional_module("distributed", "dask", "--dask (running on a Dask cluster)")
    if address:
        try:
            client = distributed.Client(address, timeout="20s")
        except (OSError, TimeoutError, ValueError) as err:  # ValueError: not an address
            raise N2NError(f"--dask {address}: no Dask scheduler answers there ({err}); start "
                           "one with 'dask scheduler' (it prints its tcp://HOST:8786 address) "
                           "or give --dask alone for a local cluster (a LocalCluster on this "
                           "machine)") from None
        with client:
            yield client
        return
    if threads < 1 or (workers is not None and workers < 1):
        raise N2NError("--workers and --threads-per-worker must be >= 1")
    workers = workers or max(1, (os.cpu_count() or 1) // threads)
    # one task at a time per worker, each with `threads` torch threads (Dask's nanny would
    # otherwise set OMP_NUM_THREADS=1)
    env = {k: str(threads) for k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    with distributed.LocalCluster(n_workers=workers, threads_per_worker=1, env=env,
                                  dashboard_address=":0", silence_logs=50) as cluster, \
            distributed.Client(cluster) as client:
        yield client


def _run(client: Any, out: Any, array: Any, progress: bool) -> None:
    """Store ``out`` into the zarr ``array`` on the cluster; on any interruption, cancel and
    wait until no worker is still writing, so that nothing lands after the folder is gone."""
    distributed = optional_module("distributed", "dask", "--dask")
    da = dask_array("--dask")
    print(f"dask: {len(client.scheduler_info()['workers'])} worker(s), dashboard "
          f"{client.dashboard_link}", flush=True)
    future = client.compute(da.store(out, array, lock=False, compute=False))
    try:
        if progress:
            distributed.progress(future)
        future.result()
    except BaseException:
        client.cancel(future, force=True)
        _wait_until_idle(client)
        raise


def _wait_until_idle(client: Any, timeout: float = 120.0) -> None:
    """Block until no worker runs a denoising or storing task (a running task cannot be
    stopped, only waited for), at most ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            running = client.run(_running_tasks)
        except Exception:  # workers gone (a local cluster closing): nothing runs any more
            return
        if not any(running.values()):
            return
        time.sleep(0.2)


def _running_tasks(dask_worker: Any) -> list[str]:
    """Keys of the n2n-lite tasks a worker is executing (run on each worker)."""
    keys = [str(ts.key) for ts in dask_worker.state.executing]
    return [k for k in keys if TASK_NAME in k or "store" in k]
