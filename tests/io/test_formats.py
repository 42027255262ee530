"""The format registry: every registered format round-trips, carries its ownership mark, and
an unknown suffix is one sentence; the rule of ``denoise_file`` asks the formats, not suffixes."""

from __future__ import annotations

import numpy as np
import pytest

from n2n.errors import N2NError
from n2n.io.files import IMAGE, ZARR
from n2n.io.formats.base import image_axes, image_blocks
from n2n.io.formats.registry import FORMATS, IMAGE_SUFFIXES, format_for, known, with_feature
from n2n.io.images import Image, read_image, to_array, write_image
from n2n.io.outputs import claim_outputs

RNG = np.random.default_rng(7)
FILE_FORMATS = [f for f in FORMATS if f.write is not None]
SHAPES = {1: "gray", 2: "gray+alpha", 3: "RGB", 4: "RGB+alpha"}


def cases():
    """(format, bit depth, channels) for every file format and what it can hold."""
    for fmt in FILE_FORMATS:
        for depth in fmt.depths:
            for channels in (1, 2, 3, 4) if fmt.alpha else (1, 3):
                yield pytest.param(fmt, depth, channels,
                                   id=f"{fmt.name}-{depth}bit-{SHAPES[channels]}")


def sample_array(depth: int, channels: int, smooth: bool) -> np.ndarray:
    """(H, W, C) in the depth's dtype: random values, or a smooth ramp (for lossy formats)."""
    shape = (24, 31, channels)
    if depth == 32:  # floats on the 0..255 scale: white measured as 255, every value kept
        return RNG.uniform(0, 255, shape).astype(np.float32)
    high = 255 if depth == 8 else 65535
    if smooth:
        ramp = np.linspace(0.2, 0.8, shape[0] * shape[1]).reshape(shape[:2])[:, :, None]
        return np.rint(np.repeat(ramp, channels, axis=2) * high).astype(
            np.uint8 if depth == 8 else np.uint16)
    return RNG.integers(0, high + 1, shape).astype(np.uint8 if depth == 8 else np.uint16)


def as_image(array: np.ndarray) -> Image:
    """What read_image would make of ``array``: pixels on 0..255, alpha aside."""
    depth = {np.dtype(np.uint8): 8, np.dtype(np.uint16): 16}.get(array.dtype, 32)
    alpha = array[:, :, -1].copy() if array.shape[2] in (2, 4) else None
    colours = array[:, :, :-1] if alpha is not None else array
    white = {8: 255.0, 16: 65535.0, 32: 255.0}[depth]
    return Image((colours * np.float32(255.0 / white)).astype(np.float32), depth, alpha, white)


@pytest.mark.parametrize("fmt, depth, channels", list(cases()))
def test_every_registered_format_round_trips(tmp_path, fmt, depth, channels):
    array = sample_array(depth, channels, smooth=not fmt.lossless)
    path = tmp_path / f"image{fmt.suffixes[0]}"
    write_image(path, as_image(array))
    back = read_image(path)
    assert back.bit_depth == depth and back.channels == (channels - (channels in (2, 4)))
    if fmt.lossless:
        assert np.array_equal(to_array(back), array)
    else:  # JPEG: close on a smooth image
        assert np.abs(to_array(back).astype(float) - array).max() <= 3


@pytest.mark.parametrize("fmt", FILE_FORMATS, ids=lambda f: f.name)
def test_every_format_recognises_its_own_mark_and_no_other_file(tmp_path, fmt):
    ours = tmp_path / f"ours{fmt.suffixes[0]}"
    write_image(ours, Image(RNG.random((16, 16, 3), dtype=np.float32) * 255))
    theirs = tmp_path / f"theirs{fmt.suffixes[0]}"
    theirs.write_bytes(ours.read_bytes())
    assert format_for(ours) is fmt
    if fmt.mark(ours) is None:  # a format with no mark (.npy): replaced only on request
        with pytest.raises(N2NError, match="did not write"):
            claim_outputs([ours])
        return
    assert fmt.mark(ours) == IMAGE
    claim_outputs([ours])  # an image n2n-lite wrote may be replaced by an image
    _write_foreign(theirs, fmt.name)
    assert fmt.mark(theirs) is None
    with pytest.raises(N2NError, match="did not write"):
        claim_outputs([theirs])


