"""The bundled weights that ship inside the package (see README, "Bundled weights")."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from n2n.checkpoint import load_model
from n2n.errors import N2NError
from n2n.models import PixelModel

BUNDLED = "lite.pt"


def bundled_weights_path(name: str = BUNDLED) -> Path:
    """Where the bundled weights file lies inside the installed package."""
    path = Path(str(resources.files("n2n") / "weights" / name))
    if not path.is_file():
        raise N2NError(f"bundled weights {name} are missing from the installed package ({path})")
    return path


def load_bundled(name: str = BUNDLED) -> PixelModel:
    """The pretrained model shipped with n2n-lite, in eval mode on the CPU."""
    return load_model(bundled_weights_path(name))
