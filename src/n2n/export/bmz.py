"""BioImage Model Zoo packages: one zip that deepImageJ (Fiji), QuPath, napari and
bioimageio.core open.

The package (model description format 0.5) holds ``rdf.yaml``, the TorchScript export (runs
without n2n-lite) and the state dict (rebuilt by :func:`network`, with n2n-lite installed), a test
input and its expected output, a cover, a README with the validation, and the training data's
description. ``rdf.yaml`` is written as JSON, which every YAML reader reads. The receptive
radius, rounded up to the network's multiple, is the output's halo; sizes step by the multiple,
so that tiles cut by a consumer start on the network's pooling grid and match the untiled
result. :func:`validate` runs the
official ``bioimageio.spec`` validator where it is installed (the ``bmz`` extra).
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image as PILImage

from n2n.errors import N2NError
from n2n.export.formats import write_torchscript
from n2n.export.portable import metadata
from n2n.inference.exported import METADATA
from n2n.models import ModelConfig, PixelModel, build_model
from n2n.models.bundled import BUNDLED_MODELS
from n2n.models.wrapper import tile_margin

FORMAT_VERSION = "0.5.4"
RDF = "rdf.yaml"
NOISE2NOISE = {"text": "Lehtinen J, Munkberg J, Hasselgren J, Laine S, Karras T, Aittala M, "
                       "Aila T. Noise2Noise: Learning Image Restoration without Clean Data. "
                       "ICML 2018.", "doi": "10.48550/arXiv.1803.04189"}
N2N_LITE = {"text": "n2n-lite: Noise2Noise denoising without clean data, in PyTorch and from "
                    "scratch.", "url": "https://pypi.org/project/n2n-lite/"}


def network(**model_config: Any) -> PixelModel:
    """The state-dict weights' architecture: a fresh model for ``ModelConfig(**model_config)``
    (0..255 in and out, any size), ready for ``load_state_dict``."""
    return build_model(ModelConfig(**model_config))


def describe_training(bundled: str | None, record: dict[str, Any]) -> str:
    """A bundled model's training data, or what a checkpoint's training config says of it."""
    if bundled is not None:
        about = BUNDLED_MODELS[bundled]
        return f"{about.trained_on}. Recipe: {about.command}."
    config = record.get("train_config", {})
    data = config.get("data")
    if not data:
        return "not recorded in the checkpoint (pairs given to the trainer directly)"
    return ("Noise2Noise pairs as n2n-lite's DataConfig describes them: "
            + json.dumps(data, sort_keys=True, default=str))


def write_package(model: PixelModel, folder: Path, *, name: str, training_data: str,
                  author: str, data_range: float = 255.0) -> Path:
    """Write the package's files into ``folder`` (empty) and return the path of its
    ``rdf.yaml``; ``data_range`` is the value of white in the images it will be given."""
    model = model.float().eval()
    torch.save(model.state_dict(), folder / "weights.pt")
    write_torchscript(model, folder / "weights.ts")
    size = test_size(model)
    test_input = test_image(model.config.channels, size) * (data_range / 255.0)
    with torch.no_grad():
        scaled = torch.from_numpy(test_input) * (255.0 / data_range)
        test_output = (model(scaled) * (data_range / 255.0)).numpy()
    np.save(folder / "test_input.npy", test_input)
    np.save(folder / "test_output.npy", test_output)
    _write_cover(folder / "cover.png", test_input[0], test_output[0], data_range)
    (folder / "environment.yaml").write_text(
        "name: n2n-lite\nchannels: [conda-forge]\n"
        "dependencies: [python>=3.10, pip, {pip: [n2n-lite]}]\n")
    (folder / "README.md").write_text(_readme(name, model, training_data, data_range, size))
    rdf = _description(model, name, training_data, author, data_range, folder)
    rdf["config"] = {"n2n-lite": {**metadata(model), "file": METADATA}}
    (folder / RDF).write_text(json.dumps(rdf, indent=1))
    return folder / RDF


def write_zip(folder: Path, output: Path) -> None:
    """Zip the package folder's files (flat) into ``output``."""
    with zipfile.ZipFile(output, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in sorted(folder.iterdir()):
            archive.write(file, file.name)


def test_size(model: PixelModel) -> int:
    """The smallest size on the model's size steps that keeps pixels past the halo."""
    return 2 * tile_margin(model) + model.multiple


def test_image(channels: int, size: int) -> np.ndarray:
    """(1, C, size, size) float32 0..255: a scikit-image photo with seeded gaussian noise 25."""
    from skimage import data as skdata

    photo = skdata.astronaut() if channels == 3 else skdata.cell()[:, :, None]  # microscopy
    crop = photo[100:100 + size, 150:150 + size].astype(np.float32)
    crop = np.pad(crop, ((0, size - crop.shape[0]), (0, size - crop.shape[1]), (0, 0)),
                  mode="reflect")
    noisy = crop + np.random.default_rng(0).normal(0, 25, crop.shape).astype(np.float32)
    return np.clip(noisy, 0, 255).transpose(2, 0, 1)[None].astype(np.float32)


def _write_cover(path: Path, noisy: np.ndarray, denoised: np.ndarray, data_range: float
                 ) -> None:
    """Noisy | denoised side by side (2:1, as the zoo's covers are), 8-bit."""
    pair = np.concatenate([noisy, denoised], axis=2) * (255.0 / data_range)
    pixels = np.clip(np.rint(pair), 0, 255).astype(np.uint8).transpose(1, 2, 0)
    PILImage.fromarray(pixels[:, :, 0] if pixels.shape[2] == 1 else pixels).save(path)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _file(folder: Path, name: str) -> dict[str, str]:
    return {"source": name, "sha256": _sha256(folder / name)}


def _description(model: PixelModel, name: str, training_data: str, author: str,
                 data_range: float, folder: Path) -> dict[str, Any]:
    """The model description (format 0.5) as a dict."""
    channels = model.config.channels
    channel_names = ["gray"] if channels == 1 else ["red", "green", "blue"]
    step = model.multiple
    space = {"min": test_size(model), "step": step}
    inputs = [{
        "id": "noisy", "description": f"noisy images, 0..{data_range:g} (white = "
                                      f"{data_range:g})",
        "axes": [{"type": "batch"}, {"type": "channel", "channel_names": channel_names},
                 {"type": "space", "id": "y", "size": space},
                 {"type": "space", "id": "x", "size": space}],
        "test_tensor": _file(folder, "test_input.npy"),
        "preprocessing": _scale(255.0 / data_range),
    }]
    reference = {"tensor_id": "noisy"}
    outputs = [{
        "id": "denoised", "description": "the denoised images, same shape and scale",
        "axes": [{"type": "batch"}, {"type": "channel", "channel_names": channel_names},
                 {"type": "space", "id": "y", "size": {**reference, "axis_id": "y"},
                  "halo": tile_margin(model)},
                 {"type": "space", "id": "x", "size": {**reference, "axis_id": "x"},
                  "halo": tile_margin(model)}],
        "test_tensor": _file(folder, "test_output.npy"),
        "postprocessing": _scale(data_range / 255.0),
    }]
    torch_version = torch.__version__.split("+")[0]
    weights = {
        "pytorch_state_dict": {
            **_file(folder, "weights.pt"),
            "architecture": {"callable": "network", "import_from": "n2n.bmz",
                             "kwargs": asdict(model.config)},
            "pytorch_version": torch_version,
            "dependencies": _file(folder, "environment.yaml"),
        },
        "torchscript": {**_file(folder, "weights.ts"), "pytorch_version": torch_version,
                        "parent": "pytorch_state_dict"},
    }
    return {
        "type": "model", "format_version": FORMAT_VERSION, "name": name,
        "description": f"Noise2Noise denoiser ({'gray' if channels == 1 else 'RGB'}, "
                       f"{model.config.arch} U-Net), trained with n2n-lite on noisy pairs only",
        "authors": [{"name": author}], "cite": [NOISE2NOISE, N2N_LITE], "license": "MIT",
        "tags": ["denoising", "noise2noise", "self-supervised", "2d", "pytorch", "n2n-lite",
                 "grayscale" if channels == 1 else "rgb"],
        "documentation": "README.md", "covers": ["cover.png"],
        "inputs": inputs, "outputs": outputs, "weights": weights,
        "training_data": {"type": "dataset", "format_version": "0.2.4",
                          "name": f"training data of {name}", "description": training_data,
                          "tags": ["noisy pairs", "denoising"]},
    }


def _scale(gain: float) -> list[dict[str, Any]]:
    """A linear rescaling step, or none when the gain is 1."""
    return [] if gain == 1.0 else [{"id": "scale_linear", "kwargs": {"gain": gain,
                                                                      "offset": 0.0}}]


def _readme(name: str, model: PixelModel, training_data: str, data_range: float, size: int
            ) -> str:
    channels = "gray (1 channel)" if model.config.channels == 1 else "RGB (3 channels)"
    return f"""# {name}

A Noise2Noise denoiser exported by n2n-lite: a {model.config.arch} U-Net trained on pairs of
independently noisy images, without clean references.

- Input `noisy`: (batch, channel, y, x) float32, {channels}, values 0..{data_range:g}.
  Any size works (the network pads inside); tiling tools should keep the halo of
  {tile_margin(model)} pixels (the receptive radius, {model.receptive_radius}, rounded up to the
  network's multiple, so that tiles start on its pooling grid) and sizes on steps of
  {model.multiple}.
- Output `denoised`: the same shape and scale, not clipped.
- Weights: `weights.ts` (TorchScript: `torch.jit.load`, no n2n-lite needed) and
  `weights.pt` (state dict of `n2n.bmz.network(**kwargs)`, needs `pip install n2n-lite`).

## Training data

{training_data}

## Validation

Before it was written, this package's TorchScript model was run on a {size}x{size} test
image and a smaller odd-sized one and compared with the PyTorch model it came from (maximum
absolute difference at most 1e-3 on the 0..255 scale); `test_output.npy` is the PyTorch model's
output for `test_input.npy` (a scikit-image photo with gaussian noise, sigma 25 on 0..255).
Measure the quality on your own data with `n2n eval` (PSNR/SSIM against references, or on
pairs of captures).

## Use

- Fiji: install deepImageJ, then "DeepImageJ Install Model" with this zip; run on an image
  whose white is {data_range:g}.
- napari: the bioimage.io plugin opens the zip; Python: `bioimageio.core` runs it.
- Plain PyTorch: `torch.jit.load("weights.ts")(x)` with x of shape (N, C, H, W), 0..255.

## Cite

{NOISE2NOISE["text"]} doi:{NOISE2NOISE["doi"]}
"""


def validator_version() -> str | None:
    """The installed bioimageio.spec's version, or None."""
    try:
        from importlib.metadata import PackageNotFoundError, version

        return version("bioimageio.spec")
    except PackageNotFoundError:
        return None


def validate(package: Path, name: Path | None = None) -> str:
    """Validate ``package`` with bioimageio.spec (files, hashes, format); return its status
    ("valid-format", ...) or raise :class:`N2NError` naming ``name`` (default: ``package``)
    with the validator's first errors."""
    try:
        from bioimageio.spec import load_description
    except ImportError:
        raise N2NError("validating a BioImage Model Zoo package needs bioimageio.spec: "
                       "pip install 'n2n-lite[bmz]'") from None
    description = load_description(package, perform_io_checks=True)
    summary = description.validation_summary
    if summary.status not in ("passed", "valid-format"):
        errors = "; ".join(f"{'.'.join(map(str, e.loc))}: {e.msg}" for e in summary.errors[:3])
        raise N2NError(f"{name or package}: not a valid BioImage Model Zoo package ({errors}); "
                       "nothing written")
    return summary.status
