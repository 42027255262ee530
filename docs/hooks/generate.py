"""MkDocs hook: the pages written from the code and the measurements at build time.

- ``reference/cli.md`` from the ``n2n`` argparse parsers (every command, every flag);
- ``reference/models.md`` from the bundled-model registry (``n2n.models.bundled``) and the
  measurements in ``docs/results/`` that name each model;
- ``results/*.md`` from ``docs/results/*.json``, one table per file, so a benchmark rerun
  updates its page and no figure on those pages is typed by hand (tests/end_to_end/test_site.py checks
  every number on them against its JSON).

Nothing here is written into ``docs/``: the pages exist only in the built site.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1]
RESULTS = DOCS / "results"

# Flags whose words the glossary explains (anchor of the glossary entry).
GLOSSARY = {
    "--pd": "pixel-shuffle-factor-pd", "--refine": "refine-pass", "--no-refine": "refine-pass",
    "--multiscale": "flat-areas", "--no-multiscale": "flat-areas", "--tile": "tile-and-halo",
    "--data-range": "white-level", "--zero-shot": "zero-shot", "--mode": "training-modes",
    "--ensemble": "ensemble", "--fast": "fast-path", "--no-fast": "fast-path",
    "--bursts": "burst", "--reference-name": "reference", "--model": "bundled-model",
    "--residual": "residual", "--clip-input": "clipped-noise", "--noise": "noise-spec",
    "--dask": "dask", "--overwrite": "marked-outputs", "--resume": "resume",
}

# Results pages: (path, title, what the tables show, sources). A source is a JSON file under
# docs/results, with optionally the columns (camera summaries, rows) or methods (bench runs) to
# show, a note on which weights the run used, and the plots the run drew. Prose and notes hold
# no figure: every number on these pages comes from the JSON.
PREVIOUS_LITE = ("Measured with the previous photo (Lite) weights, before their retraining; kept "
                 "for the classical methods and the scratch model.")
FIRST_PLUS = ("n2n-photo-plus here is photo-plus's first weights, bundled since as camera; "
              "n2n-lite is the current photo model.")
RESULTS_PAGES = [
    ("results/gaussian.md", "Photos with gaussian noise",
     "The bundled models against classical methods on standard test sets, noise added without "
     "clipping as in the BM3D literature. PSNR in dB / SSIM; BM3D and CBM3D are told the true "
     "sigma, the n2n models are blind.",
     [{"json": "saturated/unclipped.json",
       "note": "The bundled photo-plus, and camera (weights: camera.pt)."},
      {"json": "bench/photo_plus_cbsd68.json", "note": FIRST_PLUS},
      {"json": "bench/photo_plus_cbsd68_50.json", "note": FIRST_PLUS},
      {"json": "bench/photo_plus_kodak24.json", "note": FIRST_PLUS},
      {"json": "bench/main.json", "note": PREVIOUS_LITE,
       "plots": {"PSNR against speed": "../benchmarks/main_pareto.png",
                 "crops of one photo, every method": "../benchmarks/main_crops.png"}},
      {"json": "bench/gray_pkl.json", "note": PREVIOUS_LITE},
      {"json": "bench/other_noise.json", "note": PREVIOUS_LITE,
       "plots": {"PSNR against speed": "../benchmarks/other_noise_pareto.png",
                 "crops of one photo, every method": "../benchmarks/other_noise_crops.png"}}]),
    ("results/clipped.md", "Clipped noise against CBM3D",
     "Noise clipped at black and white as real files hold it, the same clipped noisy images for "
     "every method of a set. PSNR in dB / SSIM.",
     [{"json": "saturated/clipped.json",
       "note": "n2n-photo-plus is the bundled photo-plus; the weights: columns are the other "
               "candidates of its fine-tune (camera.pt its first weights, plus_control and "
               "plus_clip the control and clip-only fine-tunes)."},
      {"json": "saturated/clipped_cbsd68.json", "note": "The same models on CBSD68."},
      *({"json": f"saturated/cbm3d_{name}.json", "methods": ["noisy", "bm3d"],
         "note": "CBM3D, told the true sigma, on the same clipped noisy images."}
        for name in ("cbsd68", "kodak24", "kodak24_50", "mcmaster"))]),
    ("results/camera.md", "Camera and phone photos",
     "Real camera noise: every noisy capture of the real sets against its reference, mean PSNR "
     "in dB, for fixed treatments and for the automatic rule (auto).",
     [{"json": "camera/treatment_multiscale.json",
       "columns": ["set", "images", "noisy", "photo pd 1", "photo-plus pd 1", "photo-plus pd 2",
                   "camera pd 2", "camera pd 3", "camera pd 2 + photo", "auto",
                   "auto --ensemble", "auto_worst_gain"]},
      {"json": "camera/bench_sidd_mini.json"}, {"json": "camera/bench_nam_cbdnet.json"}]),
    ("results/microscopy.md", "Fluorescence microscopy",
     "A confocal burst (FMD): each raw capture denoised alone and compared with the mean of the "
     "whole burst. PSNR in dB / SSIM.",
     [{"json": "real/bench_fmd_test19.json"}, {"json": "streaming/real_stack_fmd19.json"}]),
    ("results/speed.md", "Speed and memory",
     "Inference time per image for each variant of the inference path, and the peak memory of "
     "a streamed denoise against image size.",
     [{"json": "speed/inference_cpu.json"}, {"json": "streaming/memory_png.json"},
      {"json": "streaming/memory_tif.json"}]),
]

# The measurements of each bundled model's current weights: (JSON, bench method or summary key).
MODEL_FIGURES = {
    "photo": [("saturated/clipped.json", "n2n-lite"), ("saturated/clipped_cbsd68.json", "n2n-lite"),
              ("camera/treatment_multiscale.json", "photo pd 1")],
    "photo-plus": [("saturated/clipped.json", "n2n-photo-plus"),
                   ("saturated/clipped_cbsd68.json", "n2n-photo-plus"),
                   ("saturated/unclipped.json", "n2n-photo-plus"),
                   ("camera/treatment_multiscale.json", "photo-plus pd 1")],
    "camera": [("camera/treatment_multiscale.json", "camera pd 2"),
               ("camera/treatment_multiscale.json", "camera pd 2 + photo")],
    "confocal": [("real/bench_fmd_test19.json", "n2n-confocal")],
}


def on_files(files, config):  # noqa: ANN001, ANN201 - MkDocs' hook signature
    """Add the generated pages to the site's files."""
    from mkdocs.structure.files import File

    pages = {"reference/cli.md": cli_markdown(), "reference/models.md": models_markdown()}
    pages.update({path: results_page(path) for path, *_ in RESULTS_PAGES})
    for path, text in pages.items():
        files.append(File.generated(config, path, content=text))
    return files


