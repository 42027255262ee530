"""Training speed-ups that keep results (measured by ``python -m n2n.bench.throughput``).

* channels-last memory layout: oneDNN and cuDNN run 3x3 convolutions faster in NHWC;
* bfloat16 autocast where the processor computes it natively (CUDA; CPUs with AVX512-BF16 or
  AMX): convolutions in bfloat16, weights, optimiser and loss in float32;
* a thread that prepares the next batches while the GPU runs the current step.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, nullcontext
from typing import TypeVar

import torch
from torch import nn

T = TypeVar("T")


def bfloat16_native(device: torch.device) -> bool:
    """Whether ``device`` runs bfloat16 convolutions natively (else autocast would be slower)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        return bool(torch.backends.mkldnn.is_available()
                    and torch.ops.mkldnn._is_mkldnn_bf16_supported())
    return False


def autocast(device: torch.device, enabled: bool) -> AbstractContextManager:
    """bfloat16 autocast on ``device`` when ``enabled`` and native there, else nothing."""
    if enabled and bfloat16_native(device):
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return nullcontext()


def memory_layout(model: nn.Module, fast: bool) -> nn.Module:
    """``model`` with channels-last parameters when ``fast``, contiguous ones otherwise."""
    return model.to(memory_format=torch.channels_last if fast else torch.contiguous_format)


def prefetch_helps(device: torch.device, processes: int = 1) -> bool:
    """A prefetching thread pays on a GPU (1.1-1.2x, measured); on a 2-core CPU it gained 6% at
    1 thread and lost 8% at 2, so it is used for single-process GPU training only."""
    return device.type == "cuda" and processes == 1


def prefetch(items: Iterator[T], depth: int = 2) -> Iterator[T]:
    """Yield ``items`` in order while a thread computes up to ``depth`` of them ahead; an
    exception raised there is raised here, at the item where it happened."""
    ahead: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def produce() -> None:
        try:
            for item in items:
                if stop.is_set():
                    return
                ahead.put((item, None))
            ahead.put((done, None))
        except BaseException as err:  # handed over to the consumer
            ahead.put((done, err))

    worker = threading.Thread(target=produce, daemon=True)
    worker.start()
    try:
        while True:
            item, err = ahead.get()
            if err is not None:
                raise err
            if item is done:
                return
            yield item
    finally:
        stop.set()
        while worker.is_alive():  # unblock a producer waiting on a full queue
            try:
                ahead.get_nowait()
            except queue.Empty:
                worker.join(0.01)
