"""Inference speed and quality of the bundled models: each speed-up alone and combined, as a
ratio against plain float32 eager inference (the default before ``Denoiser(fast=True)``),
measured in one run on a 481x321 photo, and the tile size on a 1536x1024 one. Usage::

    python -m n2n.bench.inference [--models photo photo-plus] [--threads 1 2] [-o out.json]
    python -m n2n.bench.inference --quality CLEAN_DIR [--noise gaussian:25] [--limit 20]
    python -m n2n.bench.inference --quality NOISY_DIR --reference REF_DIR --pd 2

``--quality`` scores ``fast`` off and on on the same noisy images: the speed-ups must keep
PSNR to 0.01 dB (mean and worst image are reported).
"""

from __future__ import annotations

import argparse
import itertools
import json
import tempfile
import time
from collections.abc import Callable
from contextlib import nullcontext
from functools import partial
from pathlib import Path

import numpy as np
import torch

from n2n.bench.measure import machine, smooth_photo
from n2n.device import bfloat16_native, memory_layout
from n2n.errors import N2NError
from n2n.inference.denoiser import Denoiser
from n2n.io.files import write_text_atomic
from n2n.models.bundled import load_bundled

MODELS = ("photo", "photo-plus")
# (name, channels-last, bfloat16 autocast, torch.compile)
VARIANTS = (
    ("float32 eager (before)", False, False, False),
    ("channels-last", True, False, False),
    ("bfloat16 autocast", False, True, False),
    ("channels-last + bfloat16 (default)", True, True, False),
    ("channels-last + bfloat16 + compile", True, True, True),
)


def seconds_per_image(run: Callable[[], object], repeats: int) -> float:
    """Median seconds of ``run`` over ``repeats`` calls, after two warm-up calls."""
    run(), run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def variant_runner(name: str, variant: tuple, image: np.ndarray) -> Callable[[], object]:
    """One forward pass of bundled model ``name`` as ``variant`` would run it (no tiling)."""
    _, channels_last, bf16, compiled = variant
    model = memory_layout(load_bundled(name), channels_last).eval()
    net = torch.compile(model) if compiled else model
    layout = torch.channels_last if channels_last else torch.contiguous_format
    x = torch.from_numpy(image).permute(2, 0, 1)[None].contiguous(memory_format=layout)
    cast = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else nullcontext()

    def run() -> torch.Tensor:
        with torch.no_grad(), cast:
            return net(x).float()

    return run


def denoiser_runner(name: str, image: np.ndarray, fast: bool, tile: int = 512
                    ) -> Callable[[], object]:
    """What ``n2n denoise`` runs: the Denoiser, with ``fast`` off or on."""
    denoiser = Denoiser(load_bundled(name), fast=fast, tile=tile)
    return lambda: denoiser(image)


def onnx_runner(name: str, image: np.ndarray, folder: Path) -> Callable[[], object]:
    """The model exported to ONNX and run by ONNX Runtime (float32), through the Denoiser."""
    from n2n.export.formats import write_onnx
    from n2n.inference.exported import load_exported

    path = folder / f"{name}.onnx"
    write_onnx(load_bundled(name), path)
    denoiser = Denoiser(load_exported(path))
    return lambda: denoiser(image)


Entry = tuple[str, np.ndarray, Callable[[], Callable[[], object]] | str]


def runners(name: str, image: np.ndarray, folder: Path, compile_: bool,
            tiles: list[int]) -> list[Entry]:
    """(variant, its image, a builder of its runner or why it is skipped) for one model: the
    speed-ups on ``image``, then the tile size on a 1536x1024 photo."""
    out: list[Entry] = []
    for variant in VARIANTS:
        if variant[2] and not bfloat16_native(torch.device("cpu")):
            out.append((variant[0], image, "no native bfloat16 on this processor"))
        elif variant[3] and not compile_:
            out.append((variant[0], image, "--no-compile"))
        else:
            out.append((variant[0], image, partial(variant_runner, name, variant, image)))
    for fast in (False, True):
        out.append((f"Denoiser, fast={fast}", image,
                    partial(denoiser_runner, name, image, fast)))
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        out.append(("ONNX Runtime (float32)", image, "onnxruntime not installed"))
    else:
        out.append(("ONNX Runtime (float32)", image, partial(onnx_runner, name, image, folder)))
    large, _ = smooth_photo(1024, 1536)
    for tile in tiles:
        out.append((f"Denoiser, fast, 1536x1024, tile {tile}", large,
                    partial(denoiser_runner, name, large, True, tile)))
    return out


