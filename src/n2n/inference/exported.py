"""TorchScript and ONNX exports loaded back: usable wherever a :class:`PixelModel` is, so a
model exported by ``n2n export`` denoises (and tiles) as the checkpoint does."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from n2n.errors import N2NError, optional_module
from n2n.models import ModelConfig

SUFFIXES = {".ts": "torchscript", ".torchscript": "torchscript", ".onnx": "onnx"}
METADATA = "n2n.json"  # TorchScript extra file / ONNX metadata key


class ExportedModel(nn.Module):
    """A TorchScript or ONNX export loaded back, usable wherever a :class:`PixelModel` is (e.g.
    :class:`n2n.inference.denoiser.Denoiser`): 0..255 in and out, with ``multiple``,
    ``receptive_radius`` and ``config`` from the file's metadata."""

    def __init__(self, run, metadata: dict, path: Path) -> None:
        super().__init__()
        self.run, self.path = run, path
        self.config = ModelConfig(**metadata["model_config"])
        self.multiple = int(metadata["multiple"])
        self.receptive_radius = int(metadata["receptive_radius"])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.run(x)


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
        ort = optional_module("onnxruntime", "export", "ONNX")
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
