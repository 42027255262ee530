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

import mimetypes
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from n2n.errors import N2NError, decoder_errors
from n2n.inference.auto import AutoDenoiser
from n2n.inference.denoiser import Denoiser, denoise_image
from n2n.inference.spec import Decision, settle
from n2n.inference.stacks import denoised_blocks
from n2n.inference.strips import denoised_rows, row_blocks
from n2n.io import png_rows, tiff_stacks, zarr_images
from n2n.io.checks import check_input
from n2n.io.files import IMAGE, RECORD, STACK, ZARR
from n2n.io.images import IMAGE_SUFFIXES, Image, check_size, read_image, to_array, write_image
from n2n.io.outputs import claim_outputs
from n2n.io.values import SAMPLE_SIDE, WhiteLevel, check_float_pixels, decision_sample, white_level


def denoise_file(denoiser: Denoiser | AutoDenoiser, source: str | Path, target: str | Path, *,
                 overwrite: bool = False, stream_pixels: int | None = None,
                 data_range: float | None = None) -> Decision:
    """Denoise the image file ``source`` into ``target`` (written atomically), the writer
    picked by their formats; images of at least ``stream_pixels`` pixels (default
    :data:`n2n.io.png_rows.STREAM_PIXELS`) are streamed where the format allows. An existing
    ``target`` is replaced only if n2n-lite wrote it, or with ``overwrite``. ``data_range``:
    the file's value of white (default: its dtype's, measured for floats; :mod:`n2n.io.values`).
    Returns what the file got: treatment and white level, chosen once from its decision sample.

    Examples
    --------
    >>> denoiser = Denoiser(load_bundled("confocal"))  # doctest: +SKIP
    >>> denoise_file(denoiser, "stack.tif", "clean.zarr")  # doctest: +SKIP
    """
    source, target = Path(source), Path(target)
    claim_outputs([target], [source], overwrite=overwrite, kind=output_kind(source, target))
    check_input(source)  # headers, limits, truncation: before the rule's sample
    decision = _parts_decision(denoiser, source, target, stream_pixels, data_range)
    if decision is None:  # read whole: the denoiser chooses from the image's decision sample
        image = read_image(source, data_range)
        denoised = denoise_image(denoiser, image)
        decision = Decision(denoiser, getattr(denoiser, "last", None),
                            WhiteLevel(image.white_level, image.white_why))
        if target.suffix.lower() == zarr_images.ZARR_SUFFIX:
            _image_to_zarr(denoised, source, target, overwrite)
        else:
            write_image(target, denoised)
        return decision
    runner, white = decision.denoiser, decision.white.value
    if target.suffix.lower() == zarr_images.ZARR_SUFFIX:
        _to_zarr(runner, source, target, stream_pixels, overwrite, white)
    elif target.suffix.lower() == ".png" and source.suffix.lower() == ".png":
        _png_to_png(runner, source, target, white)
    else:
        _to_tiff(runner, source, target, stream_pixels, white)
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
    zarr = output.suffix.lower() == zarr_images.ZARR_SUFFIX
    if zarr and len(inputs) > 1:
        raise N2NError(f"{output}: one OME-Zarr image holds one input, not {len(inputs)}; "
                       "denoise them into a folder, or one .zarr each")
    if len(inputs) > 1 and output.suffix.lower() in IMAGE_SUFFIXES and not output.is_dir():
        raise N2NError(f"{output}: names one image file, but {len(inputs)} images were given; "
                       "name a folder for their outputs")
    single_file = len(inputs) == 1 and (zarr or output.suffix.lower() in IMAGE_SUFFIXES)
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


def _parts_decision(denoiser: Denoiser | AutoDenoiser, source: Path, target: Path,
                    stream_pixels: int | None, data_range: float | None) -> Decision | None:
    """For a file denoised in parts (a TIFF's planes, a large image's strips), the one
    decision for all of them, from its decision sample; None for a file read whole."""
    sample = _decision_sample(denoiser, source, target, stream_pixels)
    if sample is None:
        return None
    if sample.dtype.kind in "iu" and sample.dtype not in (np.uint8, np.uint16):
        raise N2NError(f"{source}: unsupported pixel type {sample.dtype} (use uint8, uint16 or "
                       "float; n2n.denoise_array takes it with data_range)")
    white = white_level(sample.dtype, sample, data_range, sample.shape)
    if sample.dtype.kind == "f" and not np.isfinite(sample).all():  # as a whole image says
        raise N2NError(f"{source}: image contains NaN or infinite values")
    check_float_pixels(sample, white.value, str(source))  # before the rule measures them
    return settle(denoiser, sample, white)


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