def _write_foreign(path, name):
    """The same format written by another program (no n2n-lite mark)."""
    from PIL import Image as PILImage

    pixels = RNG.integers(0, 256, (16, 16, 3)).astype(np.uint8)
    if name == "TIFF":
        import tifffile

        tifffile.imwrite(path, pixels)
    else:
        PILImage.fromarray(pixels).save(path, format=PILImage.registered_extensions()[
            path.suffix.lower()])


def test_an_ome_zarr_written_by_its_block_writer_reads_back_and_is_marked(tmp_path):
    pytest.importorskip("zarr")
    da = pytest.importorskip("dask.array")
    fmt = format_for(tmp_path / "out.zarr")
    array = RNG.integers(0, 65536, (20, 30, 3)).astype(np.uint16)
    axes = image_axes(*array.shape)
    fmt.blocks.write(tmp_path / "out.zarr", axes, array.dtype, image_blocks(axes, [(0, array)]),
                     tmp_path / "source.png", False)
    assert known(tmp_path / "out.zarr") is fmt and fmt.mark(tmp_path / "out.zarr") == ZARR
    lazy = fmt.lazy(tmp_path / "out.zarr", da)
    assert [a.name for a in lazy.axes] == ["c", "y", "x"]
    assert np.array_equal(np.moveaxis(lazy.array.compute(), 0, -1), array)


def test_an_unknown_suffix_is_one_sentence_naming_the_file_and_the_formats(tmp_path):
    for call in (lambda p: format_for(p), lambda p: write_image(p, Image(np.zeros((4, 4, 1))))):
        with pytest.raises(N2NError) as err:
            call(tmp_path / "picture.gif")
        text = str(err.value)
        assert text.startswith(f"{tmp_path / 'picture.gif'}: unsupported format '.gif'")
        assert "\n" not in text and all(s in text for s in IMAGE_SUFFIXES)
    (tmp_path / "picture.gif").write_bytes(b"GIF89a")
    with pytest.raises(N2NError, match=r"picture.gif: unsupported format '.gif' \(n2n-lite"):
        read_image(tmp_path / "picture.gif")


def test_suffixes_are_unique_and_lower_case_and_features_are_consistent():
    everywhere = [s for f in FORMATS for s in f.suffixes]
    assert len(everywhere) == len(set(everywhere))
    assert all(s == s.lower() and s.startswith(".") for s in everywhere)
    for fmt in FORMATS:
        assert (fmt.write is None) == (not fmt.depths), fmt.name
        assert format_for(f"x{fmt.suffixes[-1].upper()}") is fmt
    assert {f.name for f in with_feature("planes")} <= {f.name for f in with_feature("lazy")}


def test_content_decides_where_a_suffix_lies(tmp_path):
    """A 16-bit PNG saved under a .jpg name is read as the PNG it is, all 16 bits."""
    array = RNG.integers(0, 65536, (9, 11, 3)).astype(np.uint16)
    write_image(tmp_path / "deep.png", as_image(array))
    (tmp_path / "deep.jpg").write_bytes((tmp_path / "deep.png").read_bytes())
    assert format_for(tmp_path / "deep.jpg").name == "JPEG"
    assert format_for(tmp_path / "deep.jpg", content=True).name == "PNG"
    assert np.array_equal(to_array(read_image(tmp_path / "deep.jpg")), array)


def test_webp_in_and_out_through_n2n_denoise(tmp_path, photo):
    """A WebP denoises as the same pixels in PNG do, to the value (WebP is written lossless),
    alpha carried through, and the output is n2n-lite's own to replace on the next run."""
    from n2n.cli import main

    alpha = RNG.integers(0, 256, photo.shape[:2]).astype(np.uint8)
    for suffix in (".webp", ".png"):
        write_image(tmp_path / f"in{suffix}", Image(photo, 8, alpha))
        for _ in range(2):  # the second run replaces its own output
            assert main(["denoise", str(tmp_path / f"in{suffix}"), "-o",
                         str(tmp_path / f"out{suffix}"), "--model", "photo"]) == 0
    webp, png = read_image(tmp_path / "out.webp"), read_image(tmp_path / "out.png")
    assert format_for(tmp_path / "out.webp", content=True).name == "WebP"
    assert webp.pixels.shape == photo.shape and np.array_equal(webp.pixels, png.pixels)
    assert np.array_equal(webp.alpha, alpha) and not np.array_equal(webp.pixels, photo)
    assert main(["denoise", str(tmp_path / "in.webp"), "-o", str(tmp_path / "cross.png"),
                 "--model", "photo"]) == 0
    assert np.array_equal(read_image(tmp_path / "cross.png").pixels, png.pixels)
