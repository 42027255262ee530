"""Image files, folders and globs denoised into an output folder or file: the one call behind
``n2n denoise`` (``--dask`` included), so that the command line only maps its flags."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from n2n.errors import N2NError
from n2n.inference.files import denoise_file
from n2n.inference.spec import Decision, InferenceSpec, build_denoiser, weights_name
from n2n.io.files import write_json_record
from n2n.io.images import list_images
from n2n.io.outputs import plan_outputs


def denoise_paths(denoiser: InferenceSpec | Any, inputs: Sequence[str | Path],
                  output: str | Path, *, record: str | Path | None = None,
                  overwrite: bool = False, data_range: float | None = None,
                  axes: str | None = None,
                  on_image: Callable[[Path, Decision], None] | None = None,
                  dask: str | bool | None = None, workers: int | None = None,
                  threads_per_worker: int = 1) -> list[Path]:
    """Denoise every image ``inputs`` name (files, folders, glob patterns) into ``output`` (a
    folder, or a file name for one input) with ``denoiser`` (an :class:`InferenceSpec`, built
    here, or a built denoiser); every output, and ``record`` (a JSON file of each image's
    output and decision), is claimed before any work (:func:`~n2n.io.outputs.plan_outputs`).
    ``on_image`` hears each image's decision as it is written. Returns the outputs written.

    ``dask``: one OME-Zarr image or TIFF stack denoised chunk by chunk on Dask workers into the
    OME-Zarr image ``output`` (:func:`~n2n.inference.cluster.denoise_on_dask`): True or
    ``local`` for a local cluster of ``workers`` processes with ``threads_per_worker`` torch
    threads each, else a scheduler's address."""
    weights = weights_name(denoiser) if isinstance(denoiser, InferenceSpec) else "zero-shot"
    if dask:
        return [_on_dask(denoiser, inputs, Path(output), record, overwrite, on_image,
                         (dask, workers, threads_per_worker))]
    found = list_images(inputs)
    targets = plan_outputs(found, Path(output), inputs, overwrite=overwrite,
                           record=Path(record) if record else None)
    runner = build_denoiser(denoiser) if isinstance(denoiser, InferenceSpec) else denoiser
    records = []
    bar = tqdm(found, desc="denoise", unit="image", disable=None)  # no bar when not a tty
    for path, target in zip(bar, targets, strict=True):
        decision = denoise_file(runner, path, target, overwrite=overwrite,
                                data_range=data_range, axes=axes)
        if on_image is not None:
            on_image(path, decision)
        records.append({"input": str(path), "output": str(target), **decision.to_json()})
    if record:
        write_json_record(record, {"weights": weights, "images": records})
    return targets


def _on_dask(spec: InferenceSpec | Any, inputs: Sequence[str | Path], output: Path,
             record: str | Path | None, overwrite: bool,
             on_image: Callable[[Path, Decision], None] | None,
             cluster: tuple[str | bool, int | None, int]) -> Path:
    """The one input denoised on Dask workers into ``output``; ``cluster``: (``dask``,
    ``workers``, ``threads_per_worker``) as :func:`denoise_paths` takes them."""
    from n2n.inference.cluster import denoise_on_dask

    if len(inputs) != 1 or not isinstance(spec, InferenceSpec) or spec.zero_shot is not None:
        raise N2NError("{dask} denoises one OME-Zarr image or TIFF stack with a trained "
                       "model; give one input and no {zero_shot}", param=("dask", "zero_shot"))
    address, workers, threads = cluster
    source = Path(inputs[0])
    denoise_on_dask(spec, source, output, overwrite=overwrite,
                    address=None if address in (True, "local") else str(address),
                    workers=workers, threads_per_worker=threads, progress=True,
                    on_decision=None if on_image is None else lambda d: on_image(source, d),
                    record=record)
    return output
