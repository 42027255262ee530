"""The script that made the bundled zero-shot priors (outside the package: a lab tool).

Pretrain zero-shot's tiny network on many noisy images: the warm start of every per-image fit.

A fresh zero-shot fit spends its steps learning what every image's fit learns. Pretrained with
the same zero-shot loss on windows of many noisy images (each window normalised on its own, as
a fit normalises its image), the network starts near the end of a fit and needs only a short
one (:mod:`n2n.inference.zeroshot`). It never sees a clean target: clean photos only get
synthetic noise drawn per window. The bundled priors are made with::

    python benchmarks/zs_prior.py src/n2n/weights/zs-gray.pt --channels 1 \\
        --noisy '../shared/data/real/fmd_confocal_bpae/train/*/HV110*.png' \\
        --clean ../shared/data/train/CBSD432
    python benchmarks/zs_prior.py src/n2n/weights/zs-rgb.pt --channels 3 \\
        --clean ../shared/data/train/CBSD432
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path

import torch
from tqdm.auto import tqdm

from n2n.data.folders import load_folder
from n2n.data.noise import Noise, parse_noise
from n2n.errors import N2NError
from n2n.models import PixelModel, build_model
from n2n.models.bundled import prior_config
from n2n.models.checkpoint import write_weights
from n2n.training.objectives import zero_shot_loss

NOISES = ("gaussian:3-55", "poisson:2-60")  # one drawn at random per window of a clean photo


class NoisyWindows:
    """Random ``crop`` x ``crop`` noisy windows: from noisy captures and, half of the time when
    both are given, from clean photos with one of ``noises`` drawn per window."""

    def __init__(self, noisy: Sequence[torch.Tensor], clean: Sequence[torch.Tensor],
                 noises: Sequence[Noise], crop: int, generator: torch.Generator) -> None:
        self.noisy, self.clean, self.noises = list(noisy), list(clean), list(noises)
        self.crop, self.generator = crop, generator
        if not self.noisy and not (self.clean and self.noises):
            raise N2NError("a zero-shot prior needs noisy images, or clean images and a noise")
        small = [tuple(x.shape[-2:]) for x in (*self.noisy, *self.clean)
                 if min(x.shape[-2:]) < crop]
        if small:
            raise N2NError(f"{len(small)} image(s) are smaller than the {crop}x{crop} window "
                           f"(e.g. {small[0][0]}x{small[0][1]}); give a smaller --crop")

    def _pick(self, count: int) -> int:
        return int(torch.randint(count, (), generator=self.generator))

    def window(self) -> torch.Tensor:
        """One (C, crop, crop) noisy window, clipped to 0..255 as image files hold it."""
        use_noisy = self.noisy and (not self.clean or self._pick(2) == 0)
        images = self.noisy if use_noisy else self.clean
        image = images[self._pick(len(images))]
        top = self._pick(image.shape[-2] - self.crop + 1)
        left = self._pick(image.shape[-1] - self.crop + 1)
        window = image[:, top:top + self.crop, left:left + self.crop].float()
        if not use_noisy:
            window = self.noises[self._pick(len(self.noises))](window, self.generator)
        return window.clamp(0, 255)


def pretrain_prior(windows: NoisyWindows, channels: int, steps: int, batch_size: int = 8,
                   lr: float = 1e-3, seed: int = 0, progress: bool = True) -> PixelModel:
    """Adam with a cosine decay over ``steps`` batches of windows, each window normalised by its
    own per-channel mean and std; the zero-shot loss in those units."""
    model = build_model(prior_config(channels), seed)
    optimizer = torch.optim.Adam(model.net.parameters(), lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)

    def run(z: torch.Tensor) -> torch.Tensor:
        return model.net(z) + z

    def distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return ((a - b) ** 2).mean()

    bar = tqdm(range(steps), desc="zero-shot prior", disable=not progress)
    for _ in bar:
        batch = torch.stack([windows.window() for _ in range(batch_size)])
        mean = batch.mean(dim=(2, 3), keepdim=True)
        std = batch.std(dim=(2, 3), keepdim=True).clamp(min=1.0)
        loss = zero_shot_loss(run, (batch - mean) / std, distance)
        if not torch.isfinite(loss):
            raise N2NError(f"zero-shot prior: the loss became {loss.item()}; lower --lr")
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        bar.set_postfix(loss=f"{loss.item():.4f}", refresh=False)
    return model.eval()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python benchmarks/zs_prior.py",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("output", type=Path, help="weights file to write (must not exist)")
    parser.add_argument("--channels", type=int, choices=(1, 3), required=True)
    parser.add_argument("--noisy", nargs="*", default=[], metavar="PATH",
                        help="noisy captures: files, folders or quoted glob patterns")
    parser.add_argument("--clean", nargs="*", default=[], metavar="PATH",
                        help="clean photos, given synthetic noise per window")
    parser.add_argument("--noise", nargs="+", default=list(NOISES), metavar="SPEC",
                        help=f"for --clean, one drawn per window (default: {' '.join(NOISES)})")
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--crop", type=int, default=128)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, help="CPU threads (default: torch's)")
    args = parser.parse_args(argv)
    if args.steps < 1 or args.batch_size < 1 or args.crop < 2:
        parser.error("--steps and --batch-size must be >= 1, --crop >= 2")
    if not args.lr > 0 or (args.threads is not None and args.threads < 1):
        parser.error("--lr must be > 0 and --threads >= 1")
    if args.output.exists():
        parser.error(f"{args.output} exists; n2n-lite does not overwrite it: give a new name")
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        generator = torch.Generator().manual_seed(args.seed)
        windows = NoisyWindows(
            load_folder(args.noisy, args.channels) if args.noisy else [],
            load_folder(args.clean, args.channels) if args.clean else [],
            [parse_noise(spec) for spec in args.noise], args.crop, generator)
        start = time.perf_counter()
        model = pretrain_prior(windows, args.channels, args.steps, args.batch_size, args.lr,
                               args.seed)
        minutes = (time.perf_counter() - start) / 60
        write_weights(model, args.output, extra={"zs_prior": {
            **{k: v for k, v in vars(args).items() if k not in ("output", "threads")},
            "noisy": [str(p) for p in args.noisy], "clean": [str(p) for p in args.clean],
            "minutes": round(minutes, 1)}})
    except N2NError as err:
        parser.exit(2, f"error: {err}\n")
    except KeyboardInterrupt:
        parser.exit(130, f"interrupted: {args.output} not written\n")
    print(f"wrote {args.output} ({args.steps} steps, {minutes:.1f} min)")


if __name__ == "__main__":
    main()
