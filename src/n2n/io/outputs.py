"""Outputs claimed before any work: the output layer's rules (:mod:`n2n.io.files`) applied to
targets of any format n2n-lite writes, each told apart by the mark its format carries and by
its kind (:data:`n2n.io.files.KINDS`): an output replaces only a file of its own kind, and one
command's outputs never land on each other."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from n2n.errors import N2NError
from n2n.io.files import (
    RECORD,
    check_replaceable,
    check_target,
    json_kind,
    never,
    torch_file_kind,
    with_article,
)
from n2n.io.formats.registry import known

Targets = Iterable[str | Path] | Mapping[Path, str]  # paths, or each path with its kind


def ours(target: Path) -> Callable[[Path], str | None | bool]:
    """How to tell the kind of an existing ``target`` n2n-lite wrote: its image format's mark
    (:attr:`n2n.io.formats.base.Format.mark`), a torch file's or a JSON record's."""
    fmt = known(target)
    if fmt is not None:
        return fmt.mark
    suffix = target.suffix.lower()
    if suffix in (".pt", ".pth"):
        return torch_file_kind
    return json_kind if suffix == ".json" else never


def default_kind(target: Path) -> str | None:
    """The kind an output's suffix names where the caller names none: its image format's
    (an image, an OME-Zarr image), a record for JSON (a stack or a plot is named by its
    writer)."""
    fmt = known(target)
    if fmt is not None:
        return fmt.kind
    return RECORD if target.suffix.lower() == ".json" else None


def claim_outputs(targets: Targets, inputs: Iterable[str | Path] = (), *,
                  overwrite: bool = False, mark: Callable[[Path], bool | str | None] | None = None,
                  kind: str | None = None, others: Mapping[Path, str] | None = None) -> None:
    """Refuse, before anything is written, any target that is, lies inside or holds one of
    ``inputs``; that is, lies inside or holds one of ``others`` (this command's other outputs,
    each with its kind: refused even with ``overwrite``); or that exists and n2n-lite did not
    write, or wrote as another kind than the target's, unless ``overwrite``.

    ``targets`` maps each path to the kind written there, or lists paths of one ``kind``
    (default: the kind each suffix names). ``mark`` tells the kind of n2n-lite's own files
    where the format's writer alone knows it (models); the suffix's format tells the rest."""
    inputs = list(inputs)
    pairs = targets.items() if isinstance(targets, Mapping) else ((t, kind) for t in targets)
    for target, target_kind in pairs:
        target = Path(target)
        check_target(target, inputs, dataset=_dataset)
        check_outside_zarr(target)
        check_apart(target, target_kind or default_kind(target), others or {})
        by_format = ours(target)
        tell = by_format if mark is None else lambda p, m=mark, f=by_format: m(p) or f(p)
        check_replaceable(target, tell, overwrite, target_kind or default_kind(target))


def _dataset(folder: Path) -> bool:
    """A folder that is one data set of a folder format (an OME-Zarr image)."""
    fmt = known(folder)
    return fmt is not None and fmt.folder


def check_outside_zarr(target: Path) -> None:
    """Refuse a target inside an existing OME-Zarr folder: one data set, which a file added
    to would no longer be n2n-lite's own to replace (nor what a viewer expects)."""
    for folder in target.resolve().parents:
        if folder.is_dir() and _dataset(folder):
            raise N2NError(f"{target}: lies inside the {known(folder).name} image {folder}; "
                           "choose an output outside it")


def check_apart(target: Path, kind: str | None, others: Mapping[Path, str]) -> None:
    """Refuse a ``target`` that is, lies inside or holds another output of the same command."""
    resolved = target.resolve()
    for other, other_kind in others.items():
        where = Path(other).resolve()
        if resolved == where or resolved.is_relative_to(where) or where.is_relative_to(resolved):
            what = with_article(kind) if kind else "an output"
            how = "the same path as" if resolved == where else "a path overlapping"
            raise N2NError(f"{target}: {what} would take {how} this command's "
                           f"{other_kind} {other}; give each output its own name")
