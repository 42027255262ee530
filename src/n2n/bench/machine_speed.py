"""What this machine offers inference, and how fast each bundled treatment runs on it: the
processor features that decide the fast path (the engine measured fastest here among float32
PyTorch, ONNX Runtime and, where native, bfloat16: :mod:`n2n.inference.backends`), and
megapixels per second measured here, since figures measured elsewhere (another processor,
other threads) do not transfer. ``n2n info [--speed]`` prints it."""

from __future__ import annotations

import time
from pathlib import Path

import torch

from n2n.bench.measure import machine, smooth_photo
from n2n.device import bfloat16_native, resolve_device
from n2n.inference.arrays import denoise_array
from n2n.inference.backends import cache_dir, candidates, choose_backend, measure_backends
from n2n.models.bundled import load_bundled

FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16")  # the ones the fast path depends on
NETWORKS = ("photo", "photo-plus", "camera")  # the bundled networks' architectures
# what `n2n denoise` runs, timed on one generated photo: name -> denoise_array keywords
TREATMENTS = {
    "photo --pd 1 (fastest)": {"model": "photo", "pd": 1},
    "photo-plus --pd 1 (white noise)": {"model": "photo-plus", "pd": 1},
    "camera --pd 2 --refine (camera photos)": {"model": "camera", "pd": 2, "refine": True,
                                               "multiscale": False},
}


def processor_flags() -> dict[str, bool]:
    """Which of :data:`FLAGS` this processor has (Linux's /proc/cpuinfo; False elsewhere)."""
    cpuinfo = Path("/proc/cpuinfo")
    words = set(cpuinfo.read_text().split()) if cpuinfo.is_file() else set()
    return {flag: flag in words for flag in FLAGS}


def inference_path(device: str = "auto") -> str:
    """The path :class:`~n2n.inference.denoiser.Denoiser` takes on ``device`` by default."""
    resolved = resolve_device(device)
    bfloat16 = bfloat16_native(resolved)
    native = "bfloat16 native here" if bfloat16 else "no native bfloat16 here"
    if resolved.type != "cpu":
        precision = "bfloat16 autocast" if bfloat16 else "float32"
        return f"{resolved.type}: {precision}, channels-last ({native})"
    engines = {name: choose_backend(load_bundled(name).net, resolved) for name in NETWORKS}
    named = ", ".join(f"{name} {engine}" for name, engine in engines.items())
    return (f"cpu ({native}): engine per network: {named} (torch: float32 channels-last; "
            f"bfloat16: bfloat16 autocast, channels-last; measured once, cached in "
            f"{cache_dir()})")


def describe(device: str = "auto") -> dict[str, object]:
    """The machine, its processor flags and the inference path, as a record."""
    return {**machine(), "flags": processor_flags(), "capability":
            torch.backends.cpu.get_cpu_capability(), "path": inference_path(device)}


def measure_engines(side: int = 1024, device: str = "auto") -> dict[str, dict[str, float]]:
    """Megapixels per second of each bundled network under each engine, on a ``side`` x
    ``side`` input (CPU only: a GPU runs PyTorch)."""
    resolved = resolve_device(device)
    if resolved.type != "cpu" or len(candidates(resolved)) == 1:
        return {}  # PyTorch float32 is the only engine
    return {name: measure_backends(load_bundled(name).net, side, repeats=2)
            for name in NETWORKS}


def measure_speed(side: int = 1024, repeats: int = 2, device: str = "auto"
                  ) -> dict[str, float]:
    """Megapixels per second of each of :data:`TREATMENTS` on a generated ``side`` x ``side``
    RGB photo, the best of ``repeats`` runs after a warm-up (first-call costs excluded)."""
    noisy, _ = smooth_photo(side, side)
    pixels = noisy.round().astype("uint8")
    speeds = {}
    for name, options in TREATMENTS.items():
        denoise_array(pixels[:64, :64], channel_axis=-1, device=device, **options)  # warm-up
        best = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            denoise_array(pixels, channel_axis=-1, device=device, **options)
            best = min(best, time.perf_counter() - start)
        speeds[name] = round(side * side / 1e6 / best, 3)
    return speeds
