"""``n2n denoise``, ``n2n eval`` and ``n2n demo``: a trained model on images."""

from __future__ import annotations

import argparse
from dataclasses import asdict
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from n2n.cli.common import (
    add_model_options,
    add_overwrite_option,
    inference_spec,
    input_name,
    input_path,
    load_denoiser,
    output_path,
)
from n2n.data.noise import parse_noise
from n2n.errors import N2NError
from n2n.io.files import IMAGE, PLOT, RECORD, write_json_record
from n2n.io.outputs import claim_outputs


def add_parsers(sub) -> None:
    _add_denoise_parser(sub)
    _add_eval_parser(sub)
    _add_demo_parser(sub)


def _add_denoise_parser(sub) -> None:
    p = sub.add_parser("denoise", help="denoise image files, folders or globs")
    p.add_argument("inputs", nargs="+", type=input_name,
                   help="image files, folders, OME-Zarr images or glob patterns")
    p.add_argument("-o", "--output", type=output_path, required=True,
                   help="output folder (created), or a file name for a single input; "
                   "NAME.zarr writes chunked OME-Zarr (needs n2n-lite[zarr])")
    add_model_options(p)
    p.add_argument("--tile", type=int, help="tile side for large images (px); default: as "
                   "large as a memory budget holds, pixel-shuffled passes tiled in their "
                   "sub-images")
    p.add_argument("--json", type=output_path, help="also write each image's output and treatment "
                   "(model, --pd and why) as JSON to this file")
    add_overwrite_option(p)
    p.add_argument("--zero-shot", action="store_true", help="no trained model: fit a tiny "
                   "network to each image itself (zero-shot Noise2Noise)")
    p.add_argument("--iterations", type=int, help="for --zero-shot: Adam steps (default "
                   "100 from the bundled prior, 1000 with --no-prior)")
    p.add_argument("--no-prior", dest="prior", action="store_false", help="for --zero-shot: "
                   "start from random weights, not the bundled prior (as the paper)")
    p.add_argument("--crop", type=int, help="for --zero-shot: each step fits a random window "
                   "of this side (default 256; 0: the whole image, the paper's schedule)")
    p.add_argument("--minutes", type=float, help="for --zero-shot: time budget per image")
    cluster = p.add_argument_group("cluster (one OME-Zarr image or TIFF stack in, OME-Zarr out; "
                                   "needs n2n-lite[dask])")
    cluster.add_argument("--dask", nargs="?", const="local", metavar="SCHEDULER_ADDRESS",
                         help="denoise in chunks on Dask workers: a local cluster, or the "
                         "scheduler at this address (tcp://host:8786); workers must see the "
                         "input and output paths")
    cluster.add_argument("--workers", type=int, help="local cluster size (default: cores / "
                         "threads per worker)")
    cluster.add_argument("--threads-per-worker", type=int, default=1,
                         help="torch threads per local worker (default 1)")
    p.add_argument("--data-range", type=float, help="the value of white (default: 255 for "
                   "8-bit, 65535 for 16-bit files; for float files measured: 1 for 0..1 "
                   "data, 255 for 8-bit-scale data, else their 99.9th percentile; printed "
                   "with each choice)")
    p.add_argument("--axes", help="a TIFF stack's axes where the file does not say them, "
                   "e.g. ZYX, TYX, TZYX: a context model's window runs along Z, else T; by "
                   "default a gray fluorescence stack whose axes name Z or T (5 planes or "
                   "more) gets the bundled confocal-context model, each plane with its "
                   "neighbours, and a time-lapse of 9 frames or more confocal-timelapse")
    p.set_defaults(run=run_denoise)


def _add_eval_parser(sub) -> None:
    p = sub.add_parser("eval", help="PSNR/SSIM on clean images with seeded noise, on real "
                       "captures with references, or on an EE-559 pkl")
    p.add_argument("inputs", nargs="*", type=input_name,
                   help="clean images/folders, or one EE-559 val_data.pkl")
    p.add_argument("--noisy", type=input_path, metavar="DIR", help="real noisy captures (no noise "
                   "added), scored against --reference DIR, matched by file name")
    p.add_argument("--reference", type=input_path, metavar="DIR", help="references for --noisy")
    p.add_argument("--bursts", type=input_path, metavar="DIR",
                   help="a bursts folder: every capture "
                   "of every scene scored alone against the scene's --reference-name file")
    p.add_argument("--reference-name", metavar="FILE", default="avg50.png",
                   help="for --bursts: the reference file of each scene (default avg50.png)")
    p.add_argument("--noise", default="gaussian:25", help="noise spec (default gaussian:25)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--clip", action="store_true", help="clip the noisy images to 0..255 as "
                   "8-bit files are (published gaussian figures are mostly unclipped)")
    p.add_argument("--json", type=output_path, help="also write the scores as JSON to this file")
    add_model_options(p)
    add_overwrite_option(p)
    p.set_defaults(run=run_eval)


