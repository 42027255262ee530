"""``n2n export``: a model written in the format asked for, checked against the model before it
is moved into place.

Formats: ``pt`` (n2n-lite weights), ``torchscript`` (``torch.jit.load``), ``onnx``
(onnxruntime) and ``bmz`` (a BioImage Model Zoo package, :mod:`n2n.export.bmz`). Every export is
run on three test images (a noisy photo, one of odd size) and compared with the PyTorch model;
above :data:`TOLERANCE`, or where either gives NaN, exploded or flat results, it fails and
nothing is written. The receptive radius and size multiple (what
tiling needs) travel in the file's metadata.
"""

from __future__ import annotations

import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import Path

from n2n.errors import N2NError
from n2n.export import bmz
from n2n.export.formats import TOLERANCE, self_check, write_onnx, write_torchscript
from n2n.inference.exported import METADATA, SUFFIXES, load_exported
from n2n.inference.sanity import model_name
from n2n.io.files import EXPORT, MARK, atomic_path, torch_file_kind
from n2n.io.outputs import claim_outputs
from n2n.models import PixelModel
from n2n.models.checkpoint import check_finite, load_model, write_weights

FORMATS = ("pt", "torchscript", "onnx", "bmz")
PACKAGE_SUFFIX = ".zip"  # a BioImage Model Zoo package
HALF_TOLERANCE = 0.25  # float16 weights (``pt`` with half=True): under half a gray level


def written_kind(path: Path) -> str | None:
    """The kind of a model file n2n-lite wrote (None for any other file): an export (weights
    with its format tag and no training state, a TorchScript archive or BMZ package holding
    its metadata file, an ONNX graph with its metadata key), or a training run's resumable
    checkpoint (``last.pt``, ``best.pt``: the optimizer's state too)."""
    suffix = path.suffix.lower()
    try:
        if suffix == ".onnx":
            return EXPORT if METADATA.encode() in path.read_bytes() else None
        if suffix == PACKAGE_SUFFIX:  # a BMZ package: its description cites n2n-lite
            with zipfile.ZipFile(path) as archive:
                return EXPORT if MARK.encode() in archive.read(bmz.RDF) else None
        if suffix in SUFFIXES:  # a TorchScript archive holding n2n-lite's metadata file
            with zipfile.ZipFile(path) as archive:
                names = archive.namelist()
            return EXPORT if any(n.endswith(f"extra/{METADATA}") for n in names) else None
    except (zipfile.BadZipFile, KeyError, OSError):
        return None
    return torch_file_kind(path)  # weights: the record says, or holds training state


def export_format(output: Path, requested: str | None) -> str:
    """The format asked for, else the one ``output``'s suffix names, else ``pt``."""
    by_suffix = "bmz" if output.suffix.lower() == PACKAGE_SUFFIX else None
    fmt = requested or SUFFIXES.get(output.suffix.lower(), by_suffix or "pt")
    if fmt not in FORMATS:
        raise N2NError(f"export format '{fmt}': choose one of {', '.join(FORMATS)}")
    if fmt == "bmz" and output.suffix.lower() != PACKAGE_SUFFIX:
        raise N2NError(f"{output}: a BioImage Model Zoo package is a zip; name it .zip")
    return fmt


def export_model(model: PixelModel, output: str | Path, fmt: str | None = None, *,
                 half: bool = False, record: dict | None = None, package: dict | None = None,
                 inputs: Sequence[str | Path] = (), overwrite: bool = False) -> float:
    """Write ``model`` to ``output`` in format ``fmt`` (None: the one ``output``'s suffix names,
    :func:`export_format`) and return the self-check's maximum absolute difference (0..255
    scale); raise :class:`N2NError`, writing nothing, above the tolerance or for a format not in
    :data:`FORMATS`. ``record`` (a checkpoint's training config and history) travels with ``pt``;
    ``package`` holds :func:`n2n.export.bmz.write_package`'s keyword arguments for ``bmz``.
    ``output`` is never one of ``inputs`` (the checkpoint exported), and replaces an existing
    file only if n2n-lite wrote it, or with ``overwrite``."""
    output = Path(output)
    fmt = export_format(output, fmt)
    model = model.float().eval()
    if half and fmt != "pt":
        raise N2NError("{half} applies to the pt format only", param="half")
    if fmt != "pt" and model.config.arch == "bsn":
        raise N2NError(f"a blind-spot network exports as pt only: {fmt} would drop the random "
                       "replacing it denoises with (a silently worse result)")
    check_finite(model.state_dict().values(), "the model to export")
    claim_outputs([output], inputs, overwrite=overwrite, mark=written_kind, kind=EXPORT)
    output.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(output) as tmp:
        if fmt == "pt":
            write_weights(model, tmp, half, {**(record or {}), "kind": EXPORT})
            exported = load_model(tmp)
        elif fmt == "torchscript":
            write_torchscript(model, tmp)
            exported = load_exported(tmp)
        elif fmt == "bmz":
            with tempfile.TemporaryDirectory() as folder:
                bmz.write_package(model, Path(folder), **(package or {}))
                exported = load_exported(Path(folder) / "weights.ts")
                bmz.write_zip(Path(folder), tmp)
            if bmz.validator_version():
                bmz.validate(tmp, output)  # raises before anything is moved into place
        else:
            write_onnx(model, tmp)
            exported = load_exported(tmp)
        difference = self_check(model, exported, (model_name(model), f"{output} (the export)"))
        tolerance = HALF_TOLERANCE if half else TOLERANCE
        if not difference <= tolerance:  # NaN (a broken model) fails too
            raise N2NError(f"{output}: the exported model differs from the PyTorch model by "
                           f"{difference:.3g} (tolerance {tolerance:g} on the 0..255 scale); "
                           "nothing written")
    return difference
