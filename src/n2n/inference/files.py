"""Denoise image files: the library's one rule for which reader and writer each pair of
formats takes, so the command line and Python users get the same behaviour. The rule asks the
formats (:mod:`n2n.io.formats.registry`) what they can do, never their suffixes:

* a target written block by block (OME-Zarr): plane by plane (a stack), strip by strip (a
  large image of a format that streams rows) or whole;
* a stack kept with its layout (TIFF) into its own format, or a stack of several planes: plane
  by plane, its layout and metadata kept;
* a large image whose format streams rows into one that writes rows (PNG to PNG): streamed
  strip by strip, memory bounded by one strip;
* anything else: read whole, denoised, written in the target's format.

Strips are taken only by denoisers that stream (:attr:`Denoiser.streams`); zero-shot denoising
fits whole planes.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from n2n.errors import N2NError, decoder_errors
from n2n.inference.auto import AutoDenoiser, StackShape
from n2n.inference.denoiser import Denoiser, denoise_image
from n2n.inference.ngff import denoise_ngff, ngff_sample
from n2n.inference.spec import Decision, settle
from n2n.inference.stacks import denoised_blocks
from n2n.inference.strips import denoised_rows, row_blocks
from n2n.inference.volumes import named_stack
from n2n.io.checks import check_input
from n2n.io.files import IMAGE, RECORD, STACK
from n2n.io.formats.base import Format, RowHeader, check_size, image_axes, image_blocks
from n2n.io.formats.registry import IMAGE_SUFFIXES, format_for, known, with_feature
from n2n.io.images import Image, read_image, to_array, write_image
from n2n.io.outputs import claim_outputs
from n2n.io.values import SAMPLE_SIDE, WhiteLevel, check_float_pixels, decision_sample, white_level

WHOLE, PLANES, ROWS = "whole", "planes", "rows"  # how a file is read: see the module docstring


def denoise_file(denoiser: Denoiser | AutoDenoiser, source: str | Path, target: str | Path, *,
                 overwrite: bool = False, stream_pixels: int | None = None,
                 data_range: float | None = None, axes: str | None = None) -> Decision:
    """Denoise the image file ``source`` into ``target`` (written atomically), the writer
    picked by their formats; images of at least ``stream_pixels`` pixels (default
    :data:`n2n.io.formats.base.STREAM_PIXELS`) are streamed where the format allows. An existing
    ``target`` is replaced only if n2n-lite wrote it, or with ``overwrite``. ``data_range``:
    the file's value of white (default: its dtype's, measured for floats; :mod:`n2n.io.values`).
    Returns what the file got: treatment and white level, chosen once from its decision sample.
    ``axes``: a TIFF stack's axes (e.g. ``TZYX``) where the file does not say them; a context
    model's window runs along Z, else T (:mod:`n2n.inference.volumes`).

    Examples
    --------
    >>> denoiser = Denoiser(load_bundled("confocal"))  # doctest: +SKIP
    >>> denoise_file(denoiser, "stack.tif", "clean.zarr")  # doctest: +SKIP
    """
    source, target = Path(source), Path(target)
    claim_outputs([target], [source], overwrite=overwrite, kind=output_kind(source, target))
    check_input(source)  # headers, limits, truncation: before the rule's sample
    src, dst = format_for(source, content=True), format_for(target)
    if src.folder:  # an OME-Zarr image: plane by plane (window by window) from its level 0
        return _from_ngff(denoiser, source, target, dst, overwrite, data_range, axes)
    route = _route(denoiser, src, dst, source, stream_pixels)
    if route == WHOLE:  # the denoiser chooses from the image's decision sample
        image = read_image(source, data_range)
        denoised = denoise_image(denoiser, image)
        decision = Decision(denoiser, getattr(denoiser, "last", None),
                            WhiteLevel(image.white_level, image.white_why))
        if dst.blocks is not None:
            _image_to_blocks(dst, denoised, source, target, overwrite)
        else:
            write_image(target, denoised)
        return decision
    stack = None
    if route == PLANES:  # a Z-stack or time-lapse may get a context model (inference/policy.py)
        layout = src.planes.layout(source)
        stack = named_stack(layout.shape, layout.axes, axes, str(source))
    decision = _parts_decision(denoiser, source, _decision_sample(src, source, route),
                               data_range, stack)
    runner, white = decision.denoiser, decision.white.value
    if dst.blocks is not None:
        _to_blocks(runner, src, dst, source, target, route, stream_pixels, overwrite, white,
                   axes)
    elif route == ROWS:
        _rows_to_rows(runner, src, dst, source, target, white)
    else:
        _to_planes(runner, src, dst, source, target, stream_pixels, white, axes)
    return decision


def _from_ngff(denoiser: Denoiser | AutoDenoiser, source: Path, target: Path, dst: Format,
               overwrite: bool, data_range: float | None, axes: str | None) -> Decision:
    """An OME-Zarr image into OME-Zarr or TIFF, axes and physical sizes kept."""
    if dst.blocks is not None:
        dst.blocks.require()
    decision = _parts_decision(denoiser, source, ngff_sample(source), data_range)
    with decoder_errors(source, target=target):
        denoise_ngff(decision.denoiser, source, target, dst, decision.white.value, overwrite,
                     axes)
    return decision


def output_paths(inputs: list[Path], output: Path, given: Sequence[str | Path] = (), *,
                 overwrite: bool = False, record: Path | None = None) -> list[Path]:
    """Where each input's result goes: ``output`` itself for a single input and an image file
    or OME-Zarr name, else ``output/<input name>``. Refuses, before any work, two outputs of
    one name, several inputs into one image or OME-Zarr name, any output that is an input, lies
    inside a folder of inputs (``given``: the files and folders as named) or holds one, and
    existing outputs n2n-lite did not write, or wrote as another kind (unless ``overwrite``);
    ``record``, where a JSON record of the run goes, likewise and never on an image output.
    Creates the outputs' folder."""
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
    kinds = {t: output_kind(s, t) for s, t in zip(inputs, targets, strict=True)}
    claim_outputs(kinds, [*inputs, *given], overwrite=overwrite)
    if record is not None:
        claim_outputs([record], [*inputs, *given], overwrite=overwrite, kind=RECORD,
                      others=kinds)
    (output.parent if single_file else output).mkdir(parents=True, exist_ok=True)
    return targets


