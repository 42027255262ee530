"""Image files, folders and globs denoised into an output folder or file: the one call behind
``n2n denoise``, so that the command line only maps its flags."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from n2n.inference.files import denoise_file, output_paths
from n2n.inference.spec import Decision, InferenceSpec, build_denoiser, weights_name
from n2n.io.files import write_json_record
from n2n.io.images import list_images


def denoise_paths(denoiser: InferenceSpec | Any, inputs: Sequence[str | Path],
                  output: str | Path, *, record: str | Path | None = None,
                  overwrite: bool = False, data_range: float | None = None,
                  axes: str | None = None,
                  on_image: Callable[[Path, Decision], None] | None = None) -> list[Path]:
    """Denoise every image ``inputs`` name (files, folders, glob patterns) into ``output`` (a
    folder, or a file name for one input) with ``denoiser`` (an :class:`InferenceSpec`, built
    here, or a built denoiser); every output, and ``record`` (a JSON file of each image's
    output and decision), is claimed before any work (:func:`~n2n.inference.files.output_paths`).
    ``on_image`` hears each image's decision as it is written. Returns the outputs written."""
    output = Path(output)
    found = list_images(inputs)
    targets = output_paths(found, output, inputs, overwrite=overwrite,
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
        weights = weights_name(denoiser.model) if isinstance(denoiser, InferenceSpec) else (
            "zero-shot")
        write_json_record(record, {"weights": weights, "images": records})
    return targets

