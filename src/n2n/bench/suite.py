"""``n2n bench``: every denoiser on the same noisy images, with the evidence written to disk.

Order of work: check every option and load the data (so mistakes fail before any work) ->
train the equal-budget models, if asked -> for each dataset x noise x method,
denoise every image, score and time it -> after each method, rewrite ``results.json`` (and
after each setting the report), so an error or Ctrl-C keeps everything finished so far.
"""

from __future__ import annotations

import itertools
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from n2n.bench.measure import PeakMemory, machine
from n2n.bench.methods import METHODS, Denoise, resolve_methods, weights_method
from n2n.bench.training import EQUAL_BUDGET, Recipe, train_recipe
from n2n.data.config import DataConfig, build_data
from n2n.data.noise import Gaussian, parse_noise
from n2n.data.pairs import Validation
from n2n.errors import N2NError
from n2n.evaluation.metrics import psnr, ssim
from n2n.evaluation.scoring import burst_pairs, ee559_val_pairs, noisy_versions, reference_pairs
from n2n.io.files import json_written_by_n2n, write_json_record
from n2n.io.images import list_images, read_image

PKL_SETTING = "as in the pkl"


@dataclass
class Case:
    """One noisy image with its clean version and the true sigma of its noise (0..255)."""

    name: str
    noisy: np.ndarray
    clean: np.ndarray
    sigma: float


@dataclass
class Dataset:
    """Clean images with names (a folder), or fixed noisy/clean cases (an EE-559 val pkl, or
    real captures scored against references, under ``setting``)."""

    name: str
    clean: list[tuple[str, np.ndarray]] = field(default_factory=list)
    fixed_cases: list[Case] | None = None
    setting: str = PKL_SETTING

    def cases(self, noise_spec: str, seed: int, clip: bool = False) -> list[Case]:
        if self.fixed_cases is not None:
            return self.fixed_cases
        noise = parse_noise(noise_spec)
        names = [Path(n) for n, _ in self.clean]
        cases = []
        for name, noisy, clean in noisy_versions(names, [c for _, c in self.clean], noise, seed,
                                                 clip):
            cases.append(Case(name, noisy, clean, true_sigma(noise, noisy, clean)))
        return cases


def true_sigma(noise: object, noisy: np.ndarray, clean: np.ndarray) -> float:
    """The spec's sigma for fixed gaussian noise, else the realised noise's standard deviation."""
    if isinstance(noise, Gaussian) and noise.sigma[0] == noise.sigma[1]:
        return noise.sigma[0]
    return float(np.std(noisy - clean))


def load_dataset(path: Path, limit: int | None = None) -> Dataset:
    """A folder of clean images, or an EE-559 ``val_data.pkl`` of (noisy, clean) tensors."""
    if path.suffix == ".pkl":
        pairs = itertools.islice(ee559_val_pairs(path), limit)
        cases = [Case(name, n, c, float(np.std(n - c))) for name, n, c in pairs]
        return Dataset(path.stem, fixed_cases=cases)
    paths = list_images([path])[:limit]
    return Dataset(path.name, [(p.name, read_image(p).pixels) for p in paths])


REAL_SETTING = "real noise"


def load_real_dataset(name: str, pairs, limit: int | None = None) -> Dataset:
    """Real captures with references (no noise added); sigma, for the methods that need it,
    is estimated from each noisy image alone."""
    from n2n.evaluation.diagnose import diagnose_image

    cases = [Case(n, noisy, ref, diagnose_image(noisy).noise_std)
             for n, noisy, ref in itertools.islice(pairs, limit)]
    return Dataset(name, fixed_cases=cases, setting=REAL_SETTING)


@dataclass
class BenchConfig:
    """Everything ``n2n bench`` was asked to do; saved with the results."""

    data: list[Path]
    out: Path
    noises: list[str] = field(default_factory=lambda: ["gaussian:15", "gaussian:25",
                                                       "gaussian:50"])
    methods: list[str] = field(default_factory=lambda: default_methods())
    seed: int = 0
    limit: int | None = None  # images per dataset
    zero_shot_iterations: int | None = None  # None: ZeroShotDenoiser's default (and crop's)
    train: list[Path] | None = None  # clean images for the equal-budget runs
    train_noises: list[str] = field(default_factory=lambda: ["gaussian:25"])
    train_minutes: float = 5.0  # 0: no equal-budget runs
    patches_per_epoch: int = 2000
    device: str = "cpu"  # for the PyTorch models (bundled, trained, zero-shot)
    real_pairs: tuple[Path, Path] | None = None  # (noisy folder, reference folder)
    bursts: Path | None = None  # a bursts folder whose scenes hold ``reference_name``
    reference_name: str = "avg50.png"
    overwrite: bool = False  # replace report files in ``out`` that n2n-lite did not write
    clip: bool = False  # noisy images clipped to 0..255, as 8-bit files hold them
    weights: list[Path] = field(default_factory=list)  # more models, as "weights:<path>"
    zero_shot_prior: bool = True  # False: zero-shot fits from random weights (before the prior)


