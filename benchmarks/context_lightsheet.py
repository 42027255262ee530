"""A light-sheet volume with added Poisson-Gaussian noise at the FMD confocal level: a 3-D
U-Net (sub-volumes of 16 planes) and a 2.5-D context model (5 planes in) against a 2-D model
(1 plane in), all trained self-supervised on the noisy volume alone (Noise2Noise between
interleaved Z planes) for the same number of steps on the same target pixels a step (16
planes of 48 x 48: 16 patches, or 1 sub-volume of 16 planes), scored against the volume
itself (which is mildly noisy: a test bench, not ground truth). Arms ``2.5d-ne2ne`` and
``3d-ne2ne`` train the same networks by Neighbor2Neighbor on single windows of consecutive
planes (16 consecutive planes for the 3-D U-Net) instead. With ``--speed``, each
model's inference in voxels per second on 1 and 2 threads.

Usage: ``python benchmarks/context_lightsheet.py VOLUME FMD_FIELD WORK [--steps 600]
[--threads 1] [--methods 2d,2.5d,3d,2.5d-ne2ne,3d-ne2ne] [--speed] [--json OUT.json]
[--png SECTIONS.png] [--z-step 1]``. ``--z-step 4`` keeps every fourth plane: a Z sampled
four times coarser, where interleaved planes see less of the same structures.
VOLUME: ``volumes/lightsheet_nuclei_124x86x94.tif``; FMD_FIELD:
``fmd_confocal_bpae/test/19``, whose frames against their ``avg50.png`` give the noise's
variance ``A * x + B`` (fitted here) and level.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import tifffile
import torch

from n2n.bench.measure import machine
from n2n.data.noise import parse_noise
from n2n.evaluation.metrics import psnr
from n2n.inference.arrays import denoise_array
from n2n.io.images import read_image
from n2n.training import DataConfig, TrainConfig, train

BATCH, PATCH = 16, 48
DEPTH = 16  # planes of a 3-D sub-volume: BATCH // DEPTH of them a step
METHODS = {"2d": ("2-D per plane", {"context": 1}),
           "2.5d": ("2.5-D (5 planes)", {"context": 5}),
           "3d": ("3-D U-Net (16-plane sub-volumes)",
                  {"arch": "unet3d", "width": 16, "depth": 3, "z_pool": 1})}
# Neighbor2Neighbor on single windows of consecutive planes: the same networks and steps
METHODS.update({f"{m}-ne2ne": (f"{METHODS[m][0]}, Neighbor2Neighbor", METHODS[m][1])
                for m in ("2.5d", "3d")})


def fmd_noise(field: Path) -> tuple[float, float, float]:
    """Variance ``A * x + B`` of FMD frames about ``avg50.png`` (least squares over intensity
    bins), and the reference's 99.9th percentile (the level the volume is brought to)."""
    reference = read_image(field / "avg50.png").pixels[..., 0].astype(np.float64)
    frames = sorted(field.glob("HV110_P*.png"))[:10]
    residual = np.stack([read_image(p).pixels[..., 0] - reference for p in frames])
    bins = np.digitize(reference, np.linspace(0, np.percentile(reference, 99.5), 12))
    x, v = [], []
    for b in np.unique(bins):
        mask = bins == b
        if mask.sum() > 500:
            x.append(reference[mask].mean())
            v.append(residual[:, mask].var())
    a, b = np.polyfit(x, v, 1)
    return max(float(a), 0.0), max(float(b), 0.0), float(np.percentile(reference, 99.9))


def noisy_volume(volume: Path, field: Path, work: Path, z_step: int = 1
                 ) -> tuple[np.ndarray, np.ndarray, dict]:
    """The reference (volume brought to FMD's level; every ``z_step``-th plane, a Z sampled
    that much coarser) and its noisy version, written to WORK."""
    a, b, level = fmd_noise(field)
    raw = tifffile.imread(volume).astype(np.float32)[::z_step]
    reference = raw / np.percentile(raw, 99.9) * level
    noise = parse_noise(f"poisson-gaussian:{a:.4f},{b:.4f}")
    noisy = noise(torch.from_numpy(reference)[:, None], torch.Generator().manual_seed(0))
    noisy = noisy[:, 0].numpy().astype(np.float32)
    work.mkdir(parents=True, exist_ok=True)
    tifffile.imwrite(work / "noisy.tif", noisy, imagej=True, metadata={"axes": "ZYX"})
    return reference, noisy, {"A": round(a, 4), "B": round(b, 4), "level": round(level, 2)}


