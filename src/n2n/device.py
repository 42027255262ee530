"""Where models run and how fast: the one rule for turning a device name into a torch device,
and the speed-ups that keep results there (measured by ``python -m n2n.bench.throughput``):

* channels-last memory layout: oneDNN and cuDNN run 3x3 convolutions faster in NHWC;
* bfloat16 autocast where the processor computes it natively (CUDA; CPUs with AVX512-BF16 or
  AMX): convolutions in bfloat16; weights, optimiser, loss and each network's output layer in
  float32 (see :func:`n2n.models.unet.full_precision`). Training takes it wherever native;
  inference on a CPU only where it measured faster than float32 there
  (:mod:`n2n.inference.backends`).
"""

from __future__ import annotations

import platform
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext

import torch
from torch import nn

from n2n.errors import N2NError


def resolve_device(name: str = "auto") -> torch.device:
    """'auto' picks CUDA when present; an unavailable device is a clear error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise N2NError(f"device '{name}' requested but CUDA is not available")
    try:
        return torch.device(name)
    except RuntimeError as err:
        raise N2NError(f"unknown device '{name}' (use cpu, cuda or cuda:N)") from err


def bfloat16_native(device: torch.device) -> bool:
    """Whether ``device`` runs bfloat16 convolutions natively (else autocast would be slower).

    On x86 oneDNN offers bfloat16 from AVX-512 up, but only AVX512-BF16 and AMX compute it:
    on AVX-512 without them it is emulated, 2.7-3.5x slower than float32 (photo and camera
    networks, 2 threads, a Xeon held to ``ONEDNN_MAX_CPU_ISA=AVX512_CORE``;
    docs/guides/speed.md), so the instructions themselves are asked for."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type != "cpu" or not (torch.backends.mkldnn.is_available()
                                    and torch.ops.mkldnn._is_mkldnn_bf16_supported()):
        return False
    if platform.machine().lower() in ("x86_64", "amd64", "i386", "i686"):
        return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    return True  # elsewhere (Arm) oneDNN offers bfloat16 only where the processor has it


def autocast(device: torch.device, enabled: bool) -> AbstractContextManager:
    """bfloat16 autocast on ``device`` when ``enabled`` and native there, else nothing."""
    if enabled and bfloat16_native(device):
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return nullcontext()


def memory_layout(model: nn.Module, fast: bool) -> nn.Module:
    """``model`` with channels-last parameters when ``fast``, contiguous ones otherwise (a
    network of 3-D convolutions stays contiguous: channels-last is a 2-D layout)."""
    if any(p.ndim == 5 for p in model.parameters()):
        return model.to(memory_format=torch.contiguous_format)
    return model.to(memory_format=torch.channels_last if fast else torch.contiguous_format)


@contextmanager
def out_of_memory_named(shape: tuple[int, ...], device: torch.device) -> Iterator[None]:
    """Turn the allocator's failure while a network runs on a (N, C, H, W) ``shape`` input into
    one sentence that says so and what to do, instead of a decoder's or a bare torch error."""
    try:
        yield
    except (MemoryError, RuntimeError) as err:
        text = str(err)
        if not isinstance(err, MemoryError) and not any(
                words in text.lower() for words in ("out of memory", "can't allocate")):
            raise
        n, _, height, width = shape
        raise N2NError(f"out of memory on {device} running the network on {n} window(s) of "
                       f"{height} x {width}: free memory, or give a smaller {{tile}}",
                       param="tile") from err


Window = Callable[..., torch.Tensor]  # tensors in, one tensor out: a network over windows


def on_device(device: torch.device, fast: bool, bfloat16: bool) -> Callable[[Window], Window]:
    """``run`` -> ``run`` on its tensors moved to ``device`` (channels-last if ``fast``), under
    bfloat16 autocast if ``bfloat16`` (where native), its result back on the CPU in float32;
    the allocator's failure named (:func:`out_of_memory_named`)."""
    layout = torch.channels_last if fast else torch.contiguous_format

    def wrap(run: Window) -> Window:
        def moved(*tensors: torch.Tensor) -> torch.Tensor:
            there: dict[int, torch.Tensor] = {}  # a tensor given twice is moved once
            for x in tensors:
                if id(x) not in there:
                    there[id(x)] = x.to(device).contiguous(memory_format=layout)
            with autocast(device, bfloat16), out_of_memory_named(tensors[0].shape, device):
                return run(*(there[id(x)] for x in tensors)).float().cpu()
        return moved
    return wrap