def _other_image_format(output: Path) -> bool:
    """``output`` names an image file of a format n2n-lite does not write (.gif, .webp, .bmp):
    taken as a folder name, it would put the result somewhere the user did not ask."""
    return (mimetypes.guess_type(output.name)[0] or "").startswith("image/")


def _parts_decision(denoiser: Denoiser | AutoDenoiser, source: Path, sample: np.ndarray,
                    data_range: float | None, stack: StackShape | None = None) -> Decision:
    """For a file denoised in parts (a TIFF's planes, a large image's strips), the one
    decision for all of them, from its decision sample ``sample``, checked as a whole image
    is before the rule measures it."""
    if sample.dtype.kind in "iu" and sample.dtype not in (np.uint8, np.uint16):
        raise N2NError(f"{source}: unsupported pixel type {sample.dtype} (use uint8, uint16 or "
                       "float; n2n.denoise_array takes it with data_range)")
    white = white_level(sample.dtype, sample, data_range, sample.shape)
    if sample.dtype.kind == "f" and not np.isfinite(sample).all():  # as a whole image says
        raise N2NError(f"{source}: image contains NaN or infinite values")
    check_float_pixels(sample, white.value, str(source))  # before the rule measures them
    return settle(denoiser, sample, white, stack)


def output_kind(source: Path, target: Path) -> str:
    """What denoising ``source`` writes at ``target``: the target format's kind (an OME-Zarr
    image, an image), or a stack where a stack of several planes goes into its own format."""
    src, dst = known(source), known(target)
    if dst is None:
        return IMAGE
    if src is dst and src.planes is not None and _planes(src, source) > 1:
        return STACK
    if src is not None and src.folder and dst.planes is not None:
        return STACK  # an OME-Zarr image into a TIFF stack
    return dst.kind


def _planes(src: Format, source: Path) -> int:
    """How many planes a stack holds; 1 where its layout cannot be read (reading it for real
    will name the problem)."""
    try:
        return src.planes.layout(source).planes
    except N2NError:
        return 1


def _route(denoiser: Denoiser | AutoDenoiser, src: Format, dst: Format, source: Path,
           stream_pixels: int | None) -> str:
    """How ``source`` is read (:data:`WHOLE`, :data:`PLANES`, :data:`ROWS`): plane by plane
    into its own format, a block writer, or wherever it holds several planes (so that
    :func:`_to_planes` says which formats hold it); in rows where the source streams into a
    format that takes rows or blocks and the denoiser streams; else whole."""
    if src.planes is not None and (dst is src or dst.folder or _planes(src, source) > 1):
        return PLANES
    if src.rows is not None and (dst.rows is not None or dst.folder) and _streams(
            denoiser, src, source, stream_pixels):
        return ROWS
    return WHOLE


def _streams(denoiser: Denoiser | AutoDenoiser, src: Format, source: Path,
             limit: int | None) -> bool:
    """``source`` is large enough to stream and the denoiser streams once settled (an
    AutoDenoiser's choice for a whole file does): strip by strip."""
    if not (denoiser.streams or isinstance(denoiser, AutoDenoiser)):
        return False
    try:
        return src.rows.streams(source, limit)
    except N2NError:
        return False  # not streamable: reading it whole will name the problem


