"""Volumes and time-lapses: their axes, and Noise2Noise pairs between interleaved planes.

A stack's axes come from the file (tifffile's series axes: ImageJ, OME and shaped TIFFs say
them) or from the caller (``axes='TZYX'`` where the file says nothing). The window of a context
model runs along one axis, the *context axis*: Z where there is one, else T; every other
leading axis (T of a TZYX time-lapse of volumes, C) splits the stack into separate *runs* along
it, which a window never crosses.

Training from noisy stacks alone follows DeepCAD (Li et al., Nat. Methods 2021): the planes of
a run are split into the even and the odd ones; the input is a window of ``context`` even
planes, the target the odd plane next to its centre (and the reverse). The target's noise is
independent of every input plane, so the network learns the expected plane, not the noise.
Where Z is not densely sampled (neighbouring planes differ) and there is no time-lapse,
:class:`NoisyWindows` gives single noisy windows of consecutive planes for Neighbor2Neighbor
(``mode='ne2ne'``, :mod:`n2n.training.objectives`), which builds its pairs within the planes.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import torch

from n2n.data.pairs import Batch, Shard, random_crop_corners, rank_share
from n2n.errors import N2NError, decoder_errors
from n2n.io.formats import ome_zarr, tiff
from n2n.io.formats.base import ngff_letters
from n2n.io.formats.registry import known
from n2n.io.formats.tiff_layout import read_layout, read_planes
from n2n.io.images import check_size
from n2n.io.values import decision_sample, white_level

PATCH_DEPTH = 8  # planes of one parity in a 3-D U-Net's training sub-volume
AXES_LETTERS = "TZCQIYXS"  # tifffile's letters for the axes n2n-lite reads (Q, I: unknown)
UNKNOWN = "QI"


def resolve_axes(found: str, ndim: int, given: str | None = None, where: str = "stack") -> str:
    """The axes of a stack of ``ndim`` dimensions: ``given`` (checked), else ``found`` (the
    file's), whose unknown letters (Q, I) are allowed only for a single leading axis."""
    axes = (given or found).upper()
    if given is not None:
        bad = [a for a in axes if a not in AXES_LETTERS]
        if bad or len(set(axes)) != len(axes):
            raise N2NError(f"{{axes}} '{given}': use each of the letters T, Z, C, Y, X once "
                           "(e.g. ZYX, TYX, TZYX)", param="axes")
        if len(axes) != ndim:
            raise N2NError(f"{where}: {{axes}} '{given}' names {len(axes)} axes, the stack has "
                           f"{ndim}", param="axes")
    if not (axes.endswith("YX") or axes.endswith("YXS")):
        raise N2NError(f"{where}: axes {axes} do not end in Y, X: not a stack of 2-D planes")
    leading = axes[: axes.rindex("Y")]
    if len(leading) > 1 and any(a in UNKNOWN for a in leading):
        raise N2NError(f"{where}: the file does not say what its axes {axes} are; name them "
                       "with {axes}, e.g. TZYX", param="axes")
    return axes


def context_axis(axes: str, where: str = "stack") -> int:
    """The axis a window of planes runs along: Z, else T, else a single leading axis."""
    leading = axes[: axes.rindex("Y")]
    for letter in ("Z", "T"):
        if letter in leading:
            return leading.index(letter)
    if len(leading) == 1 and leading not in "CS":
        return 0
    raise N2NError(f"{where}: axes {axes} have no Z or T axis for the window of planes to run "
                   "along; name them with {axes}", param="axes")


def to_runs(array: np.ndarray, axes: str, where: str = "stack") -> np.ndarray:
    """(R, P, H, W, C): the runs of planes along the context axis, channels last."""
    array = np.asarray(array)
    if "S" not in axes:
        array, axes = array[..., None], axes + "S"
    lead = axes.rindex("Y")
    moved = np.moveaxis(array, context_axis(axes, where), lead - 1)
    return moved.reshape((-1, *moved.shape[lead - 1:]))


def from_runs(runs: np.ndarray, shape: tuple[int, ...], axes: str) -> np.ndarray:
    """The inverse of :func:`to_runs`: back to ``shape`` with ``axes``."""
    gray = "S" not in axes
    full = axes if not gray else axes + "S"
    lead = full.rindex("Y")
    axis = context_axis(full)
    moved_shape = list((*shape, 1) if gray else shape)
    moved_shape.insert(lead - 1, moved_shape.pop(axis))
    out = np.moveaxis(runs.reshape(moved_shape), lead - 1, axis)
    return out[..., 0] if gray else out


def load_volume(path: str | Path, axes: str | None = None) -> list[torch.Tensor]:
    """The runs of a TIFF or OME-Zarr stack as (P, C, H, W) float32 tensors on the 0..255
    scale, by the white level every inference door takes for it (:mod:`n2n.io.values`:
    8/16-bit files by their range, floats measured on the middle plane), so a model sees its
    training scale. Axes come from the TIFF series or the NGFF metadata, else ``axes``."""
    stack, names = read_stack(Path(path), axes)
    planes_last = stack.reshape((-1, *stack.shape[names.rindex("Y"):]))
    sample = decision_sample(planes_last, spatial=planes_last.ndim - 1)
    white = white_level(stack.dtype, sample, None, stack.shape).value  # as inference takes it
    runs = to_runs(stack, names, str(path)).astype(np.float32)
    runs *= np.float32(255.0 / white)
    return [torch.from_numpy(np.ascontiguousarray(run)).permute(0, 3, 1, 2) for run in runs]


def read_stack(path: Path, axes: str | None = None) -> tuple[np.ndarray, str]:
    """A whole TIFF or OME-Zarr stack and its axes (given, else the file's), Y and X (and
    a TIFF's samples, S) last."""
    fmt = known(path)
    if fmt is ome_zarr.FORMAT:
        ome_zarr.check_zarr(path)
        image = ome_zarr.read_ngff(path)
        check_size(path, image.shape[image.axis("y")], image.shape[image.axis("x")])
        found = ngff_letters(image.axes)
        order = [i for i, a in enumerate(found) if a not in "YX"] + [found.index("Y"),
                                                                     found.index("X")]
        with decoder_errors(path):
            stack = np.transpose(ome_zarr.open_level(image)[...], order)
        return stack, resolve_axes("".join(found[i] for i in order), stack.ndim, axes,
                                   str(path))
    if fmt is not tiff.FORMAT:
        raise N2NError(f"{path}: a volume or time-lapse for training is a TIFF stack or an "
                       "OME-Zarr image")
    layout = read_layout(path)
    check_size(path, *layout.height_width)
    names = resolve_axes(layout.axes, len(layout.shape), axes, str(path))
    if names.endswith("SYX"):  # planar samples: read with the samples last
        names = names[:-3] + "YXS"
    planes = [np.asarray(plane) for plane in read_planes(path, layout)]
    return np.stack(planes).reshape((*layout.shape[: names.rindex("Y")], *planes[0].shape)), names


def window_indices(centre: int, length: int, context: int) -> list[int]:
    """The ``context`` indices around ``centre``, mirrored at the ends of a sequence of
    ``length`` (index -1 reads 1, index ``length`` reads ``length - 2``): edge planes get a
    full window from the planes inside."""
    radius = context // 2
    if length <= radius:
        raise N2NError(f"a stack of {length} plane(s) is too thin for a window of {context} "
                       f"planes: it needs at least {radius + 1}")
    out = []
    for offset in range(-radius, radius + 1):
        i = abs(centre + offset)
        out.append(2 * (length - 1) - i if i >= length else i)
    return out


def check_depth(depth: int) -> None:
    """A 3-D U-Net's training sub-volume needs at least one plane."""
    if depth < 1:
        raise N2NError(f"{{patch_depth}} {depth}: a sub-volume needs >= 1 plane",
                       param="patch_depth")


class PlaneWindows:
    """Patches of windows of planes cut at random from runs (P, C, H, W), as (N, k * C, p, p)
    inputs: what every volume source shares (the checks, the cropping, the batches, the
    statistics sample). A subclass says which planes make a window and its target
    (:meth:`_pick`) and how many planes a run needs (:meth:`_thickness`)."""

    def __init__(self, runs: Sequence[torch.Tensor], context: int, patch_size: int = 64,
                 patches_per_epoch: int = 5000) -> None:
        if not runs:
            raise N2NError("no training volumes")
        self.runs, self.context = list(runs), context
        self.patch_size, self.patches_per_epoch = patch_size, patches_per_epoch
        needed, what, param = self._thickness()
        hint = f"; choose a smaller {{{param}}}" if param else ""
        for k, run in enumerate(self.runs):
            if len(run) < needed:
                raise N2NError(f"run {k} of the training stack has {len(run)} plane(s), too "
                               f"thin for {what}: it needs at least {needed}{hint}",
                               param=param or ())
            if min(run.shape[-2:]) < patch_size:
                raise N2NError(f"{{patch_size}} {patch_size} exceeds planes of "
                               f"{tuple(run.shape[-2:])}; choose a smaller {{patch_size}}",
                               param="patch_size")
        self.channels = runs[0].shape[1]

    def _thickness(self) -> tuple[int, str, str | None]:
        """The planes a run needs, what for (in words), and the setting that lowers it."""
        raise NotImplementedError

    def _pick(self, generator: torch.Generator) -> tuple[int, list[int], list[int] | None]:
        """A run, the planes of an input window and its target planes (None: no target)."""
        raise NotImplementedError

    def batches(self, batch_size: int, generator: torch.Generator, shard: Shard = (0, 1)
                ) -> Iterator[Batch]:
        p = self.patch_size
        generator, total = rank_share(generator, shard, self.patches_per_epoch)
        for start in range(0, total, batch_size):
            inputs, targets = [], []
            for _ in range(min(batch_size, total - start)):
                r, window, target = self._pick(generator)
                run = self.runs[r]
                (t, s), = random_crop_corners([run.shape[-2:]], p, generator)
                inputs.append(run[window, :, t:t + p, s:s + p].flatten(0, 1))
                if target is not None:
                    targets.append(run[target, :, t:t + p, s:s + p].flatten(0, 1))
            yield Batch(torch.stack(inputs), torch.stack(targets) if targets else None)

    def stats_sample(self, generator: torch.Generator) -> torch.Tensor:
        return next(self.batches(min(512, self.patches_per_epoch), generator)).input


class InterleavedPairs(PlaneWindows):
    """Noise2Noise pairs from runs of planes (P, C, H, W): a window of ``context`` planes of one
    parity in, the plane of the other parity next to its centre as target."""

    def _thickness(self) -> tuple[int, str, str | None]:
        return (self.context + 1,
                f"interleaved pairs with a window of {self.context}", None)

    def _pick(self, generator: torch.Generator) -> tuple[int, list[int], list[int]]:
        """A run, the planes of an input window and its target plane."""
        r = int(torch.randint(len(self.runs), (1,), generator=generator))
        planes = len(self.runs[r])
        parity = int(torch.randint(2, (1,), generator=generator))
        half = (planes - parity + 1) // 2  # planes of that parity
        centre = int(torch.randint(half, (1,), generator=generator))
        window = [2 * i + parity for i in window_indices(centre, half, self.context)]
        sides = [t for t in (window[len(window) // 2] - 1, window[len(window) // 2] + 1)
                 if 0 <= t < planes]
        target = sides[int(torch.randint(len(sides), (1,), generator=generator))]
        return r, window, [target]


class InterleavedVolumes(InterleavedPairs):
    """Noise2Noise pairs of sub-volumes for a 3-D U-Net (DeepCAD's recipe): ``depth``
    consecutive planes of one parity in, as (N, depth * C, p, p), and the plane of the other
    parity beside each of them as its target, at half the Z resolution."""

    def __init__(self, runs: Sequence[torch.Tensor], depth: int = PATCH_DEPTH,
                 patch_size: int = 64, patches_per_epoch: int = 5000) -> None:
        check_depth(depth)
        self.depth = depth
        super().__init__(runs, 1, patch_size, patches_per_epoch)

    def _thickness(self) -> tuple[int, str, str | None]:
        return 2 * self.depth, f"sub-volumes of {self.depth} interleaved planes", "patch_depth"

    def _pick(self, generator: torch.Generator) -> tuple[int, list[int], list[int]]:
        """A run, ``depth`` planes of one parity, and their neighbours of the other parity."""
        r = int(torch.randint(len(self.runs), (1,), generator=generator))
        planes = len(self.runs[r])
        parity = int(torch.randint(2, (1,), generator=generator))
        half = (planes - parity + 1) // 2
        first = int(torch.randint(half - self.depth + 1, (1,), generator=generator))
        shift = 1 if int(torch.randint(2, (1,), generator=generator)) else -1
        window = [2 * (first + i) + parity for i in range(self.depth)]
        targets = [w + shift if 0 <= w + shift < planes else w - shift for w in window]
        return r, window, targets


class NoisyWindows(PlaneWindows):
    """Single noisy windows for Neighbor2Neighbor on one volume (no second capture, no
    interleaving): ``context`` consecutive planes around a random centre (mirrored at a run's
    ends) for a context model, or, with ``depth``, ``depth`` consecutive planes for a 3-D
    U-Net; as (N, k * C, p, p) with no target (the objective builds it from the input)."""

    def __init__(self, runs: Sequence[torch.Tensor], context: int = 1, patch_size: int = 64,
                 patches_per_epoch: int = 5000, depth: int | None = None) -> None:
        if depth is not None:
            check_depth(depth)
        self.depth = depth
        super().__init__(runs, context, patch_size, patches_per_epoch)

    def _thickness(self) -> tuple[int, str, str | None]:
        if self.depth is not None:
            return self.depth, f"sub-volumes of {self.depth} planes", "patch_depth"
        return self.context, f"a window of {self.context} planes", "context"

    def _pick(self, generator: torch.Generator) -> tuple[int, list[int], None]:
        """A run and the consecutive planes of one window."""
        r = int(torch.randint(len(self.runs), (1,), generator=generator))
        planes = len(self.runs[r])
        if self.depth is not None:
            first = int(torch.randint(planes - self.depth + 1, (1,), generator=generator))
            return r, list(range(first, first + self.depth)), None
        centre = int(torch.randint(planes, (1,), generator=generator))
        return r, window_indices(centre, planes, self.context), None
