"""The bundled models that ship inside the package: what each was trained on and how."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from n2n.errors import N2NError
from n2n.models import ModelConfig, PixelModel
from n2n.models.checkpoint import load_model


@dataclass(frozen=True)
class BundledModel:
    """One shipped weights file and the facts a user needs to choose it."""

    name: str
    file: str
    channels: int
    use: str
    trained_on: str
    command: str
    context: int = 1  # planes in the window a context model reads; 1 for a 2-D model
    along: str = "ZT"  # the stack axes a context model is made for (T: frames of a scene)


BUNDLED_MODELS = {m.name: m for m in (
    BundledModel(
        "photo", "lite.pt", 3,
        "RGB or gray photos with white, signal-independent noise, the fast one (the EE-559 "
        "Model's weights); add --pd 2 for camera (sRGB) noise, which is spatially correlated; "
        "the default's second pass after camera --pd 2 (--refine)",
        "CBSD432 (432 clean photos) with blind gaussian noise sigma 5-55, noisy pairs only "
        "(a quarter of the patches gray, half of them box-downsampled as in EE-559 data)",
        "see docs/reference/bundled-training.md (one command; 5.6 minutes on one H100)"),
    BundledModel(
        "photo-plus", "photo-plus.pt", 3,
        "the default's model for white noise (--model auto, --pd 1): photos with gaussian or "
        "other signal-independent noise, saturated colours included; 2-3x slower than "
        "'photo', 0.6-2.9 dB better, above CBM3D on CBSD68, Kodak24 and McMaster",
        "CBSD432 with blind gaussian noise sigma 5-55, noisy pairs only (10% gray patches); "
        "then fine-tuned with half the patches recoloured and the noisy input clipped to "
        "0..255 as 8-bit files are (the target unclipped)",
        "see docs/reference/bundled-training.md (two commands; 4.4 + 7 minutes on one GPU)"),
    BundledModel(
        "camera", "camera.pt", 3,
        "the default's model for camera and phone photos (--model auto where the noise is "
        "correlated between neighbours): --pd 2, then photo at full resolution (--refine); "
        "also the default's at --pd 1 for float images with pixels beyond 0..255; "
        "the best of seven candidates on real camera photos with references (sidd_mini, "
        "nam_cbdnet)",
        "photo-plus's first weights: CBSD432 with blind gaussian noise sigma 5-55, noisy pairs "
        "only (10% gray patches), unclipped; noise learnt from real photos did not beat it",
        "see docs/reference/bundled-training.md (the first photo-plus command; 4.4 minutes on "
        "one H100)"),
    BundledModel(
        "confocal", "confocal.pt", 1,
        "fluorescence microscopy, 8-bit gray (confocal; Poisson-Gaussian noise)",
        "FMD Confocal_BPAE_B: 18 fields x 20 raw captures, Noise2Noise on pairs of captures "
        "(avg50.png never a target; field 9 held out for validation)",
        "n2n train runs/confocal --bursts fmd_confocal_bpae/train --reference-name avg50.png "
        "--channels 1 --width 32 --residual --linear-output --patch-size 128 --batch-size 32 "
        "--patches-per-epoch 6400 --epochs 30 --lr 2e-3 --lr-patience 3 --seed 0"),
)}
DEFAULT_MODEL = "photo"

# Context models (models/context.py): each plane of a Z-stack or time-lapse denoised with the
# planes around it; loaded by name as the models above are, kept apart because they need a
# stack (the 2-D doors and lists, napari's, offer the ones above).
CONTEXT_MODELS = {m.name: m for m in (
    BundledModel(
        "confocal-context", "confocal-context.pt", 1,
        "Z-stacks and time-lapses of 8-bit gray fluorescence captures (Poisson-Gaussian "
        "noise), each plane with a window of 5 planes; the default's choice for such stacks "
        "where it would take 'confocal' for their planes",
        "FMD Confocal_BPAE_B's test field 19 as a 50-frame time-lapse: frames 10-49 only "
        "(0-9 held out for the benchmark: +0.69 dB over 'confocal' on the 5-frame mean), "
        "Noise2Noise between interleaved frames (avg50.png never used); Lite U-Net width 32, "
        "depth 4, residual, about 870 steps of 16 patches of 64x64",
        "python benchmarks/context_timelapse.py prepare fmd_confocal_bpae/test/19 WORK; ... "
        "train WORK --minutes 35 --threads 1; ... bundle WORK src/n2n/weights/"
        "confocal-context.pt (38 minutes on one busy CPU thread)",
        context=5),
    BundledModel(
        "confocal-timelapse", "confocal-timelapse.pt", 1,
        "time-lapses of 8-bit gray fluorescence captures of a static or slowly changing scene "
        "(Poisson-Gaussian noise), each frame with a window of 9 frames; the default's "
        "choice for such time-lapses of 9 frames or more (Z-stacks, whose planes differ, "
        "keep the 5-plane window)",
        "the bundled 'confocal' model widened to a window of 9 frames (its weights on the "
        "centre frame), fine-tuned on FMD Confocal_BPAE_B's test field 19, frames 10-49 only "
        "(0-9 held out for the benchmark: +0.93 dB over 'confocal' on the 9-frame mean), "
        "Noise2Noise between interleaved frames (avg50.png never used); 3650 steps of 16 "
        "patches of 64x64",
        "python benchmarks/context_timelapse.py prepare fmd_confocal_bpae/test/19 WORK; ... "
        "train WORK --init confocal --context 9 --lr 3e-4 --lr-patience 6 --minutes 55 "
        "--threads 1 (stopped at 48 minutes, the rate spent); ... bundle WORK "
        "src/n2n/weights/confocal-timelapse.pt",
        context=9, along="T"),
)}

# Warm starts of zero-shot fits (inference/zeroshot.py), by channel count; not denoisers alone:
# a fit sets their normalisation to its image's.
ZS_WIDTH = 48  # the paper's width, which every zero-shot fit uses


def prior_config(channels: int, pd: int = 1) -> ModelConfig:
    """The zero-shot network a prior is pretrained for (benchmarks/zs_prior.py) and a fit
    starts from."""
    return ModelConfig("zs", channels, ZS_WIDTH, residual=True, pd=pd)


ZS_PRIORS = {m.channels: m for m in (
    BundledModel(
        "zs-gray", "zs-gray.pt", 1,
        "the warm start of --zero-shot on gray images",
        "FMD Confocal_BPAE_B's 19 training fields (raw captures; field 19, the benchmark's, "
        "never) and gray CBSD432 photos with gaussian (sigma 3-55) or poisson (peak 2-60) "
        "noise drawn per window; the zero-shot loss only, no clean target",
        "see benchmarks/zs_prior.py (3000 steps, 10.6 minutes on 2 CPU threads)"),
    BundledModel(
        "zs-rgb", "zs-rgb.pt", 3,
        "the warm start of --zero-shot on RGB images",
        "CBSD432 photos with gaussian (sigma 3-55) or poisson (peak 2-60) noise drawn per "
        "window; the zero-shot loss only, no clean target",
        "see benchmarks/zs_prior.py (3000 steps, 21.6 minutes on 2 CPU threads, "
        "another run beside it)"),
)}


def bundled_weights_path(model: str = DEFAULT_MODEL) -> Path:
    """Where a bundled model's weights lie inside the installed package."""
    known = {**BUNDLED_MODELS, **CONTEXT_MODELS}
    if model not in known:
        raise N2NError(f"no bundled model '{model}': choose one of {', '.join(known)}")
    return packaged_weights(known[model].file)


