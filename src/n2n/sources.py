"""Deprecated: the import the README once documented; the code lives in :mod:`n2n.data.config`."""

import warnings

warnings.warn("n2n.sources is deprecated and will be removed; import from "
              "n2n.data.config (or n2n.training, which re-exports DataConfig)",
              DeprecationWarning, stacklevel=2)

from n2n.data.config import DataConfig, build_data  # noqa: E402

__all__ = ["DataConfig", "build_data"]
