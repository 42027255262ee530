"""BioImage Model Zoo packages that ``n2n export MODEL x.zip`` wrote, read back as a
checkpoint: the state dict inside (``weights.pt``, loaded without running pickled code, its
sha256 checked against ``rdf.yaml``) and the model config the package's n2n-lite metadata
holds. A package from elsewhere is named as one, with the tools that run it."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import torch

from n2n.errors import N2NError

RDF = "rdf.yaml"
MAX_WEIGHTS_BYTES = 1 << 31  # a state dict larger than 2 GiB is no n2n-lite model
ELSEWHERE = ("run it with bioimageio.core, deepImageJ (Fiji) or napari's bioimage.io plugin, "
             "or give --weights an n2n-lite checkpoint")


def is_package(path: str | Path) -> bool:
    """A zip with a model description (``rdf.yaml``) at its top: a BioImage Model Zoo package
    (a PyTorch checkpoint is a zip too, with its files in a folder)."""
    try:
        with zipfile.ZipFile(path) as archive:
            return RDF in archive.namelist()
    except (OSError, zipfile.BadZipFile):
        return False


def package_contents(path: str | Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """The model config and the state dict of a package n2n-lite exported."""
    with zipfile.ZipFile(path) as archive:
        config, source, digest = _description(path, archive.read(RDF))
        info = archive.getinfo(source) if source in archive.namelist() else None
        if info is None or info.file_size > MAX_WEIGHTS_BYTES:
            raise N2NError(f"{path}: a BioImage Model Zoo package whose weights ({source}) are "
                           "missing or too large; export the model again")
        data = archive.read(info)
    if digest and hashlib.sha256(data).hexdigest() != digest:
        raise N2NError(f"{path}: {source} inside the package does not match its sha256 in "
                       f"{RDF} (a damaged or altered package); export the model again")
    try:
        state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as err:
        raise N2NError(f"{path}: {source} inside the package is not a loadable state dict "
                       f"({type(err).__name__}); export the model again") from None
    return config, state


def _description(path: str | Path, text: bytes) -> tuple[dict[str, Any], str, str | None]:
    """The model config, weights file name and its sha256 from ``rdf.yaml`` (which n2n-lite
    writes as JSON); a package n2n-lite did not write is refused, saying what runs it."""
    try:
        rdf = json.loads(text)
        config = rdf["config"]["n2n-lite"]["model_config"]
        weights = rdf["weights"]["pytorch_state_dict"]
    except (ValueError, KeyError, TypeError):
        raise N2NError(f"{path}: a BioImage Model Zoo package that n2n-lite did not export; "
                       f"{ELSEWHERE}") from None
    if not isinstance(config, dict):
        raise N2NError(f"{path}: its n2n-lite model config is not understood; {ELSEWHERE}")
    return config, str(weights.get("source", "weights.pt")), weights.get("sha256")
