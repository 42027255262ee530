"""What a run leaves in its folder besides checkpoints: CSV and JSON logs and the curves."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from n2n.evaluation.plots import plot_curves
from n2n.io.files import write_text_atomic


def format_row(row: dict[str, float]) -> str:
    """One epoch's log row as printed: ``epoch 3, seconds 12.5, lr 0.006, ...``."""
    return ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                     for k, v in row.items())


def write_logs(run_dir: Path, history: list[dict[str, float]]) -> None:
    """Per-epoch CSV and JSON logs and a PNG of the loss and PSNR curves, each written
    atomically like the checkpoints."""
    run_dir.mkdir(parents=True, exist_ok=True)
    table = io.StringIO()
    writer = csv.DictWriter(table, fieldnames=list(history[-1].keys()), lineterminator="\n")
    writer.writeheader()
    writer.writerows(history)
    write_text_atomic(run_dir / "log.csv", table.getvalue())
    write_text_atomic(run_dir / "log.json", json.dumps(history, indent=1))
    plot_curves(history, run_dir / "curves.png")
