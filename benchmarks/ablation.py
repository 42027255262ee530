"""The training ablation: the course recipe against ours, one change at a time, each recipe
trained for the same minutes on the same clean images, noise draws, seed and validation set::

    python benchmarks/ablation.py ../shared/data/train/CBSD432 --noise gaussian:25 \\
        --minutes 3 [--recipes N] [--threads 2] [--device cpu] -o ablation.json

Writes ``ablation.json`` (every recipe's history and final validation PSNR, with the machine)
and ``ablation.md`` (the table) beside it; the run folders go into ``ablation-runs/`` there.
The model evaluated is the one at the end of the budget, as ``n2n bench --train`` evaluates
its equal-budget runs (the recipes and the trainer are :mod:`n2n.bench.training`'s). Once part
of ``n2n bench`` (``--ablation-minutes``): a 3-minute ablation under changing machine load
measured the load more than the recipes (docs/development/measurements/photos.md).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, replace
from pathlib import Path

import torch

from n2n.bench.measure import machine
from n2n.bench.report import training_curves, training_table
from n2n.bench.suite import slug
from n2n.bench.training import OURS, train_recipe
from n2n.data.config import DataConfig, build_data
from n2n.data.noise import parse_noise
from n2n.io.files import PLOT, RECORD, write_json_record, write_text_atomic
from n2n.io.outputs import claim_outputs

ABLATION = (
    replace(OURS, name="course recipe (LeakyReLU output, no residual)", residual=False,
            linear_output=False),
    OURS,
    replace(OURS, name="width 48", width=48),
    replace(OURS, name="L1 loss", loss="l1"),
    replace(OURS, name="no augmentation", augment=False),
    replace(OURS, name="patch 32", patch_size=32),
    replace(OURS, name="patch 128", patch_size=128),
    replace(OURS, name="constant learning rate", lr_patience=10**9),
)


def run_ablation(train: list[Path], noise_spec: str, minutes: float, runs: Path,
                 recipes: int | None = None, seed: int = 0, patches_per_epoch: int = 2000,
                 device: str = "cpu", progress: bool = False) -> list[dict]:
    """Each of the first ``recipes`` recipes (all: None) trained ``minutes`` on ``train``'s
    clean images with ``noise_spec``, 5% held out for validation; one entry per recipe."""
    noise = parse_noise(noise_spec)
    data = DataConfig(source="clean", paths=train, noise=noise_spec, channels=3)
    source, val = build_data(data, seed=seed)
    entries = []
    for recipe in ABLATION[:recipes]:
        print(f"training {recipe.name} on {noise.spec} for {minutes:g} min", flush=True)
        run_dir = runs / f"ablation-{slug(noise.spec)}-{slug(recipe.name)}"
        _, history = train_recipe(recipe, source.images, noise, val, minutes, run_dir, seed,
                                  patches_per_epoch, device, progress)
        entries.append({"recipe": recipe.name, "noise": noise.spec, "minutes": minutes,
                        "threads": torch.get_num_threads(), "epochs": len(history),
                        "final_val_psnr": history[-1].get("val_psnr"), "history": history,
                        **asdict(recipe)})
    return entries


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("train", nargs="+", type=Path, help="folders of clean training images")
    p.add_argument("--noise", default="gaussian:25")
    p.add_argument("--minutes", type=float, default=3.0, help="per recipe")
    p.add_argument("--recipes", type=int, help="the first N recipes only (quick runs)")
    p.add_argument("--patches-per-epoch", type=int, default=2000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--device", default="cpu")
    p.add_argument("-o", "--output", type=Path, required=True, help="the JSON record")
    p.add_argument("--overwrite", action="store_true", help="replace the table and plot of an "
                   "earlier run")
    args = p.parse_args(argv)
    if args.minutes <= 0 or args.threads < 1:
        p.error("--minutes must be > 0 and --threads >= 1")
    torch.set_num_threads(args.threads)
    table, plot = args.output.with_suffix(".md"), args.output.with_suffix(".png")
    claim_outputs({args.output: RECORD, table: PLOT, plot: PLOT}, args.train,
                  overwrite=args.overwrite)
    entries = run_ablation(args.train, args.noise, args.minutes,
                           args.output.parent / f"{args.output.stem}-runs", args.recipes,
                           args.seed, args.patches_per_epoch, args.device)
    record = {"command": "python benchmarks/ablation.py " + " ".join(argv),
              "machine": machine(), "ablation": entries}
    write_json_record(args.output, json.loads(json.dumps(record, default=str)))
    write_text_atomic(table, "\n".join(training_table(entries, "Ablation (same budget per "
                                                                "recipe)")) + "\n")
    training_curves(entries, plot)
    print(f"wrote {args.output}, {table.name} and {plot.name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
