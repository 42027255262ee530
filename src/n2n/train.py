"""Deprecated: the import the README once documented; the code lives in :mod:`n2n.training`."""

import warnings

warnings.warn("n2n.train is deprecated and will be removed; import from "
              "n2n.training (train, TrainConfig; fit in n2n.training.loop)",
              DeprecationWarning, stacklevel=2)

from n2n.training.config import TrainConfig  # noqa: E402
from n2n.training.loop import fit  # noqa: E402

__all__ = ["TrainConfig", "fit"]
