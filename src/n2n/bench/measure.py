"""What the benchmark measures besides quality: the machine it ran on and peak memory."""

from __future__ import annotations

import os
import platform
import resource
import threading
from pathlib import Path

import numpy as np
import torch


def machine() -> dict[str, object]:
    """CPU model, cores, torch threads and versions: printed and saved with every result."""
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {"cpu": cpu, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__, "python": platform.python_version(),
            "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None}


def rss_mib() -> float:
    """Resident memory of this process now (Linux), else its peak so far."""
    statm = Path("/proc/self/statm")
    if statm.is_file():
        return int(statm.read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class PeakMemory:
    """Peak resident memory above the level at entry, sampled every few milliseconds.

    ``with PeakMemory() as peak: ...`` then ``peak.mib``. Sampling misses spikes shorter than
    the interval, which is fine for denoisers that run for tens of milliseconds or more.
    """

    def __init__(self, interval: float = 0.002) -> None:
        self.interval, self.mib = interval, 0.0
        self._stop = threading.Event()

    def __enter__(self) -> PeakMemory:
        self._base = self._peak = rss_mib()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            self._peak = max(self._peak, rss_mib())

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.mib = max(self._peak, rss_mib()) - self._base


def smooth_photo(height: int, width: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A generated (H, W, 3) 0..255 photo, noisy (gaussian 25, clipped) and clean: smooth shapes,
    for timings, where only the size matters."""
    generator = torch.Generator().manual_seed(seed)
    low = torch.rand(1, 3, 8, 8, generator=generator) * 255
    clean = torch.nn.functional.interpolate(low, size=(height, width), mode="bilinear")[0]
    noisy = (clean + 25 * torch.randn(clean.shape, generator=generator)).clamp(0, 255)
    return tuple(x.permute(1, 2, 0).numpy().copy() for x in (noisy, clean))
