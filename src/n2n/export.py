"""Models that run without n2n-lite: TorchScript (``torch.jit.load``), ONNX (onnxruntime) and
BioImage Model Zoo packages (:mod:`n2n.bmz`).

An export is a :class:`PortableModel`: the network traced, with normalisation, padding to the
network's multiple, pixel-shuffle and cropping written so that TorchScript compiles them, so it
takes (N, C, H, W) float32 pixels on the 0..255 scale and returns the same shape for any H x W.
Every export is run on two test images (one of odd size) and compared with the PyTorch model
before it is moved into place; above :data:`TOLERANCE` it fails and nothing is written. The
receptive radius and size multiple (what tiling needs) travel in the file's metadata.
"""

from __future__ import annotations

import json
import tempfile
import warnings
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from n2n.errors import N2NError
from n2n.files import atomic_path
from n2n.models import ModelConfig, PixelModel
from n2n.models.pd import pd_merge, pd_split

FORMATS = ("pt", "torchscript", "onnx", "bmz")
SUFFIXES = {".ts": "torchscript", ".torchscript": "torchscript", ".onnx": "onnx"}
PACKAGE_SUFFIX = ".zip"  # a BioImage Model Zoo package
TOLERANCE = 1e-3  # max |exported - PyTorch| on the 0..255 scale (float32)
HALF_TOLERANCE = 0.25  # float16 weights (``pt`` with half=True): under half a gray level
METADATA = "n2n.json"  # TorchScript extra file / ONNX metadata key


class PortableModel(nn.Module):
    """:class:`PixelModel`'s forward in a form TorchScript compiles and ONNX exports with
    dynamic height and width."""

    def __init__(self, model: PixelModel) -> None:
        super().__init__()
        channels = model.config.channels
        example = torch.rand(1, channels, 2 * model.net.multiple, 2 * model.net.multiple)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer warnings about python values
            self.net = torch.jit.trace(model.net.eval(), example)
        self.register_buffer("mean", model.mean.detach().view(1, -1, 1, 1).clone())
        self.register_buffer("std", model.std.detach().view(1, -1, 1, 1).clone())
        self.multiple, self.pd = model.multiple, model.config.pd
        self.residual = model.config.residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[2], x.shape[3]
        z = (x - self.mean) / self.std
        pad_h = (self.multiple - height % self.multiple) % self.multiple
        pad_w = (self.multiple - width % self.multiple) % self.multiple
        if pad_h < height and pad_w < width:  # as pad_to_multiple: reflect unless too small
            z = F.pad(z, [0, pad_w, 0, pad_h], mode="reflect")
        else:
            z = F.pad(z, [0, pad_w, 0, pad_h], mode="replicate")
        z = pd_split(z, self.pd)
        out = self.net(z)
        if self.residual:
            out = out + z
        out = pd_merge(out, self.pd)
        return out[:, :, :height, :width] * self.std + self.mean


class ExportedModel(nn.Module):
    """A TorchScript or ONNX export loaded back, usable wherever a :class:`PixelModel` is (e.g.
    :class:`n2n.denoise.Denoiser`): 0..255 in and out, with ``multiple``, ``receptive_radius``
    and ``config`` from the file's metadata."""

    def __init__(self, run, metadata: dict, path: Path) -> None:
        super().__init__()
        self.run, self.path = run, path
        self.config = ModelConfig(**metadata["model_config"])
        self.multiple = int(metadata["multiple"])
        self.receptive_radius = int(metadata["receptive_radius"])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.run(x)


def export_format(output: Path, requested: str | None) -> str:
    """The format asked for, else the one ``output``'s suffix names, else ``pt``."""
    by_suffix = "bmz" if output.suffix.lower() == PACKAGE_SUFFIX else None
    fmt = requested or SUFFIXES.get(output.suffix.lower(), by_suffix or "pt")
    if fmt not in FORMATS:
        raise N2NError(f"export format '{fmt}': choose one of {', '.join(FORMATS)}")
    if fmt == "bmz" and output.suffix.lower() != PACKAGE_SUFFIX:
        raise N2NError(f"{output}: a BioImage Model Zoo package is a zip; name it .zip")
    return fmt


def export_model(model: PixelModel, output: str | Path, fmt: str = "pt", *,
                 half: bool = False, record: dict | None = None,
                 package: dict | None = None) -> float:
    """Write ``model`` to ``output`` in format ``fmt`` and return the self-check's maximum
    absolute difference (0..255 scale); raise :class:`N2NError`, writing nothing, above the
    tolerance. ``record`` (a checkpoint's training config and history) travels with ``pt``;
    ``package`` holds :func:`n2n.bmz.write_package`'s keyword arguments for ``bmz``."""
    output = Path(output)
    model = model.float().eval()
    if half and fmt != "pt":
        raise N2NError("--half applies to the pt format only")
    output.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(output) as tmp:
        if fmt == "pt":
            from n2n.checkpoint import load_model, write_weights

            write_weights(model, tmp, half, record)
            exported = load_model(tmp)
        elif fmt == "torchscript":
            write_torchscript(model, tmp)
            exported = load_exported(tmp)
        elif fmt == "bmz":
            from n2n import bmz

            with tempfile.TemporaryDirectory() as folder:
                bmz.write_package(model, Path(folder), **(package or {}))
                exported = load_exported(Path(folder) / "weights.ts")
                bmz.write_zip(Path(folder), tmp)
            if bmz.validator_version():
                bmz.validate(tmp, output)  # raises before anything is moved into place
        else:
            _write_onnx(model, tmp)
            exported = load_exported(tmp)
        difference = self_check(model, exported)
        tolerance = HALF_TOLERANCE if half else TOLERANCE
        if difference > tolerance:
            raise N2NError(f"{output}: the exported model differs from the PyTorch model by "
                           f"{difference:.3g} (tolerance {tolerance:g} on the 0..255 scale); "
                           "nothing written")
    return difference