# --- the command line -------------------------------------------------------------------------

def cli_markdown() -> str:
    """Every ``n2n`` command: usage, description and a table of its flags."""
    from n2n.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    lines = ["# Command line", "",
             "Generated from the `n2n` parsers at build time: what `n2n COMMAND --help` prints. "
             "Words in the flags and in printed reasons (pixel-shuffle factor, refine pass, flat "
             "areas, white level, ...) are explained in plain terms in the "
             "[glossary](glossary.md); [Commands by example](commands.md) shows them in use.", ""]
    for name, command in sub.choices.items():
        lines += [f"## n2n {name}", "", command.description or "", "", "```text",
                  command.format_usage().strip(), "```", "", "| flag | what it does |",
                  "| --- | --- |"]
        lines += [flag_row(command, action) for action in command._actions
                  if not isinstance(action, argparse._HelpAction)]
        lines.append("")
    return "\n".join(lines)


def flag_row(parser: argparse.ArgumentParser, action: argparse.Action) -> str:
    """One table row: the flag (with its value's name) and its help, defaults expanded."""
    name = ", ".join(action.option_strings) or action.metavar or action.dest
    if action.option_strings and action.nargs != 0:
        name += f" {action.metavar or action.dest.upper()}"
    text = parser._get_formatter()._expand_help(action) if action.help else ""
    links = {GLOSSARY[f] for f in action.option_strings if f in GLOSSARY}
    text += "".join(f" ([glossary](glossary.md#{anchor}))" for anchor in sorted(links))
    cell = lambda s: str(s).replace("|", "\\|").replace("\n", " ")  # noqa: E731
    return f"| `{cell(name)}` | {cell(text)} |"


# --- the bundled models -----------------------------------------------------------------------

def models_markdown() -> str:
    """A section per bundled model and zero-shot prior: what it is for, its network, size,
    training data, the command that made it and the figures measured with it."""
    from n2n.models.bundled import BUNDLED_MODELS, ZS_PRIORS, packaged_weights

    lines = ["# Bundled models", "",
             "Generated from the registry in `src/n2n/models/bundled.py` (what `n2n models` "
             "prints) and the measurements in `docs/results/` that name each model. How each "
             "was trained, command by command: [How the bundled models were trained]"
             "(bundled-training.md).", "",
             "| model | channels | network | parameters | file size |",
             "| --- | ---: | --- | ---: | ---: |"]
    models = list(BUNDLED_MODELS.values()) + list(ZS_PRIORS.values())
    nets = {m.name: network_of(packaged_weights(m.file)) for m in models}
    for m in models:
        net, params = nets[m.name]
        size = packaged_weights(m.file).stat().st_size / 1e3
        lines.append(f"| [{m.name}](#{m.name}) | {m.channels} | {net} | {params:,} | "
                     f"{size:,.0f} kB |")
    for m in models:
        lines += ["", f"## {m.name}", "", f"**Use:** {m.use}.", "",
                  f"**Trained on:** {m.trained_on}.", "", made_by(m.command), ""]
        lines += model_figures(m.name)
    return "\n".join(lines)


def made_by(command: str) -> str:
    """The registry's command, as code, or its pointer to the training page as a link."""
    if command.startswith("see docs/reference/bundled-training.md"):
        return ("**Made by:** see [How the bundled models were trained](bundled-training.md)"
                + command.removeprefix("see docs/reference/bundled-training.md") + ".")
    return f"**Made by:** `{command}`"


