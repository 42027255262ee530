"""Zero-shot denoising speed and quality: today's default (a short fit from the bundled prior)
against a fit from random weights (the default before, 1000 window steps) and the paper's
schedule (2000 whole-image Adam steps at lr 1e-3), on the same noisy images, in one run::

    python benchmarks/zeroshot_schedules.py --clean kodim05.png 09.png [--sigma 25] \\
        --captures capture_000.png capture_001.png --reference avg50.png [--threads 2] [-o out.json]
    python benchmarks/zeroshot_schedules.py --time-only [--size 512]  # seconds, generated image

Each image is cut to its central ``--size`` square (512: the issue's laptop target); clean
images get seeded gaussian noise, clipped to 0..255 as real images are. The paper's schedule
is slow on a CPU, so ``--time-only`` (and ``--before-steps``) time it over a few steps and
extrapolate; its PSNR needs the full run.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from n2n.bench.measure import machine, smooth_photo
from n2n.errors import N2NError
from n2n.evaluation.metrics import psnr
from n2n.inference.zeroshot import ZeroShotDenoiser
from n2n.io.files import write_text_atomic
from n2n.io.images import read_image
from n2n.io.values import central_square

# keyword arguments of ZeroShotDenoiser: the paper's schedule, the fit from random weights (the
# default before the prior), and today's default
BEFORE = {"iterations": 2000, "crop": None, "lr": 1e-3, "prior": False}
RANDOM_INIT = {"prior": False}
DEFAULT: dict = {}


def _crop(pixels: np.ndarray, size: int) -> np.ndarray:
    """The central ``size`` x ``size`` part of (H, W, C) pixels, float32 and contiguous."""
    return np.ascontiguousarray(central_square(pixels, size), dtype=np.float32)


def load_cases(clean: list[Path], captures: list[Path], reference: Path | None, sigma: float,
               size: int, seed: int) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(name, noisy, clean) per image: clean files with seeded clipped gaussian noise, then
    real captures against their reference."""
    if captures and reference is None:
        raise N2NError("--captures needs --reference (the clean estimate, e.g. avg50.png)")
    rng = np.random.default_rng(seed)
    cases = []
    for path in clean:
        image = _crop(read_image(path).pixels, size)
        noisy = np.clip(image + rng.normal(0, sigma, image.shape), 0, 255).astype(np.float32)
        cases.append((f"{path.stem} (gaussian {sigma:g})", noisy, image))
    if captures:
        ref = _crop(read_image(reference).pixels, size)
        for path in captures:
            noisy = _crop(read_image(path).pixels, size)
            if noisy.shape != ref.shape:
                raise N2NError(f"{path}: shape {noisy.shape} does not match the reference "
                               f"{reference} ({ref.shape})")
            cases.append((path.stem, noisy, ref))
    return cases


def fit_once(settings: dict, noisy: np.ndarray, iterations: int | None = None
             ) -> tuple[np.ndarray, float]:
    """Denoise with these ZeroShotDenoiser ``settings`` (``iterations`` overriding its steps);
    output and seconds."""
    settings = dict(settings)
    if iterations is not None:
        settings["iterations"] = iterations
    denoiser = ZeroShotDenoiser(**settings, progress=False)
    start = time.perf_counter()
    out = denoiser(noisy)
    return out, time.perf_counter() - start


def extrapolated_seconds(settings: dict, noisy: np.ndarray, steps: int) -> float:
    """Seconds of the full fit, from timing ``steps`` of it after a one-step warm-up; the fixed
    cost (the final full-image pass) is counted in every step, so this errs on the long side."""
    fit_once(settings, noisy, 1)
    _, seconds = fit_once(settings, noisy, steps)
    return seconds / steps * settings["iterations"]


def run(cases: list[tuple[str, np.ndarray, np.ndarray]], before_steps: int | None
        ) -> list[dict[str, object]]:
    """Per image: PSNR and seconds of the paper's schedule, of the fit from random weights and
    of the default, and the default's speed-up and PSNR difference against both."""
    rows = []
    for name, noisy, clean in cases:
        row: dict[str, object] = {"image": name, "size": list(noisy.shape),
                                  "noisy_psnr": round(psnr(noisy, clean), 3)}
        if before_steps:
            row["before_seconds"] = round(extrapolated_seconds(BEFORE, noisy, before_steps), 1)
            row["before_extrapolated"] = True
        for key, settings in (("before", BEFORE), ("random_init", RANDOM_INIT),
                              ("default", DEFAULT)):
            if key == "before" and before_steps:
                continue
            out, seconds = fit_once(settings, noisy)
            row |= {f"{key}_psnr": round(psnr(out, clean), 3),
                    f"{key}_seconds": round(seconds, 1)}
        for key in ("before", "random_init"):
            row[f"speed_ratio_{key}"] = round(float(row[f"{key}_seconds"])
                                              / float(row["default_seconds"]), 2)
            if f"{key}_psnr" in row:
                row[f"psnr_difference_{key}"] = round(float(row["default_psnr"])
                                                      - float(row[f"{key}_psnr"]), 3)
        rows.append(row)
        print(row, flush=True)
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python benchmarks/zeroshot_schedules.py",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--clean", nargs="*", type=Path, default=[], metavar="FILE")
    parser.add_argument("--sigma", type=float, default=25.0, help="for --clean images")
    parser.add_argument("--captures", nargs="*", type=Path, default=[], metavar="FILE",
                        help="real noisy captures of one scene")
    parser.add_argument("--reference", type=Path, metavar="FILE", help="for --captures")
    parser.add_argument("--size", type=int, default=512, help="central square cut (px)")
    parser.add_argument("--time-only", action="store_true",
                        help="a generated image; the paper's schedule timed, not run")
    parser.add_argument("--before-steps", type=int, help="time the paper's schedule over this "
                        "many steps instead of running it (no PSNR for it)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("-o", "--json", type=Path, help="write the rows and the machine here")
    args = parser.parse_args(argv)
    if args.size < 2 or args.threads < 1:
        parser.error("--size must be >= 2 and --threads >= 1")
    torch.set_num_threads(args.threads)
    print(machine())
    try:
        if args.time_only:
            noisy, clean = smooth_photo(args.size, args.size, args.seed)
            cases, steps = [("generated", noisy, clean)], args.before_steps or 20
        elif args.clean or args.captures:
            cases = load_cases(args.clean, args.captures, args.reference, args.sigma,
                               args.size, args.seed)
            steps = args.before_steps
        else:
            parser.error("give --clean and/or --captures images, or --time-only")
        rows = run(cases, steps)
    except N2NError as err:
        parser.exit(2, f"error: {err}\n")
    if args.json:
        record = {"machine": machine(), "before": BEFORE, "random_init": RANDOM_INIT,
                  "rows": rows}
        write_text_atomic(args.json, json.dumps(record, indent=1))


if __name__ == "__main__":
    main()
