"""The import the README once documented; the code lives in :mod:`n2n.data.config`."""

from n2n.data.config import DataConfig, build_data

__all__ = ["DataConfig", "build_data"]
