"""From a typed description of the training data to a pair source and its validation set.

:class:`DataConfig` says where the pairs come from (clean images with synthetic noise, EE-559
tensors, bursts of real captures, two matched folders, single noisy images) and how they are
cut; it is saved in every checkpoint, so a run can be rebuilt from it. :func:`build_data` is
the one place that turns it into data: the command line, ``n2n bench`` and the Python API all
call it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from n2n.data.bursts import bursts_from_pairs, load_bursts
from n2n.data.ee559 import TensorPairs, load_ee559_pairs
from n2n.data.folders import (
    LazyFolder,
    load_folder,
    split_holdout,
    validation_from_clean,
    validation_from_references,
)
from n2n.data.noise import parse_noise
from n2n.data.pairs import CapturePairs, SyntheticPairs, Validation
from n2n.data.volumes import (
    PATCH_DEPTH,
    InterleavedPairs,
    InterleavedVolumes,
    NoisyWindows,
    load_volume,
)
from n2n.errors import N2NError
from n2n.io.images import list_images

SOURCES = ("clean", "ee559", "bursts", "captured", "noisy", "volume")
PATCH_SIZE = 64  # the side of a training patch when nothing says otherwise (training's mode
# defaults raise it for blind-spot training: n2n.training.config.MODE_DEFAULTS)


@dataclass(kw_only=True)
class DataConfig:
    """Where training pairs come from and how they are cut; saved in every checkpoint.

    Parameters
    ----------
    source : {"clean", "ee559", "bursts", "captured", "noisy", "volume"}
        Clean images (fresh synthetic noise on both members of a pair), an EE-559
        ``train_data.pkl``, a bursts folder, two folders of captures matched by name,
        single noisy images (for Neighbor2Neighbor), or noisy TIFF stacks (Z-stacks,
        time-lapses) paired between interleaved planes (:mod:`n2n.data.volumes`), or, with
        mode ``ne2ne``, cut into single noisy windows of consecutive planes.
    paths : list of str, or one str
        The folders or files of that source (``captured``: exactly two folders).
    noise : str
        Noise spec for ``clean`` (and for noisy versions of ``val`` images).
    patch_size : int, optional
        The side of a training patch; None: the training mode's (64; 160 for ``bsn``), set by
        :class:`~n2n.training.config.TrainConfig`.
    val, val_pkl : clean validation images, or an EE-559 ``val_data.pkl``; by default
        ``holdout`` of the clean images, or of the burst scenes that have a reference.
    gray_fraction, color_fraction : for ``clean``: shares of patches made gray, or given new
        colours (channels permuted, saturation raised), before noise is drawn.
    clip_input : for ``clean``: clip the noisy input (and validation images) to 0..255, as
        8-bit files are; the target stays unclipped, so its noise stays zero-mean.
    val_captured : two folders, real noisy captures and their references matched by name:
        validation on real noise for any source (e.g. a camera model trained on synthetic
        camera noise, or on noisy photos alone, chosen by its PSNR on real photos).
    axes : for ``volume``: the stacks' axes (e.g. ``TZYX``) where the files do not say them.
    patch_depth : for ``volume`` with a 3-D U-Net: planes of one parity in a training
        sub-volume (default :data:`PATCH_DEPTH`), the other parity's as its target; with
        mode ``ne2ne``, consecutive planes.

    Examples
    --------
    >>> config = DataConfig(source="clean", paths="photos/", noise="gaussian:5-50")
    >>> config.paths
    ['photos/']
    >>> source, val = build_data(config)  # doctest: +SKIP
    """

    source: str
    paths: list[str] | str
    noise: str = "gaussian:25"
    patch_size: int | None = None
    patches_per_epoch: int = 5000
    scales: list[int] = field(default_factory=lambda: [1])
    gray_fraction: float = 0.0
    color_fraction: float = 0.0
    clip_input: bool = False
    channels: int | None = None
    reference_name: str | None = None
    workers: int | None = None
    val: list[str] | None = None
    val_pkl: str | None = None
    val_captured: list[str] | None = None
    holdout: float = 0.05
    axes: str | None = None
    patch_depth: int | None = None

    def __post_init__(self) -> None:
        one = isinstance(self.paths, str | Path)  # a single folder, as Python users write it
        self.paths = [str(p) for p in ([self.paths] if one else self.paths)]
        self.val = None if self.val is None else [str(p) for p in self.val]
        self.val_pkl = None if self.val_pkl is None else str(self.val_pkl)
        self.val_captured = None if self.val_captured is None else [
            str(p) for p in self.val_captured]
        source = f"{{source:'{self.source}'}}"
        synthetic = [n for n, on in (("color_fraction", self.color_fraction > 0),
                                     ("clip_input", self.clip_input)) if on]
        checks = [  # (holds, message, parameters it names)
            (self.source in SOURCES, f"source '{self.source}': choose one of {SOURCES}", ()),
            (bool(self.paths), f"{source} needs paths", "source"),
            (self.source != "captured" or len(self.paths) == 2,
             "{source:'captured'} takes exactly two folders", "source"),
            (self.source != "ee559" or len(self.paths) == 1,
             "{source:'ee559'} takes one pkl file", "source"),
            (self.patch_size is None or self.patch_size >= 1,
             f"{{patch_size}} {self.patch_size} must be >= 1",
             "patch_size"),
            (self.patches_per_epoch >= 1,
             f"{{patches_per_epoch}} {self.patches_per_epoch} must be >= 1", "patches_per_epoch"),
            (bool(self.scales) and min(self.scales) >= 1,
             f"{{scales}} {self.scales} must be >= 1", "scales"),
            (0.0 <= self.gray_fraction <= 1.0,
             f"{{gray_fraction}} {self.gray_fraction} must lie in 0..1", "gray_fraction"),
            (0.0 <= self.color_fraction <= 1.0,
             f"{{color_fraction}} {self.color_fraction} must lie in 0..1", "color_fraction"),
            (not synthetic or self.source == "clean",
             f"{' and '.join(f'{{{n}}}' for n in synthetic)}: for synthetic noisy pairs "
             f"({{source:'clean'}}) only, not {source}", (*synthetic, "source")),
            (self.channels is None or self.channels >= 1,
             f"{{channels}} {self.channels} must be >= 1", "channels"),
            (self.workers is None or self.workers >= 0,
             f"{{workers}} {self.workers} must be >= 0", "workers"),
            (self.workers is None or self.source == "clean",
             "{workers} stream clean images only ({source:'clean'})", ("workers", "source")),
            (self.reference_name is None or self.source == "bursts",
             "{reference_name} belongs to {source:'bursts'}", ("reference_name", "source")),
            (self.val is None or self.source in ("clean", "noisy"),
             f"{{val}} (clean images, noise added) does not validate {source}: real captures "
             "validate on the scenes that have a reference ({reference_name}), EE-559 data on "
             "{val_pkl}", ("val", "source", "reference_name", "val_pkl")),
            (self.val_captured is None or len(self.val_captured) == 2,
             "{val_captured} takes two folders: noisy captures and their references",
             "val_captured"),
            (self.val_captured is None or (self.val is None and self.val_pkl is None),
             "{val_captured} replaces {val} and {val_pkl}: give one validation set",
             ("val_captured", "val", "val_pkl")),
            (self.axes is None or self.source == "volume",
             "{axes} belong to {source:'volume'}", ("axes", "source")),
            (self.source != "volume" or (self.val is None and self.channels is None),
             "{source:'volume'} trains on the stacks alone; {val} and {channels} do not apply",
             ("source", "val", "channels")),
            (0.0 < self.holdout < 1.0, f"holdout {self.holdout} must lie strictly in 0..1", ()),
        ]
        for holds, message, params in checks:
            if not holds:
                raise N2NError(message, param=params)
        if self.source == "clean":
            parse_noise(self.noise)  # a bad spec fails here, before any image is read

    @classmethod
    def from_saved(cls, saved: dict) -> DataConfig | None:
        """A config saved by this version, or the untyped dict older checkpoints hold (None
        where it named no source, as runs of ``n2n bench`` did)."""
        if "source" in saved:
            if saved["source"] not in ("clean", "noisy"):  # older runs kept a val they ignored
                saved = {**saved, "val": None}
            return cls(**saved)
        source = next((s for s in SOURCES if saved.get(s)), None)
        if source is None:
            return None
        paths = saved[source]
        known = {k: saved[k] for k in ("noise", "patch_size", "patches_per_epoch",
                                       "gray_fraction", "workers", "val", "val_pkl", "channels",
                                       "reference_name", "val_captured")
                 if saved.get(k) is not None}
        scales = [int(s) for s in str(saved.get("scales", "1")).split(",")]
        return cls(source=source, paths=paths if isinstance(paths, list) else [paths],
                   scales=scales, **known)


def build_data(config: DataConfig, mode: str = "n2n", seed: int = 0, context: int = 1,
               volumetric: bool = False):
    """The pair source and the validation set (or None) that ``config`` describes; ``mode``
    ``ne2ne`` takes single captures of real data, ``n2n`` pairs of them; ``context``: the
    planes of a context model's window (volumes); ``volumetric``: for a 3-D U-Net, pairs of
    interleaved sub-volumes (with ``ne2ne``: single noisy windows or sub-volumes of
    consecutive planes)."""
    if config.source == "volume":
        return _volume_data(config, mode, context, volumetric), None
    val = None
    if config.val_pkl:
        noisy, clean = load_ee559_pairs(config.val_pkl)
        val = Validation(noisy.float(), clean.float())
    if config.val_captured:
        val = _captured_validation(config.val_captured, config.channels)
    if config.source == "ee559":
        first, second = load_ee559_pairs(config.paths[0])
        source = TensorPairs(first, second)
    elif config.source == "clean":
        source, val = _clean_data(config, val, seed)
    else:
        source, val = _capture_data(config, mode, val, seed)
    if config.val_captured and val.noisy.shape[1] != source.channels:  # as the training data
        val = _captured_validation(config.val_captured, source.channels)
    return source, val


def _volume_data(config: DataConfig, mode: str, context: int, volumetric: bool):
    """Noisy stacks: interleaved-plane pairs (``n2n``), or single noisy windows of consecutive
    planes for Neighbor2Neighbor (``ne2ne``); sub-volumes for a 3-D U-Net."""
    runs = [run for path in config.paths for run in load_volume(path, config.axes)]
    cut = {"patch_size": config.patch_size or PATCH_SIZE,
           "patches_per_epoch": config.patches_per_epoch}
    depth = config.patch_depth or PATCH_DEPTH
    if mode == "ne2ne":
        return NoisyWindows(runs, context, depth=depth if volumetric else None, **cut)
    if volumetric:
        return InterleavedVolumes(runs, depth, **cut)
    return InterleavedPairs(runs, context, **cut)


def _captured_validation(folders: list[str], channels: int | None) -> Validation:
    """Real noisy captures against their references (two folders matched by name)."""
    pairs = bursts_from_pairs(*folders, channels=channels)
    return validation_from_references([p.captures[0] for p in pairs],
                                      [p.captures[1] for p in pairs])


def _clean_data(config: DataConfig, val, seed: int):
    """Clean images with synthetic noise, in memory or streamed by DataLoader workers."""
    noise = parse_noise(config.noise)
    lazy = config.workers is not None
    if lazy:
        items = list_images(config.paths)
        channels = config.channels or load_folder(items[:1])[0].shape[0]
    else:
        items = load_folder(config.paths, config.channels)
        channels = items[0].shape[0]
    if val is None:
        if config.val is not None:
            held = load_folder(config.val, channels)
        else:
            items, held = split_holdout(items, config.holdout)
            held = load_folder(held, channels) if lazy else held
        val = validation_from_clean(held, noise, seed, config.clip_input)
    cut = {"patch_size": config.patch_size or PATCH_SIZE,
           "patches_per_epoch": config.patches_per_epoch, "scales": config.scales,
           "gray_fraction": config.gray_fraction, "color_fraction": config.color_fraction,
           "clip_input": config.clip_input}
    if lazy:
        return LazyFolder(items, noise, workers=config.workers, channels=channels, **cut), val
    return SyntheticPairs(items, noise, **cut), val


def _capture_data(config: DataConfig, mode: str, val, seed: int):
    """Real captures: bursts (or two matched folders) for pairs, single captures for ne2ne."""
    pairs = mode == "n2n"
    cut = {"patch_size": config.patch_size or PATCH_SIZE,
           "patches_per_epoch": config.patches_per_epoch}
    if config.source == "noisy":
        if pairs:
            raise N2NError("{source:'noisy'} holds single noisy images: train them with "
                           "{mode:ne2ne}, or give captures of the same scenes as "
                           "{source:'bursts'} or {source:'captured'}", param=("source", "mode"))
        scenes = [image[None] for image in load_folder(config.paths, config.channels)]
        if val is None and config.val:
            val = validation_from_clean(load_folder(config.val, scenes[0].shape[1]),
                                        parse_noise(config.noise), seed)
        return CapturePairs(scenes, pairs=False, **cut), val
    if config.source == "bursts":
        bursts = load_bursts(config.paths[0], config.reference_name, config.channels)
    else:
        bursts = bursts_from_pairs(*config.paths, channels=config.channels)
    with_reference = [b for b in bursts if b.reference is not None]
    if val is None and with_reference and len(bursts) > 1:
        held = with_reference[-max(1, round(len(bursts) * config.holdout)):]  # for scoring
        bursts = [b for b in bursts if all(b is not h for h in held)]
        val = validation_from_references([b.captures[0] for b in held],
                                         [b.reference for b in held])
    return CapturePairs([b.captures for b in bursts], [b.reference for b in bursts],
                        pairs=pairs, **cut), val