def _add_demo_parser(sub) -> None:
    p = sub.add_parser("demo", help="denoise a bundled sample photo and show the gain")
    p.add_argument("-o", "--output", type=output_path, default=Path("n2n-demo"),
                   help="folder for the PNGs (default ./n2n-demo)")
    p.add_argument("--noise", default="gaussian:25")
    p.add_argument("--seed", type=int, default=0)
    add_model_options(p)
    add_overwrite_option(p)
    p.set_defaults(run=run_demo)


def run_denoise(args: argparse.Namespace) -> int:
    from n2n.inference.paths import denoise_paths

    def say(path: Path, decision) -> None:  # the input as named with --dask (one input)
        tqdm.write(f"{path if args.dask else path.name}: {decision}")

    spec = inference_spec(args, args.tile)
    written = denoise_paths(spec, args.inputs, args.output,
                            record=args.json, overwrite=args.overwrite,
                            data_range=args.data_range, axes=args.axes, dask=args.dask,
                            workers=args.workers, threads_per_worker=args.threads_per_worker,
                            on_image=say)
    print(f"wrote {args.output}" if args.dask else
          f"wrote {len(written)} image(s) to {args.output}")
    return 0


def run_eval(args: argparse.Namespace) -> int:
    from n2n.evaluation import scoring as evaluate
    from n2n.inference.spec import build_denoiser, weights_name

    spec = inference_spec(args)
    denoiser = build_denoiser(spec)
    real = (args.noisy or args.reference, args.bursts)
    if sum(map(bool, (args.inputs, *real))) != 1 or bool(args.noisy) != bool(args.reference):
        raise N2NError("eval takes one kind of data: clean images (noise added), an EE-559 "
                       "pkl, --noisy DIR --reference DIR, or --bursts DIR")
    if args.noisy:
        pairs, setting = evaluate.reference_pairs(args.noisy, args.reference), "real noise"
    elif args.bursts:
        # captures keep their own channels where the treatment is chosen, as n2n denoise
        # reads them (a gray capture is measured as gray)
        pairs = evaluate.burst_pairs(args.bursts, args.reference_name,
                                     None if spec.chooses else denoiser.channels)
        setting = "real noise (bursts)"
    else:
        pairs, setting = evaluate.clean_pairs(args.inputs, parse_noise(args.noise), args.seed,
                                              args.clip)
    if args.json:
        given = [*args.inputs, *(p for p in (args.noisy, args.reference, args.bursts) if p)]
        claim_outputs([args.json], given, overwrite=args.overwrite, kind=RECORD)
    bar = tqdm(pairs, desc="eval", unit="image", leave=False, disable=None)
    scores = evaluate.score_pairs(bar, denoiser)
    print(setting if setting.startswith("real") else f"{setting}, seed {args.seed}")
    print(evaluate.format_table(scores))
    if args.json:
        record = {"setting": setting, "seed": args.seed,
                  "weights": weights_name(spec.model),
                  "mean": asdict(evaluate.mean_score(scores)),
                  "images": [asdict(s) for s in scores]}
        write_json_record(args.json, record)
    return 0


def run_demo(args: argparse.Namespace) -> int:
    from skimage import data as skdata

    from n2n.evaluation.metrics import psnr
    from n2n.evaluation.plots import side_by_side
    from n2n.evaluation.scoring import noisy_versions
    from n2n.io.images import Image, write_image

    names = {"noisy.png": IMAGE, "denoised.png": IMAGE, "clean.png": IMAGE,
             "side_by_side.png": PLOT}
    claim_outputs({args.output / n: kind for n, kind in names.items()}, overwrite=args.overwrite)
    noise = parse_noise(args.noise)
    clean = skdata.astronaut().astype(np.float32)  # 512x512 RGB photo bundled with scikit-image
    _, noisy, _ = next(noisy_versions([Path("astronaut")], [clean], noise, args.seed))
    denoised = load_denoiser(args)(noisy)
    args.output.mkdir(parents=True, exist_ok=True)
    noisy_psnr, out_psnr = psnr(noisy, clean), psnr(denoised, clean)
    for name, pixels in (("clean", clean), ("noisy", noisy), ("denoised", denoised)):
        write_image(args.output / f"{name}.png", Image(pixels))
    side_by_side([noisy, denoised, clean], [f"noisy {noise.spec} ({noisy_psnr:.2f} dB)",
                 f"n2n-lite ({out_psnr:.2f} dB)", "clean"], args.output / "side_by_side.png")
    print(f"noisy {noisy_psnr:.2f} dB -> denoised {out_psnr:.2f} dB "
          f"(gain {out_psnr - noisy_psnr:+.2f} dB)")
    print(f"wrote noisy.png, denoised.png, clean.png, side_by_side.png to {args.output}")
    return 0
