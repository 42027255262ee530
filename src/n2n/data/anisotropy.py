"""A 3-D U-Net's Z pooling from a training stack's physical sizes.

Light-sheet and confocal stacks step further in Z than their pixels are wide (often 2-5x). The
network (:mod:`n2n.models.unet3d`) pools Y and X at every level and Z only at its last
``z_pool`` levels; :func:`z_pool_for` picks ``z_pool`` from the ratio of the Z step to the XY
pixel, and :func:`data_z_pool` reads that ratio from the first training stack: ImageJ
``spacing`` and resolution, OME ``PhysicalSizeX/Y/Z``, or the OME-Zarr axes' scale and unit.
Nothing is resampled: the sizes only decide where the network pools Z.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from n2n.data.volumes import resolve_axes
from n2n.io.formats import ome_zarr, tiff
from n2n.io.formats.base import ngff_letter, ngff_letters
from n2n.io.formats.registry import known
from n2n.io.formats.tiff_layout import read_layout

FALLBACK_Z_POOL = 1  # where the sizes are unknown: ModelConfig's default, as before
_SHORT_UNITS = {"micrometer": "um", "nanometer": "nm", "millimeter": "mm",
                "centimeter": "cm", "meter": "m", "inch": "inch"}


@dataclass(frozen=True)
class VoxelSteps:
    """A stack's Z step and XY pixel size (the finer of Y and X), in one named unit."""

    z: float
    xy: float
    unit: str

    @property
    def ratio(self) -> float:
        return self.z / self.xy


def z_pool_for(depth: int, ratio: float) -> int:
    """The levels of a ``depth``-level 3-D U-Net that pool Z, for a Z step ``ratio`` times the
    XY pixel.

    Rule (nnU-Net's, Isensee et al. 2021): an axis is pooled while its spacing is at most
    twice the finest one. Level ``l`` (0 first) sees an XY spacing of ``2**l`` pixels, so it
    pools Y and X only while ``2**l < ratio / 2``, and Z too from the first level where XY has
    caught up to within 2x of Z; after that both halve together. Those XY-only levels come
    first, as :func:`n2n.models.unet3d.pool_factors` orders them, so ``z_pool`` is ``depth``
    minus their count, in 0..depth: ratio <= 2 (near isotropic) pools Z at every level, 4 at
    all but the first, 8 at all but the first two. Pooling Z earlier would merge planes
    further apart than the features the level looks at in the plane; never pooling it would
    leave the deep levels blind along Z. A ratio below 1 (Z finer than XY) pools Z at every
    level, as the network always pools Y and X. The ratio is the file's (the spacing the
    model denoises at), not the doubled spacing of one parity that interleaved training sees.
    """
    xy_only = sum(1 for level in range(depth) if 2 ** (level + 1) < ratio * (1 - 1e-3))
    return min(depth, max(0, depth - xy_only))  # 1e-3: rational TIFF resolutions round


def data_z_pool(path: str | Path, depth: int, axes: str | None = None) -> tuple[int, str]:
    """``z_pool`` for a 3-D U-Net of ``depth`` levels trained on the stack at ``path`` (axes
    ``axes`` where the file does not say them), and the sentence that says why: from its
    physical sizes by :func:`z_pool_for`, at most :data:`FALLBACK_Z_POOL` (fewer levels pool Z
    where Z is coarse; more would widen the Z halo, up to 5x the planes read per Z tile at
    depth 3, for no gain measured yet), else :data:`FALLBACK_Z_POOL` with the reason."""
    steps = voxel_steps(Path(path), axes)
    if isinstance(steps, str):
        return FALLBACK_Z_POOL, f"the default, as {steps}"
    rule = z_pool_for(depth, steps.ratio)
    z_pool = min(rule, FALLBACK_Z_POOL)
    unit = _SHORT_UNITS.get(steps.unit, steps.unit)
    xy_only = depth - z_pool
    levels = (f"the first {xy_only} of {depth} level(s) pool Y and X only" if xy_only
              else "every level pools Z too")
    capped = (f" (the rule's {rule} is not taken by default: each level more doubles the Z "
              f"halo inference reads around a Z tile; --z-pool {rule} takes it)"
              if rule > z_pool else "")
    return z_pool, (f"Z step {steps.z:.4g} {unit} is {steps.ratio:.3g}x the XY pixel "
                    f"{steps.xy:.4g} {unit} in {path}, so {levels}{capped}")


def voxel_steps(path: Path, axes: str | None = None) -> VoxelSteps | str:
    """The Z step and XY pixel of the TIFF or OME-Zarr stack at ``path``, or why they are not
    known (no Z axis, a size missing, units unnamed or different)."""
    if known(path) is ome_zarr.FORMAT:
        image = ome_zarr.read_ngff(path)
        letters = ngff_letters(image.axes)
        sizes = {ngff_letter(a.name): (a.scale, a.unit) for a in image.axes}
    elif known(path) is tiff.FORMAT:
        layout = read_layout(path)
        letters, sizes = layout.axes, tiff.physical_sizes(layout)
    else:
        return f"{path} is not a TIFF or OME-Zarr stack"
    if axes is not None and resolve_axes(letters, len(letters), axes, str(path)) != letters:
        return f"the axes given ({axes}) rename those of {path} ({letters}), whose sizes these are"
    if "Z" not in letters:
        return f"{path} has no Z axis (axes {letters})"
    missing = [name for name, letter in (("Z step", "Z"), ("pixel size", "X"))
               if sizes.get(letter, (0.0, None))[0] <= 0]
    if missing:
        return f"{path} does not say its {' or '.join(missing)}"
    z, z_unit = sizes["Z"]
    xy, xy_unit = min((sizes[letter] for letter in "YX" if sizes.get(letter, (0.0,))[0] > 0),
                      key=lambda size: size[0])
    if z_unit is None or z_unit != xy_unit:
        return (f"the units of its Z step ({z_unit or 'not named'}) and pixel "
                f"({xy_unit or 'not named'}) in {path} are not one named unit")
    return VoxelSteps(z, xy, z_unit)