def default_methods() -> list[str]:
    """All methods, BM3D only when its optional package is installed."""
    import importlib.util

    # for real, camera or microscopy data: name them
    optional = ("n2n-confocal", "bm3d-vst", "n2n-lite-pd2", "n2n-photo-plus-pd2",
                "n2n-photo-plus-pd2-refine", "n2n-camera", "n2n-camera-pd2-refine",
                "n2n-photo-plus-pd3", "n2n-auto-ensemble")
    names = [n for n in METHODS if n not in optional
             and (n != "bm3d" or importlib.util.find_spec("bm3d"))]
    return [*names, "zero-shot"]


@dataclass
class Result:
    """One method on one dataset with one noise: means over its images."""

    dataset: str
    noise: str
    method: str
    images: int
    psnr: float
    ssim: float
    noisy_psnr: float
    seconds_per_image: float
    megapixels_per_second: float
    peak_mib: float
    per_image: dict[str, float] = field(default_factory=dict)  # PSNR of each image, by name


def check(config: BenchConfig) -> None:
    """Fail before any work on a bad option, naming it."""
    for spec in [*config.noises, *config.train_noises]:
        parse_noise(spec)
    resolve_methods(config.methods)
    real = [*(config.real_pairs or ()), *([config.bursts] if config.bursts else [])]
    missing = [p for p in [*config.data, *(config.train or []), *real, *config.weights]
               if not p.exists()]
    if missing:
        raise N2NError(f"{missing[0]}: no such file or folder")
    if config.limit is not None and config.limit < 1:
        raise N2NError(f"{{limit}} {config.limit} must be >= 1", param="limit")
    if config.zero_shot_iterations is not None and config.zero_shot_iterations < 1:
        raise N2NError(f"{{zero_shot_iterations}} {config.zero_shot_iterations} must be >= 1",
                       param="zero_shot_iterations")
    if config.train_minutes < 0:
        raise N2NError(f"{{train_minutes}} {config.train_minutes} must be >= 0",
                       param="train_minutes")


def evaluate_method(denoise: Denoise, cases: list[Case]) -> tuple[dict[str, float], np.ndarray]:
    """Scores, time and memory of one method over ``cases``; also its first output (crops)."""
    psnrs, ssims, seconds, first = [], [], 0.0, None
    with PeakMemory() as peak:
        for case in cases:
            start = time.perf_counter()
            out = denoise(case.noisy, case.sigma)
            seconds += time.perf_counter() - start
            psnrs.append(psnr(out, case.clean))
            ssims.append(ssim(out, case.clean))
            first = out if first is None else first
    megapixels = sum(c.noisy.shape[0] * c.noisy.shape[1] for c in cases) / 1e6
    return {"psnr": float(np.mean(psnrs)), "ssim": float(np.nanmean(ssims)),
            "noisy_psnr": float(np.mean([psnr(c.noisy, c.clean) for c in cases])),
            "seconds_per_image": seconds / len(cases),
            "megapixels_per_second": megapixels / max(seconds, 1e-9),
            "peak_mib": peak.mib,
            "per_image": {c.name: float(p) for c, p in zip(cases, psnrs, strict=True)}}, first


REPORT = ("results.json", "results.md", "pareto.png", "crops.png", "training.png")


def claim_folder(out: Path, overwrite: bool) -> None:
    """Refuse an output folder holding report files of these names that an earlier ``n2n
    bench`` did not write (its ``results.json`` carries the mark), unless ``overwrite``."""
    if overwrite or json_written_by_n2n(out / "results.json"):
        return
    held = [out / name for name in REPORT if (out / name).exists()]
    if held:
        raise N2NError(f"{held[0]}: exists and n2n-lite did not write it; choose another "
                       "folder, or set {overwrite} to replace it", param="overwrite")


