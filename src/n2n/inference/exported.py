"""TorchScript and ONNX exports loaded back: usable wherever a :class:`PixelModel` is, so a
model exported by ``n2n export`` denoises (and tiles) as the checkpoint does."""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from n2n.errors import N2NError, optional_module
from n2n.models import ModelConfig
from n2n.models.checkpoint import check_finite

SUFFIXES = {".ts": "torchscript", ".torchscript": "torchscript", ".onnx": "onnx"}
METADATA = "n2n.json"  # TorchScript extra file / ONNX metadata key
METADATA_VERSION = 1  # of what that file holds


class ExportedModel(nn.Module):
    """A TorchScript or ONNX export loaded back, usable wherever a :class:`PixelModel` is (e.g.
    :class:`n2n.inference.denoiser.Denoiser`): 0..255 in and out, with ``multiple``,
    ``receptive_radius`` and ``config`` from the file's metadata; its ``weights`` (where they
    can be read) are refused if any is NaN or infinite."""

    def __init__(self, run, metadata: object, path: Path,
                 weights: Iterable[torch.Tensor] = ()) -> None:
        super().__init__()
        self.run, self.path = run, path
        self.config, self.multiple, self.receptive_radius = _checked_metadata(metadata, path)
        # a BioImage Model Zoo package's graph takes planes as a Z axis, (N, C, Z, H, W)
        self.volume_io = isinstance(metadata, dict) and metadata.get("interface") == "bczyx"
        check_finite(weights, path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, P * C, H, W) planes in, as :class:`PixelModel` takes them, whatever the file's
        own layout."""
        if not self.volume_io:
            return self.run(x)
        c = self.config.channels
        out = self.run(x.unflatten(1, (x.shape[1] // c, c)).permute(0, 2, 1, 3, 4))
        return out.permute(0, 2, 1, 3, 4).flatten(1, 2)


def load_exported(path: str | Path) -> ExportedModel:
    """Load a TorchScript (``.ts``) or ONNX (``.onnx``) export made by :func:`export_model`."""
    path = Path(path)
    fmt = SUFFIXES.get(path.suffix.lower())
    if fmt is None:
        raise N2NError(f"{path}: not an export (expected .ts, .torchscript or .onnx)")
    if not path.is_file():
        raise N2NError(f"{path}: no such file")
    try:
        run, info, weights = (_torchscript(path) if fmt == "torchscript" else _onnx(path))
    except N2NError:
        raise
    except Exception as err:  # corrupt file, foreign graph, no metadata
        raise N2NError(f"{path}: not a readable n2n-lite {fmt} export "
                       f"({type(err).__name__}: {str(err).splitlines()[0][:120]})") from None
    return ExportedModel(run, info, path, weights)


def _torchscript(path: Path) -> tuple[nn.Module, object, list[torch.Tensor]]:
    """A TorchScript export's module, metadata and weights."""
    files = {METADATA: ""}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # TorchScript still loads
        module = torch.jit.load(str(path), map_location="cpu", _extra_files=files)
    return module, json.loads(files[METADATA]), list(module.state_dict().values())


def _onnx(path: Path) -> tuple[Callable[[torch.Tensor], torch.Tensor], object,
                               list[torch.Tensor]]:
    """An ONNX export's runner (onnxruntime on the CPU), metadata and weights."""
    ort = optional_module("onnxruntime", "export", "ONNX")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    info = json.loads(session.get_modelmeta().custom_metadata_map[METADATA])

    def run(x: torch.Tensor) -> torch.Tensor:
        array = x.detach().float().cpu().numpy()
        out = session.run(None, {"image": np.ascontiguousarray(array)})[0]
        return torch.from_numpy(out).to(x.device)

    return run, info, _onnx_weights(path)


def _checked_metadata(info: object, path: Path) -> tuple[ModelConfig, int, int]:
    """The model config, size multiple and receptive radius an export's metadata holds, or one
    N2NError naming what is missing, unknown or newer than this n2n-lite."""
    info = info if isinstance(info, dict) else {}  # a JSON list or string: no keys at all
    missing = sorted({"format", "model_config", "multiple", "receptive_radius"} - info.keys())
    if missing or info.get("format") != "n2n-lite":
        raise N2NError(f"{path}: not an n2n-lite export (its metadata lacks "
                       f"{', '.join(missing) or 'the n2n-lite format tag'})")
    try:
        if int(info.get("version", 1)) > METADATA_VERSION:
            raise N2NError(f"{path}: export metadata version {info['version']} is newer than "
                           f"this n2n-lite understands ({METADATA_VERSION}); upgrade n2n-lite")
        config = ModelConfig(**info["model_config"])
        return config, int(info["multiple"]), int(info["receptive_radius"])
    except N2NError:
        raise
    except (TypeError, ValueError) as err:
        raise N2NError(f"{path}: export metadata not understood ({err}); written by a newer "
                       "n2n-lite?") from None


def _onnx_weights(path: Path) -> list[torch.Tensor]:
    """The initialisers (weights) of an ONNX graph, where the onnx package is installed."""
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError:
        return []
    graph = onnx.load(str(path)).graph
    return [torch.from_numpy(numpy_helper.to_array(t).copy()) for t in graph.initializer]
