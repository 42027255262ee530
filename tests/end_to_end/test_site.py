"""The documentation, checked like code: the site builds strictly, every page renders in headless
Chromium without a console error, search finds a command, every figure on a Results page (and in
the README's headline table) is in its JSON, and the commands the README and the pages show
parse with the real ``n2n`` parser (the cheap ones run)."""

from __future__ import annotations

import functools
import http.server
import importlib.util
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from conftest import n2n

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
NUMBER = re.compile(r"\d+(?:\.\d+)?")


def generator():
    """The MkDocs hook that writes the generated pages (loaded from its file, as MkDocs does)."""
    spec = importlib.util.spec_from_file_location("docs_generate", DOCS / "hooks" / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- figures come from the JSON ---------------------------------------------------------------

def figures_of(value: object) -> set[str]:
    """Every way a number held by ``value`` (a parsed JSON) may be written on a page."""
    out: set[str] = set()
    if isinstance(value, dict):
        for k, v in value.items():
            out |= figures_of(k) | figures_of(v)
    elif isinstance(value, list):
        for v in value:
            out |= figures_of(v)
    elif isinstance(value, bool) or value is None:
        pass
    elif isinstance(value, int | float):
        out |= {str(value), f"{value:.2f}", f"{value:.3f}", f"{value:.1f}", f"{value:.0f}",
                f"{abs(value):.2f}", f"{abs(value):.3f}"}
    else:
        out |= set(NUMBER.findall(str(value)))
    return out


def unsourced(text: str, allowed: set[str]) -> list[str]:
    """The numbers ``text`` states that ``allowed`` does not hold."""
    return [n for n in NUMBER.findall(text) if n not in allowed]


def page_sources(gen, path: str) -> set[str]:
    """What a Results page may state: its JSON files' figures and their file names."""
    _, _, _, sources = next(p for p in gen.RESULTS_PAGES if p[0] == path)
    allowed: set[str] = set()
    for source in sources:
        allowed |= figures_of(json.loads((DOCS / "results" / source["json"]).read_text()))
        allowed |= set(NUMBER.findall(source["json"]))
    return allowed


@pytest.mark.parametrize("path", [p[0] for p in generator().RESULTS_PAGES])
def test_every_figure_on_a_results_page_is_in_its_json(path):
    gen = generator()
    text, allowed = gen.results_page(path), page_sources(gen, path)
    assert "|" in text  # a table was made
    assert unsourced(text, allowed) == []


def test_a_figure_typed_onto_a_results_page_is_caught():
    gen = generator()
    path = gen.RESULTS_PAGES[0][0]
    text = gen.results_page(path) + "\nphoto-plus gains 12.34 dB here\n"
    assert unsourced(text, page_sources(gen, path)) == ["12.34"]


def test_the_readmes_headline_figures_are_in_the_json_its_rows_name():
    table = [line for line in (ROOT / "README.md").read_text().splitlines()
             if line.startswith("|") and ".json" in line]
    assert len(table) >= 3
    for row in table:
        cells = row.split("|")
        allowed = set()
        for name in re.findall(r"`([\w/.-]+\.json)`", cells[-2]):
            allowed |= figures_of(json.loads((DOCS / "results" / name).read_text()))
        stated = NUMBER.findall("|".join(cells[3:-2]))  # noisy, default, classical
        assert stated and [n for n in stated if n not in allowed] == [], row


# --- commands parse -----------------------------------------------------------------------------

def commands_in(text: str) -> list[str]:
    """The ``n2n ...`` command lines of a Markdown text's bash blocks (continuations joined,
    comments dropped; lines built from shell variables left out)."""
    out = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split(" #")[0].strip()
            if line.startswith("n2n ") and "$" not in line:
                out.append(line)
    return out


def doc_commands() -> list[tuple[str, str]]:
    pages = [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]
    return [(str(p.relative_to(ROOT)), c) for p in pages for c in commands_in(p.read_text())]


def test_every_command_the_readme_and_the_pages_show_parses():
    from n2n.cli import build_parser

    commands = doc_commands()
    assert len(commands) > 50
    bad = []
    for page, command in commands:
        words = [w for w in shlex.split(command)[1:] if w != "..."]
        try:
            build_parser().parse_args(words)
        except SystemExit:
            bad.append(f"{page}: {command}")
    assert bad == []


def test_the_readmes_six_commands_are_commands():
    readme = (ROOT / "README.md").read_text()
    block = readme.split("## The six commands people use most", 1)[1]
    assert len(commands_in(block.split("##", 1)[0])) == 6


def test_the_readmes_cheap_commands_run(tmp_path):
    from PIL import Image
    from skimage import data

    rng = np.random.default_rng(0)
    clean = data.astronaut()[100:164, 180:244].astype(float)
    noisy = np.clip(clean + rng.normal(0, 25, clean.shape), 0, 255).astype(np.uint8)
    Image.fromarray(noisy).save(tmp_path / "photo.png")
    assert n2n("--help").returncode == 0
    assert "confocal" in n2n("models").stdout
    out = n2n("denoise", tmp_path / "photo.png", "-o", tmp_path / "clean.png")
    assert out.returncode == 0, out.stderr
    assert "photo.png:" in out.stdout and (tmp_path / "clean.png").is_file()
    out = n2n("diagnose", tmp_path / "photo.png")
    assert out.returncode == 0 and "noise" in out.stdout


def test_the_readme_is_short_and_links_into_the_site():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 200
    for link in re.findall(r"\]\((docs/[^)#]+)", readme):
        assert (ROOT / link).exists(), link
    assert "docs/development/layout.md" in readme
    install = ".venv/bin/pip install torch==2.13.0 -e \".[dev,docs]\""
    ci = (ROOT / ".ci" / "run").read_text()
    assert install in readme and install.split("pip ")[1] in ci.replace("--quiet ", "")
    assert ".venv/bin/python -m pytest -q" in readme and ".venv/bin/python -m pytest -q" in ci


# --- the built site in a browser ----------------------------------------------------------------

@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The site, built with --strict into a temporary folder."""
    for module in ("mkdocs", "material", "mkdocstrings_handlers.python"):
        pytest.importorskip(module, reason=f"{module} is missing: pip install -e '.[docs]'")
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    run = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-f",
                          str(ROOT / "mkdocs.yml"), "-d", str(out)], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    return out


@pytest.fixture(scope="module")
def served(site):
    """The built site served over HTTP on a free local port."""
    handler = functools.partial(QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # no line per request in the test output
        pass


@pytest.fixture(scope="module")
def browser():
    """Debian's chromium, driven headless through playwright (no browser download)."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("chromium is not installed (apt-get install chromium; .ci/run installs "
                    "it): the site's pages cannot be rendered")
    sync_api = pytest.importorskip("playwright.sync_api",
                                   reason="playwright is missing: pip install -e '.[docs]'")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True,
                                    args=["--no-sandbox", "--disable-gpu"])
        yield browser
        browser.close()


