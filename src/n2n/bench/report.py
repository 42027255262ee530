"""The benchmark's human-readable evidence: a markdown report and three figures.

``results.md`` (tables per setting and training), ``pareto.png`` (PSNR against
speed), ``crops.png`` (noisy / each method / clean on one image per setting) and
``training.png`` (validation PSNR against training minutes).
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from n2n.evaluation.plots import save_figure
from n2n.io.files import write_text_atomic

CLASSICAL = ("bm3d", "nlm", "tv", "wavelet")


def by_setting(results: list[dict]) -> dict[str, list[dict]]:
    groups: dict[str, list[dict]] = defaultdict(list)
    for r in results:
        groups[f"{r['dataset']} / {r['noise']}"].append(r)
    return groups


def setting_table(rows: list[dict]) -> list[str]:
    """Methods sorted by PSNR, and one line on where the bundled model stands."""
    rows = sorted(rows, key=lambda r: -r["psnr"])
    lines = ["| method | PSNR dB | SSIM | s / image | MP/s | peak MiB |",
             "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        lines.append(f"| {r['method']} | {r['psnr']:.2f} | {r['ssim']:.4f} | "
                     f"{r['seconds_per_image']:.3f} | {r['megapixels_per_second']:.3g} | "
                     f"{r['peak_mib']:.0f} |")
    ours = {r["method"]: r for r in rows}.get("n2n-lite")
    classical = [r for r in rows if r["method"] in CLASSICAL]
    if ours and classical:
        best = classical[0]
        verdict = "beats" if best["psnr"] > ours["psnr"] else "is below"
        speed = best["seconds_per_image"] / max(ours["seconds_per_image"], 1e-9)
        lines.append("")
        lines.append(f"Best classical method here: {best['method']} {best['psnr']:.2f} dB, "
                     f"which {verdict} n2n-lite ({ours['psnr']:.2f} dB, "
                     f"{ours['psnr'] - best['psnr']:+.2f} dB for n2n-lite); n2n-lite is "
                     f"{speed:.3g}x its speed.")
    return lines


def training_table(entries: list[dict], title: str) -> list[str]:
    if not entries:
        return []
    lines = [f"## {title}", "", "| recipe | noise | minutes | epochs | final val PSNR dB |",
             "| --- | --- | ---: | ---: | ---: |"]
    for e in entries:
        value = "-" if e["final_val_psnr"] is None else f"{e['final_val_psnr']:.2f}"
        lines.append(f"| {e['recipe']} | {e['noise']} | {e['minutes']:g} | {e['epochs']} | "
                     f"{value} |")
    return [*lines, ""]


def markdown(record: dict) -> str:
    m = record["machine"]
    lines = ["# n2n bench results", "",
             f"Command: `{record['command']}`", "",
             f"Machine: {m['cpu']}, {m['cores']} cores, torch {m['torch']} on "
             f"{m['torch_threads']} thread(s), Python {m['python']}"
             + (f", GPU {m['gpu']}" if m.get("gpu") else ""), ""]
    for setting, rows in by_setting(record["results"]).items():
        lines += [f"## {setting} ({rows[0]['images']} images)", "", *setting_table(rows), ""]
    lines += training_table(record["training"], "Equal training budget")
    return "\n".join(lines) + "\n"


def write_report(record: dict, crops: dict[str, dict[str, np.ndarray]], out: Path) -> None:
    write_text_atomic(out / "results.md", markdown(record))
    if record["results"]:
        pareto_chart(record["results"], out / "pareto.png")
    if crops:
        crop_grid(crops, out / "crops.png")
    runs = record["training"]
    if runs:
        training_curves(runs, out / "training.png")


def pareto_chart(results: list[dict], path: Path, max_settings: int = 6) -> None:
    """PSNR against megapixels per second (log scale), one panel per setting."""
    groups = list(by_setting(results).items())[:max_settings]
    cols = min(3, len(groups))
    rows = -(-len(groups) // cols)
    fig = Figure(figsize=(5 * cols, 4 * rows))
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax, (setting, group) in zip(axes.flat, groups, strict=False):
        for i, r in enumerate(group):
            ax.scatter(r["megapixels_per_second"], r["psnr"], color=f"C{i % 10}")
            ax.annotate(r["method"], (r["megapixels_per_second"], r["psnr"]), fontsize=8,
                        xytext=(3, 3), textcoords="offset points")
        ax.set_xscale("log")
        ax.set(title=setting, xlabel="megapixels / second (log)", ylabel="PSNR dB")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(groups):]:
        ax.set_axis_off()
    fig.tight_layout()
    save_figure(fig, path, dpi=90)


def crop_grid(crops: dict[str, dict[str, np.ndarray]], path: Path, size: int = 96,
              max_settings: int = 6) -> None:
    """The centre ``size`` x ``size`` crop of one image per setting, for every method."""
    settings = list(crops.items())[:max_settings]
    methods = list(dict.fromkeys(m for _, outs in settings for m in outs if m != "clean"))
    methods.append("clean")
    fig = Figure(figsize=(1.6 * len(methods), 1.8 * len(settings)))
    axes = fig.subplots(len(settings), len(methods), squeeze=False)
    for row, (setting, outs) in zip(axes, settings, strict=True):
        for ax, method in zip(row, methods, strict=True):
            ax.set_axis_off()
            if method not in outs:
                continue
            image = outs[method]
            top = max(0, (image.shape[0] - size) // 2)
            left = max(0, (image.shape[1] - size) // 2)
            crop = np.clip(image[top:top + size, left:left + size], 0, 255).astype(np.uint8)
            ax.imshow(crop[:, :, 0] if crop.shape[2] == 1 else crop, cmap="gray", vmin=0,
                      vmax=255, interpolation="nearest")
            ax.set_title(method, fontsize=7)
        row[0].text(-0.1, 0.5, setting, transform=row[0].transAxes, rotation=90, ha="right",
                    va="center", fontsize=7)
    fig.tight_layout()
    save_figure(fig, path, dpi=90)


def training_curves(runs: list[dict], path: Path) -> None:
    """Validation PSNR against training minutes for every trained recipe."""
    fig = Figure(figsize=(7, 4.5))
    ax = fig.subplots()
    for i, run in enumerate(runs):
        points = [(row["seconds"] / 60, row["val_psnr"]) for row in run["history"]
                  if "val_psnr" in row]
        if points:
            minutes, psnrs = zip(*points, strict=True)
            ax.plot(minutes, psnrs, marker=".", color=f"C{i % 10}",
                    label=f"{run['recipe']} ({run['noise']})")
    ax.set(xlabel=f"training minutes ({runs[0]['threads']} thread(s))",
           ylabel="validation PSNR dB", title="training cost")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, path, dpi=90)
