"""Every way a user saves a capture is denoised alike by default: the same noisy images as
8-bit PNG, 0..1 float32 TIFF, 0..1 float32 .npy and 0..255 float32 TIFF go through ``n2n
denoise`` (the CLI, as a user runs it) with no option, and are scored against their
references on the 0..255 scale.

Usage: ``python benchmarks/value_convention.py SCENE_DIR [--reference-name avg50.png]
[--limit 10] [--json out.json]`` (e.g. SCENE_DIR = ``../shared/data/real/fmd_confocal_bpae/
test/19``).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import tifffile

from n2n.bench.measure import machine
from n2n.evaluation.metrics import psnr
from n2n.io.images import IMAGE_SUFFIXES, read_image

# how each format is written from 0..255 gray pixels, and how much to scale what it reads back
FORMATS = {
    "png uint8": (".png", None, 1.0),
    "tiff float32 0..1": (".tif", 1 / 255, 255.0),
    "npy float32 0..1": (".npy", 1 / 255, 255.0),
    "tiff float32 0..255": (".tif", 1.0, 1.0),
}


def save(path: Path, gray: np.ndarray, scale: float | None) -> None:
    if scale is None:
        from PIL import Image

        Image.fromarray(np.rint(gray).astype(np.uint8)).save(path)
    elif path.suffix == ".npy":
        np.save(path, (gray * scale).astype(np.float32))
    else:
        tifffile.imwrite(path, (gray * scale).astype(np.float32))


def load(path: Path) -> np.ndarray:
    """A file's raw values as float64, no convention applied."""
    if path.suffix == ".npy":
        return np.load(path).astype(np.float64)
    if path.suffix == ".tif":
        return tifffile.imread(path).astype(np.float64)
    from PIL import Image

    return np.asarray(Image.open(path), np.float64)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("scene", type=Path)
    parser.add_argument("--reference-name", default="avg50.png")
    parser.add_argument("--limit", type=int, default=10)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    files = sorted(p for p in args.scene.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES
                   and p.name != args.reference_name)[:args.limit]
    reference = read_image(args.scene / args.reference_name).pixels.mean(axis=2)
    n2n = str(Path(sys.executable).parent / "n2n")
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, (suffix, scale, back) in FORMATS.items():
            noisy_dir, out_dir = Path(tmp) / f"{len(rows)}in", Path(tmp) / f"{len(rows)}out"
            noisy_dir.mkdir()
            for f in files:
                save(noisy_dir / f"{f.stem}{suffix}", read_image(f).pixels.mean(axis=2), scale)
            printed = subprocess.run([n2n, "denoise", str(noisy_dir), "-o", str(out_dir)],
                                     check=True, capture_output=True, text=True).stdout
            gains = []
            for f in sorted(out_dir.iterdir()):  # read raw, scaled by what we know we wrote
                out, noisy = load(f) * back, load(noisy_dir / f.name) * back
                gains.append((psnr(noisy[..., None], reference[..., None]),
                              psnr(out[..., None], reference[..., None])))
            before, after = np.mean(gains, axis=0)
            rows[name] = {"noisy_db": round(float(before), 2),
                          "denoised_db": round(float(after), 2), "choice": printed.splitlines()[0]}
            print(f"{name:22s} {before:6.2f} -> {after:6.2f} dB   {printed.splitlines()[0]}",
                  flush=True)
    if args.json:
        args.json.write_text(json.dumps({"scene": str(args.scene), "images": len(files),
                                         "machine": machine(), "formats": rows}, indent=1))


if __name__ == "__main__":
    main()
