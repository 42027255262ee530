"""Peak memory and time of ``n2n denoise`` on a large generated Z-stack through the volume door:
a (Z, 2048, 2048) uint16 fluorescence-like stack (Poisson-Gaussian noise on drifting blobs,
axes ZYX in the file), denoised with no ``--model``, so the automatic rule takes the bundled
context model; each run in its own process (torch threads by OMP_NUM_THREADS), its resident
memory sampled every 0.1 s and its peak read from the kernel (``VmHWM``).

Usage::

    python benchmarks/volume_memory.py WORK --planes 20 40 [--threads 1] [--json OUT.json]
        [--model CKPT]

``--model`` denoises with that context model instead of the automatic choice (e.g. a narrow
one, to measure the door's memory in Z where the bundled model is too slow on a shared CPU;
``--make-small CKPT`` writes a random width-8, depth-2 context model of 5 planes there first).

WORK receives the generated stacks and outputs (about 8 MB per plane each); delete it after.
Memory bounded by the window means the peak does not grow with the number of planes.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import tifffile

SIDE = 2048


def generate(path: Path, planes: int, seed: int = 0) -> None:
    """Write a (planes, SIDE, SIDE) uint16 stack plane by plane (never whole in memory)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:SIDE, :SIDE].astype(np.float32) / SIDE
    base = 200 + 1800 * (0.5 + 0.5 * np.sin(23 * xx) * np.cos(17 * yy)) ** 4

    def planes_iter():
        for z in range(planes):
            clean = base * (0.8 + 0.2 * np.cos(z / 7.0))
            noisy = rng.poisson(clean / 8.0) * 8.0 + rng.normal(0, 20, clean.shape)
            yield np.clip(noisy, 0, 65535).astype(np.uint16)

    tifffile.imwrite(path, planes_iter(), shape=(planes, SIDE, SIDE), dtype=np.uint16,
                     imagej=True, metadata={"axes": "ZYX"})


def measure(source: Path, target: Path, threads: int, model: Path | None = None) -> dict:
    """One ``n2n denoise`` run in a child process: seconds, sampled RSS, kernel peak RSS."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    command = [sys.executable, "-c", "import sys; from n2n.cli import main; "
               "sys.exit(main(sys.argv[1:]))", "denoise", str(source), "-o", str(target),
               *(["--model", str(model)] if model else [])]
    start = time.perf_counter()
    child = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True)
    samples, peak = [], 0.0
    while child.poll() is None:
        try:
            status = dict(ln.split(":", 1) for ln in Path(f"/proc/{child.pid}/status")
                          .read_text().splitlines() if ":" in ln)
            rss, peak, anon, mapped = (int(status[k].split()[0]) / 1024 for k in (
                "VmRSS", "VmHWM", "RssAnon", "RssFile"))
            samples.append((round(time.perf_counter() - start, 1), round(rss, 1),
                            round(anon, 1), round(mapped, 1)))
        except (OSError, KeyError, ValueError):
            pass
        time.sleep(0.1)
    seconds = time.perf_counter() - start
    out = child.stdout.read()
    if child.returncode != 0:
        raise SystemExit(f"n2n denoise failed ({child.returncode}): {out}")
    return {"seconds": round(seconds, 1), "peak_rss_mib_kernel": round(peak, 1),
            "peak_rss_mib_sampled": max(s[1] for s in samples),
            "peak_anonymous_mib_sampled": max(s[2] for s in samples),
            "peak_file_backed_mib_sampled": max(s[3] for s in samples),
            "samples": "(seconds, RSS, anonymous RSS, file-backed RSS) in MiB",
            "rss_samples_mib": samples[:: max(1, len(samples) // 200)], "choice": out.strip()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("work", type=Path)
    parser.add_argument("--planes", type=int, nargs="+", default=[20, 40])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--model", type=Path)
    parser.add_argument("--make-small", action="store_true")
    args = parser.parse_args()
    if args.make_small:
        from n2n.models import ModelConfig, build_model
        from n2n.models.checkpoint import write_weights

        write_weights(build_model(ModelConfig(channels=1, width=8, depth=2, context=5,
                                              residual=True, linear_output=True), seed=0),
                      args.model)
    args.work.mkdir(parents=True, exist_ok=True)
    from n2n.bench.measure import machine

    result = {"machine": machine(), "threads": args.threads, "side": SIDE, "runs": {},
              "model": str(args.model) if args.model else "auto (the bundled choice)"}
    for planes in args.planes:
        source = args.work / f"stack_{planes}.tif"
        if not source.is_file():
            generate(source, planes)
        run = measure(source, args.work / f"out_{planes}.tif", args.threads, args.model)
        run["input_mib"] = round(source.stat().st_size / 2**20, 1)
        result["runs"][str(planes)] = run
        print(f"{planes} planes of {SIDE}x{SIDE} uint16 ({run['input_mib']} MiB): "
              f"{run['seconds']} s, {run['seconds'] / planes:.1f} s/plane, peak RSS "
              f"{run['peak_rss_mib_kernel']} MiB (sampled {run['peak_rss_mib_sampled']}; "
              f"anonymous {run['peak_anonymous_mib_sampled']}, file-backed "
              f"{run['peak_file_backed_mib_sampled']})",
              flush=True)
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
