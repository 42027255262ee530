"""The import the README once documented; the code lives in :mod:`n2n.training`."""

from n2n.training.config import TrainConfig
from n2n.training.loop import fit

__all__ = ["TrainConfig", "fit"]
