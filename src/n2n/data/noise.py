"""Seedable noise models on the 0..255 scale, and the ``kind:value`` specs that name them.

Every model takes clean pixels as a float tensor (..., C, H, W) on the 0..255 scale and returns
noisy pixels on the same scale, unclipped (clipping would bias the zero-mean noise Noise2Noise
relies on; :func:`quantize` makes the uint8 captures of the EE-559 setting). A parameter given as
a range (``gaussian:5-50``) is drawn per image, uniformly, for blind training.
"""

from __future__ import annotations

import random
import string
from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image as PILImage
from PIL import ImageDraw, ImageFont

from n2n.errors import N2NError

Range = tuple[float, float]


def _per_image(value: Range, images: torch.Tensor, generator: torch.Generator | None):
    """Draw one parameter per image (shape (N, 1, 1, 1) for a batch) uniformly in a range."""
    low, high = value
    batch_shape = images.shape[:-3] + (1, 1, 1)
    u = torch.rand(batch_shape, generator=generator, device=images.device)
    return low + (high - low) * u


class Noise(ABC):
    """A noise model: clean -> noisy, reproducible from a ``torch.Generator``."""

    on_any_device = True  # draws on the clean tensor's device (a GPU generator works too)

    @abstractmethod
    def __call__(self, clean: torch.Tensor, generator: torch.Generator | None = None
                 ) -> torch.Tensor: ...

    @property
    @abstractmethod
    def spec(self) -> str:
        """The ``kind:value`` string that rebuilds this model with :func:`parse_noise`."""


def _fmt(value: Range) -> str:
    low, high = value
    return f"{low:g}" if low == high else f"{low:g}-{high:g}"


@dataclass(frozen=True)
class Gaussian(Noise):
    """Additive white gaussian noise of standard deviation ``sigma`` (0..255 scale)."""

    sigma: Range

    def __call__(self, clean, generator=None):
        sigma = _per_image(self.sigma, clean, generator)
        noise = torch.randn(clean.shape, generator=generator, device=clean.device)
        return clean + sigma * noise

    @property
    def spec(self) -> str:
        return f"gaussian:{_fmt(self.sigma)}"


@dataclass(frozen=True)
class Poisson(Noise):
    """Shot noise: a white pixel (255) collects ``peak`` photons on average; lower is noisier."""

    peak: Range

    def __call__(self, clean, generator=None):
        peak = _per_image(self.peak, clean, generator)
        rate = clean.clamp(min=0) * (peak / 255.0)
        return torch.poisson(rate, generator=generator) * (255.0 / peak)

    @property
    def spec(self) -> str:
        return f"poisson:{_fmt(self.peak)}"


@dataclass(frozen=True)
class Impulse(Noise):
    """Random-valued impulse noise: a ``fraction`` of pixels get a uniform random colour."""

    fraction: Range

    def __call__(self, clean, generator=None):
        fraction = _per_image(self.fraction, clean, generator)
        pixel_shape = clean.shape[:-3] + (1,) + clean.shape[-2:]
        hit = torch.rand(pixel_shape, generator=generator, device=clean.device) < fraction
        colours = 255.0 * torch.rand(clean.shape, generator=generator, device=clean.device)
        return torch.where(hit, colours, clean)

    @property
    def spec(self) -> str:
        return f"impulse:{_fmt(self.fraction)}"


@dataclass(frozen=True)
class Text(Noise):
    """Random strings of random size and colour overlaid until ``coverage`` of pixels is hit."""

    coverage: Range
    on_any_device = False  # drawn with PIL on the CPU

    def __call__(self, clean, generator=None):
        flat = clean.reshape((-1,) + clean.shape[-3:])
        coverages = _per_image(self.coverage, flat, generator).flatten().tolist()
        seeds = torch.randint(0, 2**62, (len(flat),), generator=generator).tolist()
        noisy = flat.clone()
        for i, (coverage, seed) in enumerate(zip(coverages, seeds, strict=True)):
            mask, colours = _text_layer(flat.shape[-2:], flat.shape[-3], coverage, seed)
            mask_t = torch.from_numpy(mask).to(clean.device)
            noisy[i] = torch.where(mask_t, torch.from_numpy(colours).to(clean.device), noisy[i])
        return noisy.reshape(clean.shape)

    @property
    def spec(self) -> str:
        return f"text:{_fmt(self.coverage)}"


