"""Denoise image files: the library's one rule for which reader and writer each pair of
formats takes, so the command line and Python users get the same behaviour.

* ``.zarr`` target: OME-Zarr, plane by plane (TIFF stacks) or strip by strip (large PNGs);
* TIFF source and TIFF target, or a TIFF stack: the stack's layout and metadata kept;
* a large PNG to PNG: streamed strip by strip, memory bounded by one strip;
* anything else: read whole, denoised, written in the target's format.

Strips are taken only by denoisers that stream (:attr:`Denoiser.streams`); zero-shot denoising
fits whole planes.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from n2n.errors import N2NError, decoder_errors
from n2n.inference.auto import AutoDenoiser
from n2n.inference.denoiser import Denoiser, denoise_image
from n2n.inference.multiscale import MultiScaleDenoiser
from n2n.inference.stacks import denoised_blocks
from n2n.inference.strips import denoised_rows, row_blocks
from n2n.io import png_rows, tiff_stacks, zarr_images
from n2n.io.files import IMAGE, RECORD, STACK, ZARR
from n2n.io.images import (
    IMAGE_SUFFIXES,
    array_to_image,
    central_square,
    check_size,
    read_image,
    to_array,
    write_image,
)
from n2n.io.outputs import claim_outputs

SAMPLE_SIDE = 1024  # rows (and columns) of the sample an AutoDenoiser chooses from


def denoise_file(denoiser: Denoiser | AutoDenoiser, source: str | Path, target: str | Path, *,
                 overwrite: bool = False, stream_pixels: int | None = None) -> None:
    """Denoise the image file ``source`` into ``target`` (written atomically), the writer
    picked by their formats; images of at least ``stream_pixels`` pixels (default
    :data:`n2n.io.png_rows.STREAM_PIXELS`) are streamed where the format allows. An existing
    ``target`` is replaced only if n2n-lite wrote it, or with ``overwrite``.

    Examples
    --------
    >>> denoiser = Denoiser(load_bundled("confocal"))  # doctest: +SKIP
    >>> denoise_file(denoiser, "stack.tif", "clean.zarr")  # doctest: +SKIP
    """
    source, target = Path(source), Path(target)
    claim_outputs([target], [source], overwrite=overwrite, kind=output_kind(source, target))
    denoiser = _settled(denoiser, source, stream_pixels)
    if target.suffix.lower() == zarr_images.ZARR_SUFFIX:
        _to_zarr(denoiser, source, target, stream_pixels, overwrite)
    elif _is_tiff_job(source, target):
        _to_tiff(denoiser, source, target, stream_pixels)
    elif target.suffix.lower() == ".png" and _streams_png(denoiser, source, stream_pixels):
        _png_to_png(denoiser, source, target)
    else:
        write_image(target, denoise_image(denoiser, read_image(source)))


def output_paths(inputs: list[Path], output: Path, given: Sequence[str | Path] = (), *,
                 overwrite: bool = False, record: Path | None = None) -> list[Path]:
    """Where each input's result goes: ``output`` itself for a single input and an image file
    or OME-Zarr name, else ``output/<input name>``. Refuses, before any work, two outputs of
    one name, several inputs into one image or OME-Zarr name, any output that is an input, lies
    inside a folder of inputs (``given``: the files and folders as named) or holds one, and
    existing outputs n2n-lite did not write, or wrote as another kind (unless ``overwrite``);
    ``record``, where a JSON record of the run goes, likewise and never on an image output.
    Creates the outputs' folder."""
    zarr = output.suffix.lower() == zarr_images.ZARR_SUFFIX
    if zarr and len(inputs) > 1:
        raise N2NError(f"{output}: one OME-Zarr image holds one input, not {len(inputs)}; "
                       "denoise them into a folder, or one .zarr each")
    if len(inputs) > 1 and output.suffix.lower() in IMAGE_SUFFIXES and not output.is_dir():
        raise N2NError(f"{output}: names one image file, but {len(inputs)} images were given; "
                       "name a folder for their outputs")
    single_file = len(inputs) == 1 and (zarr or output.suffix.lower() in IMAGE_SUFFIXES)
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


def output_kind(source: Path, target: Path) -> str:
    """What denoising ``source`` writes at ``target``: an OME-Zarr image, a stack (a TIFF of
    several planes into a TIFF), else an image."""
    if target.suffix.lower() == zarr_images.ZARR_SUFFIX:
        return ZARR
    if {source.suffix.lower(), target.suffix.lower()} <= set(tiff_stacks.TIFF_SUFFIXES):
        try:
            return STACK if tiff_stacks.read_layout(source).planes > 1 else IMAGE
        except N2NError:
            return IMAGE  # reading it for real will name the problem
    return IMAGE


def _settled(denoiser: Denoiser | AutoDenoiser, source: Path, stream_pixels: int | None
             ) -> Denoiser | AutoDenoiser | MultiScaleDenoiser:
    """For a file denoised in parts (a TIFF stack's planes, a large image's strips), an
    AutoDenoiser's choice made once from a sample, so that every part is treated alike; else
    the denoiser as given (an AutoDenoiser then chooses from the whole image)."""
    if not isinstance(denoiser, AutoDenoiser):
        return denoiser
    try:
        sample = _sample(source, stream_pixels)
    except N2NError:
        return denoiser  # reading the file for real will name the problem
    return denoiser if sample is None else denoiser.settle(sample)


