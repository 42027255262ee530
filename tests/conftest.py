"""Shared fixtures: small real photos from scikit-image, never ../shared."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from skimage import data as skdata


@pytest.fixture(autouse=True)
def _engine(monkeypatch, tmp_path_factory):
    """PyTorch runs every test (what they compare was measured with it), and a measured engine
    choice (n2n.inference.backends) never lands in the user's cache: tests/test_backends.py
    lifts this where it tests the choice."""
    monkeypatch.setenv("N2N_BACKEND", "torch")
    monkeypatch.setenv("N2N_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "n2n-cache"))


@pytest.fixture(scope="session")
def photo() -> np.ndarray:
    """A 96 x 80 RGB crop of scikit-image's astronaut, float32 0..255."""
    return skdata.astronaut()[100:196, 180:260].astype(np.float32)


@pytest.fixture(scope="session")
def gray_photo() -> np.ndarray:
    """A 64 x 72 x 1 crop of scikit-image's camera, float32 0..255."""
    return skdata.camera()[100:164, 200:272, None].astype(np.float32)


@pytest.fixture
def photo_folder(tmp_path, photo):
    """A folder of four small PNG photos (crops of astronaut and coffee)."""
    from PIL import Image

    folder = tmp_path / "clean"
    folder.mkdir()
    sources = [skdata.astronaut(), skdata.coffee()]
    for i, src in enumerate(sources):
        for j, (top, left) in enumerate([(50, 60), (200, 150)]):
            crop = src[top:top + 80, left:left + 96]
            Image.fromarray(crop).save(folder / f"img{i}{j}.png")
    return folder


@pytest.fixture
def noisy_photo_folder(tmp_path, photo):
    """A folder of two single noisy captures of ``photo`` (gaussian sigma 15), no pairs."""
    from n2n.io.images import Image, write_image

    rng = np.random.default_rng(0)
    folder = tmp_path / "noisy"
    folder.mkdir()
    for i in range(2):
        noisy = np.clip(photo + rng.normal(0, 15, photo.shape), 0, 255).astype(np.float32)
        write_image(folder / f"{i}.png", Image(noisy))
    return folder


@pytest.fixture(scope="session")
def ee559_like():
    """EE-559-style uint8 data from a real photo: two noisy versions of 2000 train patches,
    and 100 noisy val patches with their clean versions (32 x 32, gaussian sigma 25)."""
    import torch

    from n2n.data.noise import Gaussian, quantize

    photo = torch.from_numpy(skdata.astronaut()).permute(2, 0, 1).float()
    patches = photo.unfold(1, 32, 8).unfold(2, 32, 8)  # (3, 61, 61, 32, 32)
    patches = patches.permute(1, 2, 0, 3, 4).reshape(-1, 3, 32, 32)
    patches = patches[torch.randperm(len(patches), generator=torch.Generator().manual_seed(1))]
    g = torch.Generator().manual_seed(0)
    noise = Gaussian((25.0, 25.0))
    train_clean, val_clean = patches[:2000], patches[2000:2100]
    return (quantize(noise(train_clean, g)), quantize(noise(train_clean, g)),
            quantize(noise(val_clean, g)), val_clean)


N2N = str(Path(sys.executable).parent / "n2n")  # the installed command, run as a user would


def n2n(*args, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([N2N, *map(str, args)], capture_output=True, text=True, cwd=cwd,
                          timeout=600)


def ok(*args, cwd=None) -> str:
    """Run ``n2n`` and return its output, failing the test with its stderr if it fails."""
    result = n2n(*args, cwd=cwd)
    assert result.returncode == 0, result.stderr
    return result.stdout


def noisy_stack(shape, dtype=np.uint16, seed=0):
    """Camera crops with gaussian noise, in ``dtype``'s range, shape (..., H, W)."""
    rng = np.random.default_rng(seed)
    height, width = shape[-2:]
    top = skdata.camera()[:height, :width].astype(np.float64) / 255
    planes = int(np.prod(shape[:-2]))
    stack = np.stack([np.roll(top, 7 * k, axis=1) for k in range(planes)]).reshape(shape)
    white = np.iinfo(dtype).max if np.dtype(dtype).kind == "u" else 255.0
    noisy = np.clip(stack + rng.normal(0, 0.1, stack.shape), 0, 1) * white
    return np.rint(noisy).astype(dtype) if np.dtype(dtype).kind == "u" else noisy.astype(dtype)


def door_images() -> dict[str, tuple[np.ndarray, int | None, str]]:
    """The images every door must treat alike, as (array, channel axis, file suffix): an RGB
    photo with camera-like noise (correlated between neighbours), a gray fluorescence-like
    capture (Poisson-Gaussian noise), a 2-plane uint16 stack and a 0..1 float32 image."""
    from scipy import ndimage

    rng = np.random.default_rng(0)
    photo = skdata.astronaut()[120:216, 180:276].astype(np.float64)
    blur = np.outer([1, 2, 1], [1, 2, 1])[..., None] / 16.0
    camera = ndimage.convolve(rng.normal(0, 1, photo.shape), blur, mode="wrap")
    rgb = np.clip(photo + camera * 12 / camera.std(), 0, 255).round().astype(np.uint8)
    cells = skdata.coins()[100:196, 100:196].astype(np.float64)
    cells = cells / cells.max() * 120
    shot = rng.poisson(cells / 4.0) * 4.0 + rng.normal(0, 2, cells.shape)
    gray = np.clip(shot, 0, 255).round().astype(np.uint8)
    stack = noisy_stack((2, 80, 96))
    unit = (noisy_stack((80, 96), np.float32, seed=1) / 255.0).astype(np.float32)
    return {"rgb camera noise": (rgb, -1, ".png"), "gray shot noise": (gray, None, ".png"),
            "uint16 stack": (stack, None, ".tif"), "float 0..1": (unit, None, ".tif")}


ROOT = Path(__file__).resolve().parents[1]  # the repository
TESTS = ROOT / "tests"  # where conftest.py lives, for child processes that import it
SCRIPTS = ROOT / "benchmarks"  # experiment scripts, not installed


def load_script(name: str) -> ModuleType:
    """A benchmarks/ script as a module, to call its functions as its command line would."""
    spec = importlib.util.spec_from_file_location(Path(name).stem, SCRIPTS / name)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def generated_volume(planes: int = 12, size: int = 40, seed: int = 0
                     ) -> tuple[np.ndarray, np.ndarray]:
    """A (planes, size, size) uint8 stack of a blob drifting along the stack, and its noisy
    version (gaussian sigma 20)."""
    yy, xx = np.mgrid[:size, :size]
    clean = np.stack([60 + 120 * np.exp(-((yy - size / 2) ** 2 + (xx - size / 3 - k) ** 2)
                                        / (2 * 6.0 ** 2)) for k in range(planes)])
    noisy = clean + np.random.default_rng(seed).normal(0, 20, clean.shape)
    return clean.astype(np.float32), np.clip(np.rint(noisy), 0, 255).astype(np.uint8)