def _decision_sample(denoiser: Denoiser | AutoDenoiser, source: Path, target: Path,
                     stream_pixels: int | None) -> np.ndarray | None:
    """The decision sample (:func:`n2n.io.values.decision_sample`) of a file denoised in parts,
    (h, w, C) in its own dtype, alpha left out: of a PNG that streams into PNG or Zarr,
    decoded down to its central rows only; of a TIFF job's middle plane (its first sample
    where samples are channels). None for a file read whole."""
    into = target.suffix.lower()
    if source.suffix.lower() == ".png":
        if into not in (".png", zarr_images.ZARR_SUFFIX) or not _streams_png(
                denoiser, source, stream_pixels):
            return None
        with decoder_errors(source):
            (width, height, planes, alpha, _), rows = png_rows.decode_rows(source)
            for _ in range(max(height - SAMPLE_SIDE, 0) // 2):  # down to the central rows
                next(rows)
            strip = np.stack([next(rows) for _ in range(min(SAMPLE_SIDE, height))])
        return decision_sample(strip.reshape(len(strip), width, planes)[:, :, :planes - alpha],
                               spatial=3)
    if not (_is_tiff_job(source, target) or source.suffix.lower() in tiff_stacks.TIFF_SUFFIXES
            and into == zarr_images.ZARR_SUFFIX):
        return None
    layout = tiff_stacks.read_layout(source)
    with decoder_errors(source):
        plane = tiff_stacks.read_plane(source, layout, layout.planes // 2)
        pixels = tiff_stacks.channels_last(plane, layout)
        pixels = pixels[..., None] if pixels.ndim == 2 else pixels
        colours = 1 if layout.samples_are_channels or pixels.shape[2] < 3 else 3
        return np.asarray(decision_sample(pixels[..., :colours], spatial=3))


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


def _streams_png(denoiser: Denoiser | AutoDenoiser, source: Path, limit: int | None) -> bool:
    """``source`` is a large 8/16-bit PNG and the denoiser streams once settled (an
    AutoDenoiser's choice for a whole file does): strip by strip."""
    streams = denoiser.streams or isinstance(denoiser, AutoDenoiser)
    if not (streams and source.suffix.lower() == ".png"):
        return False
    try:
        return png_rows.streams_png(source, limit)
    except N2NError:
        return False  # not streamable: reading it whole will name the problem


def _to_tiff(denoiser: Denoiser, source: Path, target: Path, stream_pixels: int | None,
             white: float) -> None:
    layout = tiff_stacks.read_layout(source)
    if layout.planes > 1 and target.suffix.lower() not in tiff_stacks.TIFF_SUFFIXES:
        raise N2NError(f"{source} -> {target}: a stack of {layout.planes} planes is written as "
                       "TIFF or OME-Zarr; name the output .tif or .zarr")
    with decoder_errors(source, target=target):
        blocks = denoised_blocks(denoiser, source, layout, stream_pixels, white=white)
        tiff_stacks.write_tiff(target, layout, blocks)


def _png_to_png(denoiser: Denoiser, source: Path, target: Path, white: float) -> None:
    """Rows stream in, full-width strips are denoised, rows stream out."""
    with decoder_errors(source, target=target):
        (width, height, planes, alpha, depth), out_rows = _denoised_png_rows(denoiser, source,
                                                                             white)
        png_rows.write_png_rows(target, width, height, planes - alpha, alpha, depth, out_rows)


def _denoised_png_rows(denoiser: Denoiser, source: Path, white: float
                       ) -> tuple[tuple[int, int, int, bool, int], Iterator[np.ndarray]]:
    """A PNG's header and its denoised rows, decoded and denoised one strip at a time."""
    (width, height, planes, alpha, depth), rows = png_rows.decode_rows(source)
    check_size(source, height, width)
    out_rows = denoised_rows(denoiser, rows, height, planes - alpha, depth, white)
    return (width, height, planes, alpha, depth), out_rows


def _to_zarr(denoiser: Denoiser, source: Path, target: Path, stream_pixels: int | None,
             overwrite: bool, white: float) -> None:
    """A TIFF stack plane by plane, a large PNG strip by strip."""
    zarr_images.require_zarr()  # before any work: a missing extra is the first thing to say
    edge = zarr_images.CHUNK_EDGE
    with decoder_errors(source, target=target):
        if source.suffix.lower() in tiff_stacks.TIFF_SUFFIXES:
            layout = tiff_stacks.read_layout(source)
            axes, order = zarr_images.tiff_axes(source, layout)
            planes = denoised_blocks(denoiser, source, layout, stream_pixels, strip_rows=edge,
                                     white=white)
            blocks = zarr_images.tiff_blocks(layout, order, planes)
            dtype = layout.dtype
        else:
            (width, height, planes, _, depth), out_rows = _denoised_png_rows(denoiser, source,
                                                                             white)
            axes = zarr_images.image_axes(height, width, planes)
            strips = ((top, block.reshape(len(block), width, planes))
                      for top, block in row_blocks(out_rows, height, edge))
            blocks = zarr_images.image_blocks(axes, strips)
            dtype = png_rows.png_dtype(depth)
        zarr_images.write_zarr(target, axes, dtype, blocks, source, overwrite)


def _image_to_zarr(image: Image, source: Path, target: Path, overwrite: bool) -> None:
    """A denoised image read whole, as one OME-Zarr image."""
    zarr_images.require_zarr()
    array = to_array(image)
    axes = zarr_images.image_axes(*array.shape)
    blocks = zarr_images.image_blocks(axes, [(0, array)])
    zarr_images.write_zarr(target, axes, array.dtype, blocks, source, overwrite)
