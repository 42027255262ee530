"""Deprecated: the import the README once documented; the code lives in
:mod:`n2n.models.bundled`."""

import warnings

warnings.warn("n2n.pretrained is deprecated and will be removed; import from "
              "n2n.models.bundled",
              DeprecationWarning, stacklevel=2)

from n2n.models.bundled import BUNDLED_MODELS, load_bundled  # noqa: E402

__all__ = ["BUNDLED_MODELS", "load_bundled"]
