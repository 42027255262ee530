"""The FMD test field as a time-lapse: a 2.5-D context model trained on its noisy frames alone
(Noise2Noise between interleaved frames) against the bundled 2-D ``confocal`` model per frame,
the plain mean of the same window of frames, and that mean denoised by ``confocal``.

Usage (three stages, so that training runs in the background with checkpoints)::

    python benchmarks/context_timelapse.py prepare FIELD WORK [--hold 10] [--extra TRAIN_DIR]
    python benchmarks/context_timelapse.py train WORK [--minutes 35] [--threads 1] [--init CKPT]
        [--lr-patience 4] [--lr 3e-4] [--context 5]
    python benchmarks/context_timelapse.py evaluate FIELD WORK [--json OUT.json]
        [--png SECTIONS.png]
    python benchmarks/context_timelapse.py bundle WORK src/n2n/weights/confocal-context.pt

FIELD is ``fmd_confocal_bpae/test/19`` (50 frames ``HV110_P*.png`` and ``avg50.png``). The
first ``--hold`` frames are held out: the model trains on frames ``hold..49`` only (written to
WORK/train_frames.tif as a TYX stack), and is scored on frames ``0..hold-1`` read as their own
time-lapse (a window never reaches a training frame). Every score is against ``avg50.png``,
which is never used for training or model selection.

``--extra fmd_confocal_bpae/train`` adds FMD's 19 training fields (20 captures each, other
cells than the test field) as 20-frame time-lapses WORK/extra_<field>.tif; ``--init`` starts
from a context model's weights, or from a 2-D Lite model's (``confocal``) widened to the
window (a lower learning rate, 3e-4) instead of from scratch.
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
from n2n.data.volumes import window_indices
from n2n.evaluation.metrics import psnr
from n2n.inference.arrays import denoise_array
from n2n.io.images import read_image
from n2n.models.checkpoint import load_model, write_weights
from n2n.training import DataConfig, TrainConfig, train

CONTEXT = 5  # frames in a window, unless --context says otherwise


def frames(field: Path) -> tuple[np.ndarray, np.ndarray]:
    """(T, H, W) uint8 frames in file order, and the (H, W) reference."""
    paths = sorted(p for p in field.glob("HV110_P*.png"))
    stack = np.stack([read_image(p).pixels[..., 0] for p in paths]).astype(np.uint8)
    return stack, read_image(field / "avg50.png").pixels[..., 0]


def prepare(field: Path, work: Path, hold: int, extra: Path | None = None) -> None:
    stack, _ = frames(field)
    work.mkdir(parents=True, exist_ok=True)
    tifffile.imwrite(work / "train_frames.tif", stack[hold:], imagej=True,
                     metadata={"axes": "TYX"})
    print(f"{len(stack) - hold} training frames -> {work / 'train_frames.tif'}")
    for other in sorted(p for p in (extra.iterdir() if extra else []) if p.is_dir()):
        paths = sorted(other.glob("HV110_P*.png"))
        captures = np.stack([read_image(p).pixels[..., 0] for p in paths]).astype(np.uint8)
        tifffile.imwrite(work / f"extra_{other.name}.tif", captures, imagej=True,
                         metadata={"axes": "TYX"})
        print(f"{len(captures)} frames of field {other.name} -> extra_{other.name}.tif")


def train_stage(work: Path, minutes: float, threads: int, init: Path | None = None,
                lr_patience: int = 4, lr: float | None = None, context: int = CONTEXT
                ) -> None:
    stacks = [str(work / "train_frames.tif"), *map(str, sorted(work.glob("extra_*.tif")))]
    data = DataConfig(source="volume", paths=stacks, patch_size=64, patches_per_epoch=800)
    model = {"width": 32, "depth": 4, "residual": True, "linear_output": True,
             "context": context}
    config = TrainConfig(data=data, model={"context": context} if init else model, init=init,
                         batch_size=16, epochs=1000, minutes=minutes, threads=threads,
                         lr=lr or (3e-4 if init else 1e-3), lr_patience=lr_patience,
                         checkpoint_minutes=3.0)
    resume = (work / "run" / "last.pt").is_file()
    train(None if resume else config, work / "run", resume=resume, progress=False)


def window_means(stack: np.ndarray, context: int) -> np.ndarray:
    """Each frame's centred window of ``context`` frames (mirrored at the ends, as the context
    model reads them), averaged."""
    return np.stack([stack[window_indices(t, len(stack), context)].astype(np.float32).mean(0)
                     for t in range(len(stack))])


def scores(frames_out: np.ndarray, reference: np.ndarray) -> list[float]:
    return [round(psnr(np.clip(f.astype(np.float32), 0, 255), reference), 3) for f in frames_out]


def timed(run) -> tuple[np.ndarray, float]:
    start = time.perf_counter()
    out = run()
    return out, time.perf_counter() - start


def methods(stack: np.ndarray, model: Path, context: int
            ) -> dict[str, tuple[np.ndarray, float]]:
    """Every compared method's output for a (T, H, W) uint8 time-lapse, with its seconds; the
    means over the model's window of ``context`` frames."""
    means = window_means(stack, context)
    return {
        "single frame": (stack, 0.0),
        "confocal per frame": timed(lambda: denoise_array(stack, "confocal")),
        f"mean of {context}-frame window": (means, 0.0),
        f"confocal on the {context}-frame mean": timed(
            lambda: denoise_array(means, "confocal", data_range=255.0)),
        f"context model ({context} frames)": timed(
            lambda: denoise_array(stack, model, axes="TYX")),
    }


