"""Denoise image files, each read and written as the output layer plans it
(:func:`n2n.io.outputs.plan_file`: the library's one rule for which reader and writer each pair
of formats takes, so the command line and Python users get the same behaviour; it asks the
formats what they can do, never their suffixes):

* a target written block by block (OME-Zarr): plane by plane (a stack), strip by strip (a
  large image of a format that streams rows) or whole;
* a stack (a TIFF of several planes, an OME-Zarr image) into a stack format (TIFF, OME-Zarr):
  plane by plane, with a context model window by window, its layout and metadata kept;
* a large image whose format streams rows into one that writes rows (PNG to PNG): streamed
  strip by strip, memory bounded by one strip;
* anything else: read whole, denoised, written in the target's format.

Strips are taken only by denoisers that stream (:attr:`Denoiser.streams`); zero-shot denoising
fits whole planes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from n2n.errors import N2NError, decoder_errors
from n2n.inference.auto import AutoDenoiser, StackShape
from n2n.inference.denoiser import Denoiser, denoise_image
from n2n.inference.spec import Decision, settle
from n2n.inference.stacks import denoised_blocks
from n2n.inference.strips import denoised_rows
from n2n.inference.volumes import named_stack
from n2n.io.formats.base import Format, rows_as_blocks
from n2n.io.formats.registry import with_feature
from n2n.io.images import read_image, write_image
from n2n.io.outputs import PLANES, ROWS, WHOLE, plan_file
from n2n.io.values import SAMPLE_SIDE, WhiteLevel, check_float_pixels, decision_sample, white_level


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
    # an AutoDenoiser's choice for a whole file streams once settled
    streams = denoiser.streams or isinstance(denoiser, AutoDenoiser)
    src, dst, route = plan_file(source, target, overwrite=overwrite, streams=streams,
                                stream_pixels=stream_pixels)
    if route == WHOLE:  # the denoiser chooses from the image's decision sample
        image = read_image(source, data_range)
        denoised = denoise_image(denoiser, image)
        decision = Decision(denoiser, getattr(denoiser, "last", None),
                            WhiteLevel(image.white_level, image.white_why))
        write_image(target, denoised, source=source, overwrite=overwrite)
        return decision
    with decoder_errors(source, target=target):  # a corrupt part or a full disk, named once
        stack = None
        if route == PLANES:  # a Z-stack or time-lapse may get a context model (policy.py)
            layout = src.planes.layout(source)
            stack = named_stack(layout.shape, layout.axes, axes, str(source))
        decision = _parts_decision(denoiser, source, _decision_sample(src, source, route),
                                   data_range, stack)
        runner, white = decision.denoiser, decision.white.value
        if route == PLANES:
            _planes_out(runner, src, dst, source, target, stream_pixels, overwrite, white,
                        axes)
        else:
            _rows_out(runner, src, dst, source, target, overwrite, white)
    return decision


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


def _decision_sample(src: Format, source: Path, route: str) -> np.ndarray:
    """The decision sample (:func:`n2n.io.values.decision_sample`) of a file denoised in parts,
    (h, w, C) in its own dtype, alpha left out: of a streamed image, decoded down to its
    central rows only; of a stack, its middle plane (its first sample where samples are
    channels)."""
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


def _planes_out(denoiser: Denoiser, src: Format, dst: Format, source: Path, target: Path,
                stream_pixels: int | None, overwrite: bool, white: float,
                named: str | None = None) -> None:
    """A stack plane by plane, large planes strip by strip: into a block writer, or into its
    own format, layout and metadata kept; ``named``: the stack's axes where the file does not
    say them."""
    if dst.blocks is not None:
        dst.blocks.require()  # before any work: a missing extra is the first thing to say
    layout = src.planes.layout(source)
    if dst.blocks is None and (dst.planes is None or dst.planes.write is None):
        keep = with_feature("planes")
        count = f"{layout.planes} plane{'s' * (layout.planes != 1)}"
        raise N2NError(f"{source} -> {target}: a stack of {count} is written as "
                       f"{' or '.join(f.name for f in keep)}; name the output "
                       f"{' or '.join(f.suffixes[0] for f in keep)}")
    edge = 256 if dst.blocks is None else dst.blocks.strip_rows()
    planes = denoised_blocks(denoiser, source, layout, src.planes.open(source, layout),
                             stream_pixels, strip_rows=edge, white=white, axes=named)
    if dst.blocks is None:  # a stack format: the source's layout and metadata kept
        dst.planes.write(target, layout, planes)
        return
    axes, order = src.planes.ngff_axes(source, layout)
    dst.blocks.write(target, axes, layout.dtype, src.planes.ngff_blocks(layout, order, planes),
                     source, overwrite)


def _rows_out(denoiser: Denoiser, src: Format, dst: Format, source: Path, target: Path,
              overwrite: bool, white: float) -> None:
    """A large image streamed in rows, denoised a full-width strip at a time: out in rows,
    or into a block writer strip by strip."""
    if dst.blocks is not None:
        dst.blocks.require()  # before any work: a missing extra is the first thing to say
    (width, height, planes, alpha, depth), rows = src.rows.decode(source)  # size checked
    out_rows = denoised_rows(denoiser, rows, height, planes - alpha, depth, white)
    if dst.blocks is None:
        dst.rows.write(target, width, height, planes - alpha, alpha, depth, out_rows)
        return
    axes, blocks = rows_as_blocks(out_rows, height, width, planes, dst.blocks.strip_rows())
    dst.blocks.write(target, axes, np.dtype(np.uint8 if depth == 8 else np.uint16), blocks,
                     source, overwrite)
