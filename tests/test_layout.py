"""The package's shape, as docs/development/layout.md draws it (linked from the README):
layers that import only downwards (lazy imports included), no cycle, a CLI that knows no file
format, small modules and functions, and no global state at import."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "n2n"
# the data flow, bottom to top: a module imports from its own layer or lower ones only
LAYERS = ["errors", "device", "io", "data", "evaluation", "models", "training", "inference",
          "export", "top"]
TOP = {"cli", "bench", "lite", "bmz", "napari", "__init__", "__main__",
       "denoise", "pretrained", "sources", "train"}  # entry points; the last four re-export


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """Every n2n module ``path`` imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("n2n"):
            for alias in node.names:  # `from n2n.io import png_rows` imports a module
                candidate = f"{node.module}.{alias.name}"
                found.add(candidate if candidate in MODULES else node.module)
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("n2n")}
    return found


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py") if "scratch" not in p.parts}
GRAPH = {name: imports(path) for name, path in MODULES.items()}
# the image formats (n2n.io.formats: one module each, and their registry): the CLI imports none
FORMAT_MODULES = {name for name in MODULES if name.startswith("n2n.io.formats")}


def layer(module: str) -> int:
    first = module.split(".")[1] if "." in module else "__init__"
    return LAYERS.index("top" if first in TOP else first)


def test_every_import_points_to_the_same_layer_or_a_lower_one():
    upward = [f"{m} -> {i}" for m, targets in GRAPH.items() for i in targets
              if i in MODULES and layer(i) > layer(m)]
    assert not upward


def test_no_import_cycle_counting_lazy_imports():
    state: dict[str, int] = {}  # 1 visiting, 2 done

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for target in sorted(GRAPH.get(module, ())):
            if target not in MODULES or target == module:
                continue
            if state.get(target) == 1:
                cycle = path[path.index(target):] + [target] if target in path else [target]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if state.get(target) is None:
                visit(target, [*path, target])
        state[module] = 2

    for module in sorted(MODULES):
        if module not in state:
            visit(module, [module])


def test_the_cli_knows_no_file_format():
    for name, targets in GRAPH.items():
        if name.startswith("n2n.cli"):
            assert not targets & FORMAT_MODULES, name
            assert ".suffix" not in MODULES[name].read_text(), f"{name} dispatches on suffixes"


def test_modules_and_functions_stay_small():
    for name, path in MODULES.items():
        text = path.read_text()
        assert len(text.splitlines()) <= 400, name
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                body = node.body
                doc = ast.get_docstring(node, clean=False) is not None
                first = body[1] if doc and len(body) > 1 else body[0]
                assert node.end_lineno - first.lineno + 1 <= 60, f"{name}.{node.name}"


def test_importing_the_library_sets_no_plotting_backend_and_loads_no_pyplot():
    code = ("import sys, matplotlib; matplotlib.use('svg'); "
            "import n2n.training.loop, n2n.evaluation.plots, n2n.bench.report, n2n.cli; "
            "print(matplotlib.get_backend(), 'matplotlib.pyplot' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["svg", "False"]


@pytest.mark.parametrize("module", ["denoise", "pretrained", "sources", "train"])
def test_the_old_top_level_imports_work_and_say_where_the_code_lives(module):
    code = (f"import warnings; warnings.simplefilter('error', DeprecationWarning)\n"
            f"try:\n    import n2n.{module}\nexcept DeprecationWarning as w:\n    print(w)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert f"n2n.{module} is deprecated" in out.stdout and "import from n2n." in out.stdout
    subprocess.run([sys.executable, "-W", "ignore", "-c", f"import n2n.{module}"], check=True)


def _named_in(text: str, module: Path) -> bool:
    """Whether a map names ``module``: its file name, or its stem as a word."""
    return module.name in text or re.search(rf"\b{re.escape(module.stem)}\b", text) is not None


@pytest.mark.parametrize("document", ["README.md", "docs/development/layout.md"])
def test_every_module_is_on_the_maps(document):
    """The README's Layout section and the layout page name every module of the package
    (scratch/ is drawn as one folder): a module added or moved updates them."""
    text = (PACKAGE.parents[1] / document).read_text()
    if document == "README.md":
        text = text[text.index("## Layout"):text.index("## Tests")]
    missing = [str(p.relative_to(PACKAGE)) for p in sorted(PACKAGE.rglob("*.py"))
               if "scratch" not in p.parts and p.name != "__init__.py"
               and not _named_in(text, p)]
    assert not missing, f"{document} does not name {missing}"


def test_the_test_folders_mirror_the_package():
    """Every test file lies in a folder named after a part of the package (``tests/io/`` for
    ``src/n2n/io/``), or in ``end_to_end/`` for the README's promises; none lies loose
    except this one, which checks the package as a whole."""
    tests = Path(__file__).resolve().parent
    parts = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    folders = {p.parent.name for p in tests.rglob("test_*.py") if p.parent != tests}
    loose = [p.name for p in tests.glob("test_*.py") if p.name != Path(__file__).name]
    assert not loose, f"test files outside the package's folders: {loose}"
    assert folders <= parts | {"end_to_end"}, f"folders naming no part: {folders - parts}"


ROOT_ENTRIES = {".ci", ".gitignore", "README.md", "benchmarks", "docs", "mkdocs.yml",
                "pyproject.toml", "src", "tests"}


def test_the_repository_root_holds_only_the_project():
    """Nothing a tool wrote into the current directory is committed (ONNX Runtime's shape
    inference once left sym_shape_infer_temp.onnx and its external data there)."""
    try:
        listed = subprocess.run(["git", "ls-files"], cwd=PACKAGE.parents[1], text=True,
                                capture_output=True, check=True).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    assert {p.split("/")[0] for p in listed} <= ROOT_ENTRIES
