"""Every denoiser the benchmark compares, behind one signature: ``denoise(noisy, sigma)``.

``noisy`` is an (H, W, C) float array on the 0..255 scale and ``sigma`` the true standard
deviation of its noise on that scale (what BM3D is given; the learned methods and non-local
means ignore it). Classical methods come from scikit-image and, with the ``bench`` extra, the
``bm3d`` package (free for non-commercial use only: see its licence).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from n2n.errors import N2NError

Denoise = Callable[[np.ndarray, float], np.ndarray]


@dataclass(frozen=True)
class Method:
    """A named denoiser; ``build()`` loads what it needs and returns the denoise function."""

    name: str
    build: Callable[[str], Denoise]  # takes the torch device name
    description: str


def _noisy(device: str) -> Denoise:
    return lambda noisy, sigma: noisy


def _bundled(model: str, pd: int | None = None, refine: str | None = None
             ) -> Callable[[str], Denoise]:
    def build(device: str) -> Denoise:
        from n2n.inference.denoiser import Denoiser
        from n2n.models.bundled import load_bundled

        denoiser = Denoiser(load_bundled(model), device, pd=pd,
                            refine=load_bundled(refine) if refine else None)
        return lambda noisy, sigma: denoiser(noisy)

    return build


def weights_method(path: Path) -> Callable[[str], Denoise]:
    """A model file of the user's (checkpoint or export) as a method, at its own --pd."""
    def build(device: str) -> Denoise:
        from n2n.inference.denoiser import Denoiser
        from n2n.inference.weights import load_weights

        denoiser = Denoiser(load_weights(path), device)
        return lambda noisy, sigma: denoiser(noisy)

    return build


def _auto(ensemble: bool = False) -> Callable[[str], Denoise]:
    """What ``n2n denoise`` does by default (the treatment chosen per image), with
    ``--ensemble`` if asked."""
    def build(device: str) -> Denoise:
        from n2n.inference.spec import InferenceSpec, build_denoiser

        denoiser = build_denoiser(InferenceSpec(device=device, ensemble=ensemble))
        return lambda noisy, sigma: denoiser(noisy)

    return build


def _scratch(device: str) -> Denoise:
    import torch

    from n2n.scratch import Model

    model = Model()
    model.load_pretrained_model()  # the framework runs where its weights are: the CPU

    def denoise(noisy: np.ndarray, sigma: float) -> np.ndarray:
        clipped = np.clip(noisy, 0, 255)  # the EE-559 contract takes 0..255 values only
        x = torch.from_numpy(np.ascontiguousarray(clipped)).permute(2, 0, 1)[None]
        gray = x.shape[1] == 1
        out = model.predict(x.expand(-1, 3, -1, -1) if gray else x)[0].permute(1, 2, 0)
        return out.mean(2, keepdim=True).numpy() if gray else out.numpy()

    return denoise


def _bm3d(device: str) -> Denoise:
    try:
        import bm3d
    except ImportError as err:
        raise N2NError("method bm3d needs the bm3d package: pip install 'n2n-lite[bench]' "
                       "(non-commercial licence)") from err

    def denoise(noisy: np.ndarray, sigma: float) -> np.ndarray:
        x = noisy / 255.0
        if noisy.shape[2] == 3:
            return bm3d.bm3d_rgb(x, sigma / 255.0) * 255.0  # CBM3D
        return bm3d.bm3d(x[:, :, 0], sigma / 255.0)[:, :, None] * 255.0

    return denoise


def _bm3d_vst(device: str) -> Denoise:
    """BM3D after the generalized Anscombe transform, with Poisson-Gaussian parameters (A, B)
    diagnosed on the noisy image alone: the classical method for signal-dependent noise."""
    bm3d_denoise = _bm3d(device)

    def denoise(noisy: np.ndarray, sigma: float) -> np.ndarray:
        from n2n.evaluation.diagnose import diagnose_image

        model = diagnose_image(noisy).noise_model
        a, b = max(model.a, 1e-3), max(model.b, 0.0)  # a tiny A: close to plain gaussian
        # z -> 2/A sqrt(A z + 3/8 A^2 + B): unit variance whatever the intensity
        forward = 2.0 / a * np.sqrt(np.maximum(a * noisy + 0.375 * a * a + b, 0.0))
        scale = max(float(forward.max()), 1.0)
        out = bm3d_denoise(forward * (255.0 / scale), 255.0 / scale) * (scale / 255.0)
        # asymptotically unbiased inverse: A ((D/2)^2 - 1/8) - B / A
        return a * ((out / 2.0) ** 2 - 0.125) - b / a

    return denoise


