"""What the trainer minimises in each training mode: one batch in, one scalar loss out.

* ``n2n`` - Noise2Noise (Lehtinen et al., 2018): the output on one noisy copy against the other
  copy, or against the clean image for Noise2Clean, the supervised bound.
* ``ne2ne`` - Neighbor2Neighbor (Huang et al., CVPR 2021): one noisy image is split into two
  half-size images by picking two neighbouring pixels of every 2x2 cell; one is the input, the
  other the target, plus the paper's regulariser that ties this to the full-size output. On a
  volume the image is a window of planes (channels): the picks are shared by every plane, so
  the sub-volumes stay aligned across Z, and the target is the planes the model returns
  (:func:`target_planes`).
* ``bsn`` - blind-spot (AP-BSN, Lee et al., CVPR 2022): a blind-spot network (models/bsn.py)
  reproduces single noisy images, pixel-shuffled at stride :data:`BSN_TRAIN_STRIDE` so that
  the camera noise of each sub-image is nearly white; it denoises at the model's own, smaller
  ``pd`` (asymmetric PD), refined by random replacing (inference/replacing.py).
* ``zs`` - zero-shot Noise2Noise (Mansour and Heckel, CVPR 2023): the two diagonal averages of
  every 2x2 cell of the one image to denoise, with its residual and consistency losses.

All losses are taken in the model's normalised units (see :mod:`n2n.training.losses`).
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from n2n.data.pairs import Batch
from n2n.errors import N2NError
from n2n.models import PixelModel
from n2n.models.context import centre_plane
from n2n.models.pd import pd_split
from n2n.training.distributed import unwrap
from n2n.training.losses import loss_value

DATASET_MODES = ("n2n", "ne2ne", "bsn")  # learn from a data set: pairs, or single noisy images
MODES = (*DATASET_MODES, "zs")  # and zero-shot, which fits one image
TARGETS = ("noisy", "clean")  # Noise2Noise, or Noise2Clean (the supervised bound)
BSN_TRAIN_STRIDE = 5  # AP-BSN's training factor: camera noise is white 5 px apart

# The 8 ordered pairs of edge-adjacent pixels in a 2x2 cell, pixels numbered 0 1 / 2 3.
NEIGHBOUR_PAIRS = torch.tensor([[0, 1], [0, 2], [1, 3], [2, 3], [1, 0], [2, 0], [3, 1], [3, 2]])


def even_crop(x: torch.Tensor) -> torch.Tensor:
    """Drop a last odd row/column so that (N, C, H, W) tiles into 2x2 cells."""
    height, width = x.shape[-2:]
    if height < 2 or width < 2:
        raise N2NError(f"image of {height}x{width} pixels is smaller than the 2x2 sub-sampling "
                       "cell")
    return x[..., : height // 2 * 2, : width // 2 * 2]


def neighbour_picks(x: torch.Tensor, generator: torch.Generator
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """For each 2x2 cell of (N, C, H, W) ``x``, the cell positions (0..3) of two random
    neighbouring pixels, each (N, 1, H/2, W/2); the same for every channel."""
    n, _, height, width = x.shape
    choice = torch.randint(len(NEIGHBOUR_PAIRS), (n, 1, height // 2, width // 2),
                           generator=generator)
    pairs = NEIGHBOUR_PAIRS[choice].to(x.device)  # (N, 1, h, w, 2)
    return pairs[..., 0], pairs[..., 1]


def take_cells(x: torch.Tensor, pick: torch.Tensor) -> torch.Tensor:
    """The pixel at position ``pick`` (N, 1, h, w) of each 2x2 cell of (N, C, 2h, 2w) ``x``."""
    n, c, height, width = x.shape
    cells = F.pixel_unshuffle(x, 2).view(n, c, 4, height // 2, width // 2)
    index = pick[:, :, None].expand(n, c, 1, height // 2, width // 2)
    return cells.gather(2, index)[:, :, 0]


def target_planes(model: PixelModel, window: torch.Tensor) -> torch.Tensor:
    """The planes of an input ``window`` (N, k * C, H, W) that ``model`` returns denoised,
    against which its output is compared: the centre plane for a context model (which reads
    ``k`` planes and returns one); every plane for a 2-D model or a 3-D U-Net."""
    config = unwrap(model).config
    if config.context == 1:
        return window
    return centre_plane(window, config.channels, config.context)


def diagonal_pair(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The two half-size images of zero-shot N2N: each 2x2 cell's two diagonal means."""
    cells = F.pixel_unshuffle(x, 2)
    n, c4, h, w = cells.shape
    cells = cells.view(n, c4 // 4, 4, h, w)
    return (cells[:, :, 0] + cells[:, :, 3]) / 2, (cells[:, :, 1] + cells[:, :, 2]) / 2


def split_batch(batch: Batch, factor: int) -> Batch:
    """Every image of ``batch`` pixel-shuffled into ``factor**2`` sub-images (models/pd.py),
    after dropping the rows/columns beyond a multiple of ``factor``."""
    if factor == 1:
        return batch

    def split(x: torch.Tensor | None) -> torch.Tensor | None:
        if x is None:
            return None
        height, width = x.shape[-2:]
        if height < factor or width < factor:
            raise N2NError(f"patch of {height}x{width} pixels is smaller than the "
                           f"pixel-shuffle factor {factor}")
        return pd_split(x[..., : height // factor * factor, : width // factor * factor], factor)

    return Batch(split(batch.input), split(batch.target), split(batch.clean))


class Objective:
    """The loss of one batch: ``objective(model, batch, progress, generator)``.

    ``progress`` runs from 0 to 1 over the training run (epochs or time budget, whichever is
    further along); ``generator`` draws any randomness, so runs repeat with their seed. A model
    with pixel-shuffle factor ``pd`` > 1 learns on the batch's sub-images (models/pd.py).
    """

    def __init__(self, loss: str = "l2") -> None:
        self.loss = loss

    def __call__(self, model: PixelModel, batch: Batch, progress: float,
                 generator: torch.Generator) -> torch.Tensor:
        batch = split_batch(batch, self.stride(unwrap(model)))
        return self.batch_loss(lambda x: model(x, split=False), model, batch, progress,
                               generator)

    def stride(self, model: PixelModel) -> int:
        """The pixel-shuffle factor the batch is split at: the model's own."""
        return model.config.pd

    def batch_loss(self, run, model: PixelModel, batch: Batch, progress: float,
                   generator: torch.Generator) -> torch.Tensor:
        """The loss, with ``run`` the model on already split images."""
        raise NotImplementedError

    def distance(self, model: PixelModel, a: torch.Tensor, b: torch.Tensor,
                 progress: float = 0.0) -> torch.Tensor:
        scale = unwrap(model).std.view(1, -1, 1, 1)
        return loss_value(self.loss, a / scale, b / scale, progress)


class PairObjective(Objective):
    """Noise2Noise (``target='noisy'``) or Noise2Clean (``target='clean'``)."""

    def __init__(self, loss: str = "l2", target: str = "noisy") -> None:
        super().__init__(loss)
        self.target = target

    def batch_loss(self, run, model: PixelModel, batch: Batch, progress: float,
                   generator: torch.Generator) -> torch.Tensor:
        target = batch.clean if self.target == "clean" else batch.target
        if target is None:
            needed = "clean images" if self.target == "clean" else "pairs of noisy images"
            raise N2NError(f"{{mode:n2n}} with target '{self.target}' needs {needed}; for "
                           "single noisy images use {mode:ne2ne}", param="mode")
        return self.distance(model, run(batch.input), target, progress)


class Neighbor2Neighbor(Objective):
    """Loss of Huang et al. (2021), eq. 7: ``|f(g1 y) - g2 y|^2 + gamma * |f(g1 y) - g2 y -
    (g1 f(y) - g2 f(y))|^2``, with f(y) held fixed and gamma rising linearly to ``gamma``."""

    def __init__(self, loss: str = "l2", gamma: float = 2.0) -> None:
        super().__init__(loss)
        self.gamma = gamma

    def batch_loss(self, run, model: PixelModel, batch: Batch, progress: float,
                   generator: torch.Generator) -> torch.Tensor:
        noisy = even_crop(batch.input)
        first, second = neighbour_picks(noisy, generator)
        with torch.no_grad():
            full = run(noisy)
        sub_input = take_cells(noisy, first)
        sub_target = take_cells(target_planes(model, noisy), second)
        output = run(sub_input)
        gap = take_cells(full, first) - take_cells(full, second)  # f(y): the target planes
        gamma = self.gamma * progress
        return (self.distance(model, output, sub_target, progress)
                + gamma * self.distance(model, output - gap, sub_target, progress))


class ZeroShot(Objective):
    """Loss of Mansour and Heckel (2023), eq. 3-4: symmetric residual loss between the two
    diagonal half-images plus the consistency of half-size and full-size outputs."""

    def batch_loss(self, run, model: PixelModel, batch: Batch, progress: float,
                   generator: torch.Generator) -> torch.Tensor:
        return zero_shot_loss(run, batch.input, lambda a, b: self.distance(model, a, b))


def zero_shot_loss(run, noisy: torch.Tensor, distance) -> torch.Tensor:
    """The zero-shot loss of ``run`` on (N, C, H, W) ``noisy``, ``distance(a, b)`` a scalar."""
    noisy = even_crop(noisy)
    half_a, half_b = diagonal_pair(noisy)
    out_a, out_b = run(half_a), run(half_b)
    residual = (distance(out_a, half_b) + distance(out_b, half_a)) / 2
    full_a, full_b = diagonal_pair(run(noisy))
    consistency = (distance(out_a, full_a) + distance(out_b, full_b)) / 2
    return residual + consistency


class BlindSpot(Objective):
    """The blind-spot network's output against its own noisy input, on sub-images pixel-shuffled
    at :data:`BSN_TRAIN_STRIDE` whatever the model denoises at (AP-BSN's asymmetric PD)."""

    def stride(self, model: PixelModel) -> int:
        return BSN_TRAIN_STRIDE

    def batch_loss(self, run, model: PixelModel, batch: Batch, progress: float,
                   generator: torch.Generator) -> torch.Tensor:
        return self.distance(model, run(batch.input), batch.input, progress)


def make_objective(mode: str, loss: str = "l2", target: str = "noisy") -> Objective:
    """The objective of a training ``mode`` (one of :data:`MODES`)."""
    if mode == "n2n":
        return PairObjective(loss, target)
    if target != "noisy":
        raise N2NError(f"{{mode:{mode}}} learns from noisy images only; target '{target}' "
                       "needs {mode:n2n}", param="mode")
    if mode == "ne2ne":
        return Neighbor2Neighbor(loss)
    if mode == "bsn":
        return BlindSpot(loss)
    if mode == "zs":
        return ZeroShot(loss)
    raise N2NError(f"training mode '{mode}': choose one of {MODES}")
