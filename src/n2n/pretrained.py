"""The import the README once documented; the code lives in :mod:`n2n.models.bundled`."""

from n2n.models.bundled import BUNDLED_MODELS, load_bundled

__all__ = ["BUNDLED_MODELS", "load_bundled"]
