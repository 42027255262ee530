"""The examples in the public API's docstrings run (those not marked to skip)."""

from __future__ import annotations

import doctest
import importlib

import pytest


@pytest.mark.parametrize("module", [
    "n2n.data.noise", "n2n.lite", "n2n.scratch.model", "n2n.io.images", "n2n.inference.denoiser",
    "n2n.inference.arrays", "n2n.inference.files", "n2n.training.loop", "n2n.inference.zeroshot",
    "n2n.data.config", "n2n.training.api"])
def test_docstring_examples_run(module):
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
