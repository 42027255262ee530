"""Zero-shot denoising: fit a tiny network to the one image to denoise, then apply it.

Zero-shot Noise2Noise (Mansour and Heckel, CVPR 2023) needs no training data and no noise model:
the trainer of :mod:`n2n.training` runs the ``zs`` objective on
:class:`n2n.data.pairs.WholeImage`. The network and loss follow the paper; the start does not:
the fit starts from a bundled prior, the same network pretrained with the same loss on many
noisy images (benchmarks/zs_prior.py), runs 100 steps on random 256x256 windows, and
returns the mean of its output and the prior's. Against the paper's 2000 whole-image steps from
random weights (``prior=False, crop=None, iterations=2000``) this is far faster on a CPU at
equal or better PSNR (``python benchmarks/zeroshot_schedules.py``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import torch

from n2n.data.pairs import WholeImage
from n2n.errors import N2NError
from n2n.inference.sanity import check_result
from n2n.models import PixelModel, build_model
from n2n.models.bundled import ZS_WIDTH, load_zs_prior, prior_config
from n2n.training.config import TrainConfig
from n2n.training.loop import fit
from n2n.training.objectives import even_crop

STEPS_PER_EPOCH = 100
CROP = 256  # side of the random window each step fits (None: the whole image, as the paper)


@dataclass(frozen=True)
class Schedule:
    """How long and how fast a fit runs."""

    iterations: int  # Adam steps per image
    lr: float


WARM = Schedule(100, 3e-4)  # from the bundled prior; the output is the mean of the fit's and the
# prior's (each alone lost 0.3-0.6 dB on one kind of image; python benchmarks/zeroshot_schedules.py)
COLD = Schedule(1000, 1e-3)  # from random weights (the paper: 2000 steps on the whole image)


@dataclass(frozen=True)
class ZeroShot:
    """The settings of zero-shot denoising, as an :class:`~n2n.inference.spec.InferenceSpec`
    carries them (no trained model: a network fitted to each image): Adam steps (None: the
    schedule's), the side of each step's random window (None: the whole image), a time budget
    per image and whether to start from the bundled prior; as for :class:`ZeroShotDenoiser`."""

    iterations: int | None = None
    crop: int | None = CROP
    minutes: float | None = None
    prior: bool = True

    def denoiser(self, device: str | torch.device, pd: int) -> ZeroShotDenoiser:
        """The denoiser these settings describe, on ``device`` at pixel-shuffle factor ``pd``."""
        return ZeroShotDenoiser(self.iterations, self.minutes, device, pd=pd, crop=self.crop,
                                prior=self.prior)


class ZeroShotDenoiser:
    """Denoise (H, W, C) 0..255 arrays, fitting a network to each one (no training data).

    Parameters
    ----------
    iterations : int, optional
        Adam steps per image (default: 100 from the bundled prior, 1000 without); ``minutes``
        bounds the fit in time too, whichever comes first.
    device : str or torch.device
        A GPU makes the fit from random weights practical (seconds per image against a minute
        on two CPU threads).
    width, lr, seed, progress, pd, crop, prior : keyword-only
        Network width, Adam's learning rate (default: 3e-4 from the prior, 1e-3 without), the
        seed of random initial weights, a progress bar, the pixel-shuffle factor (> 1 for
        spatially correlated camera noise), the side of the random window each step fits
        (None: the whole image, as the paper), and whether to start from the bundled prior of
        the image's channel count (gray or RGB; other counts, and ``pd`` > 1, for which the
        prior is not measured, start from random weights).

    Examples
    --------
    >>> denoise = ZeroShotDenoiser()
    >>> clean = denoise(noisy_pixels)  # (H, W, C) 0..255  # doctest: +SKIP
    """

    streams = False  # fits a network to a whole plane: never strip by strip

    def __init__(self, iterations: int | None = None, minutes: float | None = None,
                 device: str | torch.device = "cpu", *, width: int = ZS_WIDTH,
                 lr: float | None = None, seed: int = 0, progress: bool = True, pd: int = 1,
                 crop: int | None = CROP, prior: bool = True) -> None:
        if iterations is not None and iterations < 1:
            raise N2NError(f"zero-shot {{iterations}} {iterations} must be >= 1",
                           param="iterations")
        if minutes is not None and minutes <= 0:
            raise N2NError(f"zero-shot {{minutes}} {minutes} must be > 0", param="minutes")
        if crop is not None and crop < 2:
            raise N2NError(f"zero-shot {{crop}} {crop} must be >= 2 pixels (or off: the whole "
                           "image)", param="crop")
        if lr is not None and not lr > 0:
            raise N2NError(f"zero-shot {{lr}} {lr} must be > 0", param="lr")
        if prior and width != ZS_WIDTH:
            raise N2NError(f"zero-shot {{width}} {width}: the bundled prior is {ZS_WIDTH} "
                           "wide; start from random weights (prior off) for another width",
                           param="width")
        self.iterations, self.minutes, self.device = iterations, minutes, torch.device(device)
        self.width, self.lr, self.seed, self.progress, self.pd = width, lr, seed, progress, pd
        self.crop, self.prior = crop, prior and pd == 1  # measured at pd 1 only
        self.priors: dict[int, PixelModel | None] = {}  # by channel count, loaded once
        prior_config(1, pd)  # checks pd now rather than at the first image

    def __call__(self, pixels: np.ndarray, tiled: bool | None = None, clip: bool = True
                 ) -> np.ndarray:
        image = torch.from_numpy(np.ascontiguousarray(pixels, dtype=np.float32)).permute(2, 0, 1)
        # refuses images smaller than the 2x2 sub-sampling cell of each sub-image
        even_crop(image[None, :, ::self.pd, ::self.pd])
        channels = image.shape[0]
        if self.prior and channels not in self.priors:
            self.priors[channels] = load_zs_prior(channels)
        start = self.priors.get(channels)
        config = replace(prior_config(channels, self.pd), width=self.width)
        model = build_model(config, self.seed)
        schedule = WARM if start is not None else COLD
        iterations = self.iterations or schedule.iterations
        lr = self.lr if self.lr is not None else schedule.lr
        batch = image[None].to(self.device)
        model.to(self.device).set_normalization(batch)  # the image's own, for prior and fit
        if start is not None:
            model.net.load_state_dict(start.net.state_dict())
            with torch.no_grad():
                anchor = model(batch)
        steps = min(STEPS_PER_EPOCH, iterations)
        train = TrainConfig(model=config, mode="zs", lr=lr, batch_size=1,
                            epochs=math.ceil(iterations / steps), minutes=self.minutes,
                            augment=False, seed=self.seed, lr_patience=3)
        fit(model, WholeImage(image, steps, self.crop), train, progress=self.progress,
            normalize=False)
        with torch.no_grad():
            out = model(batch)
            if start is not None:
                out = (out + anchor) / 2
        out = out[0].cpu().permute(1, 2, 0).numpy()
        check_result(pixels, out, "the zero-shot fit")
        return np.clip(out, 0, 255) if clip else out
