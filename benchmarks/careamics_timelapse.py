"""CAREamics' Noise2Void (3-D) on the FMD test field read as a time-lapse: the baseline beside
``context_timelapse.py``'s context model, trained on the same frames for the same number of
optimizer steps on one thread, and scored the same way.

Usage (in a venv with ``careamics`` and this project installed; CAREamics pins its own torch,
so keep it apart from the project's venv)::

    python benchmarks/careamics_timelapse.py FIELD WORK [--json OUT.json] [--steps 900]
        [--steps-per-epoch 20] [--minutes 0] [--threads 1]

FIELD is ``fmd_confocal_bpae/test/19`` (50 frames ``HV110_P*.png`` and ``avg50.png``). The
frames ``hold..49`` (default 10..49) are the training stack, read as ZYX with the frames as Z;
the held-out frames ``0..hold-1`` are predicted as their own 10-frame stack and scored per
frame against ``avg50.png`` with ``n2n.evaluation.metrics.psnr``, as the context benchmark
does. CAREamics (Lightning) writes its checkpoints and logs under WORK only.

Everything but the budget is CAREamics' default ``create_n2v_config`` (UNet depth 2, 32
channels, 3-D since Z is in the axes, mean/std normalisation, flips and 90-degree rotations,
8 validation patches from the training stack, ReduceLROnPlateau) with batch 16 and patches of
8 x 64 x 64 (Z covers the context model's 5-frame window). ``--minutes`` (0: no limit) stops
training by wall time (Lightning's ``max_time``); the JSON then says how many steps were done.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import careamics
import numpy as np
import torch
from careamics import CAREamist
from careamics.config import create_advanced_n2v_config

from n2n.bench.measure import machine
from n2n.evaluation.metrics import psnr
from n2n.io.images import read_image

PATCH = (8, 64, 64)
BATCH = 16
TILE = (8, 256, 256)
TILE_OVERLAP = (4, 48, 48)


def frames(field: Path) -> tuple[np.ndarray, np.ndarray]:
    """(T, H, W) uint8 frames in file order, and the (H, W) reference (as the context
    benchmark reads them)."""
    paths = sorted(field.glob("HV110_P*.png"))
    stack = np.stack([read_image(p).pixels[..., 0] for p in paths]).astype(np.uint8)
    return stack, read_image(field / "avg50.png").pixels[..., 0]


def settings(steps: int, steps_per_epoch: int, minutes: float) -> dict:
    """The knobs this benchmark sets; all else is CAREamics' default."""
    epochs = -(-steps // steps_per_epoch)
    return {"algorithm": "n2v", "axes": "ZYX (frames as Z)", "patch_size": list(PATCH),
            "batch_size": BATCH, "num_epochs": epochs, "num_steps_per_epoch": steps_per_epoch,
            "target_steps": epochs * steps_per_epoch, "max_minutes": minutes or None,
            "num_workers": 0, "logger": "none", "seed": 1,
            "predict_tile": list(TILE), "predict_tile_overlap": list(TILE_OVERLAP)}


def configure(setup: dict):
    """CAREamics' N2V configuration from its documented factory."""
    trainer = {"max_time": {"minutes": setup["max_minutes"]}} if setup["max_minutes"] else {}
    return create_advanced_n2v_config(
        experiment_name="fmd_timelapse_n2v", data_type="array", axes="ZYX",
        patch_size=list(PATCH), batch_size=BATCH, num_epochs=setup["num_epochs"],
        num_steps=setup["num_steps_per_epoch"], num_workers=0, trainer_params=trainer,
        logger="none", seed=setup["seed"])


def train(stack: np.ndarray, work: Path, setup: dict) -> tuple[CAREamist, float, int]:
    """Trains on the (Z, Y, X) stack; the model, seconds and optimizer steps done. The weights
    as training left them go to WORK/final.ckpt (CAREamics' own last.ckpt is written at epoch
    ends, so it can lag a run stopped by the time limit)."""
    careamist = CAREamist(configure(setup), work_dir=work, enable_progress_bar=False)
    start = time.perf_counter()
    careamist.train(train_data=stack.astype(np.float32))
    seconds = time.perf_counter() - start
    careamist.trainer.save_checkpoint(work / "final.ckpt")
    return careamist, seconds, int(careamist.trainer.global_step)


def predict(careamist: CAREamist, stack: np.ndarray, work: Path) -> tuple[np.ndarray, float]:
    """The denoised (T, H, W) stack in the input's units (CAREamics undoes its own
    normalisation), tiled in Y and X, from WORK/final.ckpt, and its seconds."""
    start = time.perf_counter()
    out, _ = careamist.predict(stack.astype(np.float32), data_type="array", axes="ZYX",
                               tile_size=TILE, tile_overlap=TILE_OVERLAP,
                               checkpoint=work / "final.ckpt")
    denoised = np.asarray(out[0], dtype=np.float32).reshape(stack.shape)
    return denoised, time.perf_counter() - start


def score(denoised: np.ndarray, reference: np.ndarray) -> dict:
    """Per-frame PSNR against the reference, as ``context_timelapse.scores`` computes it."""
    per_frame = [round(psnr(np.clip(f, 0, 255), reference), 3) for f in denoised]
    return {"mean_psnr": round(float(np.mean(per_frame)), 3), "min_psnr": min(per_frame),
            "per_frame": per_frame}


def run(field: Path, work: Path, out: Path | None, hold: int, setup: dict) -> dict:
    stack, reference = frames(field)
    careamist, train_seconds, steps = train(stack[hold:], work, setup)
    print(f"trained {steps} steps in {train_seconds:.0f} s", flush=True)
    denoised, predict_seconds = predict(careamist, stack[:hold], work)
    result = {
        "machine": machine(),
        "careamics": careamics.__version__, "settings": setup, "field": str(field),
        "train_frames": f"frames {hold}..{len(stack) - 1} as one ZYX stack",
        "held_out": f"frames 0..{hold - 1} (predicted as their own {hold}-frame stack)",
        "steps_done": steps, "train_seconds": round(train_seconds, 1),
        "predict_seconds": round(predict_seconds, 2),
        "held_out_frames": {"careamics n2v 3-D": score(denoised, reference.astype(np.float32))},
    }
    if steps < setup["target_steps"]:
        result["note"] = (f"stopped by the time limit after {steps} of "
                          f"{setup['target_steps']} steps: not an equal-steps comparison")
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(".tmp")
        tmp.write_text(json.dumps(result, indent=1) + "\n")
        tmp.replace(out)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("field", type=Path)
    parser.add_argument("work", type=Path, help="CAREamics' work_dir (checkpoints, logs)")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--hold", type=int, default=10)
    parser.add_argument("--steps", type=int, default=900)
    parser.add_argument("--steps-per-epoch", type=int, default=20,
                        help="20: the 320 patches CAREamics cuts from 40 x 512 x 512, batch 16")
    parser.add_argument("--minutes", type=float, default=0.0, help="wall-time cap (0: none)")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    args.work.mkdir(parents=True, exist_ok=True)
    setup = settings(args.steps, args.steps_per_epoch, args.minutes)
    setup["threads"] = args.threads
    result = run(args.field, args.work, args.json, args.hold, setup)
    frames_score = result["held_out_frames"]["careamics n2v 3-D"]
    print(f"held out: {frames_score['mean_psnr']:.2f} dB (min {frames_score['min_psnr']:.2f})")


if __name__ == "__main__":
    main()
