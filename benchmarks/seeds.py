"""Runs repeated over seeds -> one table row per recipe (mean +- standard deviation) and the
validation curves against steps: how docs/development/measurements/training.md reports
Noise2Noise against Noise2Clean and Neighbor2Neighbor.

Run folders are named ``<recipe>-s<seed>`` (``log.json`` from ``n2n train``); an optional
``<recipe>-s<seed>.<suffix>.json`` beside them (from ``n2n eval --json``) adds a test-set column.
Usage: ``python benchmarks/seeds.py RUNS... [--eval-suffix cbsd68] [--steps-per-epoch 100]
[-o table.md] [--plot curves.png]``
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
from collections import defaultdict
from pathlib import Path

from n2n.errors import N2NError
from n2n.io.files import write_text_atomic

RUN_NAME = re.compile(r"(?P<recipe>.+)-s(?P<seed>\d+)$")


def group_runs(folders: list[Path]) -> dict[str, list[Path]]:
    """Run folders grouped by recipe (the name without its ``-s<seed>``), in seed order; files
    among ``folders`` (a shell glob also matches the eval JSON) are skipped."""
    groups: dict[str, list[Path]] = defaultdict(list)
    for folder in sorted((f for f in folders if not f.is_file()), key=lambda f: f.name):
        match = RUN_NAME.match(folder.name)
        if not match or not (folder / "log.json").is_file():
            raise N2NError(f"{folder}: expected a run folder named <recipe>-s<seed> with log.json")
        groups[match["recipe"]].append(folder)
    return dict(groups)


def mean_sd(values: list[float]) -> str:
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.2f} +- {sd:.2f}"


def summarise(groups: dict[str, list[Path]], steps_per_epoch: int, eval_suffix: str | None
              ) -> list[dict[str, object]]:
    """Per recipe: seeds, steps, final validation PSNR and, if evaluated, test PSNR."""
    rows = []
    for recipe, folders in groups.items():
        logs = [json.loads((f / "log.json").read_text()) for f in folders]
        row = {"recipe": recipe, "seeds": len(folders),
               "steps": sorted({len(log) * steps_per_epoch for log in logs}),
               "val_psnr": [log[-1]["val_psnr"] for log in logs]}
        if eval_suffix:
            scores = [f.with_name(f"{f.name}.{eval_suffix}.json") for f in folders]
            row["test_psnr"] = [json.loads(s.read_text())["mean"]["psnr"] for s in scores
                                if s.is_file()]
        rows.append(row)
    return rows


def markdown(rows: list[dict[str, object]], eval_suffix: str | None) -> str:
    head = "| recipe | seeds | steps | final validation PSNR dB |"
    rule = "| --- | ---: | ---: | ---: |"
    if eval_suffix:
        head, rule = head + f" {eval_suffix} PSNR dB |", rule + " ---: |"
    lines = [head, rule]
    for row in rows:
        line = (f"| {row['recipe']} | {row['seeds']} | {'/'.join(map(str, row['steps']))} | "
                f"{mean_sd(row['val_psnr'])} |")
        if eval_suffix:
            line += f" {mean_sd(row['test_psnr']) if row['test_psnr'] else '-'} |"
        lines.append(line)
    return "\n".join(lines) + "\n"


def plot(groups: dict[str, list[Path]], steps_per_epoch: int, path: Path) -> None:
    """Validation PSNR against steps: the seeds' mean, and their range shaded."""
    from n2n.evaluation.plots import plot_seed_curves

    curves = {}
    for recipe, folders in groups.items():
        logs = [json.loads((f / "log.json").read_text()) for f in folders]
        length = min(len(log) for log in logs)
        curves[recipe] = [[log[i]["val_psnr"] for log in logs] for i in range(length)]
    plot_seed_curves(curves, steps_per_epoch, path)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python benchmarks/seeds.py",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--steps-per-epoch", type=int, default=100)
    parser.add_argument("--eval-suffix", help="read <run>.<suffix>.json beside each run")
    parser.add_argument("-o", "--table", type=Path, help="write the markdown table here")
    parser.add_argument("--plot", type=Path, help="write the curves (PNG) here")
    args = parser.parse_args(argv)
    try:
        groups = group_runs(args.runs)
    except N2NError as err:
        parser.error(str(err))
    table = markdown(summarise(groups, args.steps_per_epoch, args.eval_suffix), args.eval_suffix)
    print(table, end="")
    if args.table:
        write_text_atomic(args.table, table)
    if args.plot:
        plot(groups, args.steps_per_epoch, args.plot)


if __name__ == "__main__":
    main()
