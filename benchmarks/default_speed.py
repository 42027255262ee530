"""Speed of the default treatment on real-size photos, and its outputs, for before/after runs.

``speed``: a 3-MP (2000x1500) and a 12-MP (4000x3000) photo built by tiling real camera crops
(noisy 512x512 SIDD/Nam crops, given as files or folders), denoised in one process by the
default treatment and by ``--model photo --pd 1``, so that their ratio shares the machine's
load; writes seconds, MP/s and the ratio as JSON. Run it once against the old code and once
against the new, e.g. ``PYTHONPATH=/work/main/src python benchmarks/default_speed.py speed
CROPS... --label before``. ``--save`` keeps the default's 3-MP result (.npy) to compare.

``reads``: the input pixels each network reads per image pixel, before and after, from the
tile plans alone (no timing, so no load to share).

``quality``: the default's PSNR on noisy/clean pairs (SIDD, Nam: ``--pairs NOISY CLEAN``) and on
clean images with gaussian noise of sigma 25 (CBSD68: ``--gaussian``), per image, as JSON, so
that before and after can be compared.

Usage: ``python benchmarks/default_speed.py speed CROPS... [--sizes 2000x1500,4000x3000]
[--threads 2] [--label after] [--out docs/results/speed/default_speed_after.json]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch

from n2n.device import bfloat16_native
from n2n.evaluation.metrics import psnr
from n2n.inference.spec import InferenceSpec, build_denoiser
from n2n.io.images import list_images, read_image


def mosaic(crops: list[np.ndarray], height: int, width: int) -> np.ndarray:
    """An (height, width, 3) photo of the crops side by side, row by row, cycling through them."""
    rows, k = [], 0
    side = crops[0].shape[0]
    for _ in range(-(-height // side)):
        row = []
        for _ in range(-(-width // side)):
            row.append(crops[k % len(crops)][:side, :side])
            k += 1
        rows.append(np.concatenate(row, axis=1))
    return np.ascontiguousarray(np.concatenate(rows, axis=0)[:height, :width], np.float32)


def processor() -> dict:
    """What the figures depend on: the processor's features and torch's threads."""
    flags = ""
    if Path("/proc/cpuinfo").exists():
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                flags = line
                break
    return {"machine": platform.machine(), "avx2": " avx2" in flags,
            "avx512": " avx512f" in flags, "bfloat16": " avx512_bf16" in flags or
            " amx_bf16" in flags, "threads": torch.get_num_threads(),
            "cores": os.cpu_count(), "torch": torch.__version__,
            # what ran: ATEN_CPU_CAPABILITY and ONEDNN_MAX_CPU_ISA can hold the kernels below
            # the processor's flags (an AVX2-only processor on an AVX-512 one)
            "kernels": torch.backends.cpu.get_cpu_capability(),
            "bfloat16_native": bfloat16_native(torch.device("cpu")),
            "onednn_max_isa": os.environ.get("ONEDNN_MAX_CPU_ISA")}


def timed(denoiser, pixels: np.ndarray) -> tuple[float, np.ndarray]:
    start = time.perf_counter()
    out = denoiser(pixels)
    return time.perf_counter() - start, out


def speed(args: argparse.Namespace) -> dict:
    crops = [read_image(p).pixels for p in list_images(args.crops)]
    default, photo = build_denoiser(InferenceSpec()), build_denoiser(
        InferenceSpec(model="photo", pd=1))
    warm = crops[0][:256, :256]
    default(warm), photo(warm)  # loads the models
    results = {}
    for size in args.sizes.split(","):
        width, height = (int(v) for v in size.split("x"))
        pixels = mosaic(crops, height, width)
        before, _ = timed(photo, pixels)
        default_s, out = timed(default, pixels)
        after, _ = timed(photo, pixels)  # photo on both sides: the load's drift shared
        photo_s = (before + after) / 2
        mp = height * width / 1e6
        results[size] = {"default_s": round(default_s, 1), "photo_pd1_s": round(photo_s, 1),
                         "photo_pd1_s_before_after": [round(before, 1), round(after, 1)],
                         "default_mp_s": round(mp / default_s, 4),
                         "photo_pd1_mp_s": round(mp / photo_s, 4),
                         "ratio_default_to_photo_pd1": round(default_s / photo_s, 2),
                         "treatment": str(getattr(default, "last", ""))}
        print(size, json.dumps(results[size]), flush=True)
        if args.save:
            np.save(Path(args.save) / f"default_{size}_{args.label}.npy", out)
    return results


def quality(args: argparse.Namespace) -> dict:
    default = build_denoiser(InferenceSpec())
    scores: dict[str, float] = {}
    for noisy_dir, clean_dir in args.pairs or []:
        for path in list_images([noisy_dir])[:args.limit]:
            clean = read_image(Path(clean_dir) / path.name).pixels
            scores[f"{Path(noisy_dir).parent.name}/{path.name}"] = round(
                psnr(default(read_image(path).pixels), clean), 4)
    rng = np.random.default_rng(0)
    for path in list_images(args.gaussian or [])[:args.limit]:
        clean = read_image(path).pixels
        noisy = np.clip(clean + rng.normal(0, 25, clean.shape), 0, 255).astype(np.float32)
        scores[f"{path.parent.name}/{path.name}"] = round(psnr(default(noisy), clean), 4)
    return scores


def reads(args: argparse.Namespace) -> dict:
    """Input pixels each network of the default reads per image pixel (no timing: the tile
    plans alone), before (512-px tiles in image pixels, margins of pd x the radius) and after
    (sub-image tiles from the memory budget): camera at pd 2, 3, 4 and photo refining each."""
    from n2n.inference.tiling import BUDGET_PIXELS, budget_plan, read_length

    def up(x: int, m: int) -> int:
        return -(-x // m) * m

    result = {}
    for size in args.sizes.split(","):
        width, height = (int(v) for v in size.split("x"))
        row = {"camera_before": 0.0, "camera_after": 0.0, "photo_before": 0.0,
               "photo_after": 0.0}
        for pd, grid in ((2, 64), (3, 96), (4, 128)):
            h, w = up(height, grid), up(width, grid)
            old = up(pd * 189, grid)  # the camera network's radius, 189, in image pixels
            row["camera_before"] += read_length(h, 512, old) * read_length(w, 512, old)
            _, r, c = budget_plan(pd * pd, h // pd, w // pd, 192, 32, BUDGET_PIXELS)
            row["camera_after"] += pd * pd * read_length(h // pd, r, 192) * read_length(
                w // pd, c, 192)
            margin = up(92, grid)  # the photo network's radius, 92
            row["photo_before"] += read_length(h, 512, margin) * read_length(w, 512, margin)
            _, r, c = budget_plan(1, h, w, 96, 16, BUDGET_PIXELS)
            row["photo_after"] += read_length(h, r, 96) * read_length(w, c, 96)
        h, w = up(height, 16), up(width, 16)
        row["photo_pd1_before"] = read_length(h, 512, 96) * read_length(w, 512, 96)
        _, r, c = budget_plan(1, h, w, 96, 16, BUDGET_PIXELS)
        row["photo_pd1_after"] = read_length(h, r, 96) * read_length(w, c, 96)
        result[size] = {k: round(v / (height * width), 2) for k, v in row.items()}
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("what", choices=["speed", "quality", "reads"])
    p.add_argument("crops", nargs="*", help="noisy camera crops (files or folders), for speed")
    p.add_argument("--sizes", default="2000x1500,4000x3000")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--label", default="after")
    p.add_argument("--save", help="a folder for the default's results (.npy)")
    p.add_argument("--pairs", nargs=2, action="append", metavar=("NOISY", "CLEAN"))
    p.add_argument("--gaussian", nargs="*", help="clean images given noise of sigma 25")
    p.add_argument("--limit", type=int, default=3, help="images per set, for quality")
    p.add_argument("--out", help="JSON file (default: print only)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    run = {"speed": speed, "quality": quality, "reads": reads}[args.what]
    result = {"label": args.label, "processor": processor(), args.what: run(args)}
    print(json.dumps(result, indent=1))
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