def _decision_sample(src: Format, source: Path, route: str) -> np.ndarray:
    """The decision sample (:func:`n2n.io.values.decision_sample`) of a file denoised in parts,
    (h, w, C) in its own dtype, alpha left out: of a streamed image, decoded down to its
    central rows only; of a stack, its middle plane (its first sample where samples are
    channels)."""
    with decoder_errors(source):
        if route == ROWS:
            (width, height, planes, alpha, _), rows = src.rows.decode(source)
            for _ in range(max(height - SAMPLE_SIDE, 0) // 2):  # down to the central rows
                next(rows)
            strip = np.stack([next(rows) for _ in range(min(SAMPLE_SIDE, height))])
            return decision_sample(strip.reshape(len(strip), width, planes)[:, :, :planes - alpha],
                                   spatial=3)
        layout = src.planes.layout(source)
        plane = src.planes.read_plane(source, layout, layout.planes // 2)
        pixels = src.planes.channels_last(plane, layout)
        pixels = pixels[..., None] if pixels.ndim == 2 else pixels
        colours = 1 if layout.samples_are_channels or pixels.shape[2] < 3 else 3
        return np.asarray(decision_sample(pixels[..., :colours], spatial=3))


def _to_planes(denoiser: Denoiser, src: Format, dst: Format, source: Path, target: Path,
               stream_pixels: int | None, white: float, axes: str | None = None) -> None:
    """A stack plane by plane into its own format, layout and metadata kept; ``axes``: the
    stack's where the file does not say them."""
    layout = src.planes.layout(source)
    if dst is not src:
        keep = (src, *with_feature("blocks"))
        raise N2NError(f"{source} -> {target}: a stack of {layout.planes} planes is written as "
                       f"{' or '.join(f.name for f in keep)}; name the output "
                       f"{' or '.join(f.suffixes[0] for f in keep)}")
    with decoder_errors(source, target=target):
        blocks = denoised_blocks(denoiser, source, layout, stream_pixels, white=white,
                                 axes=axes)
        src.planes.write(target, layout, blocks)


def _rows_to_rows(denoiser: Denoiser, src: Format, dst: Format, source: Path, target: Path,
                  white: float) -> None:
    """Rows stream in, full-width strips are denoised, rows stream out."""
    with decoder_errors(source, target=target):
        (width, height, planes, alpha, depth), out_rows = _denoised_rows(denoiser, src, source,
                                                                         white)
        dst.rows.write(target, width, height, planes - alpha, alpha, depth, out_rows)


def _denoised_rows(denoiser: Denoiser, src: Format, source: Path, white: float
                   ) -> tuple[RowHeader, Iterator[np.ndarray]]:
    """An image's header and its denoised rows, decoded and denoised one strip at a time."""
    (width, height, planes, alpha, depth), rows = src.rows.decode(source)
    check_size(source, height, width)
    out_rows = denoised_rows(denoiser, rows, height, planes - alpha, depth, white)
    return (width, height, planes, alpha, depth), out_rows


def _to_blocks(denoiser: Denoiser, src: Format, dst: Format, source: Path, target: Path,
               route: str, stream_pixels: int | None, overwrite: bool, white: float,
               named: str | None = None) -> None:
    """A stack plane by plane, a large image strip by strip, into a block writer; ``named``:
    the stack's axes where the file does not say them."""
    dst.blocks.require()  # before any work: a missing extra is the first thing to say
    edge = dst.blocks.strip_rows()
    with decoder_errors(source, target=target):
        if route == PLANES:
            layout = src.planes.layout(source)
            axes, order = src.planes.ngff_axes(source, layout)
            planes = denoised_blocks(denoiser, source, layout, stream_pixels, strip_rows=edge,
                                     white=white, axes=named)
            blocks: Any = src.planes.ngff_blocks(layout, order, planes)
            dtype = layout.dtype
        else:
            (width, height, planes, _, depth), out_rows = _denoised_rows(denoiser, src, source,
                                                                         white)
            axes = image_axes(height, width, planes)
            strips = ((top, block.reshape(len(block), width, planes))
                      for top, block in row_blocks(out_rows, height, edge))
            blocks = image_blocks(axes, strips)
            dtype = np.dtype(np.uint8 if depth == 8 else np.uint16)
        dst.blocks.write(target, axes, dtype, blocks, source, overwrite)


def _image_to_blocks(dst: Format, image: Image, source: Path, target: Path,
                     overwrite: bool) -> None:
    """A denoised image read whole, as one image of a block writer (OME-Zarr)."""
    dst.blocks.require()
    array = to_array(image)
    axes = image_axes(*array.shape)
    dst.blocks.write(target, axes, array.dtype, image_blocks(axes, [(0, array)]), source,
                     overwrite)