def self_check(model: nn.Module, exported: nn.Module) -> float:
    """Max |exported - model| over two test images, one even-sized and one odd (0..255)."""
    generator = torch.Generator().manual_seed(0)
    worst = 0.0
    for height, width in ((64, 48), (37, 53)):
        smooth = F.interpolate(torch.rand(1, model.config.channels, 4, 4, generator=generator),
                               size=(height, width), mode="bilinear") * 255
        x = (smooth + 20 * torch.randn(smooth.shape, generator=generator)).clamp(0, 255)
        with torch.no_grad():
            worst = max(worst, float((exported(x) - model(x)).abs().max()))
    return worst


def metadata(model: PixelModel) -> dict:
    """What a user of the exported file needs besides the graph."""
    return {"format": "n2n-lite", "model_config": asdict(model.config),
            "multiple": model.multiple, "receptive_radius": model.receptive_radius,
            "input": "float32 (N, C, H, W), pixels on the 0..255 scale, any H x W",
            "output": "the same shape, denoised, 0..255 (not clipped)"}


def write_torchscript(model: PixelModel, path: Path) -> None:
    """``model`` as a scripted :class:`PortableModel` with its metadata (what tiling needs)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch >= 2.10 prefers torch.export
        scripted = torch.jit.script(PortableModel(model))
        torch.jit.save(scripted, str(path), _extra_files={METADATA: json.dumps(metadata(model))})


def _write_onnx(model: PixelModel, path: Path) -> None:
    onnx = _optional("onnx")
    example = torch.rand(1, model.config.channels, 64, 64) * 255
    axes = {0: "batch", 2: "height", 3: "width"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript-based exporter is deprecated
        scripted = torch.jit.script(PortableModel(model))
        torch.onnx.export(scripted, (example,), str(path), dynamo=False, opset_version=17,
                          input_names=["image"], output_names=["denoised"],
                          dynamic_axes={"image": axes, "denoised": axes})
    graph = onnx.load(str(path))
    entry = graph.metadata_props.add()
    entry.key, entry.value = METADATA, json.dumps(metadata(model))
    onnx.save(graph, str(path))


def load_exported(path: str | Path) -> ExportedModel:
    """Load a TorchScript (``.ts``) or ONNX (``.onnx``) export made by :func:`export_model`."""
    path = Path(path)
    fmt = SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        raise N2NError(f"{path}: not an export (expected .ts, .torchscript or .onnx)")
    if not path.is_file():
        raise N2NError(f"{path}: no such file")
    try:
        if fmt == "torchscript":
            files = {METADATA: ""}
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)  # TorchScript still loads
                module = torch.jit.load(str(path), map_location="cpu", _extra_files=files)
            return ExportedModel(module, json.loads(files[METADATA]), path)
        ort = _optional("onnxruntime")
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        info = json.loads(session.get_modelmeta().custom_metadata_map[METADATA])
    except N2NError:
        raise
    except Exception as err:  # corrupt file, foreign graph, no metadata
        raise N2NError(f"{path}: not a readable n2n-lite {fmt} export "
                       f"({type(err).__name__}: {str(err).splitlines()[0][:120]})") from None

    def run(x: torch.Tensor) -> torch.Tensor:
        array = x.detach().float().cpu().numpy()
        out = session.run(None, {"image": np.ascontiguousarray(array)})[0]
        return torch.from_numpy(out).to(x.device)

    return ExportedModel(run, info, path)


def load_weights(path: str | Path) -> nn.Module:
    """A bundled model's name (``photo``, unless a file of that name exists), or any model file
    n2n-lite writes, by suffix: a TorchScript or ONNX export, else a checkpoint (``.pt``)."""
    from n2n.checkpoint import load_model
    from n2n.pretrained import BUNDLED_MODELS, load_bundled

    if str(path) in BUNDLED_MODELS and not Path(path).exists():
        return load_bundled(str(path))
    if Path(path).suffix.lower() in SUFFIXES:
        return load_exported(path)
    return load_model(path)


def _optional(name: str):
    """Import an optional dependency of the ``export`` extra, or say how to install it."""
    try:
        return __import__(name)
    except ImportError:
        raise N2NError(f"ONNX needs the '{name}' package: pip install 'n2n-lite[export]'"
                       ) from None
