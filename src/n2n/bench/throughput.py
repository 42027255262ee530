"""Training throughput of ``n2n train``: steps and patches per second of each speed-up, as a
ratio against plain float32 eager training (the default before ``TrainConfig.fast``).

One step is what the trainer does per batch: draw the pairs (bundled recipe: blind gaussian
noise, 64x64 patches, scales 1,1,2,4, batch 32), augment, forward, loss, backward, Adam. The
parts are timed in a loop of their own; the last two rows run the real :func:`n2n.training.loop.fit`
with ``fast`` off and on. Usage::

    python -m n2n.bench.throughput [--models lite n2n] [--threads 1 2] [--steps 10] [-o out.json]
    python -m n2n.bench.throughput --quality CLEAN_FOLDER [--quality-steps 600] [--seeds 0 1]
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from contextlib import nullcontext
from functools import partial
from pathlib import Path

import torch

from n2n.bench.measure import machine
from n2n.data.noise import parse_noise
from n2n.data.pairs import SyntheticPairs
from n2n.device import bfloat16_native, memory_layout
from n2n.io.files import write_text_atomic
from n2n.models import ModelConfig, build_model
from n2n.training.config import TrainConfig
from n2n.training.loop import derived_generator, fit, prepare
from n2n.training.objectives import make_objective
from n2n.training.speed import prefetch

ARCHES = {"lite": ModelConfig("lite", 3, 24, residual=True, linear_output=True),
          "n2n": ModelConfig("n2n", 3, 48, residual=True)}
# (name, channels-last, bfloat16 autocast, torch.compile, prefetch, noise on the device)
VARIANTS = (
    ("float32 eager (before)", False, False, False, False, False),
    ("channels-last", True, False, False, False, False),
    ("bfloat16 autocast", False, True, False, False, False),
    ("channels-last + bfloat16", True, True, False, False, False),
    ("channels-last + bfloat16 + compile", True, True, True, False, False),
    ("channels-last + bfloat16 + prefetch", True, True, False, True, False),
    ("... + noise drawn on the device", True, True, False, True, True),
)


def training_images(count: int = 16, seed: int = 0) -> list[torch.Tensor]:
    """Photo-sized (3, 321, 481) images: smooth shapes, so that their content does not matter."""
    generator = torch.Generator().manual_seed(seed)
    low = torch.rand(count, 3, 11, 16, generator=generator) * 255
    return list(torch.nn.functional.interpolate(low, size=(321, 481), mode="bilinear"))


def time_variant(arch: str, device: torch.device, variant: tuple, steps: int, batch: int,
                 patch: int, images: list[torch.Tensor]) -> float:
    """Seconds per training step of one variant (after two warm-up steps)."""
    _, channels_last, bf16, compiled, prefetched, on_device = variant
    source = SyntheticPairs(images, parse_noise("gaussian:5-55"), patch, (steps + 2) * batch,
                            (1, 1, 2, 4))
    if on_device:
        source.noise_device = device
    model = memory_layout(build_model(ARCHES[arch], seed=0).to(device), channels_last)
    net: Callable = torch.compile(model) if compiled else model
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    objective = make_objective("n2n")
    cast = torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else nullcontext()

    config = TrainConfig(model=ARCHES[arch], batch_size=batch)  # seed 0, augmentation on
    batches = prepare(source.batches(batch, derived_generator(0, 1)), config, device, epoch=1,
                      step=0, rank=0)  # what the trainer does to each batch
    batches = prefetch(batches) if prefetched else batches
    start = 0.0
    for step, (pairs, generator) in enumerate(batches):
        if step == 2:
            synchronize(device)
            start = time.perf_counter()
        with cast:
            loss = objective(net, pairs, 0.0, generator)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        loss.item()  # the trainer reads the loss every step
    synchronize(device)
    return (time.perf_counter() - start) / steps


def time_fit(arch: str, device: torch.device, fast: bool, steps: int, batch: int, patch: int,
             images: list[torch.Tensor]) -> float:
    """Seconds per step of the real trainer (one epoch, no validation)."""
    source = SyntheticPairs(images, parse_noise("gaussian:5-55"), patch, steps * batch,
                            (1, 1, 2, 4))
    model = build_model(ARCHES[arch], seed=0).to(device)
    config = TrainConfig(model=model.config, batch_size=batch, epochs=1, lr=1e-3, fast=fast)
    fit(model, source, config, progress=False)  # warm-up (oneDNN picks its kernels)
    start = time.perf_counter()
    fit(model, source, config, progress=False, normalize=False)
    return (time.perf_counter() - start) / steps


def quality(folder: Path, steps: int, seeds: list[int], threads: int
            ) -> list[dict[str, object]]:
    """Hold-out PSNR after the same ``steps`` with ``fast`` off and on, per seed: the speed-ups
    must not cost quality (Lite U-Net, gaussian 25, 64x64 patches, batch 32)."""
    from n2n.data.config import DataConfig, build_data

    torch.set_num_threads(threads)
    data = DataConfig(source="clean", paths=[str(folder)], noise="gaussian:25",
                      patches_per_epoch=32 * 100)
    rows = []
    for seed in seeds:
        source, val = build_data(data, seed=seed)
        for fast in (False, True):
            model = build_model(ARCHES["lite"], seed=seed)
            config = TrainConfig(model=model.config, data=data, batch_size=32, lr=3e-3,
                                 epochs=-(-steps // 100), seed=seed, fast=fast)
            history = fit(model, source, config, val, progress=False)
            rows.append({"seed": seed, "fast": fast, "steps": len(history) * 100,
                         "val_psnr": round(history[-1]["val_psnr"], 3)})
            print(rows[-1], flush=True)
    return rows


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def settings(devices: list[str], threads: list[int]) -> list[tuple[torch.device, int]]:
    """(device, CPU threads) pairs to measure: CPU at each thread count, CUDA once."""
    out = []
    for name in devices:
        if name == "cuda" and not torch.cuda.is_available():
            continue
        counts = threads if name == "cpu" else [max(threads)]
        out += [(torch.device(name), count) for count in counts]
    return out


def run(models: list[str], devices: list[str], threads: list[int], steps: int, batch: int,
        patch: int, compile_: bool = True) -> list[dict[str, object]]:
    """One row per (model, device, threads, variant): ms per step, patches/s, ratio."""
    images, rows = training_images(), []
    for arch in models:
        for device, count in settings(devices, threads):
            torch.set_num_threads(count)
            base = None
            shape = dict(steps=steps, batch=batch, patch=patch, images=images)
            named = [(v[0], partial(time_variant, arch, device, v, **shape)) for v in VARIANTS]
            named += [(f"n2n train, fast={fast}", partial(time_fit, arch, device, fast, **shape))
                      for fast in (False, True)]
            for name, measure in named:
                row = {"model": arch, "device": device.type, "threads": count, "variant": name}
                if "bfloat16" in name and not bfloat16_native(device):
                    row["skipped"] = "no native bfloat16 on this processor"
                elif "compile" in name and not compile_:
                    row["skipped"] = "--no-compile"
                elif "noise drawn" in name and device.type == "cpu":
                    row["skipped"] = "noise is already drawn on the CPU"
                else:
                    try:
                        seconds = measure()
                    except Exception as err:  # e.g. torch.compile without a C++ compiler
                        row["skipped"] = f"failed: {type(err).__name__}: {str(err)[:120]}"
                    else:
                        base = seconds if base is None else base
                        row |= {"ms_per_step": round(seconds * 1000, 1),
                                "patches_per_s": round(batch / seconds, 1),
                                "ratio": round(base / seconds, 2)}
                rows.append(row)
                print(format_row(row), flush=True)
    return rows


def format_row(row: dict[str, object]) -> str:
    where = f"{row['model']:5} {row['device']:4} {row['threads']}t {row['variant']:38}"
    if "skipped" in row:
        return f"{where} skipped: {row['skipped']}"
    return (f"{where} {row['ms_per_step']:8.1f} ms/step {row['patches_per_s']:8.1f} patches/s "
            f"{row['ratio']:5.2f}x")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m n2n.bench.throughput",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", choices=sorted(ARCHES), default=["lite", "n2n"])
    parser.add_argument("--devices", nargs="+", choices=["cpu", "cuda"], default=["cpu", "cuda"])
    parser.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--steps", type=int, default=10, help="timed steps per variant")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--patch-size", type=int, default=64)
    parser.add_argument("--no-compile", action="store_true",
                        help="skip torch.compile (slow to start; needs a C++ compiler on CPU)")
    parser.add_argument("--quality", type=Path, metavar="FOLDER",
                        help="instead: hold-out PSNR after --quality-steps with fast off and on, "
                        "trained on these clean images")
    parser.add_argument("--quality-steps", type=int, default=600)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    parser.add_argument("-o", "--json", type=Path, help="write the rows and the machine here")
    args = parser.parse_args(argv)
    if min(args.steps, args.batch_size, args.quality_steps, *args.threads) < 1:
        parser.error("--steps, --batch-size, --quality-steps and --threads must be >= 1")
    print(machine())
    if args.quality:
        rows = quality(args.quality, args.quality_steps, args.seeds, max(args.threads))
    else:
        rows = run(args.models, args.devices, args.threads, args.steps, args.batch_size,
                   args.patch_size, compile_=not args.no_compile)
    if args.json:
        write_text_atomic(args.json, json.dumps({"machine": machine(), "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