def site_pages(site: Path) -> list[str]:
    return sorted(str(p.parent.relative_to(site)) + "/" for p in site.rglob("index.html")
                  if "assets" not in p.parts)


def test_the_site_has_every_section_and_the_generated_pages(site):
    pages = site_pages(site)
    for page in ("./", "getting-started/install/", "guides/microscopy/", "reference/cli/",
                 "reference/api/", "reference/models/", "reference/glossary/",
                 "results/gaussian/", "explanation/automatic-rule/", "development/lab-notes/"):
        assert page in pages, page
    cli = (site / "reference" / "cli" / "index.html").read_text()
    assert "n2n denoise" in cli and "glossary/#pixel-shuffle-factor-pd" in cli
    assert "denoise_array" in (site / "reference" / "api" / "index.html").read_text()


def test_every_page_renders_without_a_console_error(site, served, browser, tmp_path):
    page = browser.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(f"{m.type}: {m.text}") if m.type == "error"
            else None)
    page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
    for path in site_pages(site):
        response = page.goto(f"{served}/{path}", wait_until="load")
        assert response is not None and response.ok, path
        assert page.locator("h1").count() >= 1, path
        assert errors == [], f"{path}: {errors}"
    page.goto(f"{served}/", wait_until="load")
    shot = tmp_path / "home.png"
    page.screenshot(path=str(shot))
    assert shot.stat().st_size > 10_000
    page.close()


def test_search_finds_a_command(served, browser):
    page = browser.new_page()
    page.goto(f"{served}/", wait_until="load")
    query, results = page.locator("input.md-search__input"), page.locator(".md-search-result__item")
    query.click()
    for _ in range(30):  # typed, as a user does; the index loads in a web worker: retype
        query.fill("")  # until it answers
        query.press_sequentially("denoise", delay=20)
        try:
            results.first.wait_for(timeout=2_000)
            break
        except Exception:  # playwright's TimeoutError
            continue
    assert results.count() >= 1, "search found nothing for 'denoise'"
    assert "n2n denoise" in page.locator(".md-search-result").inner_text()
    page.close()
