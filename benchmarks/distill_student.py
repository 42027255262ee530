"""A distilled student of the default camera treatment (issue 39, item 3): cost, teacher
targets, training data and per-image scores against the teacher.

The teacher is the default for camera noise: camera ``--pd 2``, photo refine, and on DSLR-like
noise (residual correlated over 2 px) ``--pd 3``/``4`` results taking over flat areas. The
student keeps the first pass and replaces refine + flat areas with one refine network of the
photo network's size, fine-tuned (from the photo weights) to map the camera ``--pd 2`` result
to the teacher's output, on noisy photos only (no clean image is read in training).

* ``speed``: on a 3-MP mosaic of noisy crops, seconds of ``--model photo --pd 1`` (before and
  after the others, averaged), the camera network at ``--pd 2`` alone, at ``--pd 2`` refined
  (the student's cost without its probe), at ``--pd 1``, and the default's 512 x 512 probe;
  every ratio against photo pd 1 from this one run.
* ``teacher``: for each noisy photo, the default's output, the camera pd 2 output (the
  student's input) and the treatment, cached as .npy under ``--cache`` (not in the repo).
* ``pairs``: training scenes for ``n2n.training.train`` (source ``bursts`` with a reference,
  float32 TIFF: ``<scene>/a.tif`` = ``<scene>/b.tif`` = unclipped camera pd 2 result,
  ``<scene>/teacher.tif``), trained with target ``clean``.
* ``score``: PSNR per image of the teacher and of the student (a checkpoint) against the
  references, and their difference.

Usage: ``python benchmarks/distill_student.py speed CROPS... --out JSON``;
``... teacher NOISY... --cache DIR``; ``... pairs NAMES --cache DIR --scenes DIR``;
``... score --cache DIR --student CKPT --pairs NOISY CLEAN ... --out JSON``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from default_speed import mosaic, processor

from n2n.evaluation.metrics import psnr
from n2n.inference.denoiser import Denoiser
from n2n.inference.spec import InferenceSpec, build_denoiser
from n2n.io.images import list_images, read_image
from n2n.models.bundled import load_bundled
from n2n.models.checkpoint import load_model


def timed(run, pixels: np.ndarray) -> float:
    start = time.perf_counter()
    run(pixels)
    return time.perf_counter() - start


def speed(args: argparse.Namespace) -> dict:
    crops = [read_image(p).pixels for p in list_images(args.crops)]
    width, height = (int(v) for v in args.size.split("x"))
    pixels = mosaic(crops, height, width)
    runs = {"photo_pd1": InferenceSpec(model="photo", pd=1),
            "camera_pd2": InferenceSpec(model="camera", pd=2, refine=False),
            "camera_pd2_refine": InferenceSpec(model="camera", pd=2, refine=True),
            "camera_pd1": InferenceSpec(model="camera", pd=1)}
    denoisers = {k: build_denoiser(v) for k, v in runs.items()}
    for d in denoisers.values():
        d(crops[0][:256, :256])  # loads the models
    seconds = {"photo_pd1_before": timed(denoisers["photo_pd1"], pixels)}
    for name in ("camera_pd2", "camera_pd2_refine", "camera_pd1"):
        seconds[name] = timed(denoisers[name], pixels)
        print(name, round(seconds[name], 1), flush=True)
    top, left = (height - 512) // 2, (width - 512) // 2
    seconds["probe_512"] = timed(denoisers["camera_pd2_refine"],
                                 pixels[top:top + 512, left:left + 512])
    seconds["photo_pd1_after"] = timed(denoisers["photo_pd1"], pixels)
    photo = (seconds["photo_pd1_before"] + seconds["photo_pd1_after"]) / 2
    ratios = {k: round(v / photo, 2) for k, v in seconds.items() if not k.startswith("photo")}
    ratios["student_with_probe"] = round(
        (seconds["camera_pd2_refine"] + seconds["probe_512"]) / photo, 2)
    return {"size": args.size, "seconds": {k: round(v, 1) for k, v in seconds.items()},
            "ratio_to_photo_pd1": ratios}


def teacher(args: argparse.Namespace) -> dict:
    cache = Path(args.cache)
    cache.mkdir(parents=True, exist_ok=True)
    default = build_denoiser(InferenceSpec())
    first = build_denoiser(InferenceSpec(model="camera", pd=2, refine=False))
    done = {}
    for path in list_images(args.noisy):
        key = f"{path.parent.parent.name}_{path.parent.name}_{path.stem}"
        if (cache / f"{key}.teacher.npy").exists():
            continue
        noisy = read_image(path).pixels
        np.save(cache / f"{key}.first.npy", np.asarray(first(noisy, clip=False), np.float32))
        out = default(noisy)
        np.save(cache / f"{key}.teacher.npy", np.asarray(out, np.float32))
        done[key] = str(default.last)
        (cache / f"{key}.treatment.txt").write_text(str(default.last) + "\n")
        print(key, done[key], flush=True)
    return done


def pairs(args: argparse.Namespace) -> dict:
    """Scene folders: the camera pd 2 result twice (a.tif, b.tif; bursts need two captures)
    and the teacher's output as the reference (teacher.tif), float32 so nothing is rounded."""
    import tifffile

    cache, scenes = Path(args.cache), Path(args.scenes)
    made = []
    for name in Path(args.names).read_text().split():
        folder = scenes / name
        folder.mkdir(parents=True, exist_ok=True)
        first = np.load(cache / f"{name}.first.npy")  # unclipped, as the refine pass gets it
        target = np.load(cache / f"{name}.teacher.npy")
        for file, image in (("a.tif", first), ("b.tif", first), ("teacher.tif", target)):
            tifffile.imwrite(folder / file, image.astype(np.float32))
        made.append(name)
    return {"scenes": made}


