"""Figures: training curves and side-by-side comparisons (matplotlib, no display needed)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def plot_curves(history: Sequence[dict[str, float]], path: Path) -> None:
    """Training loss (log scale) and validation PSNR against epoch, side by side."""
    epochs = [row["epoch"] for row in history]
    fig, (ax_loss, ax_psnr) = plt.subplots(1, 2, figsize=(9, 3.5))
    ax_loss.semilogy(epochs, [row["train_loss"] for row in history], marker="o")
    ax_loss.set(xlabel="epoch", ylabel="training loss", title="loss")
    if "val_psnr" in history[0]:
        ax_psnr.plot(epochs, [row["val_psnr"] for row in history], marker="o", color="C1")
        ax_psnr.set(xlabel="epoch", ylabel="PSNR (dB)", title="validation PSNR vs clean")
    else:
        ax_psnr.text(0.5, 0.5, "no clean images:\nno PSNR", ha="center", va="center")
        ax_psnr.set_axis_off()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def side_by_side(images: Sequence[np.ndarray], titles: Sequence[str], path: Path) -> None:
    """A row of (H, W, C) 0..255 images with titles, saved as PNG."""
    fig, axes = plt.subplots(1, len(images), figsize=(4 * len(images), 4.4))
    for ax, image, title in zip(np.atleast_1d(axes), images, titles, strict=True):
        shown = np.clip(image, 0, 255).astype(np.uint8)
        ax.imshow(shown[:, :, 0] if shown.shape[2] == 1 else shown, cmap="gray", vmin=0,
                  vmax=255, interpolation="nearest")
        ax.set_title(title)
        ax.set_axis_off()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
