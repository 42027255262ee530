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
from n2n.models.unet3d import z_grid
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
    volume = planes_in(model) > 1  # planes travel as a Z axis: (N, C, Z, H, W)
    write_torchscript(model, folder / "weights.ts", volume)
    size = test_size(model)
    test_input = test_image(model.config.channels, size) * (data_range / 255.0)
    if volume:
        test_input = test_volume(test_input, planes_in(model))
    with torch.no_grad():
        scaled = torch.from_numpy(test_input) * (255.0 / data_range)
        if volume:  # through the model's planes-as-channels interface
            planes = model(scaled.permute(0, 2, 1, 3, 4).flatten(1, 2))
            scaled = planes.unflatten(1, (-1, model.config.channels)).permute(0, 2, 1, 3, 4)
        else:
            scaled = model(scaled)
        test_output = (scaled * (data_range / 255.0)).numpy()
    np.save(folder / "test_input.npy", test_input)
    np.save(folder / "test_output.npy", test_output)
    centre = (lambda a: a[0, :, a.shape[2] // 2]) if volume else (lambda a: a[0])
    _write_cover(folder / "cover.png", centre(test_input), centre(test_output), data_range)
    (folder / "environment.yaml").write_text(
        "name: n2n-lite\nchannels: [conda-forge]\n"
        "dependencies: [python>=3.10, pip, {pip: [n2n-lite]}]\n")
    (folder / "README.md").write_text(_readme(name, model, training_data, data_range, size))
    rdf = _description(model, name, training_data, author, data_range, folder)
    rdf["config"] = {"n2n-lite": {**metadata(model, volume), "file": METADATA}}
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


def planes_in(model: PixelModel) -> int:
    """Planes of the package's test input: a context model's window, a 3-D U-Net's Z test
    depth (twice its Z halo plus its Z multiple, so that planes lie past the halo), else 1."""
    if model.config.arch == "unet3d":
        halo, multiple = z_grid(model)
        return 2 * halo + multiple
    return model.config.context


def test_volume(image: np.ndarray, planes: int) -> np.ndarray:
    """(1, C, planes, H, W): the (1, C, H, W) test image under fresh seeded noise per plane."""
    noise = np.random.default_rng(1).normal(0, 10, (planes, *image.shape[1:]))
    stack = np.clip(image[0][None] + noise.astype(np.float32), 0, 255)
    return stack.transpose(1, 0, 2, 3)[None].astype(np.float32)


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
    z_in, z_out = _z_axes(model)
    inputs[0]["axes"][2:2] = z_in
    outputs = [{
        "id": "denoised", "description": "the denoised images, same shape and scale",
        "axes": [{"type": "batch"}, {"type": "channel", "channel_names": channel_names}, *z_out,
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
        "tags": ["denoising", "noise2noise", "self-supervised",
                 "3d" if planes_in(model) > 1 else "2d", "pytorch", "n2n-lite",
                 "grayscale" if channels == 1 else "rgb"],
        "documentation": "README.md", "covers": ["cover.png"],
        "inputs": inputs, "outputs": outputs, "weights": weights,
        "training_data": {"type": "dataset", "format_version": "0.2.4",
                          "name": f"training data of {name}", "description": training_data,
                          "tags": ["noisy pairs", "denoising"]},
    }


def _z_axes(model: PixelModel) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The Z axis of the input and of the output: none for a 2-D model; a context model's
    window of ``k`` planes in, its centre plane out; a 3-D U-Net's planes, any number on its
    Z multiple, out with its Z halo."""
    if model.config.arch == "unet3d":
        halo, multiple = z_grid(model)
        return ([{"type": "space", "id": "z", "size": {"min": planes_in(model),
                                                       "step": multiple}}],
                [{"type": "space", "id": "z", "size": {"tensor_id": "noisy", "axis_id": "z"},
                  "halo": halo}])
    if model.config.context > 1:
        return ([{"type": "space", "id": "z", "size": model.config.context}],
                [{"type": "space", "id": "z", "size": 1}])
    return [], []


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
