"""A real burst as a 16-bit ImageJ TIFF stack, denoised by ``n2n denoise`` and by the BioImage
Model Zoo package in bioimageio.core: PSNR of every plane against the scene's reference, and
how far the two agree (on the 0..255 scale; within the halo of the image's edges each pads
its own way).

Usage: ``python benchmarks/real_stack.py SCENE_DIR [--reference-name avg50.png] [--model
confocal] [--bmz-planes 5] [--json out.json]`` (e.g. SCENE_DIR =
``../shared/data/real/fmd_confocal_bpae/test/19``)
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
from n2n.inference.weights import load_weights
from n2n.io.images import IMAGE_SUFFIXES, read_image
from n2n.models.wrapper import tile_margin

WHITE = 65535  # the stack is written at 16 bits, as microscopes write them


def read_burst(scene: Path, reference_name: str) -> tuple[np.ndarray, np.ndarray]:
    """The captures as a (K, H, W) 16-bit stack and the reference on the 0..255 scale."""
    files = sorted(p for p in scene.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES
                   and p.name != reference_name)
    gray = [read_image(p).pixels.mean(axis=2) for p in files]
    stack = np.rint(np.stack(gray) * (WHITE / 255.0)).astype(np.uint16)
    return stack, read_image(scene / reference_name).pixels.mean(axis=2)


def plane_psnrs(stack: np.ndarray, reference: np.ndarray) -> list[float]:
    return [psnr(plane.astype(np.float64) * (255.0 / WHITE), reference) for plane in stack]


def bmz_predict(package: Path, planes: np.ndarray, block: int) -> np.ndarray:
    """Each plane through bioimageio.core, in blocks of ``block`` pixels plus the halo."""
    from bioimageio.core import predict

    out = []
    for plane in planes:
        x = plane.astype(np.float32)[None, None]
        sample = predict(model=package, inputs={"noisy": x},
                         input_block_shape={"noisy": {"y": block, "x": block}})
        out.append(np.asarray(sample.members["denoised"].data)[0, 0])
    return np.stack(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("scene", type=Path, help="a folder of captures of one scene")
    parser.add_argument("--reference-name", default="avg50.png")
    parser.add_argument("--model", default="confocal")
    parser.add_argument("--bmz-planes", type=int, default=5,
                        help="planes also run through the BMZ package (slower)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    n2n = str(Path(sys.executable).parent / "n2n")
    stack, reference = read_burst(args.scene, args.reference_name)
    with tempfile.TemporaryDirectory() as tmp:
        source, target, package = Path(tmp) / "burst.tif", Path(tmp) / "clean.tif", \
            Path(tmp) / "model.zip"
        tifffile.imwrite(source, stack, imagej=True, metadata={"axes": "TYX", "unit": "um"},
                         resolution=(1 / 0.1, 1 / 0.1))
        subprocess.run([n2n, "denoise", str(source), "-o", str(target), "--model", args.model],
                       check=True)
        with tifffile.TiffFile(target) as tif:
            denoised, axes = tif.asarray(), tif.series[0].axes
            kept = tif.imagej_metadata.get("unit") == "um"
        subprocess.run([n2n, "export", args.model, str(package), "--data-range", str(WHITE)],
                       check=True, stdout=subprocess.DEVNULL)
        count = min(args.bmz_planes, len(stack))
        by_bmz = bmz_predict(package, stack[:count], block=256) if count else np.empty(0)
    noisy_db, clean_db = plane_psnrs(stack, reference), plane_psnrs(denoised, reference)
    bmz_db = plane_psnrs(np.clip(np.rint(by_bmz), 0, WHITE), reference) if count else []
    border = tile_margin(load_weights(args.model))  # the package's halo: core pads the image's
    # edges its own way (symmetric), n2n denoise its (reflect): only pixels this far in agree
    difference = np.abs(by_bmz - denoised[:count]) * (255.0 / WHITE)
    result = {
        "scene": str(args.scene), "model": args.model, "planes": len(stack),
        "shape_dtype_axes_kept": denoised.shape == stack.shape and denoised.dtype == stack.dtype
        and axes == "TYX" and kept,
        "noisy_psnr": float(np.mean(noisy_db)), "n2n_denoise_psnr": float(np.mean(clean_db)),
        "bmz_planes": count, "bmz_psnr": float(np.mean(bmz_db)) if count else None,
        "n2n_psnr_same_planes": float(np.mean(clean_db[:count])) if count else None,
        "bmz_vs_n2n_max_difference": float(difference.max()) if count else None,
        "bmz_vs_n2n_max_difference_interior": float(
            difference[:, border:-border, border:-border].max()) if count else None,
    }
    for key, value in result.items():
        print(f"{key:34} {value:.3f}" if isinstance(value, float) else f"{key:34} {value}")
    if args.json:
        args.json.write_text(json.dumps({"machine": machine(), **result}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
