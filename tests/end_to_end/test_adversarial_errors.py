"""Hostile cases of the second trust round: one set of input checks on every path, nothing
left behind by a refused, failed or killed run, and every error a sentence.

Every refused command asserts its exit status, one ``n2n: error:`` line naming the file (or
value) and the problem, with no ``[Errno N]``, temporary name or traceback, and a folder left
exactly as it was: every file byte-identical, no new file, folder or temporary.
"""

from __future__ import annotations

import os
import signal
import struct
import subprocess
import time
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
import tifffile
import torch
from conftest import N2N, noisy_stack
from PIL import Image as PILImage

from n2n.cli import main
from n2n.errors import N2NError
from n2n.io import leftovers
from n2n.io.formats import png as png_rows
from n2n.io.images import Image, write_image
from n2n.models import ModelConfig, build_model
from n2n.models.checkpoint import write_weights


def tree(root: Path) -> dict[Path, bytes | None]:
    """Every file (with its bytes) and folder (None) under ``root``, hidden ones included."""
    return {p: None if p.is_dir() else p.read_bytes() for p in root.rglob("*")
            if not p.is_symlink()}


def cli(capsys, *args) -> tuple[int, list[str]]:
    """``n2n ARGS`` in this process: the exit status and the lines of stderr."""
    try:
        status = main([str(a) for a in args])
    except SystemExit as stop:  # argparse
        status = stop.code
    return status, capsys.readouterr().err.strip().splitlines()


def refused(capsys, root: Path, *args, says: tuple[str, ...] = ()) -> str:
    """``n2n ARGS`` exits 2 with one sentence naming what ``says`` lists, and ``root`` is
    left exactly as it was. Returns the sentence."""
    before = tree(root)
    status, lines = cli(capsys, *args)
    assert status == 2 and len(lines) == 1 and lines[0].startswith("n2n: error: "), lines
    assert all(s in lines[0] for s in says), (says, lines[0])
    assert "[Errno" not in lines[0] and ".n2n-" not in lines[0], lines[0]
    assert tree(root) == before
    return lines[0]


def chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(
        ">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_bytes(width: int, height: int, idat: bytes | None, end: bool = True) -> bytes:
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit gray
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + (chunk(b"IDAT", idat) if idat is not None else b"")
            + (chunk(b"IEND", b"") if end else b""))


@pytest.fixture
def work(tmp_path, photo):
    """A user's folder: a small photo and a small checkpoint."""
    write_image(tmp_path / "x.png", Image(photo[:64, :64]))
    write_weights(build_model(ModelConfig(width=8, depth=2)), tmp_path / "w.pt")
    return tmp_path


@pytest.fixture(params=["libvips", "pypng"])
def decoder(request, monkeypatch):
    """Each PNG row decoder in turn (libvips where it loads)."""
    if request.param == "pypng":
        monkeypatch.setattr(png_rows, "_libvips_loads", lambda: False)
    elif not png_rows._libvips_loads():
        pytest.skip("libvips does not load here")
    return request.param


# ---------------------------------------------------------------- one set of input checks


@pytest.mark.parametrize("model", ["auto", "photo"])
def test_a_bomb_png_header_is_refused_on_the_default_and_the_fixed_path(work, capsys, model):
    (work / "bomb.png").write_bytes(png_bytes(60000, 60000, zlib.compress(bytes(1000))))
    refused(capsys, work, "denoise", work / "bomb.png", "-o", work / "out", "--model", model,
            says=("bomb.png", "60000x60000 pixels exceeds the limit"))


@pytest.mark.parametrize("damage", ["cut", "corrupt"])
def test_a_damaged_large_png_is_one_line_on_the_automatic_path(work, capsys, decoder, damage):
    """Cut: the file ends mid-IDAT (found from the chunks, before any decoder); corrupt: the
    chunks are whole but the pixel stream is not (found by the decoder, as it samples)."""
    side = 4096  # streamed, so the automatic rule samples it
    if damage == "cut":
        data = png_bytes(side, side, zlib.compress(bytes(side + 1) * 64))[:-40]
    else:
        data = png_bytes(side, side, zlib.compress(bytes(side + 1) * 64)[:-9] + b"garbage!!")
    (work / "big.png").write_bytes(data)
    refused(capsys, work, "denoise", work / "big.png", "-o", work / "out.png",
            says=("big.png: cannot read image", *(["truncated PNG"] if damage == "cut" else [])))


def test_a_folder_holding_a_cut_png_leaves_no_output_folder(work, capsys):
    (work / "photos").mkdir()
    (work / "photos" / "cut.png").write_bytes(png_bytes(12000, 12000, bytes(600), end=False))
    refused(capsys, work, "denoise", work / "photos", "-o", work / "out" / "clean",
            says=("cut.png: cannot read image (truncated PNG", "copy it again"))


