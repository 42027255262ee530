"""Where models run: the one rule for turning a device name into a torch device."""

from __future__ import annotations

import torch

from n2n.errors import N2NError


def resolve_device(name: str = "auto") -> torch.device:
    """'auto' picks CUDA when present; an unavailable device is a clear error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise N2NError(f"device '{name}' requested but CUDA is not available")
    try:
        return torch.device(name)
    except RuntimeError as err:
        raise N2NError(f"unknown device '{name}' (use cpu, cuda or cuda:N)") from err
