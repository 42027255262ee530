"""Peak memory of ``n2n denoise`` against image size: one fresh process per size, so each peak
is its own. Sizes above ``n2n.io.formats.base.STREAM_PIXELS`` take the streaming path (PNG:
rows by libvips or pypng; TIFF: strips of a memory map).

Usage: ``python -m n2n.bench.memory [--sizes 512 1024 2048 4096 8192] [--format png|tif]
[--to zarr] [--json out.json]``
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import tifffile
from PIL import Image as PILImage
from skimage import data as skdata

from n2n.bench.measure import machine
from n2n.io.files import write_text_atomic


def noisy_photo(size: int, seed: int = 0) -> np.ndarray:
    """A size x size uint8 RGB image: scikit-image's astronaut tiled, with gaussian noise 25."""
    photo = skdata.astronaut()
    reps = -(-size // photo.shape[0])
    tiled = np.tile(photo, (reps, reps, 1))[:size, :size].astype(np.float32)
    rng = np.random.default_rng(seed)
    for row in range(0, size, 1024):  # in bands, to keep this process small too
        band = tiled[row:row + 1024]
        band += rng.normal(0, 25, band.shape).astype(np.float32)
    return np.clip(np.rint(tiled), 0, 255).astype(np.uint8)


def peak_rss_of(command: list[str]) -> tuple[float, float, int]:
    """Run ``command``; return its peak resident memory (MiB), seconds and exit status.

    Linux carries a parent's high-water mark into a child it spawns, so the calling process must
    stay small: the test images are made by a helper process (``--make``), never here.
    """
    start = time.monotonic()
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return usage.ru_maxrss / 1024, time.monotonic() - start, proc.returncode


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[512, 1024, 2048, 4096, 8192])
    parser.add_argument("--format", choices=("png", "tif"), default="png",
                        help="test image format (tif: uncompressed, memory-mappable)")
    parser.add_argument("--to", choices=("same", "zarr"), default="same",
                        help="output: the input's format, or OME-Zarr")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--make", nargs=2, metavar=("SIZE", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.make:  # helper process: write one test image and exit
        image = noisy_photo(int(args.make[0]))
        if args.make[1].endswith(".tif"):
            tifffile.imwrite(args.make[1], image, photometric="rgb")
        else:
            PILImage.fromarray(image).save(args.make[1], compress_level=1)
        return 0
    n2n = str(Path(sys.executable).parent / "n2n")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in args.sizes:
            source = Path(tmp) / f"noisy{size}.{args.format}"
            target = Path(tmp) / f"out{size}.{args.format if args.to == 'same' else 'zarr'}"
            subprocess.run([sys.executable, "-m", "n2n.bench.memory", "--make", str(size),
                            str(source)], check=True)
            peak, seconds, code = peak_rss_of([n2n, "denoise", str(source), "-o", str(target)])
            if code != 0:
                print(f"n2n denoise failed at {size}x{size} (exit {code})", file=sys.stderr)
                return 1
            rows.append({"size": size, "megapixels": size * size / 1e6, "peak_rss_mib": peak,
                         "seconds": seconds})
            print(f"{size:>5} x {size:<5} {size * size / 1e6:7.1f} Mpx  peak RSS "
                  f"{peak:7.0f} MiB  {seconds:6.1f} s", flush=True)
            source.unlink()
            shutil.rmtree(target) if target.is_dir() else target.unlink()
    if args.json:
        write_text_atomic(args.json, json.dumps({"machine": machine(), "format": args.format,
                                                 "to": args.to, "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
