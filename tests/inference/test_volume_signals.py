"""Volume outputs interrupted mid-write: an exception from a plane (in this process) or a
SIGINT (in a child ``n2n denoise``) leaves no half-written file and no temporary, and an
earlier output that n2n-lite wrote stays whole. Generated volumes, an untrained context model."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import tifffile

import n2n
from n2n.errors import N2NError
from n2n.inference.denoiser import Denoiser
from n2n.inference.files import denoise_file
from n2n.models import ModelConfig, build_model
from n2n.models.checkpoint import write_weights

ZARR_METADATA = {".zgroup", ".zattrs", ".zarray"}


def snapshot(root: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}


def temporaries(root: Path) -> list[Path]:
    """What a writer leaves behind when it fails: hidden files or folders beside the target."""
    return [p for p in root.rglob(".*") if p.name not in ZARR_METADATA]


def volume(planes: int, size: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 255, (planes, size, size), dtype=np.uint8)


def context_model(width: int = 8, depth: int = 2):
    return build_model(ModelConfig(channels=1, width=width, depth=depth, context=3,
                                   residual=True, linear_output=True), seed=1).eval()


def failing_plane(real, error: BaseException):
    """``real``, raising ``error`` on its third call (mid-volume)."""
    calls = []

    def plane(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise error
        return real(*args, **kwargs)
    return plane


@pytest.mark.parametrize("error", [RuntimeError("out of memory on plane 3"),
                                   KeyboardInterrupt()])  # Ctrl-C between two planes
@pytest.mark.parametrize("source_kind", ["tif", "zarr"])
@pytest.mark.parametrize("suffix", [".tif", ".zarr"])
def test_an_error_from_a_plane_leaves_the_old_output_and_no_temporary(tmp_path, monkeypatch,
                                                                      source_kind, suffix,
                                                                      error):
    if "zarr" in (source_kind, suffix):
        pytest.importorskip("zarr")
    denoiser = Denoiser(context_model(), fast=False)
    source = tmp_path / f"in.{source_kind}"
    if source_kind == "tif":
        tifffile.imwrite(source, volume(8, 32), photometric="minisblack")
    else:
        denoise_file(Denoiser(context_model(), fast=False), _tiff(tmp_path, volume(8, 32)),
                     source)  # an OME-Zarr volume n2n-lite wrote, as input
    target = tmp_path / f"out{suffix}"
    denoise_file(denoiser, source, target)  # the earlier output
    before = snapshot(tmp_path)
    monkeypatch.setattr("n2n.inference.stacks.denoise_plane",
                        failing_plane(n2n.inference.arrays.denoise_plane, error))
    with pytest.raises((type(error), N2NError), match="plane 3" if str(error) else None):
        denoise_file(denoiser, source, target)
    assert snapshot(tmp_path) == before and not temporaries(tmp_path)


def _tiff(folder: Path, array: np.ndarray) -> Path:
    tifffile.imwrite(folder / "seed.tif", array, photometric="minisblack")
    return folder / "seed.tif"


def test_sigint_mid_write_of_a_volume_leaves_nothing_half_written(tmp_path):
    """``n2n denoise`` of a stack with a context model, SIGINT once its temporary output
    exists: exit 130, the earlier output whole, no temporary."""
    write_weights(context_model(32, 4), tmp_path / "ctx.pt")
    tifffile.imwrite(tmp_path / "small.tif", volume(4, 32), photometric="minisblack")
    tifffile.imwrite(tmp_path / "big.tif", volume(60, 384, seed=1), photometric="minisblack")
    src = str(Path(n2n.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": src, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "n2n", "denoise", "-o", str(tmp_path / "out.tif"),
               "--model", str(tmp_path / "ctx.pt")]
    subprocess.run([*command, str(tmp_path / "small.tif")], check=True, env=env,
                   capture_output=True)
    before = snapshot(tmp_path)
    proc = subprocess.Popen([*command, str(tmp_path / "big.tif")], env=env, text=True,
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 120
    while not temporaries(tmp_path) and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)  # until the temporary output exists: mid-write
    assert temporaries(tmp_path), "the denoise never started writing"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGINT, err
    assert snapshot(tmp_path) == before and not temporaries(tmp_path)
