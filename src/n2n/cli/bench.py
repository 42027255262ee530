"""``n2n bench``: every denoiser side by side on the same data (see :mod:`n2n.bench.suite`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from n2n.cli.common import add_overwrite_option, input_path, output_path
from n2n.errors import N2NError


def add_parsers(sub) -> None:
    _add_info_parser(sub)
    p = sub.add_parser("bench", help="every denoiser side by side: tables, JSON and plots")
    p.add_argument("data", nargs="*", type=input_path,
                   help="clean image folders and/or EE-559 val_data.pkl files")
    p.add_argument("--noisy", type=input_path, metavar="DIR", help="real noisy captures (no noise "
                   "added), scored against --reference DIR, matched by file name")
    p.add_argument("--reference", type=input_path, metavar="DIR", help="references for --noisy")
    p.add_argument("--bursts", type=input_path, metavar="DIR",
                   help="a bursts folder: every capture "
                   "scored alone against its scene's --reference-name file")
    p.add_argument("--reference-name", default="avg50.png", metavar="FILE")
    p.add_argument("-o", "--output", type=output_path, help="folder for the results (with "
                   "--quick: default ./n2n-bench-quick)")
    p.add_argument("--quick", action="store_true",
                   help="tiny generated images, every part of the run, well under a minute")
    p.add_argument("--noise", nargs="+", default=["gaussian:15", "gaussian:25", "gaussian:50"],
                   help="noise specs for the image folders")
    p.add_argument("--methods", nargs="+", help="default: all (bm3d when installed), zero-shot")
    p.add_argument("--limit", type=int, help="use the first N images of each data set")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--clip", action="store_true", help="clip the noisy images to 0..255 as "
                   "8-bit files are (published gaussian figures are mostly unclipped: 0.5-1 dB "
                   "easier on saturated images)")
    p.add_argument("--weights", nargs="+", type=input_path, default=[], metavar="CHECKPOINT",
                   help="also benchmark these checkpoints or exported .pt files (as "
                   "weights:<path>)")
    p.add_argument("--zero-shot-iterations", type=int, help="Adam steps of each zero-shot fit "
                   "(default: zero-shot's own)")
    p.add_argument("--zero-shot-no-prior", dest="zero_shot_prior", action="store_false",
                   help="zero-shot fits from random weights, not the bundled prior")
    p.add_argument("--train", nargs="+", type=input_path, metavar="DIR", help="clean images: train "
                   "N2N, N2C and Ne2Ne for the same minutes and add them to the comparison")
    p.add_argument("--train-noise", nargs="+", default=["gaussian:25"])
    p.add_argument("--train-minutes", type=float, default=5.0)
    p.add_argument("--patches-per-epoch", type=int, default=2000)
    p.add_argument("--threads", type=int, help="CPU threads for torch (printed with results)")
    p.add_argument("--device", default="cpu", help="for the PyTorch models: cpu, cuda, cuda:N")
    add_overwrite_option(p)
    p.set_defaults(run=run_bench)



def run_bench(args: argparse.Namespace) -> int:
    from n2n.bench.suite import Bench, BenchConfig, default_methods, quick_config

    if args.quick:
        args.output = args.output or Path("n2n-bench-quick")
        config = quick_config(args.output, args.methods, args.overwrite)
        config.zero_shot_prior = args.zero_shot_prior
    elif not (args.data or args.noisy or args.bursts):
        raise N2NError("bench needs data folders, val pkl files, --noisy/--reference or "
                       "--bursts (or --quick)")
    elif args.output is None:
        raise N2NError("bench needs -o/--output, the folder for its results")
    elif bool(args.noisy) != bool(args.reference):
        raise N2NError("--noisy and --reference go together")
    else:
        config = BenchConfig(args.data, args.output, args.noise, args.methods or default_methods(),
                             args.seed, args.limit, args.zero_shot_iterations, args.train,
                             args.train_noise, args.train_minutes,
                             patches_per_epoch=args.patches_per_epoch, device=str(args.device),
                             real_pairs=(args.noisy, args.reference) if args.noisy else None,
                             bursts=args.bursts, reference_name=args.reference_name,
                             overwrite=args.overwrite, clip=args.clip, weights=args.weights,
                             zero_shot_prior=args.zero_shot_prior)
    command = "n2n " + " ".join(sys.argv[1:]) if sys.argv[0].endswith("n2n") else "n2n bench"
    bench = Bench(config, command)
    try:
        bench.run()
    finally:
        if bench.record["results"] or bench.record["training"]:
            bench.save()
    print(f"wrote results.json, results.md and plots to {args.output}")
    return 0


def _add_info_parser(sub) -> None:
    p = sub.add_parser("info", help="this machine: processor features, the inference path "
                       "taken, and (--speed) megapixels per second of each treatment here")
    p.add_argument("--speed", action="store_true", help="also time each network under each "
                   "engine, and photo, photo-plus and camera --pd 2 --refine, on a generated "
                   "photo (a few minutes on 2 CPU cores)")
    p.add_argument("--size", type=int, default=1024, help="side of that photo (px)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    p.set_defaults(run=run_info)


def run_info(args: argparse.Namespace) -> int:
    from n2n.bench.machine_speed import describe, measure_engines, measure_speed

    if args.size < 64:
        raise N2NError(f"--size {args.size}: give at least 64 pixels")
    record = describe(str(args.device))
    flags = ", ".join(f"{flag} {'yes' if on else 'no'}" for flag, on in record["flags"].items())
    print(f"processor: {record['cpu']} ({record['cores']} cores; {flags}; "
          f"torch {record['torch']} kernels {record['capability']})")
    print(f"inference: {record['path']}; {record['torch_threads']} torch threads")
    if args.speed:
        for name, speeds in measure_engines(args.size, str(args.device)).items():
            each = ", ".join(f"{engine} {speed:.3f}" for engine, speed in speeds.items())
            print(f"  network {name}, MP/s per engine: {each}")
        for name, speed in measure_speed(args.size, device=str(args.device)).items():
            print(f"  {name}: {speed:.3f} MP/s")
    return 0
