"""Figures: training curves, side-by-side comparisons, noise fits; written as PNG files.

Figures are plain :class:`matplotlib.figure.Figure` objects, never ``pyplot``: nothing here
touches the user's matplotlib backend or global figure list, and no display is needed.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from n2n.io.files import PLOT, atomic_path, marked


def plot_curves(history: Sequence[dict[str, float]], path: Path) -> None:
    """Training loss (log scale) and validation PSNR against epoch, side by side."""
    epochs = [row["epoch"] for row in history]
    fig = Figure(figsize=(9, 3.5))
    ax_loss, ax_psnr = fig.subplots(1, 2)
    ax_loss.semilogy(epochs, [row["train_loss"] for row in history], marker="o")
    ax_loss.set(xlabel="epoch", ylabel="training loss", title="loss")
    if "val_psnr" in history[0]:
        ax_psnr.plot(epochs, [row["val_psnr"] for row in history], marker="o", color="C1")
        ax_psnr.set(xlabel="epoch", ylabel="PSNR (dB)", title="validation PSNR vs clean")
    else:
        ax_psnr.text(0.5, 0.5, "no clean images:\nno PSNR", ha="center", va="center")
        ax_psnr.set_axis_off()
    fig.tight_layout()
    save_figure(fig, path)


def plot_seed_curves(curves: dict[str, list[list[float]]], steps_per_epoch: int,
                     path: Path) -> None:
    """Validation PSNR against steps per recipe: the mean over seeds, their range shaded;
    ``curves[recipe][epoch]`` holds one value per seed."""
    fig = Figure(figsize=(8, 4))
    ax = fig.subplots()
    for recipe, rows in curves.items():
        values = np.array(rows)  # (epochs, seeds)
        steps = steps_per_epoch * np.arange(1, len(values) + 1)
        line, = ax.plot(steps, values.mean(1), label=recipe)
        ax.fill_between(steps, values.min(1), values.max(1), alpha=0.2, color=line.get_color())
    ax.set(xlabel="training steps", ylabel="validation PSNR (dB)")
    low = min(np.array(rows)[len(rows) // 4:].min() for rows in curves.values())
    ax.set_ylim(bottom=low - 0.2)
    ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.tight_layout()
    save_figure(fig, path)


def side_by_side(images: Sequence[np.ndarray], titles: Sequence[str], path: Path) -> None:
    """A row of (H, W, C) 0..255 images with titles, saved as PNG."""
    fig = Figure(figsize=(4 * len(images), 4.4))
    axes = fig.subplots(1, len(images))
    for ax, image, title in zip(np.atleast_1d(axes), images, titles, strict=True):
        shown = np.clip(image, 0, 255).astype(np.uint8)
        ax.imshow(shown[:, :, 0] if shown.shape[2] == 1 else shown, cmap="gray", vmin=0,
                  vmax=255, interpolation="nearest")
        ax.set_title(title)
        ax.set_axis_off()
    fig.tight_layout()
    save_figure(fig, path)


def plot_noise(curve, noise_model, correlation, title: str, path: Path) -> None:
    """Noise variance against intensity with its Poisson-Gaussian fit, and the noise's
    autocorrelation map (lags in pixels)."""
    fig = Figure(figsize=(9.5, 4))
    draw_noise(fig, curve, noise_model, correlation, title)
    save_figure(fig, path)


def draw_noise(fig: Figure, curve, noise_model, correlation, title: str) -> None:
    """:func:`plot_noise`'s two panels drawn on ``fig`` (a file's figure or a GUI's canvas)."""
    ax_var, ax_corr = fig.subplots(1, 2)
    x, v = np.array(curve.intensity), np.array(curve.variance)
    used = np.array(curve.used, bool)
    ax_var.plot(x[used], v[used], "o", label="measured")
    if (~used).any():
        ax_var.plot(x[~used], v[~used], "x", color="gray", label="clipped (not fitted)")
    grid = np.linspace(0, max(x.max(), 1), 100)
    ax_var.plot(grid, noise_model.variance(grid), "-", color="C1",
                label=f"fit {noise_model.a:.3g} x + {noise_model.b:.3g}")
    ax_var.set(xlabel="intensity (0..255)", ylabel="noise variance", title=title)
    ax_var.legend()
    _correlation_map(ax_corr, np.array(correlation), "noise autocorrelation")
    fig.tight_layout()


def plot_residual(residual: np.ndarray, check, path: Path) -> None:
    """The residual (noisy - denoised), its autocorrelation, and its variance against the
    noise model's prediction."""
    fig = Figure(figsize=(13, 4))
    axes = fig.subplots(1, 3)
    shown = residual.mean(axis=2)
    limit = max(float(np.percentile(np.abs(shown), 99)), 1e-6)
    axes[0].imshow(shown, cmap="gray", vmin=-limit, vmax=limit)
    axes[0].set_title("residual: noisy - denoised")
    axes[0].set_axis_off()
    _correlation_map(axes[1], np.array(check.correlation), "residual autocorrelation")
    x, v = np.array(check.curve.intensity), np.array(check.curve.variance)
    axes[2].plot(x, v, "o", label="residual")
    axes[2].plot(x, check.noise_model.variance(x), "-", color="C1", label="noise model")
    axes[2].set(xlabel="denoised intensity", ylabel="variance",
                title=f"variance ratio {check.variance_ratio:.2f}")
    axes[2].legend()
    fig.tight_layout()
    save_figure(fig, path)


def _correlation_map(ax, corr: np.ndarray, title: str) -> None:
    radius = corr.shape[0] // 2
    ax.imshow(corr, cmap="RdBu_r", vmin=-1, vmax=1,
              extent=(-radius - 0.5, radius + 0.5, radius + 0.5, -radius - 0.5))
    for (i, j), value in np.ndenumerate(corr):
        ax.text(j - radius, i - radius, f"{value:.2f}", ha="center", va="center", fontsize=7)
    ax.set(xlabel="dx (px)", ylabel="dy (px)", title=title)


def save_figure(fig: Figure, path: Path, dpi: int = 100) -> None:
    """Write a figure as PNG atomically (temporary file, fsync, rename)."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi, format="png", metadata={"Software": marked(PLOT)})
