"""Outputs claimed before any work: the output layer's rules (:mod:`n2n.io.files`) applied to
targets of any format n2n-lite writes, each told apart by the mark its format carries."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

from n2n.io import zarr_images
from n2n.io.files import check_replaceable, check_target, json_written_by_n2n, never
from n2n.io.images import IMAGE_SUFFIXES, written_by_n2n


def ours(target: Path) -> Callable[[Path], bool]:
    """How to tell that an existing ``target`` is n2n-lite's own, by its format."""
    suffix = target.suffix.lower()
    if suffix == zarr_images.ZARR_SUFFIX:
        return zarr_images.written_by_n2n
    if suffix in IMAGE_SUFFIXES:
        return written_by_n2n
    return json_written_by_n2n if suffix == ".json" else never


def claim_outputs(targets: Iterable[str | Path], inputs: Iterable[str | Path] = (), *,
                  overwrite: bool = False, mark: Callable[[Path], bool] | None = None) -> None:
    """Refuse any target that is, lies inside or holds one of ``inputs``, or that exists and
    n2n-lite did not write (unless ``overwrite``): all checked before anything is written.
    ``mark`` tells n2n-lite's own files where the format's writer alone knows (models)."""
    inputs = list(inputs)
    for target in map(Path, targets):
        check_target(target, inputs)
        check_replaceable(target, mark or ours(target), overwrite)