class Bench:
    """One benchmark run: holds the record and writes it after every finished piece."""

    def __init__(self, config: BenchConfig, command: str = "", progress: bool = True) -> None:
        check(config)
        claim_folder(config.out, config.overwrite)
        self.config, self.progress = config, progress
        self.datasets = [load_dataset(p, config.limit) for p in config.data]
        if config.real_pairs:
            noisy, reference = config.real_pairs
            self.datasets.append(load_real_dataset(
                noisy.parent.name or noisy.name, reference_pairs(noisy, reference), config.limit))
        if config.bursts:
            self.datasets.append(load_real_dataset(
                config.bursts.name, burst_pairs(config.bursts, config.reference_name),
                config.limit))
        self.record: dict = {"command": command, "machine": machine(),
                             "config": json.loads(json.dumps(asdict(config), default=str)),
                             "results": [], "training": []}
        self.crops: dict[str, dict[str, np.ndarray]] = {}  # setting -> method -> output
        self.trained: dict[tuple[str, str], Denoise] = {}  # (method, noise) -> denoise
        config.out.mkdir(parents=True, exist_ok=True)

    def log(self, message: str) -> None:
        if self.progress:
            tqdm.write(message)

    def save(self) -> None:
        from n2n.bench.report import write_report

        write_json_record(self.config.out / "results.json", self.record)
        write_report(self.record, self.crops, self.config.out)


    def run(self) -> dict:
        m = self.record["machine"]
        self.log(f"machine: {m['cpu']}, {m['cores']} cores, torch {m['torch']} on "
                 f"{m['torch_threads']} thread(s), device {self.config.device}")
        if self.config.train:
            self.train_models()
        for dataset in self.datasets:
            noises = [dataset.setting] if dataset.fixed_cases is not None else self.config.noises
            for noise in noises:
                self.run_setting(dataset, noise)
        return self.record

    def run_setting(self, dataset: Dataset, noise: str) -> None:
        cases = dataset.cases(noise, self.config.seed, self.config.clip)
        setting = f"{dataset.name} / {noise}"
        self.crops[setting] = {"clean": cases[0].clean}
        methods = [(m.name, m.build) for m in resolve_methods(self.config.methods)]
        methods += [(f"weights:{path}", weights_method(path)) for path in self.config.weights]
        if "zero-shot" in self.config.methods:
            methods.append(("zero-shot", self.zero_shot))
        methods += [(name, lambda device, d=d: d) for (name, spec), d in self.trained.items()
                    if spec == noise]
        for name, build in methods:
            self.log(f"{setting}: {name} on {len(cases)} image(s)")
            scores, first = evaluate_method(build(self.config.device), cases)
            self.record["results"].append(asdict(Result(dataset.name, noise, name, len(cases),
                                                        **scores)))
            self.crops[setting][name] = first
            write_json_record(self.config.out / "results.json", self.record)
        self.save()

    def zero_shot(self, device: str) -> Denoise:
        from n2n.inference.zeroshot import ZeroShotDenoiser

        fit_one = ZeroShotDenoiser(self.config.zero_shot_iterations, device=device,
                                   prior=self.config.zero_shot_prior,
                                   progress=False)
        return lambda noisy, sigma: fit_one(noisy)

    def train_models(self) -> None:
        """Equal-budget N2N / N2C / Ne2Ne per training noise."""
        from n2n.inference.denoiser import Denoiser

        for spec in self.config.train_noises:
            noise = parse_noise(spec)
            data = DataConfig(source="clean", paths=self.config.train, noise=spec, channels=3)
            source, val = build_data(data, seed=self.config.seed)  # 5% held out for validation
            images = source.images
            for recipe in EQUAL_BUDGET if self.config.train_minutes > 0 else ():
                model, _ = self.train_one(recipe, images, noise, val,
                                                self.config.train_minutes, "training")
                denoiser = Denoiser(model, self.config.device)
                self.trained[(recipe.name, spec)] = lambda x, sigma, d=denoiser: d(x)
        self.save()

    def train_one(self, recipe: Recipe, images: list[torch.Tensor], noise, val: Validation,
                  minutes: float, kind: str):
        self.log(f"training {recipe.name} on {noise.spec} for {minutes:g} min")
        run_dir = self.config.out / "runs" / f"{kind}-{slug(noise.spec)}-{slug(recipe.name)}"
        model, history = train_recipe(recipe, images, noise, val, minutes, run_dir,
                                      self.config.seed, self.config.patches_per_epoch,
                                      self.config.device, self.progress)
        final = history[-1]
        self.record[kind].append({"recipe": recipe.name, "noise": noise.spec, "minutes": minutes,
                                  "threads": torch.get_num_threads(), "epochs": len(history),
                                  "final_val_psnr": final.get("val_psnr"),
                                  "history": history, **asdict(recipe)})
        return model, history


def slug(text: str) -> str:
    """A file-name-safe version of ``text``."""
    return "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-")[:40]


def quick_data(folder: Path) -> tuple[Path, Path]:
    """Tiny generated data for ``--quick``: crops of scikit-image's bundled photos as PNGs."""
    from skimage import data as skdata

    from n2n.io.images import Image, write_image

    test, train = folder / "test", folder / "train"
    for sub in (test, train):
        sub.mkdir(parents=True, exist_ok=True)
    photos = [skdata.astronaut(), skdata.coffee(), skdata.chelsea()]
    for i, photo in enumerate(photos):
        write_image(test / f"test{i}.png", Image(photo[100:164, 120:184].astype(np.float32)))
        for j, top in enumerate((200, 260)):
            crop = photo[top:top + 72, 200 + 40 * j:296 + 40 * j].astype(np.float32)
            write_image(train / f"train{i}{j}.png", Image(crop))
    gray = skdata.camera()[200:264, 200:264, None].astype(np.float32)  # the grayscale path
    write_image(test / "test_gray.png", Image(gray))
    return test, train


def quick_config(out: Path, methods: list[str] | None = None, overwrite: bool = False
                 ) -> BenchConfig:
    """A run of well under a minute on tiny generated images that still exercises every part."""
    claim_folder(out, overwrite)  # before its data is generated there
    test, train = quick_data(out / "quick-data")
    return BenchConfig(data=[test], out=out, noises=["gaussian:25"],
                       methods=methods or default_methods(), zero_shot_iterations=30,
                       train=[train], train_minutes=0.04, patches_per_epoch=64, overwrite=overwrite)

