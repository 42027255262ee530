"""Weights as plain data: a JSON header line, then float32 values. Loading runs no code.

File layout: ``{"format": "n2n-scratch", "byteorder": ..., "tensors": [[name, shape], ...],
"meta": {...}}\\n`` followed by every tensor's values, flattened, in header order.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from array import array
from pathlib import Path

from torch import Tensor

from n2n.scratch.module import ScratchError

FORMAT = "n2n-scratch"


def is_weights_file(path: str | Path) -> bool:
    """A file :func:`save_weights` wrote: its first line is a header of this format."""
    try:
        with open(path, "rb") as f:
            return json.loads(f.readline(1 << 20)).get("format") == FORMAT
    except (OSError, ValueError, AttributeError):
        return False


def save_weights(path: str | Path, tensors: dict[str, Tensor], meta: dict | None = None) -> None:
    """Write ``tensors`` atomically (temporary file, fsync, rename)."""
    path = Path(path)
    header = {"format": FORMAT, "byteorder": sys.byteorder, "meta": meta or {},
              "tensors": [[name, list(t.shape)] for name, t in tensors.items()]}
    values = array("f")
    for t in tensors.values():
        values.extend(t.detach().float().cpu().reshape(-1).tolist())
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(json.dumps(header).encode() + b"\n")
            values.tofile(f)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_weights(path: str | Path, like: Tensor) -> tuple[dict[str, Tensor], dict]:
    """Read tensors (created with ``like.new_tensor``) and the meta dict from ``path``."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            header = json.loads(f.readline())
            body = f.read()
    except (OSError, ValueError) as err:
        raise ScratchError(f"{path}: cannot read scratch weights ({err})") from err
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise ScratchError(f"{path}: not an {FORMAT} weights file")
    values = array("f")
    values.frombytes(body[: len(body) // values.itemsize * values.itemsize])
    if header["byteorder"] != sys.byteorder:
        values.byteswap()
    tensors, offset = {}, 0
    for name, shape in header["tensors"]:
        count = 1
        for dim in shape:
            count *= dim
        if offset + count > len(values):
            raise ScratchError(f"{path}: truncated at tensor {name}")
        tensors[name] = like.new_tensor(values[offset:offset + count].tolist()).reshape(shape)
        offset += count
    return tensors, header["meta"]