def train_model(work: Path, method: str, steps: int, threads: int) -> tuple[Path, float]:
    volumetric = method.startswith("3d")
    batch = BATCH // DEPTH if volumetric else BATCH  # the same target pixels a step
    data = DataConfig(source="volume", paths=str(work / "noisy.tif"), patch_size=PATCH,
                      patches_per_epoch=batch * 50, patch_depth=DEPTH if volumetric else None)
    model = {"width": 32, "depth": 3, "residual": True, "linear_output": True,
             **METHODS[method][1]}
    config = TrainConfig(data=data, model=model, batch_size=batch, epochs=max(steps // 50, 1),
                         threads=threads, lr=1e-3, lr_patience=4,
                         mode="ne2ne" if method.endswith("-ne2ne") else "n2n")
    start = time.perf_counter()
    result = train(config, work / f"model-{method}", overwrite=True, progress=False)
    return result.run_dir / "last.pt", time.perf_counter() - start


def scores(out: np.ndarray, reference: np.ndarray, level: float) -> dict:
    """PSNR on the 0..255 scale over the volume, and the mean and minimum over its planes."""
    planes = [psnr(o, r) for o, r in zip(out, reference, strict=True)]
    return {"volume_psnr": round(psnr(out, reference), 3),
            "plane_mean_psnr": round(float(np.mean(planes)), 3),
            "plane_min_psnr": round(min(planes), 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs=3, type=Path)
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--methods", default="2d,2.5d,3d")
    parser.add_argument("--speed", action="store_true")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--png", type=Path)
    parser.add_argument("--z-step", type=int, default=1,
                        help="keep every N-th plane: Z sampled N times coarser")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    volume, field, work = args.paths
    reference, noisy, noise = noisy_volume(volume, field, work, args.z_step)
    result = {"machine": machine(), "threads": args.threads, "volume": str(volume),
              "z_step": args.z_step, "planes": len(reference),
              "noise": noise, "steps": args.steps, "batch": BATCH, "patch": PATCH,
              "methods": {"noisy": scores(noisy, reference, noise["level"])}}
    outputs = {"noisy": noisy}
    for method in args.methods.split(","):
        name = METHODS[method][0]
        checkpoint, seconds = train_model(work, method, args.steps, args.threads)
        start = time.perf_counter()
        out = denoise_array(noisy, checkpoint, axes="ZYX")
        result["methods"][name] = {**scores(out, reference, noise["level"]),
                                   "train_seconds": round(seconds, 1),
                                   "denoise_seconds": round(time.perf_counter() - start, 2)}
        if args.speed:
            result["methods"][name]["voxels_per_second"] = speed(noisy, checkpoint)
        torch.set_num_threads(args.threads)
        outputs[name] = out
        print(name, result["methods"][name], flush=True)
        if args.json:  # after each method: a run cut short keeps what it measured
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(result, indent=1) + "\n")
    if args.png:
        write_sections(args.png, reference, outputs)


def speed(noisy: np.ndarray, checkpoint: Path) -> dict[str, float]:
    """Voxels per second of ``denoise_array`` on the whole volume, best of 2, on 1 and 2
    threads."""
    rates = {}
    for threads in (1, 2):
        torch.set_num_threads(threads)
        best = float("inf")
        for _ in range(2):
            start = time.perf_counter()
            denoise_array(noisy, checkpoint, axes="ZYX")
            best = min(best, time.perf_counter() - start)
        rates[f"{threads}_threads"] = round(noisy.size / best)
    return rates


def write_sections(path: Path, reference: np.ndarray, outputs: dict[str, np.ndarray]) -> None:
    """XY (middle plane) over XZ (middle row) sections of each output and the reference."""
    from PIL import Image

    top = float(np.percentile(reference, 99.9))
    columns = []
    for volume in [*outputs.values(), reference]:
        xy = volume[len(volume) // 2]
        xz = volume[:, volume.shape[1] // 2]
        columns.append(np.concatenate([xy, np.full((4, xy.shape[1]), top), xz], axis=0))
    gap = np.full((columns[0].shape[0], 4), top)
    sheet = np.concatenate([c for col in columns for c in (col, gap)][:-1], axis=1)
    Image.fromarray(np.clip(sheet / top * 255, 0, 255).astype(np.uint8)).save(path)


if __name__ == "__main__":
    main()
