"""Read OME-Zarr images (NGFF 0.4 on Zarr v2, 0.5 on Zarr v3): the full-resolution level's
array path, its axes in stored order with their types, units and physical scale.

Only metadata is read here; the pixels stay on disk for a lazy reader (:mod:`n2n.io.lazy`).
Axes are found by name and type, not by position, so files whose writers put them in an
unusual order are read as they are.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from n2n.errors import N2NError
from n2n.io.zarr_images import Axis, require_zarr

VERSIONS = ("0.4", "0.5")


@dataclass
class NgffImage:
    """An OME-Zarr image's level 0: where its array is and what its axes mean."""

    path: Path  # the image group
    level: str  # the array's path inside the group, e.g. "0"
    axes: list[Axis]
    dtype: np.dtype
    chunks: tuple[int, ...]
    version: str

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(a.size for a in self.axes)

    def axis(self, name: str) -> int:
        """The position of the axis called ``name``, or an error naming the axes there are."""
        names = [a.name for a in self.axes]
        if name not in names:
            raise N2NError(f"{self.path}: no '{name}' axis among {names}; an image needs y and x")
        return names.index(name)


def is_ngff(path: Path) -> bool:
    """A folder with Zarr group metadata (v2 ``.zattrs`` or v3 ``zarr.json``)."""
    return path.is_dir() and ((path / ".zattrs").is_file() or (path / "zarr.json").is_file())


def read_ngff(path: str | Path) -> NgffImage:
    """The first multiscale image of the OME-Zarr group ``path``, level 0."""
    zarr, path = require_zarr(), Path(path)
    if not is_ngff(path):
        raise N2NError(f"{path}: not an OME-Zarr image (no .zattrs or zarr.json in a folder)")
    try:
        group = zarr.open_group(str(path), mode="r")
        attrs = dict(group.attrs)
    except Exception as err:
        raise N2NError(f"{path}: not a readable Zarr group ({err})") from err
    meta = attrs.get("ome", attrs)  # 0.5 nests the OME metadata under "ome"
    multiscales = meta.get("multiscales")
    if not multiscales:
        raise N2NError(f"{path}: a Zarr group without OME 'multiscales' metadata; a plate, a "
                       "labels group or a plain array is not an image")
    scale = multiscales[0]
    version = str(meta.get("version") or scale.get("version") or "")
    if version not in VERSIONS:
        raise N2NError(f"{path}: OME-Zarr version {version or 'unknown'}; n2n-lite reads "
                       f"{' and '.join(VERSIONS)}")
    level = scale["datasets"][0]["path"]
    try:
        array = group[level]
    except KeyError:
        raise N2NError(f"{path}: level '{level}' named in the metadata is missing") from None
    axes = _axes(path, scale, array.shape)
    return NgffImage(path, level, axes, np.dtype(array.dtype), tuple(array.chunks), version)


def _axes(path: Path, multiscale: dict[str, Any], shape: tuple[int, ...]) -> list[Axis]:
    """The axes with their level-0 scale (the dataset's times the multiscale's own)."""
    entries = multiscale.get("axes") or []
    if len(entries) != len(shape):
        raise N2NError(f"{path}: {len(entries)} axes in the metadata for an array of shape "
                       f"{tuple(shape)}")
    scale = np.ones(len(shape))
    for transforms in (multiscale["datasets"][0].get("coordinateTransformations", []),
                       multiscale.get("coordinateTransformations", [])):
        for t in transforms:
            if t.get("type") == "scale" and "scale" in t:
                scale = scale * np.asarray(t["scale"], dtype=float)
    axes = []
    for entry, size, step in zip(entries, shape, scale, strict=True):
        entry = {"name": entry} if isinstance(entry, str) else entry
        axes.append(Axis(str(entry["name"]), entry.get("type"), int(size), float(step),
                         entry.get("unit")))
    return axes
