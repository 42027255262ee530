"""Inference on whole images of any size: padded, and tiled with overlap beyond a size.

Tiling follows one rule so that tiled and untiled results agree: the image is padded once to
a grid (the network's multiple, and that of any later pass), cut into tiles whose corners lie on
it, and each tile is run with a margin of context at least the network's receptive radius; only
its core is kept (a U-Net's pass runs its coarse levels over the whole input instead, so that
its tiles need only the fine levels' radius: :mod:`n2n.inference.levels`). A second pass
(random replacing, a refining model) is tiled the same way over the first one's whole result,
with its own margin. The tile plan is plain data (:func:`plan_tiles`), testable without a
model.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial

import numpy as np
import torch

from n2n.device import memory_layout, on_device
from n2n.errors import N2NError
from n2n.inference.backends import on_engine
from n2n.inference.constant import constant_windows
from n2n.inference.levels import by_levels, leveled_pass, tiled_map
from n2n.inference.replacing import PERIOD, random_replacing
from n2n.inference.sanity import check_result, model_name
from n2n.inference.tiling import BUDGET_PIXELS, Tile, budget_plan, plan_tiles, window_pixels
from n2n.io.images import Image
from n2n.models import PixelModel
from n2n.models.pd import pd_merge, pd_split
from n2n.models.unet3d import z_grid
from n2n.models.wrapper import pad_to_multiple

__all__ = ["Denoiser", "Pass", "Tile", "denoise_image", "plan_tiles"]

BLIND_SPOT_REFINED = ("{refine}: a blind-spot network refines its result by random replacing "
                      "already; drop {refine}")


@dataclass(frozen=True)
class Pass:
    """One pass of a Denoiser: ``run(noisy, previous)`` on its input, in image pixels or, at
    ``split`` k > 1, on the image's k**2 sub-images (pixel-shuffled once, whole); tiles of it
    start on ``multiple`` and read ``margin`` around their core, both in its own pixels; a
    window holds at most ``budget`` input pixels (:func:`n2n.inference.tiling.window_pixels`);
    ``bfloat16``: its network runs under bfloat16 autocast (its engine's choice); where
    ``leveled`` is its model, tiles run by that network's levels."""

    run: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    margin: int
    multiple: int
    split: int = 1
    budget: int = BUDGET_PIXELS  # input pixels one window may hold (its network's and engine's)
    bfloat16: bool = False
    leveled: PixelModel | None = None  # tiled by its network's levels (n2n.inference.levels)
    on_previous: bool = False  # its input is the previous pass's result, not the noisy image


class Denoiser:
    """Denoise (H, W, C) 0..255 arrays with a model, tiling images larger than ``tile``.

    Parameters
    ----------
    model : PixelModel
        A trained model (:func:`n2n.models.bundled.load_bundled`,
        :func:`n2n.models.checkpoint.load_model`).
    device : str or torch.device
        Where the model runs; images come and go as numpy arrays on the CPU.
    tile : int, keyword-only
        Tile side in image pixels: images larger than this (rounded up to the grid) are
        denoised tile by tile. None (default): each pass cuts its input into as few, as large
        tiles as a memory budget holds (:data:`n2n.inference.tiling.TILE_MEMORY`), a
        pixel-shuffled pass its sub-images (split once for the whole image), so that a core
        pays for the network's own radius of margin, not ``pd`` times it; a U-Net's tiles
        need only its fine levels' radius (:mod:`n2n.inference.levels`). Tiles overlap by
        their margin, cropped rather than blended, so the result equals the untiled one.
    pd : int, keyword-only
        Pixel-shuffle down-sampling factor; default: the model's own.
    refine : PixelModel, keyword-only
        After the pixel-shuffled pass, a second model (``photo`` for the photo models) run at
        full resolution over its result: it removes the 2-px grid that sub-images denoised
        apart leave (camera ``--pd 2`` refined by photo: +1.1 dB on SIDD phone crops, +0.2
        on Nam's DSLR photos; docs/development/measurements/camera.md). Needs ``pd`` > 1 and
        PyTorch checkpoints. A blind-spot network (arch ``bsn``) is always refined by random
        replacing first (:mod:`n2n.inference.replacing`).
    fast : bool, keyword-only
        Channels-last layout under the engine measured fastest here (``backend``), which
        may be bfloat16 convolutions with each network's output layer in float32 where the
        processor computes them natively: against float32 channels-last, 2.3x (photo) on 2
        threads of an AMD EPYC with AVX512-BF16 at the same PSNR to 0.003 dB
        (``n2n.bench.inference``), but 0.74x on an Intel Xeon with AVX512-BF16 and no AMX,
        hence the measurement. PyTorch checkpoints only; an exported model runs as exported.
    backend : str, keyword-only
        The fast path's engine: ``torch`` (float32), ``onnxruntime`` (float32, equal to
        PyTorch within 1e-4), ``bfloat16`` (where native) or None (``N2N_BACKEND``, else
        measured here once and cached: :mod:`n2n.inference.backends`).
    ensemble : bool, keyword-only
        Each pass averaged over the 8 flips and quarter turns of its input (self-ensemble):
        8x the time for +0.1-0.2 dB (SIDD +0.11, Nam +0.21, CBSD68 +0.09-0.15;
        docs/development/measurements/camera.md, "Flat areas from coarser factors"). Tiles stay
        exact: every tile is a whole number of grid cells, so a turned tile splits into the same
        sub-images.

    Examples
    --------
    >>> denoiser = Denoiser(load_bundled("photo"), "cpu", tile=512)  # doctest: +SKIP
    >>> clean = denoiser(noisy_pixels)  # (H, W, C) float 0..255 in and out  # doctest: +SKIP
    """

    @property
    def streams(self) -> bool:
        """Whether it can denoise an image strip by strip (see n2n.inference.strips): a 2-D
        model can, a context model reads whole windows of planes, a 3-D model Z tiles."""
        return self.context == 1 and not self.volumetric

    def __init__(self, model: PixelModel, device: str | torch.device = "cpu", *,
                 tile: int | None = None, pd: int | None = None,
                 refine: PixelModel | None = None, fast: bool = True,
                 ensemble: bool = False, backend: str | None = None) -> None:
        if tile is not None and tile < 1:
            raise N2NError(f"{{tile}} {tile} must be >= 1", param="tile")
        if pd is not None and pd != model.config.pd and not isinstance(model, PixelModel):
            raise N2NError(f"{{pd}} {pd}: an exported model keeps the pixel-shuffle factor it "
                           f"was exported with ({model.config.pd}); use the checkpoint to change "
                           "it", param="pd")
        if pd is not None and pd != model.config.pd:  # e.g. a white-noise model on camera noise
            model.config = replace(model.config, pd=pd)  # checked by ModelConfig itself
        self.replacing = isinstance(model, PixelModel) and model.config.arch == "bsn"
        self.volumetric = model.config.arch == "unet3d"  # planes of a Z tile in, the same out
        if refine is not None:
            self._check_refiner(model, refine)
        self.device = torch.device(device)
        self.fast = fast and isinstance(model, PixelModel) and not self.volumetric  # 2-D
        self.ensemble = ensemble
        (engine, self.backend), (refiner, refine_backend) = (
            on_engine(m, self.device, self.fast, backend) for m in (model, refine))
        self.model = memory_layout(engine.to(self.device), self.fast).eval()
        self.refine = None if refine is None else memory_layout(refiner.to(self.device),
                                                                self.fast).eval()
        self._passes = self._plan_passes(self.model, self.refine,
                                         (self.backend, refine_backend))
        # images are padded to, and tiles, strips and chunks start on, this grid
        self.grid = math.lcm(*(p.multiple * p.split for p in self._passes))
        self.tile_given = tile is not None  # else each pass's tiles come from a memory budget
        self.budget_pixels: int | None = None  # if set, for every pass's windows
        self.tile = -(-(tile or DOOR_TILE) // self.grid) * self.grid  # image pixels
        # a window's for all passes, in image pixels
        self.margin = sum(-(-p.margin * p.split // self.grid) * self.grid for p in self._passes)

    def _plan_passes(self, model: torch.nn.Module, refine: PixelModel | None,
                     engines: tuple[str, str]) -> list[Pass]:
        """Each pass, with the margin (its receptive radius rounded up to its multiple) and
        multiple of its own pixels, and its network's window budget and precision under its
        engine (``engines``: the model's, the refining model's); a checkpoint's pixel-shuffled
        pass runs on sub-images."""
        def own(radius: int, multiple: int) -> int:
            return -(-radius // multiple) * multiple

        first = {"budget": self._window_budget(model, engines[0]),
                 "bfloat16": engines[0] == "bfloat16"}
        if isinstance(model, PixelModel):
            net, split = model.net, model.config.pd
            passes = [Pass(self._denoise_split, own(net.receptive_radius, net.multiple),
                           net.multiple, split, **first, leveled=by_levels(model))]
        else:  # an export runs as exported, splitting inside
            passes = [Pass(self._denoise, own(model.receptive_radius, model.multiple),
                           model.multiple, **first)]
        if self.replacing:  # its masks must fall alike on every tile: tiles start on PERIOD
            passes.append(Pass(self._replace, own(model.net.receptive_radius, PERIOD), PERIOD,
                               **first))
        if refine is not None:
            passes.append(Pass(self._refine, own(refine.net.receptive_radius,
                                                 refine.net.multiple), refine.net.multiple,
                               budget=self._window_budget(refine, engines[1]),
                               bfloat16=engines[1] == "bfloat16", leveled=by_levels(refine),
                               on_previous=True))
        return passes

    def _window_budget(self, model: torch.nn.Module | None, backend: str) -> int:
        """Input pixels one window of ``model``'s passes may hold under its engine."""
        if not isinstance(model, PixelModel):
            return BUDGET_PIXELS
        engine = ("onnxruntime" if backend == "onnxruntime" else
                  "channels-last" if self.fast else "nchw")
        return window_pixels(model.config.arch, model.config.width, engine)

    @staticmethod
    def _check_refiner(model: torch.nn.Module, refine: torch.nn.Module) -> None:
        """A refining model: a checkpoint of the same channels, after a pixel-shuffled pass of
        a network that is not refined by random replacing already."""
        if not isinstance(model, PixelModel) or not isinstance(refine, PixelModel):
            raise N2NError("{refine}: an exported model runs only as exported; use the "
                           "checkpoint", param="refine")
        if model.config.arch == "bsn":
            raise N2NError(BLIND_SPOT_REFINED, param="refine")
        if model.config.pd == 1:
            raise N2NError("{refine}: a second pass after a pixel-shuffled one; it needs "
                           "{pd} 2 or more", param=("refine", "pd"))
        if refine.config.channels != model.config.channels:
            raise N2NError(f"{{refine}}: the refining model takes {refine.config.channels} "
                           f"channel(s), the model {model.config.channels}", param="refine")

    @property
    def channels(self) -> int:
        return self.model.config.channels

    def __call__(self, pixels: np.ndarray, tiled: bool | None = None, clip: bool = True
                 ) -> np.ndarray:
        """(H, W, C) float 0..255 in, same out; ``tiled=None`` tiles only beyond ``tile``;
        ``clip`` cuts the output to 0..255 (off for float images, whose range is their own).

        Channels are matched to the model: a gray image goes through an RGB model as three equal
        channels (averaged back), an RGB image through a gray model channel by channel. A pixel
        whose whole receptive field holds one value keeps it (:mod:`n2n.inference.constant`).
        """
        channels = pixels.shape[2]
        if self.context > 1:  # a window of planes in, its centre plane out
            return self._window(pixels, tiled, clip)
        if self.volumetric:  # the planes of a Z tile in, the same planes out
            return self._slab(pixels, tiled, clip)
        if channels == self.channels:
            out = self._run(pixels, tiled)
        elif channels == 1:
            out = self._run(np.repeat(pixels, self.channels, axis=2), tiled).mean(
                axis=2, keepdims=True)
        elif self.channels == 1:
            out = np.concatenate([self._run(pixels[:, :, c:c + 1], tiled)
                                  for c in range(channels)], axis=2)
        else:
            raise N2NError(f"image with {channels} channels, model with {self.channels}: use a "
                           "model trained on this channel count")
        flat = constant_windows(pixels, self.margin)
        if flat.any():  # constant images, clipped or padded areas keep their value
            out = np.where(flat[:, :, None], pixels, out)
        check_result(pixels, out, self.name)
        return np.clip(out, 0, 255) if clip else out

    @property
    def z_grid(self) -> tuple[int, int]:
        """(Z halo, Z multiple) of a 3-D model's Z tiles (:func:`n2n.models.unet3d.z_grid`)."""
        return z_grid(self.model)

    @property
    def context(self) -> int:
        """Planes in a window the model reads (models/context.py); 1 for a 2-D model."""
        return getattr(self.model.config, "context", 1)

    def _window(self, pixels: np.ndarray, tiled: bool | None, clip: bool) -> np.ndarray:
        """(H, W, context * C) planes, channels of each plane together, in; the centre plane
        denoised out."""
        if pixels.shape[2] == self.channels:
            raise N2NError(f"{self.name} denoises a plane with the context of its neighbours: "
                           f"give a stack (Z or T) of at least {self.context} planes, not a "
                           "single image")
        if pixels.shape[2] != self.context * self.channels:
            raise N2NError(f"{self.name} reads windows of {self.context} planes of "
                           f"{self.channels} channel(s), got {pixels.shape[2]} channel(s)")
        out = self._run(pixels, tiled)
        first = self.context // 2 * self.channels
        check_result(pixels[:, :, first:first + self.channels], out, self.name)
        return np.clip(out, 0, 255) if clip else out

    def _slab(self, pixels: np.ndarray, tiled: bool | None, clip: bool) -> np.ndarray:
        """(H, W, n * C): the n planes of a Z tile of a 3-D model, channels of each plane
        together, in; the same planes denoised out."""
        out = self._run(pixels, tiled)  # the model refuses a plane of other channels
        check_result(pixels, out, self.name)
        return np.clip(out, 0, 255) if clip else out

    @property
    def name(self) -> str:
        """The model's file (and its refining model's), for messages."""
        names = [model_name(m) for m in (self.model, self.refine) if m is not None]
        return " refined by ".join(dict.fromkeys(names))

    @torch.no_grad()
    def _run(self, pixels: np.ndarray, tiled: bool | None) -> np.ndarray:
        height, width, _ = pixels.shape
        x = torch.from_numpy(np.ascontiguousarray(pixels, dtype=np.float32))
        x = x.permute(2, 0, 1)[None]  # (1, C, H, W)
        if tiled is None:  # a tile given: tiled beyond it; else as the memory budget says
            tiled = max(height, width) > self.tile if self.tile_given else None
        # padded here, not by the model: later passes then see the same first-pass pixels
        # beyond the border whether the image is tiled or not
        noisy = pad_to_multiple(x, self.grid)
        out = noisy
        for step in self._passes:
            source = pd_split(noisy, step.split)
            previous = source if out is noisy else out
            result = (self._forward(step, source, previous) if tiled is False
                      else self._tiled(step, source, previous, tiled))
            out = pd_merge(result, step.split)
        return out[..., :height, :width][0].permute(1, 2, 0).numpy()

    def _denoise(self, noisy: torch.Tensor, previous: torch.Tensor) -> torch.Tensor:
        return self.model(noisy)

    def _denoise_split(self, noisy: torch.Tensor, previous: torch.Tensor) -> torch.Tensor:
        return self.model(noisy, split=False)  # the sub-images, split once for the image

    def _replace(self, noisy: torch.Tensor, previous: torch.Tensor) -> torch.Tensor:
        return random_replacing(self.model, noisy, previous)

    def _refine(self, noisy: torch.Tensor, previous: torch.Tensor) -> torch.Tensor:
        return self.refine(previous, split=False)  # at full resolution, whatever its pd

    def _forward(self, step: Pass, noisy: torch.Tensor, previous: torch.Tensor
                 ) -> torch.Tensor:
        """One pass, ``step.run(noisy, previous)`` (averaged over the 8 views with
        ``ensemble``), on (1, C, h, w) CPU tensors: the result back on the CPU in float32."""
        run = partial(self._ensemble, step.run) if self.ensemble else step.run
        return on_device(self.device, self.fast, step.bfloat16)(run)(noisy, previous)

    def _ensemble(self, run: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
                  noisy: torch.Tensor, previous: torch.Tensor) -> torch.Tensor:
        """``run`` averaged over the 8 flips and quarter turns of its inputs."""
        layout = torch.channels_last if self.fast else torch.contiguous_format
        total = 0.0
        for turns, flip in DIHEDRAL:
            views = (_turned(x, turns, flip).contiguous(memory_format=layout)
                     for x in (noisy, previous))
            total = total + _unturned(run(*views).float(), turns, flip)
        return total / len(DIHEDRAL)

    def _tiled(self, step: Pass, noisy: torch.Tensor, previous: torch.Tensor,
               tiled: bool | None) -> torch.Tensor:
        """One pass over an already padded (N, C, H, W) input in its own pixels: tiles of a
        given size (``tiled`` True), else groups of whole images or tiles that fit the memory
        budget; the result equals the untiled one (each core read with the pass's margin). A
        window of planes gives its centre plane's channels."""
        count, _, height, width = noisy.shape
        given = self.tile_given and tiled  # tiles of a given size: whole networks in each
        if given:
            core = -(-self.tile // step.split // step.multiple) * step.multiple
            group, rows, cols = count, core, core
        else:
            planes = noisy.shape[1] // self.channels if self.volumetric else 1  # voxels count
            budget = (self.budget_pixels or step.budget) // planes
            group, rows, cols = budget_plan(count, height, width, step.margin, step.multiple,
                                            budget)
        if group >= count and rows >= height and cols >= width:
            return self._forward(step, noisy, previous)
        if (step.leveled is not None and not given and not self.ensemble
                and (rows < height or cols < width)):  # cut into tiles, not whole images
            return leveled_pass(step.leveled, previous if step.on_previous else noisy, budget,
                                on_device(self.device, self.fast, step.bfloat16))
        inputs = [(noisy, 1)] if previous is noisy else [(noisy, 1), (previous, 1)]
        return tiled_map(lambda n, p=None: self._forward(step, n, n if p is None else p),
                         inputs, step.margin, (group, rows, cols))


DOOR_TILE = 512  # image pixels: the unit of strips' and Dask chunks' tile plans by default


DIHEDRAL = [(turns, flip) for flip in (False, True) for turns in range(4)]  # the 8 views


def _turned(x: torch.Tensor, turns: int, flip: bool) -> torch.Tensor:
    """(N, C, H, W) ``x`` flipped left-right (if ``flip``), then turned ``turns`` quarters."""
    return torch.rot90(x.flip(-1) if flip else x, turns, dims=(-2, -1))


def _unturned(x: torch.Tensor, turns: int, flip: bool) -> torch.Tensor:
    """The inverse of :func:`_turned`."""
    x = torch.rot90(x, -turns, dims=(-2, -1))
    return x.flip(-1) if flip else x


def denoise_image(denoiser: Denoiser, image: Image) -> Image:
    """Denoise an :class:`~n2n.io.Image`, keeping its bit depth and alpha untouched.

    Parameters
    ----------
    denoiser : Denoiser or ZeroShotDenoiser
    image : Image
        As :func:`n2n.io.read_image` returns it.

    Returns
    -------
    Image
        The same depth and alpha; 8/16-bit results are clipped to the file's range, float
        images keep theirs.

    Examples
    --------
    >>> out = denoise_image(Denoiser(load_bundled()), read_image("x.png"))  # doctest: +SKIP
    >>> write_image("x_clean.png", out)  # doctest: +SKIP
    """
    return image.with_pixels(denoiser(image.pixels, clip=image.bit_depth != 32))