def load_zs_prior(channels: int) -> PixelModel | None:
    """The bundled zero-shot prior for images of ``channels`` channels (None for other counts)."""
    prior = ZS_PRIORS.get(channels)
    return load_model(packaged_weights(prior.file)) if prior else None


def packaged_weights(name: str) -> Path:
    """The weights file ``name`` inside the installed package."""
    path = Path(str(resources.files("n2n") / "weights" / name))
    if not path.is_file():
        raise N2NError(f"bundled weights {name} are missing from the installed package ({path})")
    return path


def load_bundled(model: str = DEFAULT_MODEL) -> PixelModel:
    """A bundled model (``photo``, ``photo-plus``, ``camera``, ``confocal`` or the context
    models ``confocal-context`` and ``confocal-timelapse``), in eval mode on the CPU."""
    return load_model(bundled_weights_path(model))


def is_bundled_name(name: str | Path) -> bool:
    """``name`` names a bundled model, and no file of that name exists (a file wins)."""
    return (str(name) in BUNDLED_MODELS or str(name) in CONTEXT_MODELS) and not Path(
        name).exists()


def load_named(name: str | Path) -> PixelModel:
    """A bundled model by its name, else the checkpoint at ``name``."""
    return load_bundled(str(name)) if is_bundled_name(name) else load_model(name)
