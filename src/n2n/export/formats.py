"""TorchScript and ONNX files of a model, and the check that an export computes what the model
does."""

from __future__ import annotations

import io
import json
import warnings
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from n2n.errors import optional_module
from n2n.export.portable import PortableModel, metadata
from n2n.inference.exported import METADATA
from n2n.models import PixelModel

TOLERANCE = 1e-3  # max |exported - PyTorch| on the 0..255 scale (float32)


def write_torchscript(model: PixelModel, path: Path) -> None:
    """``model`` as a scripted :class:`PortableModel` with its metadata (what tiling needs)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch >= 2.10 prefers torch.export
        scripted = torch.jit.script(PortableModel(model))
        buffer = io.BytesIO()  # torch's file writer aborts the process on a full disk
        torch.jit.save(scripted, buffer, _extra_files={METADATA: json.dumps(metadata(model))})
    Path(path).write_bytes(buffer.getvalue())


def write_onnx(model: PixelModel, path: Path) -> None:
    onnx = optional_module("onnx", "export", "ONNX")
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


def self_check(model: nn.Module, exported: nn.Module) -> float:
    """Max |exported - model| over two test images, one even-sized and one odd, the second
    unclipped (values beyond 0..255, which a model trained on clipped input clips)."""
    generator = torch.Generator().manual_seed(0)
    worst = 0.0
    for height, width, low in ((64, 48, 0.0), (37, 53, -30.0)):
        smooth = F.interpolate(torch.rand(1, model.config.channels, 4, 4, generator=generator),
                               size=(height, width), mode="bilinear") * 255
        x = (smooth + 20 * torch.randn(smooth.shape, generator=generator)).clamp(low, 255 - low)
        with torch.no_grad():
            worst = max(worst, float((exported(x) - model(x)).abs().max()))
    return worst