def measure(entry: Entry, repeats: int) -> tuple[dict[str, object], float | None]:
    """ms per image and megapixels/s of one entry (or why it was skipped), and the unrounded
    megapixels/s."""
    _, image, build = entry
    if isinstance(build, str):
        return {"skipped": build}, None
    try:
        start = time.perf_counter()
        runner = build()
        runner()  # the first call includes compilation, if any
        first = time.perf_counter() - start
        seconds = seconds_per_image(runner, repeats)
    except Exception as err:  # e.g. torch.compile without a C++ compiler
        return {"skipped": f"failed: {type(err).__name__}: {str(err)[:120]}"}, None
    speed = image.shape[0] * image.shape[1] / 1e6 / seconds
    return {"ms_per_image": round(seconds * 1000, 1), "megapixels_per_s": round(speed, 2),
            "first_call_s": round(first, 1)}, speed


def run(models: list[str], threads: list[int], repeats: int, compile_: bool = True,
        tiles: tuple[int, ...] = (256, 512, 1024)) -> list[dict[str, object]]:
    """One row per (model, threads, variant): ms per image, megapixels/s, and the ratio of
    megapixels/s to the first row's (float32 eager)."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="n2n-bench-") as folder:
        for name in models:
            for count in threads:
                torch.set_num_threads(count)
                base = None
                for entry in runners(name, smooth_photo(321, 481)[0], Path(folder), compile_,
                                     list(tiles)):
                    row = {"model": name, "threads": count, "variant": entry[0]}
                    measured, speed = measure(entry, repeats)
                    row |= measured
                    if speed is not None:
                        base = base or speed
                        row["ratio"] = round(speed / base, 2)
                    rows.append(row)
                    print(format_row(row), flush=True)
    return rows


def format_row(row: dict[str, object]) -> str:
    where = f"{row['model']:10} {row['threads']}t {row['variant']:38}"
    if "skipped" in row:
        return f"{where} skipped: {row['skipped']}"
    return (f"{where} {row['ms_per_image']:8.1f} ms {row['megapixels_per_s']:6.2f} MP/s "
            f"{row['ratio']:5.2f}x (first call {row['first_call_s']} s)")


def quality(folder: Path, reference: Path | None, noise: str, pd: int | None, limit: int | None,
            models: list[str], seed: int) -> list[dict[str, object]]:
    """PSNR of each model with ``fast`` off and on over the same noisy images; per model the
    mean and worst per-image difference (fast minus float32)."""
    from n2n.data.noise import parse_noise
    from n2n.evaluation.metrics import psnr
    from n2n.evaluation.scoring import clean_pairs, reference_pairs

    pairs = (reference_pairs(folder, reference) if reference
             else clean_pairs([folder], parse_noise(noise), seed)[0])
    cases = [(noisy, clean) for _, noisy, clean in itertools.islice(pairs, limit)]
    rows = []
    for name in models:
        scores = {}
        for fast in (False, True):
            denoiser = Denoiser(load_bundled(name), pd=pd, fast=fast)
            scores[fast] = [psnr(denoiser(noisy), clean) for noisy, clean in cases]
        diffs = np.subtract(scores[True], scores[False])
        rows.append({"model": name, "images": len(cases), "pd": pd or 1,
                     "psnr_float32": round(float(np.mean(scores[False])), 3),
                     "psnr_fast": round(float(np.mean(scores[True])), 3),
                     "mean_difference": round(float(diffs.mean()), 4),
                     "worst_difference": round(float(diffs.min()), 4)})
        print(rows[-1], flush=True)
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m n2n.bench.inference",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    parser.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    parser.add_argument("--repeats", type=int, default=5, help="timed calls per variant")
    parser.add_argument("--no-compile", action="store_true",
                        help="skip torch.compile (slow to start; needs a C++ compiler)")
    parser.add_argument("--tiles", nargs="*", type=int, default=[256, 512, 1024],
                        help="tile sizes to time on a 1536x1024 photo (none: skip)")
    parser.add_argument("--quality", type=Path, metavar="DIR", help="instead: PSNR with fast "
                        "off and on, on these clean images (noised) or noisy captures")
    parser.add_argument("--reference", type=Path, metavar="DIR",
                        help="references for --quality noisy captures (same file names)")
    parser.add_argument("--noise", default="gaussian:25", help="for clean --quality images")
    parser.add_argument("--pd", type=int, help="pixel-shuffle factor (2 for camera noise)")
    parser.add_argument("--limit", type=int, help="the first N --quality images")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("-o", "--json", type=Path, help="write the rows and the machine here")
    args = parser.parse_args(argv)
    if min(args.repeats, *args.threads, *args.tiles) < 1:
        parser.error("--repeats, --threads and --tiles must be >= 1")
    print(machine())
    try:
        if args.quality:
            torch.set_num_threads(max(args.threads))
            rows = quality(args.quality, args.reference, args.noise, args.pd, args.limit,
                           args.models, args.seed)
        else:
            rows = run(args.models, args.threads, args.repeats, compile_=not args.no_compile,
                       tiles=args.tiles)
    except N2NError as err:
        parser.exit(2, f"error: {err}\n")
    if args.json:
        write_text_atomic(args.json, json.dumps({"machine": machine(), "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
