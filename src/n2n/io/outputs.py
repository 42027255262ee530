"""Outputs claimed before any work: the output layer's rules (:mod:`n2n.io.files`) applied to
targets of any format n2n-lite writes, each told apart by the mark its format carries and by
its kind (:data:`n2n.io.files.KINDS`): an output replaces only a file of its own kind, and one
command's outputs never land on each other."""

from __future__ import annotations

import mimetypes
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

from n2n.errors import N2NError
from n2n.io.checks import check_input
from n2n.io.files import (
    IMAGE,
    RECORD,
    STACK,
    check_replaceable,
    check_target,
    json_kind,
    never,
    torch_file_kind,
    with_article,
)
from n2n.io.formats.base import Format
from n2n.io.formats.registry import IMAGE_SUFFIXES, format_for, known

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


def plan_outputs(inputs: list[Path], output: Path, given: Sequence[str | Path] = (), *,
                 overwrite: bool = False, record: Path | None = None) -> list[Path]:
    """Where each input image's result goes, and of which kind (:func:`result_kind`):
    ``output`` itself for a single input and an image file or OME-Zarr name, else
    ``output/<input name>``. Refuses, before any work, two outputs of one name, several inputs
    into one image or OME-Zarr name, any output that is an input, lies inside a folder of
    inputs (``given``: the files and folders as named) or holds one, and existing outputs
    n2n-lite did not write, or wrote as another kind (unless ``overwrite``); ``record``, where
    a JSON record of the run goes, likewise and never on an image output. Creates the
    outputs' folder."""
    fmt = known(output)
    if fmt is not None and fmt.folder and len(inputs) > 1:
        raise N2NError(f"{output}: one {fmt.name} image holds one input, not {len(inputs)}; "
                       f"denoise them into a folder, or one {fmt.suffixes[0]} each")
    if len(inputs) > 1 and fmt is not None and not output.is_dir():
        raise N2NError(f"{output}: names one image file, but {len(inputs)} images were given; "
                       "name a folder for their outputs")
    single_file = len(inputs) == 1 and fmt is not None
    if not single_file and not output.is_dir() and _other_image_format(output):
        raise N2NError(f"{output}: n2n-lite does not write '{output.suffix}' images; name a "
                       f"{', '.join(IMAGE_SUFFIXES)} or .zarr file, or a folder")
    targets = [output] if single_file else [output / p.name for p in inputs]
    if len({t.resolve() for t in targets}) < len(targets):
        raise N2NError("two inputs share a file name and would write the same output; "
                       "denoise them into separate folders")
    kinds = {t: result_kind(s, t) for s, t in zip(inputs, targets, strict=True)}
    claim_outputs(kinds, [*inputs, *given], overwrite=overwrite)
    if record is not None:
        claim_outputs([record], [*inputs, *given], overwrite=overwrite, kind=RECORD,
                      others=kinds)
    (output.parent if single_file else output).mkdir(parents=True, exist_ok=True)
    return targets


WHOLE, PLANES, ROWS = "whole", "planes", "rows"  # how a file is read: see plan_file


def plan_file(source: Path, target: Path, *, overwrite: bool = False, streams: bool = True,
              stream_pixels: int | None = None) -> tuple[Format, Format, str]:
    """The formats of ``source`` (by its content) and ``target``, and how ``source`` is read
    into ``target``: :data:`PLANES`, plane by plane, into its own format, a block writer, or
    wherever it holds several planes or is read only plane by plane (OME-Zarr), so that the
    writer says which formats hold it;
    :data:`ROWS` where the source streams rows into a format that takes rows or blocks, it is
    large enough (``stream_pixels``, default :data:`~n2n.io.formats.base.STREAM_PIXELS`) and
    the denoiser ``streams``; else :data:`WHOLE`. ``target`` is claimed first (of the kind
    :func:`result_kind` names) and the source's header checked (:func:`check_input`)."""
    claim_outputs([target], [source], overwrite=overwrite, kind=result_kind(source, target))
    check_input(source)  # headers, limits, truncation: before any sample is read
    src, dst = format_for(source, content=True), format_for(target)
    if src.planes is not None and (dst is src or dst.folder or src.read is None
                                   or stack_planes(src, source) > 1):
        return src, dst, PLANES
    if src.rows is not None and (dst.rows is not None or dst.folder) and streams and _large(
            src, source, stream_pixels):
        return src, dst, ROWS
    return src, dst, WHOLE


def _large(src: Format, source: Path, limit: int | None) -> bool:
    """``source`` is large enough to stream, strip by strip."""
    try:
        return src.rows.streams(source, limit)
    except N2NError:
        return False  # not streamable: reading it whole will name the problem


def _other_image_format(output: Path) -> bool:
    """``output`` names an image file of a format n2n-lite does not write (.gif, .webp, .bmp):
    taken as a folder name, it would put the result somewhere the user did not ask."""
    return (mimetypes.guess_type(output.name)[0] or "").startswith("image/")


def result_kind(source: Path, target: Path) -> str:
    """What denoising ``source`` writes at ``target``: the target format's kind (an OME-Zarr
    image, an image), or a stack where a stack of several planes goes into its own format."""
    src, dst = known(source), known(target)
    if dst is None:
        return IMAGE
    if dst.folder or src is None or src.planes is None or dst.planes is None:
        return dst.kind
    if src.folder or stack_planes(src, source) > 1:  # into a stack format: a stack
        return STACK
    return dst.kind


def stack_planes(src: Format, source: Path) -> int:
    """How many planes a stack holds; 1 where its layout cannot be read (reading it for real
    will name the problem)."""
    try:
        return src.planes.layout(source).planes
    except N2NError:
        return 1