def _text_layer(size, channels: int, coverage: float, seed: int):
    """Draw strings on an (H, W) canvas until ``coverage`` is reached; return mask and colours."""
    height, width = size
    rng = random.Random(seed)
    labels = PILImage.new("I", (width, height), 0)  # 0 = background, k = k-th string
    draw = ImageDraw.Draw(labels)
    palette = [np.zeros(channels, np.float32)]
    target = coverage * height * width
    for k in range(1, 1000):
        if np.count_nonzero(np.asarray(labels)) >= target:
            break
        font = ImageFont.load_default(size=rng.randint(max(6, height // 16), max(8, height // 4)))
        text = "".join(rng.choices(string.ascii_letters + string.digits, k=rng.randint(3, 12)))
        xy = (rng.randint(-width // 4, width), rng.randint(-height // 8, height))
        draw.text(xy, text, fill=k, font=font)
        palette.append(np.array([rng.uniform(0, 255) for _ in range(channels)], np.float32))
    label = np.asarray(labels)
    colours = np.stack(palette)[label]  # (H, W, C)
    return label[None] > 0, np.ascontiguousarray(colours.transpose(2, 0, 1))


@dataclass(frozen=True)
class PoissonGaussian(Noise):
    """Signal-dependent sensor noise of variance ``a * x + b`` (0..255 scale): ``a`` times a
    Poisson count of mean ``x / a`` (shot noise) plus gaussian read noise of variance ``b``."""

    a: Range
    b: Range

    def __call__(self, clean, generator=None):
        a = _per_image(self.a, clean, generator)
        b = _per_image(self.b, clean, generator)
        gain = a.clamp(min=1e-6)
        shot = torch.poisson(clean.clamp(min=0) / gain, generator=generator) * gain
        shot = torch.where(a > 0, shot, clean)  # a = 0: no shot noise, read noise only
        read = torch.randn(clean.shape, generator=generator, device=clean.device)
        return shot + b.sqrt() * read

    @property
    def spec(self) -> str:
        return f"poisson-gaussian:{_fmt(self.a)},{_fmt(self.b)}"


def quantize(noisy: torch.Tensor) -> torch.Tensor:
    """Round and clip to uint8, as a camera or the EE-559 data would store a capture."""
    return noisy.round().clamp(0, 255).to(torch.uint8)


_KINDS = {"gaussian": (Gaussian, "sigma", 0.0, 1000.0), "poisson": (Poisson, "peak", 1e-3, 1e6),
          "impulse": (Impulse, "fraction", 0.0, 1.0), "text": (Text, "coverage", 0.0, 1.0)}


def parse_noise(spec: str) -> Noise:
    """Build a noise model from its spec.

    Parameters
    ----------
    spec : str
        ``kind:value`` or ``kind:low-high`` (a range: one value drawn per image), kind one of
        ``gaussian`` (sigma), ``poisson`` (peak photons), ``impulse`` (fraction), ``text``
        (coverage); or ``poisson-gaussian:A,B`` (variance A * x + B; each may be a range).
        All on the 0..255 scale.

    Returns
    -------
    Noise
        Callable ``noise(clean, generator)`` on (..., C, H, W) tensors, unclipped.

    Examples
    --------
    >>> noise = parse_noise("gaussian:5-50")
    >>> noisy = noise(torch.full((1, 3, 8, 8), 128.0), torch.Generator().manual_seed(0))
    >>> noisy.shape
    torch.Size([1, 3, 8, 8])
    """
    kind, sep, value = spec.partition(":")
    kind = kind.strip().lower()
    if kind == "poisson-gaussian" and sep:
        parts = value.split(",")
        if len(parts) != 2:
            raise N2NError(f"noise spec '{spec}': expected poisson-gaussian:A,B (variance "
                           "A*x + B on the 0..255 scale), e.g. poisson-gaussian:0.5,4")
        return PoissonGaussian(_parse_range(spec, "A", parts[0], 0.0, 1e4),
                               _parse_range(spec, "B", parts[1], 0.0, 1e6))
    if kind not in _KINDS or not sep:
        choices = ", ".join(f"{k}:<{v[1]}>" for k, v in _KINDS.items())
        raise N2NError(f"noise spec '{spec}': expected one of {choices}, "
                       "poisson-gaussian:<A>,<B>")
    cls, name, lowest, highest = _KINDS[kind]
    return cls(_parse_range(spec, name, value, lowest, highest))


def _parse_range(spec: str, name: str, value: str, lowest: float, highest: float) -> Range:
    """``value`` as a number or a ``low-high`` range within ``lowest..highest``."""
    try:
        parts = [float(p) for p in value.split("-")] if "-" in value[1:] else [float(value)]
    except ValueError as err:
        raise N2NError(f"noise spec '{spec}': {name} must be a number or a range like 5-50") \
            from err
    low, high = parts[0], parts[-1]
    in_range = np.isfinite([low, high]).all() and lowest <= low <= high <= highest
    if len(parts) > 2 or not in_range:
        raise N2NError(f"noise spec '{spec}': {name} must lie in {lowest:g}..{highest:g}, "
                       "low before high")
    return low, high
