"""Streaming PNG denoise: the same result as in memory, alpha and bit depth kept, atomic."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import n2n.inference.files
import n2n.io.formats.base
import n2n.io.formats.png
from n2n.cli import main
from n2n.inference.denoiser import Denoiser, denoise_image
from n2n.inference.files import denoise_file
from n2n.io.formats.png import decode_rows
from n2n.io.images import Image, read_image, write_image
from n2n.models.bundled import load_bundled


class LibvipsMissing:
    """An import hook that fails as pyvips does when it finds no libvips library."""

    def find_spec(self, name, path=None, target=None):
        if name == "pyvips":
            raise OSError("cannot load library 'libvips.so.42'")


@pytest.fixture(params=["libvips", "pypng"])
def decoder(request, monkeypatch):
    """Streaming with libvips when it is installed, and with the pypng fallback when pyvips
    is installed but its library does not load."""
    if request.param == "libvips":
        pytest.importorskip("pyvips")
    else:
        monkeypatch.delitem(sys.modules, "pyvips", raising=False)
        monkeypatch.setattr(sys, "meta_path", [LibvipsMissing(), *sys.meta_path])
        assert not n2n.io.formats.png._libvips_loads()
    return request.param


@pytest.mark.parametrize("depth, channels, with_alpha", [(8, 3, True), (16, 3, False),
                                                         (8, 1, False)])
def test_streamed_equals_in_memory(tmp_path, photo, depth, channels, with_alpha, decoder):
    rng = np.random.default_rng(0)
    clean = np.tile(photo, (3, 3, 1))[:250, :230]  # several strips and tiles at tile 64
    if channels == 1:
        clean = clean.mean(2, keepdims=True)
    noisy = np.clip(clean + rng.normal(0, 25, clean.shape), 0, 255).astype(np.float32)
    alpha = rng.integers(0, 2**depth, noisy.shape[:2]).astype(
        np.uint8 if depth == 8 else np.uint16) if with_alpha else None
    write_image(tmp_path / "in.png", Image(noisy, depth, alpha))
    denoiser = Denoiser(load_bundled(), tile=64)
    denoise_file(denoiser, tmp_path / "in.png", tmp_path / "out.png", stream_pixels=1)
    streamed = read_image(tmp_path / "out.png")
    expected = denoise_image(denoiser, read_image(tmp_path / "in.png"))
    assert streamed.bit_depth == depth and streamed.pixels.shape == noisy.shape
    lsb = 255.0 / (2**depth - 1)
    difference = np.abs(streamed.pixels - np.rint(expected.pixels / lsb) * lsb)
    assert difference.max() <= lsb + 1e-3 and difference.mean() < 0.01 * lsb  # rounding ties
    if with_alpha:
        assert np.array_equal(streamed.alpha, alpha)


def test_cli_streams_large_pngs_and_nothing_else(tmp_path, photo, monkeypatch):
    write_image(tmp_path / "a.png", Image(photo))
    calls = []
    original = n2n.inference.files._rows_out  # the streamed route (rows in, rows or blocks out)
    monkeypatch.setattr(n2n.inference.files, "_rows_out",
                        lambda *a: calls.append(a) or original(*a))
    denoiser = Denoiser(load_bundled())
    denoise_file(denoiser, tmp_path / "a.png", tmp_path / "b.png")  # small: in memory
    denoise_file(denoiser, tmp_path / "a.png", tmp_path / "b.tif", stream_pixels=1)  # PNG only
    assert not calls
    monkeypatch.setattr(n2n.io.formats.base, "STREAM_PIXELS", 100)
    assert main(["denoise", str(tmp_path / "a.png"), "-o", str(tmp_path / "c.png")]) == 0
    assert len(calls) == 1 and read_image(tmp_path / "c.png").pixels.shape == photo.shape


def test_truncated_png_streams_into_a_clear_error_and_no_output(tmp_path, photo, decoder):
    write_image(tmp_path / "a.png", Image(np.tile(photo, (2, 2, 1))))
    data = (tmp_path / "a.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    from n2n.errors import N2NError

    with pytest.raises(N2NError, match="cut.png: cannot read image"):
        denoise_file(Denoiser(load_bundled(), tile=64), tmp_path / "cut.png",
                     tmp_path / "out.png", stream_pixels=1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "cut.png"]


@pytest.mark.parametrize("depth, channels, with_alpha", [(8, 3, True), (16, 1, False)])
def test_libvips_and_pypng_decode_the_same_rows(tmp_path, photo, depth, channels, with_alpha):
    pytest.importorskip("pyvips")
    pixels = photo if channels == 3 else photo.mean(2, keepdims=True)
    alpha = np.full(photo.shape[:2], 2**depth - 1, np.uint8 if depth == 8 else np.uint16)
    write_image(tmp_path / "a.png", Image(pixels, depth, alpha if with_alpha else None))
    vips_header, vips_rows = decode_rows(tmp_path / "a.png", vips=True)
    png_header, png_rows = decode_rows(tmp_path / "a.png", vips=False)
    assert vips_header == png_header == (80, 96, channels + with_alpha, with_alpha, depth)
    assert np.array_equal(np.stack(list(vips_rows)), np.stack(list(png_rows)))