def write_sections(path: Path, outputs: dict[str, np.ndarray], reference: np.ndarray,
                   crop: int = 160, stretch: int = 8) -> None:
    """XY (a crop of the middle frame, top) over XT (the crop's brightest row of the reference
    through every frame, each frame ``stretch`` rows tall, bottom) sections of each (T, H, W)
    output, and the reference (the same in every frame), on one grey scale."""
    from matplotlib.figure import Figure

    from n2n.evaluation.plots import save_figure

    frames_ = next(iter(outputs.values())).shape[0]
    top = float(np.percentile(reference, 99.9))  # confocal frames are dark: stretched alike
    columns = {**outputs, "avg50.png (reference)": np.repeat(reference[None], frames_, 0)}
    y0, x0 = (s // 2 - crop // 2 for s in reference.shape)
    row = int(np.argmax(reference[y0:y0 + crop, x0:x0 + crop].mean(axis=1)))  # through cells
    fig = Figure(figsize=(2.6 * len(columns), 2.6 + 2.6 * frames_ * stretch / crop))
    axes = fig.subplots(2, len(columns), height_ratios=[crop, frames_ * stretch])
    for k, (name, stack) in enumerate(columns.items()):
        part = np.clip(stack[:, y0:y0 + crop, x0:x0 + crop].astype(np.float32), 0, 255)
        xt = np.repeat(part[:, row], stretch, axis=0)
        for ax, image in zip(axes[:, k], (part[frames_ // 2], xt), strict=True):
            ax.imshow(image, cmap="gray", vmin=0, vmax=top, interpolation="nearest")
            ax.set_axis_off()
        axes[0, k].set_title(name, fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)


def evaluate(field: Path, work: Path, hold: int, out: Path | None, threads: int,
             png: Path | None = None) -> None:
    stack, reference = frames(field)
    reference = reference.astype(np.float32)
    model = work / "run" / "last.pt"  # the final weights: best.pt follows the noisy loss
    history = load_model(model).config
    result = {"machine": machine(), "threads": threads, "field": str(field),
              "model": {"config": str(history), "checkpoint": str(model)},
              "held_out": f"frames 0..{hold - 1} (read as their own {hold}-frame time-lapse); "
                          f"the model trained on frames {hold}..{len(stack) - 1} only",
              "held_out_frames": {}, "all_frames": {}}
    for key, part in (("held_out_frames", stack[:hold]), ("all_frames", stack)):
        outputs = methods(part, model, history.context)
        if png is not None and key == "held_out_frames":
            write_sections(png, {k: v for k, (v, _) in outputs.items() if "mean of" not in k},
                           reference)
        for name, (frames_out, seconds) in outputs.items():
            per_frame = scores(frames_out, reference)
            result[key][name] = {"mean_psnr": round(float(np.mean(per_frame)), 3),
                                 "min_psnr": min(per_frame), "per_frame": per_frame,
                                 "seconds": round(seconds, 2)}
            print(f"{key}: {name}: {np.mean(per_frame):.2f} dB (min {min(per_frame):.2f})",
                  flush=True)
        if out is not None:  # after each part: the held-out figures first
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(result, indent=1) + "\n")


def bundle(work: Path, out: Path) -> None:
    """WORK/run/last.pt as a bundled weights file: config, float32 weights, how it was trained
    (no optimizer state)."""
    record = torch.load(work / "run" / "last.pt", weights_only=False, map_location="cpu")
    keep = {k: record[k] for k in ("train_config", "history", "init") if k in record}
    write_weights(load_model(work / "run" / "last.pt"), out, extra=keep)
    print(f"{out}: {out.stat().st_size / 1e3:.0f} kB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stage", choices=("prepare", "train", "evaluate", "bundle"))
    parser.add_argument("paths", nargs="+", type=Path)
    parser.add_argument("--hold", type=int, default=10)
    parser.add_argument("--minutes", type=float, default=35.0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--png", type=Path, help="XY and XT sections of the held-out frames")
    parser.add_argument("--extra", type=Path, help="FMD's train/ folder: more fields")
    parser.add_argument("--init", type=Path, help="start from these weights: a context "
                        "model, or a 2-D Lite model (confocal) widened to the window")
    parser.add_argument("--context", type=int, default=CONTEXT,
                        help="frames a window holds (train; evaluate reads the model's)")
    parser.add_argument("--lr", type=float, help="Adam's rate (1e-3; 3e-4 with --init)")
    parser.add_argument("--lr-patience", type=int, default=4,
                        help="epochs of 50 steps without a lower loss before the rate halves")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.stage == "prepare":
        prepare(args.paths[0], args.paths[1], args.hold, args.extra)
    elif args.stage == "train":
        train_stage(args.paths[0], args.minutes, args.threads, args.init, args.lr_patience,
                    args.lr, args.context)
    elif args.stage == "bundle":
        bundle(args.paths[0], args.paths[1])
    else:
        evaluate(args.paths[0], args.paths[1], args.hold, args.json, args.threads, args.png)


if __name__ == "__main__":
    main()
