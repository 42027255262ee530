"""TorchScript and ONNX files of a model, and the check that an export computes what the model
does."""

from __future__ import annotations

import io
import json
import warnings
from pathlib import Path

import numpy as np
import torch
from skimage import data as skdata
from torch import nn
from torch.nn import functional as F

from n2n.errors import optional_module
from n2n.export.portable import PortableModel, metadata
from n2n.inference.exported import METADATA
from n2n.inference.sanity import check_result
from n2n.models import PixelModel

TOLERANCE = 1e-3  # max |exported - PyTorch| on the 0..255 scale (float32)


def write_torchscript(model: PixelModel, path: Path, volume_io: bool = False) -> None:
    """``model`` as a scripted :class:`PortableModel` with its metadata (what tiling needs);
    ``volume_io``: planes as a Z axis, (N, C, Z, H, W)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch >= 2.10 prefers torch.export
        scripted = torch.jit.script(PortableModel(model, volume_io))
        buffer = io.BytesIO()  # torch's file writer aborts the process on a full disk
        info = json.dumps(metadata(model, volume_io))
        torch.jit.save(scripted, buffer, _extra_files={METADATA: info})
    Path(path).write_bytes(buffer.getvalue())


def write_onnx(model: PixelModel, path: Path) -> None:
    onnx = optional_module("onnx", "export", "ONNX")
    example = torch.rand(1, model.config.channels * model.config.context, 64, 64) * 255
    axes = {0: "batch", 2: "height", 3: "width"}
    if model.config.arch == "unet3d":  # any number of planes
        axes[1] = "planes"
        example = torch.rand(1, model.config.channels * 5, 64, 64) * 255
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


def self_check(model: nn.Module, exported: nn.Module, names: tuple[str, str] = (
        "the model", "the export")) -> float:
    """Max |exported - model| over three test images: a noisy photo (scikit-image's astronaut;
    gray for other channel counts than 3), a smooth random one, and an odd-sized one unclipped
    (values beyond 0..255, which a model trained on clipped input clips). Raises N2NError,
    naming the model or the export (``names``), where either gives a result no working model
    gives (:func:`n2n.inference.sanity.check_result`: NaN, exploded, flat)."""
    worst = 0.0
    for x in check_images(model.config.channels):
        window = check_window(model, x)
        with torch.no_grad():
            results = model(window), exported(window)
        pixels = (window if model.config.arch == "unet3d" else x)[0].permute(1, 2, 0).numpy()
        for result, name in zip(results, names, strict=True):
            check_result(pixels, result[0].float().permute(1, 2, 0).numpy(), name)
        worst = max(worst, float((results[1] - results[0]).abs().max()))
    return worst


def check_window(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """What a model takes for the (1, C, H, W) test image ``x``: itself (2-D), a window of
    ``context`` planes, or, for a 3-D U-Net, a test volume of 5 planes (Z padded inside), each
    ``x`` under its own seeded noise, so that the planes differ."""
    context = getattr(model.config, "context", 1)
    planes = 5 if model.config.arch == "unet3d" else context
    if planes == 1:
        return x
    generator = torch.Generator().manual_seed(1)
    return torch.cat([x + 10 * torch.randn(x.shape, generator=generator) * (k != planes // 2)
                      for k in range(planes)], dim=1)


def check_images(channels: int) -> list[torch.Tensor]:
    """(1, C, H, W) 0..255 images for :func:`self_check`, the same every time."""
    generator = torch.Generator().manual_seed(0)
    photo = torch.from_numpy(skdata.astronaut()[100:164, 180:228].astype(np.float32))
    photo = photo.permute(2, 0, 1)[None]  # (1, 3, 64, 48)
    if channels != 3:
        photo = photo.mean(dim=1, keepdim=True).expand(1, channels, 64, 48)
    images = [(photo + 25 * torch.randn(photo.shape, generator=generator)).clamp(0, 255)]
    for height, width, low in ((64, 48, 0.0), (37, 53, -30.0)):
        smooth = F.interpolate(torch.rand(1, channels, 4, 4, generator=generator),
                               size=(height, width), mode="bilinear") * 255
        noisy = smooth + 20 * torch.randn(smooth.shape, generator=generator)
        images.append(noisy.clamp(low, 255 - low))
    return images
