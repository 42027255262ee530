"""The course's rules for n2n.scratch, checked on its source so they cannot rot."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import n2n.scratch

SCRATCH = Path(n2n.scratch.__file__).parent
ALLOWED_TORCH = {"empty", "cat", "arange", "set_grad_enabled", "is_grad_enabled", "Tensor"}
ALLOWED_FROM = {"torch": {"Tensor"}, "torch.nn.functional": {"fold", "unfold"}}
BANNED_ATTRIBUTES = {"requires_grad", "requires_grad_", "grad_fn", "retain_grad", "autograd"}


def breaches(source: str, filename: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        where = f"{filename}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Import):
            for alias in node.names:
                top = alias.name.split(".")[0]
                if alias.name != "torch" and top not in sys.stdlib_module_names:
                    found.append(f"{where} imports {alias.name}")
                if alias.asname and alias.name == "torch":
                    found.append(f"{where} renames torch")
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            names = {a.name for a in node.names}
            if module in ALLOWED_FROM:
                if not names <= ALLOWED_FROM[module]:
                    found.append(f"{where} imports {names - ALLOWED_FROM[module]} from {module}")
            elif module.startswith("n2n"):
                if not module.startswith("n2n.scratch"):
                    found.append(f"{where} imports {module} (outside n2n.scratch)")
            elif module.split(".")[0] not in sys.stdlib_module_names:
                found.append(f"{where} imports from {module}")
        elif isinstance(node, ast.Attribute):
            if isinstance(node.value, ast.Name) and node.value.id == "torch" \
                    and node.attr not in ALLOWED_TORCH:
                found.append(f"{where} uses torch.{node.attr}")
            if node.attr in BANNED_ATTRIBUTES:
                found.append(f"{where} uses .{node.attr}")
    return found


def test_scratch_package_obeys_the_rules():
    problems = []
    for path in sorted(SCRATCH.rglob("*.py")):
        problems += breaches(path.read_text(), path.name)
    assert problems == []


def test_the_checker_catches_each_kind_of_breach():
    bad = "\n".join([
        "import numpy", "from torch import nn", "from torch.nn.functional import conv2d",
        "from n2n.io import read_image", "import torch", "torch.zeros(3)",
        "x.requires_grad_()", "torch.autograd.grad", "import torch as T",
    ])
    assert len(breaches(bad, "bad.py")) == 9


def test_autograd_setting_is_restored_after_scratch_work():
    import torch

    conv = n2n.scratch.Conv2d(1, 1, 3)
    for setting in (True, False):
        torch.set_grad_enabled(setting)
        conv.forward(torch.ones(1, 1, 5, 5))
        assert torch.is_grad_enabled() is setting
    torch.set_grad_enabled(True)
