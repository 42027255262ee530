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


@dataclass(frozen=True)
class Camera(Noise):
    """Camera noise: Poisson-Gaussian noise added on a Bayer mosaic and carried through a
    camera's pipeline (Brooks et al., CVPR 2019, "Unprocessing Images for Learned Raw
    Denoising"). The clean sRGB image is "unprocessed" with camera settings drawn per image
    (sRGB tone curve, colour matrix, white balance) to linear raw; noise of variance
    ``shot * raw + read`` is drawn at each RGGB site (``shot`` log-uniform in its range, on the
    0..1 raw scale, ``read`` from Brooks's fit to real sensors), interpolated bilinearly as
    demosaicking does (the neighbour correlation of camera photos), and carried forward through
    white balance, colour matrix and the tone curve's slope at the clean value. That first-order
    propagation keeps the noise zero-mean, as Noise2Noise needs (the curve itself would darken
    the mean of noisy targets). ``jpeg`` (a quality range) stores each result as a JPEG of
    drawn quality, clipped to 8 bits as JPEG files are."""

    shot: Range  # e.g. 1e-4 (bright daylight) to 1.2e-2 (dim light)
    jpeg: Range | None = None

    def __call__(self, clean, generator=None):
        gray = clean.shape[-3] == 1
        rgb = clean.expand(*clean.shape[:-3], 3, *clean.shape[-2:]) if gray else clean
        ccm, gains, shot, read = _camera_settings(rgb, self.shot, generator)
        linear = _srgb_to_linear((rgb / 255.0).clamp(0, 1))
        raw = torch.einsum("...ij,...jhw->...ihw", torch.linalg.inv(ccm), linear) / gains
        variance = shot * raw.clamp(min=0) + read
        noise = torch.randn(raw.shape, generator=generator, device=raw.device) * variance.sqrt()
        linear_noise = torch.einsum("...ij,...jhw->...ihw", ccm,
                                    gains * _demosaic(noise * _bayer_sites(raw)))
        noise = 255.0 * _srgb_slope(linear) * linear_noise
        noisy = clean + (noise.mean(dim=-3, keepdim=True) if gray else noise)
        return noisy if self.jpeg is None else _jpeg(noisy, self.jpeg, generator)

    @property
    def spec(self) -> str:
        quality = "" if self.jpeg is None else f",{_fmt(self.jpeg)}"
        return f"camera:{_fmt(self.shot)}{quality}"


def _camera_settings(images: torch.Tensor, shot: Range, generator: torch.Generator | None):
    """A camera per image: colour matrix (a saturation boost, rows summing to 1), red and blue
    white-balance gains (as Brooks draws them), shot noise (log-uniform) and read noise, shaped
    to broadcast over (..., 3, H, W)."""
    device, batch = images.device, images.shape[:-3]
    u = torch.rand(*batch, 4, generator=generator, device=device)
    saturation = (0.2 + 0.6 * u[..., 0])[..., None, None]
    ccm = (1 + saturation) * torch.eye(3, device=device) - saturation / 3
    gains = torch.stack([1.9 + 0.5 * u[..., 1], torch.ones_like(u[..., 1]),
                         1.5 + 0.4 * u[..., 2]], dim=-1)[..., None, None]
    low, high = np.log(max(shot[0], 1e-8)), np.log(max(shot[1], 1e-8))
    log_shot = (low + (high - low) * u[..., 3])[..., None, None, None]
    jitter = torch.randn(log_shot.shape, generator=generator, device=device)
    log_read = 2.18 * log_shot + 1.2 + 0.26 * jitter
    scale = 0.0 if shot[1] <= 0 else 1.0  # camera:0 is the noise-free round trip
    return ccm, gains, scale * log_shot.exp(), scale * log_read.exp()


def _srgb_to_linear(srgb: torch.Tensor) -> torch.Tensor:
    """The inverse of the sRGB tone curve, 0..1 in and out."""
    return torch.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4)


def _srgb_slope(linear: torch.Tensor) -> torch.Tensor:
    """The sRGB tone curve's derivative at ``linear`` (0..1): how it scales small noise."""
    return torch.where(linear <= 0.0031308, torch.full_like(linear, 12.92),
                       1.055 / 2.4 * linear.clamp(min=0.0031308) ** (1 / 2.4 - 1))


def _bayer_sites(raw: torch.Tensor) -> torch.Tensor:
    """1 where an RGGB mosaic samples a channel, else 0: (3, H, W)."""
    height, width = raw.shape[-2:]
    y = torch.arange(height, device=raw.device)[:, None] % 2
    x = torch.arange(width, device=raw.device)[None, :] % 2
    return torch.stack([(y == 0) & (x == 0), (y + x) == 1, (y == 1) & (x == 1)]).to(raw.dtype)


def _demosaic(sparse: torch.Tensor) -> torch.Tensor:
    """Bilinear demosaicking of a (..., 3, H, W) mosaic holding each channel at its sites."""
    shape = sparse.shape
    x = sparse.reshape(-1, 3, *shape[-2:])
    rb = torch.tensor([[1, 2, 1], [2, 4, 2], [1, 2, 1]], dtype=x.dtype, device=x.device) / 4
    g = torch.tensor([[0, 1, 0], [1, 4, 1], [0, 1, 0]], dtype=x.dtype, device=x.device) / 4
    kernels = torch.stack([rb, g, rb])[:, None]  # (3, 1, 3, 3), one per channel
    padded = torch.nn.functional.pad(x, (1, 1, 1, 1), mode="reflect")
    return torch.nn.functional.conv2d(padded, kernels, groups=3).reshape(shape)


def _jpeg(noisy: torch.Tensor, quality: Range, generator: torch.Generator | None
          ) -> torch.Tensor:
    """Each image stored as a JPEG of a quality drawn in ``quality`` (clipped to 8 bits, as a
    JPEG file is) and decoded back to float."""
    import io

    flat = quantize(noisy).reshape(-1, *noisy.shape[-3:]).cpu()
    q = _per_image(quality, flat.float(), generator).flatten().round().int().tolist()
    out = []
    for image, level in zip(flat, q, strict=True):
        buffer = io.BytesIO()
        array = image.permute(1, 2, 0).numpy()
        PILImage.fromarray(array[:, :, 0] if array.shape[2] == 1 else array).save(
            buffer, format="JPEG", quality=int(level))
        decoded = np.asarray(PILImage.open(buffer), dtype=np.float32)
        out.append(torch.from_numpy(decoded.reshape(array.shape)).permute(2, 0, 1))
    return torch.stack(out).reshape(noisy.shape).to(noisy.device)


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
        (coverage); or ``poisson-gaussian:A,B`` (variance A * x + B; each may be a range),
        all on the 0..255 scale; or ``camera:SHOT[,QUALITY]`` (:class:`Camera`: shot noise on
        the 0..1 raw scale, e.g. ``camera:0.0001-0.012``, and a JPEG quality range, e.g.
        ``camera:0.0001-0.012,75-95``).

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
    if kind == "camera" and sep:
        shot, _, quality = value.partition(",")
        return Camera(_parse_range(spec, "shot", shot, 0.0, 1.0),
                      _parse_range(spec, "JPEG quality", quality, 1.0, 100.0) if quality
                      else None)
    if kind not in _KINDS or not sep:
        choices = ", ".join(f"{k}:<{v[1]}>" for k, v in _KINDS.items())
        raise N2NError(f"noise spec '{spec}': expected one of {choices}, "
                       "poisson-gaussian:<A>,<B>, camera:<shot>[,<JPEG quality>]")
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
