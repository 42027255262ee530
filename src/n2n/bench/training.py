"""Training at equal budget: Noise2Noise against Noise2Clean and Neighbor2Neighbor (the
course recipe against ours, one change at a time, is an experiment: benchmarks/ablation.py).

Every run gets the same clean images, noise draws, seed, validation set and minutes; the
model evaluated is the one at the end of the budget (what a user would get), not the best epoch.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import torch

from n2n.data.noise import Noise
from n2n.data.pairs import SyntheticPairs, Validation
from n2n.models import ModelConfig, PixelModel, build_model
from n2n.training.config import TrainConfig
from n2n.training.loop import fit


@dataclass(frozen=True)
class Recipe:
    """One way to train the Lite U-Net; the defaults are the bundled model's recipe."""

    name: str
    mode: str = "n2n"
    target: str = "noisy"
    width: int = 24
    residual: bool = True
    linear_output: bool = True
    loss: str = "l2"
    augment: bool = True
    patch_size: int = 64
    lr_patience: int = 2


OURS = Recipe("ours (residual, linear output)")
EQUAL_BUDGET = (
    replace(OURS, name="n2n-trained"),
    replace(OURS, name="n2c-trained", target="clean"),
    replace(OURS, name="ne2ne-trained", mode="ne2ne"),
)
def train_recipe(recipe: Recipe, images: list[torch.Tensor], noise: Noise, val: Validation,
                 minutes: float, run_dir: Path, seed: int = 0, patches_per_epoch: int = 2000,
                 device: str = "cpu", progress: bool = False
                 ) -> tuple[PixelModel, list[dict[str, float]]]:
    """Train for ``minutes`` of wall-clock time; return the final model and its history."""
    source = SyntheticPairs(images, noise, recipe.patch_size, patches_per_epoch)
    model = build_model(ModelConfig("lite", source.channels, recipe.width,
                                    residual=recipe.residual, linear_output=recipe.linear_output),
                        seed=seed)
    config = TrainConfig(model=model.config, mode=recipe.mode, loss=recipe.loss,
                         target=recipe.target, lr_patience=recipe.lr_patience, epochs=10**9,
                         minutes=minutes, augment=recipe.augment, seed=seed)
    history = fit(model.to(device), source, config, val, run_dir, progress=progress,
                  overwrite=True)  # the bench's own run folders, inside its output folder
    return model, history