def network_of(path: Path) -> tuple[str, int]:
    """A weights file's network in words and its parameter count."""
    from n2n.models.checkpoint import load_model

    model = load_model(path)
    c = model.config
    words = c.arch + (f", width {c.width}" if c.arch in ("lite", "n2n", "halfres") else "")
    words += ", residual" if c.residual else ""
    return words, sum(p.numel() for p in model.net.parameters())


def model_figures(name: str) -> list[str]:
    """The measurements of this model's current weights (:data:`MODEL_FIGURES`), as a table."""
    rows = []
    for source, key in MODEL_FIGURES.get(name, []):
        data = json.loads((RESULTS / source).read_text())
        for r in data.get("results", []):
            if r.get("method") == key:
                rows.append((source, r["dataset"], r["noise"], r["images"], key, r["psnr"]))
        for summary in (s["summary"] for s in data.get("sets", [])):
            if key in summary:
                rows.append((source, summary["set"], "", summary["images"], key, summary[key]))
    if not rows:
        return ["No measurement in `docs/results/` is of these weights."]
    out = ["| measured in | set | noise | images | as | PSNR dB |",
           "| --- | --- | --- | ---: | --- | ---: |"]
    return out + [f"| `{src}` | {st} | {noise} | {n} | {key} | {psnr:.2f} |"
                  for src, st, noise, n, key, psnr in rows]


# --- results ----------------------------------------------------------------------------------

def results_page(path: str) -> str:
    """A Results page: its intro, then one table per JSON file with how it was measured."""
    _, title, intro, sources = next(p for p in RESULTS_PAGES if p[0] == path)
    lines = [f"# {title}", "", intro, ""]
    for source in sources:
        data = json.loads((RESULTS / source["json"]).read_text())
        lines += [f"## `{source['json']}`", "", source.get("note", ""), "", *provenance(data), "",
                  *table_of(data, source), ""]
        lines += [f"![{alt}]({image})\n" for alt, image in source.get("plots", {}).items()]
    return "\n".join(lines)


def provenance(data: dict) -> list[str]:
    """The command and machine a JSON file records."""
    out = []
    if data.get("command"):
        out += ["```bash", data["command"], "```"]
    m = data.get("machine") or {}
    if m:
        out.append(f"Machine: {m.get('cpu')}, {m.get('cores')} cores, {m.get('torch_threads')} "
                   f"torch threads, torch {m.get('torch')}, GPU: {m.get('gpu') or 'none'}.")
    return out


def table_of(data: dict, source: dict) -> list[str]:
    """The JSON's table: bench results (set x method), camera summaries, or plain rows."""
    columns = source.get("columns")
    if isinstance(data.get("results"), list):
        methods = source.get("methods")
        return bench_table([r for r in data["results"] if not methods or r["method"] in methods])
    if isinstance(data.get("sets"), list):
        return summary_table([s["summary"] for s in data["sets"]], columns)
    if isinstance(data.get("rows"), list):
        return summary_table(data["rows"], columns)
    return summary_table([{k: v for k, v in data.items() if not isinstance(v, (dict, list))}],
                         columns)


def bench_table(results: list[dict]) -> list[str]:
    """``n2n bench`` results: a row per (set, noise), a column per method, PSNR / SSIM."""
    methods = list(dict.fromkeys(r["method"] for r in results))
    names = [m.split(":")[0] + ": " + Path(m.split(":", 1)[1]).name if ":" in m else m
             for m in methods]
    keys = list(dict.fromkeys((r["dataset"], r["noise"], r["images"]) for r in results))
    cells = {(r["dataset"], r["noise"], r["images"], r["method"]): r for r in results}
    out = ["| set | noise | images | " + " | ".join(names) + " |",
           "| --- | --- | ---: |" + " ---: |" * len(methods)]
    for k in keys:
        row = [cells.get((*k, m)) for m in methods]
        out.append(f"| {k[0]} | {k[1]} | {k[2]} | " + " | ".join(
            f"{r['psnr']:.2f} / {r['ssim']:.3f}" if r else "" for r in row) + " |")
    return out


def summary_table(rows: list[dict], columns: list[str] | None) -> list[str]:
    """Flat records, a column per key (or per ``columns``), numbers rounded for reading."""
    columns = columns or [k for k in dict.fromkeys(k for r in rows for k in r)
                          if all(not isinstance(r.get(k), (dict, list)) for r in rows)]
    out = ["| " + " | ".join(columns) + " |", "|" + " --- |" * len(columns)]
    out += ["| " + " | ".join(fmt(r.get(c)) for c in columns) + " |" for r in rows]
    return out


def fmt(value: object) -> str:
    """A cell: floats to 2 decimals (3 below 1), everything else as written."""
    if isinstance(value, bool) or value is None:
        return "" if value is None else str(value).lower()
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 1 else f"{value:.2f}"
    return str(value).replace("|", "\\|")
