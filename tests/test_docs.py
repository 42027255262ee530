"""The examples in the public API's docstrings run (those not marked to skip)."""

from __future__ import annotations

import doctest
import importlib

import pytest


@pytest.mark.parametrize("module", ["n2n.noise", "n2n.lite", "n2n.scratch.model", "n2n.io",
                                    "n2n.denoise", "n2n.train", "n2n.zeroshot", "n2n.sources"])
def test_docstring_examples_run(module):
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