def test_a_png_header_without_pixel_data_is_refused(work, capsys):
    (work / "empty.png").write_bytes(png_bytes(64, 64, None))
    refused(capsys, work, "denoise", work / "empty.png", "-o", work / "out.png",
            says=("empty.png: cannot read image", "no pixel data"))


@pytest.mark.parametrize("model", ["auto", "confocal"])
def test_a_cut_tiff_stack_is_refused_not_read_short(work, capsys, model):
    tifffile.imwrite(work / "s.tif", noisy_stack((4, 64, 64)), photometric="minisblack",
                     compression="zlib")
    data = (work / "s.tif").read_bytes()
    (work / "s.tif").write_bytes(data[:len(data) * 3 // 4])  # tifffile would read 1 plane
    refused(capsys, work, "denoise", work / "s.tif", "-o", work / "out.tif", "--model", model,
            says=("s.tif: cannot read image (truncated or corrupt TIFF",))


def test_a_cut_uncompressed_tiff_is_refused(work, capsys):
    tifffile.imwrite(work / "t.tif", noisy_stack((96, 96)))
    data = (work / "t.tif").read_bytes()
    (work / "t.tif").write_bytes(data[:len(data) // 2])
    refused(capsys, work, "denoise", work / "t.tif", "-o", work / "out.tif",
            says=("t.tif: cannot read image (truncated TIFF", "past the end of the file"))


def test_a_cut_npy_is_refused(work, capsys):
    np.save(work / "a.npy", np.zeros((64, 64), np.float32))
    data = (work / "a.npy").read_bytes()
    (work / "a.npy").write_bytes(data[:len(data) // 2])
    refused(capsys, work, "denoise", work / "a.npy", "-o", work / "out.npy",
            says=("a.npy: cannot read image (truncated .npy",))


def test_a_jpeg_header_bomb_is_refused_in_one_line(work, capsys):
    PILImage.fromarray(np.zeros((16, 16), np.uint8)).save(work / "b.jpg")
    data = bytearray((work / "b.jpg").read_bytes())
    sof = data.index(b"\xff\xc0")
    data[sof + 5:sof + 9] = struct.pack(">HH", 65000, 65000)  # height, width
    (work / "b.jpg").write_bytes(bytes(data))
    refused(capsys, work, "denoise", work / "b.jpg", "-o", work / "out.png",
            says=("b.jpg", "exceeds the limit"))


def test_a_corrupt_zarr_chunk_is_one_error_naming_the_image(work, capsys):
    pytest.importorskip("dask.array")
    pytest.importorskip("zarr")
    from n2n.inference.cluster import denoise_on_dask
    from n2n.inference.spec import InferenceSpec

    tifffile.imwrite(work / "s.tif", noisy_stack((3, 64, 64)), photometric="minisblack")
    assert main(["denoise", str(work / "s.tif"), "-o", str(work / "s.zarr"), "--model",
                 "confocal", "--pd", "1"]) == 0
    chunks = sorted(p for p in (work / "s.zarr" / "0").rglob("*") if p.is_file()
                    and not p.name.startswith("."))
    chunks[1].write_bytes(chunks[1].read_bytes()[:20])  # the middle plane, which is sampled
    with pytest.raises(N2NError, match="s.zarr: cannot read image"):
        denoise_on_dask(InferenceSpec(), work / "s.zarr", work / "o.zarr", progress=False)
    assert not (work / "o.zarr").exists()


# ---------------------------------------------------------------- nothing left behind


def test_an_unsupported_input_creates_no_output_folder(work, capsys):
    frames = [PILImage.fromarray(np.full((8, 8), v, np.uint8)) for v in (0, 255)]
    frames[0].save(work / "x_anim.gif", save_all=True, append_images=frames[1:])
    refused(capsys, work, "denoise", work / "x_anim.gif", "-o", work / "out" / "x_anim.gif",
            says=("x_anim.gif", "does not write '.gif'"))  # the output name is refused first
    refused(capsys, work, "denoise", work / "x_anim.gif", "-o", work / "out",
            says=("x_anim.gif", "unsupported format"))


@pytest.fixture
def full_disk(tmp_path):
    """A 1 MiB tmpfs filled to the last byte, where the machine allows mounting one."""
    disk = tmp_path / "disk"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(disk)],
                      capture_output=True).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        with open(disk / "filler", "wb") as f:
            for _ in range(1024):
                f.write(b"x" * 1024)
                f.flush()
    except OSError:
        pass
    yield disk
    subprocess.run(["umount", str(disk)], check=True)


def test_a_full_disk_leaves_no_folder_and_names_the_file(work, full_disk, capsys):
    line = refused(capsys, work, "denoise", work / "x.png", "-o", full_disk / "new" / "sub",
                   "--pd", "1", says=("sub/x.png", "No space left", "free some space"))
    assert "disk/new/sub/x.png" in line and not (full_disk / "new").exists()


def test_a_full_disk_during_json_names_the_json_file(work, full_disk, capsys):
    before = tree(work)
    status, lines = cli(capsys, "denoise", work / "x.png", "-o", work / "y.png", "--pd", "1",
                        "--json", full_disk / "r.json")
    assert status == 2 and len(lines) == 1, lines
    assert "r.json: No space left on device; free some space" in lines[0]
    after = tree(work)
    assert after.pop(work / "y.png") and after == before  # the image output is whole


@pytest.mark.parametrize("name", ["w.ts", "w.pt"])
def test_a_full_disk_under_an_export_is_one_line_not_an_abort(work, full_disk, name):
    """In a process of its own: PyTorch's TorchScript writer aborted the interpreter."""
    result = subprocess.run([N2N, "export", work / "w.pt", full_disk / name],
                            capture_output=True, text=True, timeout=300)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1, result.stderr[-2000:]
    assert f"{name}: No space left on device; free some space" in lines[0]
    assert [p.name for p in full_disk.iterdir()] == ["filler"]


def dead_pid() -> int:
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def test_stale_temporaries_of_a_stopped_run_are_swept_and_said(work, capsys):
    host, dead, out = leftovers.host(), dead_pid(), work / "out"
    stale = [out / f".y.png.n2n-{host}-{dead}-abcd1234.png",
             out / f".z.zarr.n2n-{host}-{dead}-k2j3h4g5"]
    (stale[1] / "0").mkdir(parents=True)
    stale[0].write_bytes(b"half an image")
    kept = [out / f".y.png.n2n-{host}-{os.getppid()}-abcd1234.png",  # its process runs
            out / f".y.png.n2n-elsewhere-{dead}-abcd1234.png",  # another machine's
            out / ".y.png.abcd1234.png", out / ".hidden"]  # not n2n's naming
    for path in kept:
        path.write_bytes(b"keep")
    status, lines = cli(capsys, "denoise", work / "x.png", "-o", out / "y.png", "--pd", "1")
    assert status == 0 and lines == [f"n2n: {out}: removed 2 temporary file(s) of y.png, "
                                     f"z.zarr left by a stopped run (process {dead}, no longer "
                                     "running)"]
    assert not any(p.exists() for p in stale) and all(p.read_bytes() == b"keep" for p in kept)


def test_an_output_a_killed_run_had_moved_aside_is_put_back(tmp_path):
    aside = tmp_path / f".out.zarr.n2n-{leftovers.host()}-{dead_pid()}-old-x1y2z3w4"
    (aside / "old").mkdir(parents=True)
    (aside / "old" / ".zattrs").write_text("{}")
    assert leftovers.sweep(tmp_path) == [aside]
    assert (tmp_path / "out.zarr" / ".zattrs").read_text() == "{}" and not aside.exists()


def test_a_sigkilled_denoise_leaves_a_temporary_the_next_run_sweeps(tmp_path):
    tifffile.imwrite(tmp_path / "big.tif", noisy_stack((24, 384, 384)), photometric="minisblack")
    (tmp_path / "out").mkdir()
    proc = subprocess.Popen([N2N, "denoise", tmp_path / "big.tif", "-o", tmp_path / "out" /
                             "big.tif", "--model", "confocal"], stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not list((tmp_path / "out").iterdir()) and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    left = list((tmp_path / "out").iterdir())
    assert [p.name.startswith(f".big.tif.n2n-{leftovers.host()}-{proc.pid}-") for p in left] \
        == [True]
    write_image(tmp_path / "small.png", Image(np.full((16, 16, 1), 9.0)))
    result = subprocess.run([N2N, "denoise", tmp_path / "small.png", "-o", tmp_path / "out",
                             "--pd", "1"], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert f"removed 1 temporary file(s) of big.tif left by a stopped run (process {proc.pid}" \
        in result.stderr
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["small.png"]


# ---------------------------------------------------------------- every error a sentence


@pytest.mark.parametrize("args", [
    ("denoise", "{d}/x.png", "-o", "{d}/afile/out"),
    ("denoise", "{d}/x.png", "-o", "{d}/afile/out.png"),
    ("demo", "-o", "{d}/afile/demo"),
    ("diagnose", "{d}/x.png", "-o", "{d}/afile/noise"),
    ("eval", "{d}/x.png", "--json", "{d}/afile/scores.json", "--pd", "1"),
    ("make-pairs", "{d}/x.png", "{d}/x.png", "{d}/afile/pairs", "--train-count", "4",
     "--val-count", "2"),
    ("export", "{d}/w.pt", "{d}/afile/w.pt"),
    ("train", "{d}/afile/run", "--clean", "{d}/photos", "--patch-size", "32"),
])
def test_a_file_where_a_folder_should_be_is_one_sentence(work, capsys, args):
    (work / "afile").write_text("someone's notes")
    (work / "photos").mkdir()
    for k in range(2):
        write_image(work / "photos" / f"{k}.png", Image(np.full((40, 40, 3), 50.0 * k)))
    refused(capsys, work, *(a.format(d=work) for a in args),
            says=("afile", "is a file where a folder is needed", "move it or choose"))


def test_overwrite_onto_a_folder_names_the_target_not_a_temporary(work, capsys):
    (work / "y.png").mkdir()
    (work / "y.png" / "keep.txt").write_text("data")
    refused(capsys, work, "denoise", work / "x.png", "-o", work / "y.png", "--overwrite",
            "--pd", "1", says=("y.png: is a folder", "never replaces a folder"))


def test_a_dask_address_that_is_not_one_says_how_to_start_a_scheduler(work, capsys):
    pytest.importorskip("distributed")
    tifffile.imwrite(work / "s.tif", noisy_stack((2, 32, 32)), photometric="minisblack")
    refused(capsys, work, "denoise", work / "s.tif", "-o", work / "s.zarr", "--dask",
            "notanaddress", "--model", "confocal", "--pd", "1",
            says=("--dask notanaddress", "dask scheduler", "LocalCluster"))


@pytest.mark.parametrize("args, says", [
    (("denoise", "x.png", "-o", "y.png", "--iterations", "abc"),
     "argument --iterations: invalid int value: 'abc' (see 'n2n denoise --help')"),
    (("denoise", "x.png", "--pd", "many"), "'many' is neither a factor"),
    (("denoise", "x.png"), "the following arguments are required: -o/--output"),
    (("frobnicate",), "invalid choice: 'frobnicate'"),
    (("models", "--colour", "blue"), "unrecognized arguments: --colour blue"),
])
def test_argparse_errors_are_one_line_of_the_same_form(work, capsys, args, says):
    refused(capsys, work, *args, says=(says,))


def test_our_bmz_package_loads_as_weights(work, capsys):
    assert main(["export", str(work / "w.pt"), str(work / "w.zip")]) == 0
    for weights in ("w.zip", "w.pt"):
        assert main(["denoise", str(work / "x.png"), "-o", str(work / f"{weights}.png"),
                     "--weights", str(work / weights), "--pd", "1"]) == 0
    assert (work / "w.zip.png").read_bytes() == (work / "w.pt.png").read_bytes()


@pytest.mark.parametrize("change, says", [
    ("foreign", "a BioImage Model Zoo package that n2n-lite did not export; run it with "
                "bioimageio.core"),
    ("altered", "does not match its sha256"),
])
def test_a_foreign_or_altered_bmz_package_is_named_as_one(work, capsys, change, says):
    assert main(["export", str(work / "w.pt"), str(work / "w.zip")]) == 0
    with zipfile.ZipFile(work / "w.zip") as archive:
        files = {name: archive.read(name) for name in archive.namelist()}
    if change == "foreign":
        files["rdf.yaml"] = b"type: model\nname: someone else's\n"
    else:
        files["weights.pt"] = files["weights.pt"][:-8] + b"\0" * 8
    with zipfile.ZipFile(work / "m.zip", "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    capsys.readouterr()
    refused(capsys, work, "denoise", work / "x.png", "-o", work / "y.png", "--weights",
            work / "m.zip", "--pd", "1", says=("m.zip", says))


def test_diagnose_a_constant_image_says_it_has_no_noise(work, capsys):
    write_image(work / "flat.png", Image(np.full((64, 64, 1), 100.0)))
    refused(capsys, work, "diagnose", work / "flat.png",
            says=("flat.png: every pixel is 100", "no noise to measure"))


class RunsCode:
    """Unpickling this would create a file: what a malicious checkpoint would do."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_pickle_that_runs_code_is_refused_without_pytorchs_advice(work, capsys):
    torch.save({"format": "n2n-lite", "model": RunsCode(work / "pwned")}, work / "evil.pt")
    line = refused(capsys, work, "denoise", work / "x.png", "-o", work / "y.png", "--weights",
                   work / "evil.pt", says=("evil.pt", "could run code", "never such a file"))
    assert "weights_only" not in line and not (work / "pwned").exists()