def _nlm(device: str) -> Denoise:
    from skimage.restoration import denoise_nl_means, estimate_sigma

    def denoise(noisy: np.ndarray, sigma: float) -> np.ndarray:
        x = noisy / 255.0
        est = float(np.mean(estimate_sigma(x, channel_axis=2)))
        gray = x.shape[2] == 1  # denoise_nl_means drops a single channel axis
        out = denoise_nl_means(x[:, :, 0] if gray else x, h=0.6 * est, sigma=est,
                               fast_mode=True, patch_size=5, patch_distance=6,
                               channel_axis=None if gray else 2)
        return (out[:, :, None] if gray else out) * 255.0

    return denoise


def _tv(device: str) -> Denoise:
    from skimage.restoration import denoise_tv_chambolle, estimate_sigma

    def denoise(noisy: np.ndarray, sigma: float) -> np.ndarray:
        x = noisy / 255.0
        est = float(np.mean(estimate_sigma(x, channel_axis=2)))
        return denoise_tv_chambolle(x, weight=est, channel_axis=2) * 255.0

    return denoise


def _wavelet(device: str) -> Denoise:
    from skimage.restoration import denoise_wavelet

    def denoise(noisy: np.ndarray, sigma: float) -> np.ndarray:
        color = noisy.shape[2] == 3
        out = denoise_wavelet(noisy / 255.0, method="BayesShrink", mode="soft", rescale_sigma=True,
                              channel_axis=2, convert2ycbcr=color)
        return out * 255.0

    return denoise


METHODS = {m.name: m for m in (
    Method("noisy", _noisy, "the input itself"),
    Method("n2n-auto", _auto(), "n2n denoise's default: model and pixel-shuffle factor "
           "chosen per image from its noise (photo-plus at pd 1, or camera at pd 2 then photo, "
           "pd 3 and 4 in flat areas of noise correlated over 2 px)"),
    Method("n2n-auto-ensemble", _auto(ensemble=True), "n2n denoise --ensemble: the default, "
           "each pass averaged over 8 flips and turns (8x the time)"),
    Method("n2n-lite", _bundled("photo"), "bundled photo model (Noise2Noise, blind sigma 5-55)"),
    Method("n2n-lite-pd2", _bundled("photo", 2), "bundled photo model at pixel-shuffle factor 2 "
           "(for correlated noise)"),
    Method("n2n-photo-plus", _bundled("photo-plus"), "bundled quality photo model (the paper's "
           "U-Net, Noise2Noise, blind sigma 5-55)"),
    Method("n2n-photo-plus-pd2", _bundled("photo-plus", 2), "bundled quality photo model at "
           "pixel-shuffle factor 2"),
    Method("n2n-photo-plus-pd2-refine", _bundled("photo-plus", 2, "photo"), "bundled quality "
           "photo model at pixel-shuffle factor 2, then the photo model at full resolution"),
    Method("n2n-camera", _bundled("camera"), "bundled camera model (photo-plus's first weights, "
           "trained on unclipped gaussian noise) at full resolution"),
    Method("n2n-camera-pd2-refine", _bundled("camera", 2, "photo"), "bundled camera model at "
           "pixel-shuffle factor 2, then the photo model at full resolution (the default's "
           "treatment of camera photos)"),
    Method("n2n-photo-plus-pd3", _bundled("photo-plus", 3), "bundled quality photo model at "
           "pixel-shuffle factor 3"),
    Method("n2n-confocal", _bundled("confocal"), "bundled 1-channel microscopy model (Noise2Noise "
           "on FMD confocal bursts)"),
    Method("n2n-scratch", _scratch, "bundled from-scratch framework U-Net (EE-559 32x32 data)"),
    Method("bm3d", _bm3d, "BM3D / CBM3D (bm3d package) given the true sigma (real noise: an "
           "estimated one)"),
    Method("bm3d-vst", _bm3d_vst, "BM3D after a generalized Anscombe transform with the "
           "diagnosed Poisson-Gaussian (A, B)"),
    Method("nlm", _nlm, "scikit-image non-local means, fast mode, sigma from estimate_sigma"),
    Method("tv", _tv, "scikit-image total variation (Chambolle), weight = estimated sigma"),
    Method("wavelet", _wavelet, "scikit-image wavelet BayesShrink (YCbCr for colour)"),
)}
# Methods made during a run (trained at equal budget, or fitted per image) join under the
# names "n2n-trained", "n2c-trained", "ne2ne-trained" and "zero-shot" (see suite.py).


def resolve_methods(names: list[str]) -> list[Method]:
    """The methods named, in order; an unknown name is a clear error."""
    unknown = [n for n in names if n not in METHODS and n != "zero-shot"]
    if unknown:
        raise N2NError(f"unknown method(s) {', '.join(unknown)}: choose from "
                       f"{', '.join([*METHODS, 'zero-shot'])}")
    return [METHODS[n] for n in names if n in METHODS]