def _sample(source: Path, stream_pixels: int | None, side: int = SAMPLE_SIDE
            ) -> np.ndarray | None:
    """The first ``side`` rows of a PNG that streams, or the central ``side`` x ``side`` crop of
    a TIFF stack's (or a large TIFF's) first plane, as (h, w, C) pixels on the 0..255 scale;
    None for a file that is read whole."""
    if source.suffix.lower() == ".png":
        if not png_rows.streams_png(source, stream_pixels):
            return None
        (_, height, planes, alpha, depth), rows = png_rows.decode_rows(source)
        strip = np.stack([next(rows) for _ in range(min(side, height))])[:, :, :planes - alpha]
        return strip.astype(np.float32) * (255.0 / (2**depth - 1))
    if source.suffix.lower() not in tiff_stacks.TIFF_SUFFIXES:
        return None
    layout = tiff_stacks.read_layout(source)
    height, width = layout.height_width
    large = height * width >= (png_rows.STREAM_PIXELS if stream_pixels is None else stream_pixels)
    if layout.planes == 1 and not large or layout.samples_are_channels:
        return None
    with decoder_errors(source):
        plane = next(tiff_stacks.read_planes(source, layout))
        return array_to_image(source, np.asarray(central_square(plane, side))).pixels


def _is_tiff_job(source: Path, target: Path) -> bool:
    """TIFF to TIFF (layout and metadata kept), and a TIFF stack to anything (so that
    :func:`_to_tiff` says it must be TIFF or Zarr)."""
    if source.suffix.lower() not in tiff_stacks.TIFF_SUFFIXES:
        return False
    if target.suffix.lower() in tiff_stacks.TIFF_SUFFIXES:
        return True
    try:
        return tiff_stacks.read_layout(source).planes > 1
    except N2NError:
        return False  # reading it as one image will name the problem


def _streams_png(denoiser: Denoiser, source: Path, limit: int | None) -> bool:
    """``source`` is a large 8/16-bit PNG and the denoiser streams: strip by strip."""
    if not (denoiser.streams and source.suffix.lower() == ".png"):
        return False
    try:
        return png_rows.streams_png(source, limit)
    except N2NError:
        return False  # not streamable: reading it whole will name the problem


def _to_tiff(denoiser: Denoiser, source: Path, target: Path, stream_pixels: int | None
             ) -> None:
    layout = tiff_stacks.read_layout(source)
    if layout.planes > 1 and target.suffix.lower() not in tiff_stacks.TIFF_SUFFIXES:
        raise N2NError(f"{source} -> {target}: a stack of {layout.planes} planes is written as "
                       "TIFF or OME-Zarr; name the output .tif or .zarr")
    with decoder_errors(source, target=target):
        blocks = denoised_blocks(denoiser, source, layout, stream_pixels)
        tiff_stacks.write_tiff(target, layout, blocks)


def _png_to_png(denoiser: Denoiser, source: Path, target: Path) -> None:
    """Rows stream in, full-width strips are denoised, rows stream out."""
    with decoder_errors(source, target=target):
        (width, height, planes, alpha, depth), out_rows = _denoised_png_rows(denoiser, source)
        png_rows.write_png_rows(target, width, height, planes - alpha, alpha, depth, out_rows)


def _denoised_png_rows(denoiser: Denoiser, source: Path
                       ) -> tuple[tuple[int, int, int, bool, int], Iterator[np.ndarray]]:
    """A PNG's header and its denoised rows, decoded and denoised one strip at a time."""
    (width, height, planes, alpha, depth), rows = png_rows.decode_rows(source)
    check_size(source, height, width)
    out_rows = denoised_rows(denoiser, rows, height, planes - alpha, depth)
    return (width, height, planes, alpha, depth), out_rows


def _to_zarr(denoiser: Denoiser, source: Path, target: Path, stream_pixels: int | None,
             overwrite: bool) -> None:
    """A TIFF stack plane by plane, a large PNG strip by strip, else the image whole."""
    zarr_images.require_zarr()  # before any work: a missing extra is the first thing to say
    edge = zarr_images.CHUNK_EDGE
    with decoder_errors(source, target=target):
        if source.suffix.lower() in tiff_stacks.TIFF_SUFFIXES:
            layout = tiff_stacks.read_layout(source)
            axes, order = zarr_images.tiff_axes(source, layout)
            planes = denoised_blocks(denoiser, source, layout, stream_pixels, strip_rows=edge)
            blocks = zarr_images.tiff_blocks(layout, order, planes)
            dtype = layout.dtype
        elif _streams_png(denoiser, source, stream_pixels):
            (width, height, planes, _, depth), out_rows = _denoised_png_rows(denoiser, source)
            axes = zarr_images.image_axes(height, width, planes)
            strips = ((top, block.reshape(len(block), width, planes))
                      for top, block in row_blocks(out_rows, height, edge))
            blocks = zarr_images.image_blocks(axes, strips)
            dtype = png_rows.png_dtype(depth)
        else:
            array = to_array(denoise_image(denoiser, read_image(source)))
            axes = zarr_images.image_axes(*array.shape)
            blocks, dtype = zarr_images.image_blocks(axes, [(0, array)]), array.dtype
        zarr_images.write_zarr(target, axes, dtype, blocks, source, overwrite)