def synth(args: argparse.Namespace) -> dict:
    """CBSD68 photos with simulated camera noise (``--noise``, seeded as camera_rule.py
    seeds it), written as float32 TIFF to ``<out>/noisy`` and ``<out>/clean``."""
    import tifffile

    from n2n.data.noise import parse_noise
    from n2n.evaluation.scoring import clean_pairs

    out = Path(args.scenes)
    images = sorted(p for p in Path(args.crops[0]).iterdir() if p.suffix.lower() == ".png")
    pairs, setting = clean_pairs(images[:args.limit], parse_noise(args.noise), 0)
    for name, noisy, clean in pairs:
        for folder, image in (("noisy", noisy), ("clean", clean)):
            (out / folder).mkdir(parents=True, exist_ok=True)
            tifffile.imwrite(out / folder / f"{Path(name).stem}.tif", image.astype(np.float32))
    return {"setting": setting, "images": [p.name for p in images[:args.limit]]}


def train_student(args: argparse.Namespace) -> dict:
    """The student refine network through the project's one training call: the photo weights
    fine-tuned, input = camera pd 2 result, target = the teacher's output (Noise2Clean's
    target slot holds the teacher; no clean image is read)."""
    from n2n.data.config import DataConfig
    from n2n.training import TrainConfig, train

    data = DataConfig(source="bursts", paths=[args.scenes], reference_name="teacher.tif",
                      patch_size=args.patch, patches_per_epoch=args.patches, holdout=0.1)
    config = TrainConfig(data=data, mode="n2n", target="clean", loss="l2", init="photo",
                         lr=args.lr, lr_patience=2, batch_size=args.batch, epochs=args.epochs,
                         minutes=args.minutes, checkpoint_minutes=5.0, threads=args.threads,
                         seed=0)
    result = train(config, args.run, progress=False, device="cpu")
    return {"best": str(result.best), "epochs": len(result.history)}


def student_denoiser(checkpoint: str) -> Denoiser:
    """Camera pd 2, then the student refine network at full resolution."""
    return Denoiser(load_bundled("camera"), "cpu", pd=2, refine=load_model(checkpoint))


def refiners(args: argparse.Namespace) -> dict[str, Denoiser]:
    """The second passes scored on the cached camera pd 2 results: photo (the default without
    flat areas, the student's start) and each ``--student`` checkpoint."""
    found = {"photo_refine": Denoiser(load_bundled("photo"), "cpu", pd=1)}
    for checkpoint in args.student or []:
        found[Path(checkpoint).parent.name] = Denoiser(load_model(checkpoint), "cpu", pd=1)
    return found


def score(args: argparse.Namespace) -> dict:
    """PSNR per image against the reference: the teacher's (cached), and camera pd 2 (cached)
    refined by photo and by each student, with the difference to the teacher."""
    cache = Path(args.cache)
    second = refiners(args)
    rows = {}
    for noisy_dir, clean_dir in args.pairs:
        for path in list_images([noisy_dir]):
            key = f"{path.parent.parent.name}_{path.parent.name}_{path.stem}"
            if not (cache / f"{key}.teacher.npy").exists():
                continue
            clean = read_image(Path(clean_dir) / path.name).pixels
            teacher_out = np.load(cache / f"{key}.teacher.npy")
            row = {"teacher": round(psnr(teacher_out, clean), 4),
                   "treatment": (cache / f"{key}.treatment.txt").read_text().strip()}
            first = np.load(cache / f"{key}.first.npy")
            for name, refine in second.items():
                out = refine(first)
                row[name] = round(psnr(out, clean), 4)
                row[f"{name}_delta"] = round(row[name] - row["teacher"], 4)
                row[f"{name}_to_teacher"] = round(psnr(out, teacher_out), 2)
            rows[key] = row
            print(key, row, flush=True)
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("what", choices=["speed", "teacher", "pairs", "synth", "train", "score"])
    p.add_argument("crops", nargs="*", help="speed: noisy crops; teacher: noisy photos")
    p.add_argument("--size", default="2000x1500")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--cache", default="/tmp/n2n-student/cache")
    p.add_argument("--names", help="pairs: a file of cache keys")
    p.add_argument("--scenes", help="pairs: where the scene folders go")
    p.add_argument("--student", nargs="*", help="score: student refine checkpoints")
    p.add_argument("--run", help="train: the run folder")
    p.add_argument("--noise", default="camera:0.003,85", help="synth: the noise on CBSD68")
    p.add_argument("--limit", type=int, default=8, help="synth: photos")
    p.add_argument("--patch", type=int, default=128)
    p.add_argument("--patches", type=int, default=1600, help="train: patches per epoch")
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--epochs", type=int, default=100)
    p.add_argument("--minutes", type=float, default=30.0)
    p.add_argument("--pairs", nargs=2, action="append", metavar=("NOISY", "CLEAN"),
                   default=[])
    p.add_argument("--out", help="JSON file (default: print only)")
    args = p.parse_args()
    args.noisy = args.crops
    torch.set_num_threads(args.threads)
    run = {"speed": speed, "teacher": teacher, "pairs": pairs, "synth": synth,
           "train": train_student, "score": score}[args.what]
    result = {"processor": processor(), args.what: run(args)}
    print(json.dumps(result, indent=1))
    if args.out:
        Path(args.out).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
