"""Bad input, as a matrix: every case gets one ``n2n: error:`` line naming the file and the
problem, a non-zero exit, untouched inputs and nothing half-written; the Python API raises
:class:`N2NError` with the same message."""

from __future__ import annotations

import errno

import numpy as np
import pytest
import tifffile
import torch
from conftest import n2n
from PIL import Image as PILImage

from n2n.cli import main
from n2n.data.config import DataConfig, build_data
from n2n.data.ee559 import load_ee559_pairs, make_ee559_pairs
from n2n.data.noise import parse_noise
from n2n.errors import N2NError
from n2n.inference.zeroshot import ZeroShotDenoiser
from n2n.io.images import Image, read_image, write_image
from n2n.models import ModelConfig


@pytest.fixture
def bad(tmp_path, photo):
    """A folder of good and bad files; returns its path."""
    good = photo.astype(np.uint8)
    write_image(tmp_path / "good.png", Image(photo))
    write_image(tmp_path / "deep.png", Image(photo, 16))
    PILImage.fromarray(good).save(tmp_path / "good.jpg")
    tifffile.imwrite(tmp_path / "good.tif", good)
    for ext in ("png", "jpg", "tif"):
        data = (tmp_path / f"good.{ext}").read_bytes()
        (tmp_path / f"truncated.{ext}").write_bytes(data[: len(data) // 2])
        (tmp_path / f"empty.{ext}").write_bytes(b"")
    PILImage.fromarray(good).convert("CMYK").save(tmp_path / "cmyk.jpg")
    for name, value in (("nan", np.nan), ("inf", np.inf)):
        pixels = np.full((8, 8, 3), 0.5, np.float32)
        pixels[3, 3, 1] = value
        tifffile.imwrite(tmp_path / f"{name}.tif", pixels, photometric="rgb")
    (tmp_path / "empty_dir").mkdir()
    (tmp_path / "tiny").mkdir()
    write_image(tmp_path / "tiny" / "one_pixel.png", Image(photo[:1, :1]))
    for name, size in (("a", 40), ("b", 48)):
        (tmp_path / name).mkdir()
        write_image(tmp_path / name / "scene.png", Image(np.zeros((size, size, 3), np.float32)))
    make_bad_bursts(tmp_path)
    x = torch.zeros(4, 3, 32, 32, dtype=torch.uint8)
    pkls = {"shape": (torch.zeros(4, 3, 32, dtype=torch.uint8),) * 2,
            "dtype": (x.bool(), x.bool()), "lengths": (x, x[:3]), "single": x,
            "range": (x.float() + 300, x.float())}
    for name, obj in pkls.items():
        torch.save(obj, tmp_path / f"{name}.pkl")
    return tmp_path


def make_bad_bursts(root):
    """Burst folders that cannot be paired: ``bursts_<problem>/``."""
    def image(path, size=40, channels=3):
        path.parent.mkdir(parents=True, exist_ok=True)
        write_image(path, Image(np.full((size, size, channels), 100, np.float32)))

    image(root / "bursts_one" / "scene" / "c0.png")
    image(root / "bursts_sizes" / "scene" / "c0.png")
    image(root / "bursts_sizes" / "scene" / "c1.png", size=48)
    image(root / "bursts_channels" / "scene" / "c0.png")
    image(root / "bursts_channels" / "scene" / "c1.png", channels=1)
    for name in ("bursts_noref", "bursts_refsize"):
        image(root / name / "scene" / "c0.png")
        image(root / name / "scene" / "c1.png")
    image(root / "bursts_refsize" / "scene" / "avg.png", size=32)
    (root / "bursts_stack1").mkdir()
    tifffile.imwrite(root / "bursts_stack1" / "scene.tif", np.zeros((40, 40), np.uint8))
    (root / "bursts_stackref").mkdir()
    tifffile.imwrite(root / "bursts_stackref" / "scene.tif", np.zeros((2, 40, 40), np.uint8))
    image(root / "bursts_single" / "one.png")


CLI_CASES = [
    (("denoise", "{d}/missing.png", "-o", "{d}/out"), "missing.png: no such file"),
    (("denoise", "{d}/empty_dir", "-o", "{d}/out"), "empty_dir: folder holds no images"),
    (("denoise", "{d}/truncated.png", "-o", "{d}/out"), "truncated.png: cannot read image"),
    (("denoise", "{d}/truncated.jpg", "-o", "{d}/out"), "truncated.jpg: cannot read image"),
    (("denoise", "{d}/truncated.tif", "-o", "{d}/out"), "truncated.tif: cannot read image"),
    (("denoise", "{d}/empty.png", "-o", "{d}/out"), "empty.png: file is empty"),
    (("denoise", "{d}/empty.jpg", "-o", "{d}/out"), "empty.jpg: file is empty"),
    (("denoise", "{d}/empty.tif", "-o", "{d}/out"), "empty.tif: file is empty"),
    (("denoise", "{d}/cmyk.jpg", "-o", "{d}/out"), "cmyk.jpg: CMYK images are not supported"),
    (("denoise", "{d}/nan.tif", "-o", "{d}/out"), "nan.tif: image contains NaN or infinite"),
    (("denoise", "{d}/inf.tif", "-o", "{d}/out"), "inf.tif: image contains NaN or infinite"),
    (("denoise", "{d}/good.png", "-o", "{d}/good.png"), "good.png: output would overwrite"),
    (("denoise", "{d}/deep.png", "-o", "{d}/deep.jpg"), "JPEG holds 8 bits"),
    (("denoise", "{d}/good.png", "-o", "{d}/out", "--weights", "{d}/truncated.png"),
     "truncated.png: not a loadable n2n checkpoint"),
    (("denoise", "{d}/tiny/one_pixel.png", "-o", "{d}/out", "--zero-shot"),
     "1x1 pixels is smaller than the 2x2"),
    (("denoise", "{d}/good.png", "-o", "{d}/out", "--zero-shot", "--iterations", "0"),
     "zero-shot --iterations 0 must be >= 1"),
    (("denoise", "{d}/good.png", "-o", "{d}/out", "--iterations", "10", "--no-prior"),
     "--iterations, --no-prior: for --zero-shot only"),
    (("train", "{d}/run", "--clean", "{d}/a", "--workers", "-1"), "--workers -1 must be >= 0"),
    (("train", "{d}/run", "--clean", "{d}/tiny", "--val", "{d}/a"), "--patch-size 64 is larger"),
    (("train", "{d}/run", "--ee559", "{d}/shape.pkl"), "shape.pkl (first tensor): expected shape"),
    (("train", "{d}/run", "--ee559", "{d}/dtype.pkl"), "dtype.pkl (first tensor): unsupported"),
    (("train", "{d}/run", "--ee559", "{d}/lengths.pkl"), "lengths.pkl: the two tensors differ"),
    (("train", "{d}/run", "--ee559", "{d}/single.pkl"), "single.pkl: expected a pair"),
    (("train", "{d}/run", "--ee559", "{d}/good.png"), "good.png: not a loadable EE-559 pkl"),
    (("eval", "{d}/range.pkl"), "range.pkl (first tensor): values must lie in 0..255"),
    (("train", "{d}/run", "--captured", "{d}/a", "{d}/b"), "scene.png: capture of shape"),
    (("train", "{d}/run", "--noisy", "{d}/a"), "with --mode ne2ne"),
    (("train", "{d}/run", "--bursts", "{d}/bursts_one"), "c0.png: a burst needs at least 2"),
    (("train", "{d}/run", "--bursts", "{d}/bursts_sizes"), "c1.png: capture of shape (48, 48, 3)"),
    (("train", "{d}/run", "--bursts", "{d}/bursts_channels"), "c1.png: capture of shape"),
    (("train", "{d}/run", "--bursts", "{d}/bursts_stack1"), "scene.tif: a stack with 1 frame"),
    (("train", "{d}/run", "--bursts", "{d}/bursts_noref", "--reference-name", "avg.png"),
     "scene: no reference file named 'avg.png'"),
    (("train", "{d}/run", "--bursts", "{d}/bursts_refsize", "--reference-name", "avg.png"),
     "avg.png: reference of shape (32, 32, 3) does not match"),
    (("train", "{d}/run", "--bursts", "{d}/bursts_stackref", "--reference-name", "avg.png"),
     "scene.tif: no reference file scene_avg.png"),
    (("train", "{d}/run", "--bursts", "{d}/bursts_single"), "one.png: a single image, not a"),
    (("train", "{d}/run", "--bursts", "{d}/missing"), "missing: no such folder"),
    (("train", "{d}/run"), "train needs data"),
    (("train", "{d}/run", "--resume"), "run: holds no last.pt to resume"),
    (("eval", "{d}/good.png", "--noise", "gaussian:abc"), "noise spec 'gaussian:abc'"),
    (("eval", "{d}/good.png", "--noise", "speckle:3"), "noise spec 'speckle:3'"),
    (("eval", "{d}/good.png", "--noise", "gaussian:-5"), "noise spec 'gaussian:-5'"),
    (("make-pairs", "{d}/empty_dir", "{d}/pairs"), "folder holds no images"),
]


def snapshot(folder):
    return {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.mark.parametrize("args, message", CLI_CASES)
def test_cli_bad_input_one_line_nonzero_exit_nothing_written(bad, args, message):
    before = snapshot(bad)
    result = n2n(*(a.format(d=bad) for a in args))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("n2n: error:") and message in lines[0], lines
    assert snapshot(bad) == before  # inputs untouched, nothing half-written left behind


@pytest.mark.parametrize("name, message", [
    ("truncated.png", "cannot read image"), ("truncated.jpg", "cannot read image"),
    ("truncated.tif", "cannot read image"), ("empty.png", "file is empty"),
    ("cmyk.jpg", "CMYK"), ("nan.tif", "NaN"), ("missing.tif", "no such file"),
])
def test_api_read_image_raises_a_named_error(bad, name, message):
    with pytest.raises(N2NError, match=message) as err:
        read_image(bad / name)
    assert name in str(err.value)


@pytest.mark.parametrize("name, message", [
    ("shape.pkl", "expected shape"), ("dtype.pkl", "unsupported dtype"),
    ("lengths.pkl", "differ in shape"), ("single.pkl", "expected a pair"),
    ("range.pkl", "values must lie in 0..255"), ("good.png", "not a loadable EE-559 pkl"),
])
def test_api_ee559_pkl_raises_a_named_error(bad, name, message):
    with pytest.raises(N2NError, match=message) as err:
        load_ee559_pairs(bad / name)
    assert name in str(err.value)


@pytest.mark.parametrize("failure, message", [
    (PermissionError(errno.EACCES, "Permission denied"), "Permission denied"),
    (OSError(errno.ENOSPC, "No space left on device"), "No space left on device"),
])
def test_unwritable_output_gives_one_line_and_leaves_no_partial_file(bad, capsys, monkeypatch,
                                                                     failure, message):
    """A read-only folder or a full disk, simulated where the bytes reach the disk (running as
    root, a chmod would not stop the write)."""
    import n2n.io.files

    def fail(fd: int) -> None:
        raise failure

    monkeypatch.setattr(n2n.io.files.os, "fsync", fail)
    (bad / "out").mkdir()
    before = snapshot(bad)
    code = main(["denoise", str(bad / "good.png"), "-o", str(bad / "out")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and message in err[0]
    assert snapshot(bad) == before and not list((bad / "out").iterdir())


def test_one_pixel_rgba_and_palette_images_still_denoise(bad, photo):
    rgba = np.dstack([photo, np.full(photo.shape[:2] + (1,), 128, np.float32)])
    PILImage.fromarray(rgba.astype(np.uint8)).save(bad / "rgba.png")
    PILImage.fromarray(photo.astype(np.uint8)).convert("P").save(bad / "palette.png")
    for name in ("tiny/one_pixel.png", "rgba.png", "palette.png"):
        out = bad / "denoised" / name.replace("/", "_")
        assert main(["denoise", str(bad / name), "-o", str(out)]) == 0
        assert read_image(out).pixels.shape[:2] == read_image(bad / name).pixels.shape[:2]
    assert read_image(bad / "denoised" / "rgba.png").alpha is not None


def test_decompression_bomb_is_refused_from_its_header(tmp_path):
    """A 100000 x 100000 PNG header (30 GB of pixels) over a few bytes of data: refused before
    any pixel buffer is allocated."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(
            ">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(
        b"IDAT", zlib.compress(b"\x00" * 1000)) + chunk(b"IEND", b"")
    (tmp_path / "bomb.png").write_bytes(png)
    with pytest.raises(N2NError, match="bomb.png: .*exceeds (the )?limit"):
        read_image(tmp_path / "bomb.png")


@pytest.mark.parametrize("make, message", [
    (lambda: ZeroShotDenoiser(iterations=0), "zero-shot iterations 0 must be >= 1"),
    (lambda: ZeroShotDenoiser(minutes=-1), "zero-shot minutes -1 must be > 0"),
    (lambda: ZeroShotDenoiser(crop=1), "zero-shot crop 1 must be >= 2 pixels"),
    (lambda: DataConfig(source="clean", paths=["x"], patch_size=0), "patch_size 0 must be >= 1"),
    (lambda: DataConfig(source="clean", paths=["x"], noise="speckle:3"), "noise spec 'speckle"),
    (lambda: DataConfig(source="captured", paths=["a"]), "exactly two folders"),
    (lambda: DataConfig(source="noisy", paths=["a"], workers=2), "workers stream clean images"),
    (lambda: DataConfig(source="clean", paths=["a"], reference_name="avg.png"),
     "reference_name belongs to source 'bursts'"),
    (lambda: DataConfig(source="webcam", paths=["a"]), "source 'webcam'"),
    (lambda: ModelConfig(pd=9), "pixel-shuffle factor pd 9"),
    (lambda: make_ee559_pairs([torch.zeros(3, 40, 40)], 0, parse_noise("gaussian:5"), [1],
                              torch.Generator()), "count 0 must be >= 1"),
])
def test_api_checks_name_the_parameter(make, message):
    with pytest.raises(N2NError, match=message.replace("(", r"\(")):
        make()


def test_api_build_data_names_the_file_and_parameter(bad):
    with pytest.raises(N2NError, match="patch_size 64 is larger than every image"):
        build_data(DataConfig(source="clean", paths=[str(bad / "tiny")], val=[str(bad / "a")]))
    with pytest.raises(N2NError, match="c1.png: capture of shape"):
        build_data(DataConfig(source="bursts", paths=[str(bad / "bursts_sizes")]))
    with pytest.raises(N2NError, match="with mode ne2ne"):
        build_data(DataConfig(source="noisy", paths=[str(bad / "a")]))
