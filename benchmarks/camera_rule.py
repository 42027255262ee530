"""Camera photos: every fixed treatment against the automatic one, per image, and the noise
statistics of real captures beside the ``camera:`` synthesis, in one run::

    python benchmarks/camera_rule.py --real sidd_mini=DIR/noisy,DIR/clean \\
        --real nam_cbdnet=DIR/noisy,DIR/clean --clean CBSD68 --limit 20 \\
        --noise gaussian:15 gaussian:25 gaussian:50 --synthetic camera:0.001 camera:0.003,85 \\
        [--ensemble] [--threads 2] [-o camera.json]

For each set: mean PSNR of the noisy input, of ``photo``, ``photo-plus`` and ``camera`` at
pixel-shuffle factors 1-3 and of the automatic choice (with ``--ensemble`` also the automatic
choice averaged over 8 flips and turns), its worst gain over the input, what it chose and why,
and the share of the time the choice took (the noise measurement, and the first pass's
residual correlation where it pixel-shuffles). The statistics (``n2n diagnose``'s
correlation at lags 1 and 2, the rule's 2-px/1-px ratio) are measured on the noisy images
alone.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import torch

from n2n.bench.measure import machine
from n2n.data.noise import parse_noise
from n2n.errors import N2NError
from n2n.evaluation.diagnose import diagnose_image
from n2n.evaluation.metrics import psnr
from n2n.evaluation.scoring import clean_pairs, reference_pairs
from n2n.evaluation.treatment import measure_noise, residual_lag2, short_label
from n2n.inference.auto import AutoDenoiser
from n2n.inference.denoiser import Denoiser
from n2n.inference.policy import PROBE_SIDE
from n2n.inference.weights import load_weights
from n2n.io.files import write_text_atomic
from n2n.io.values import central_square, decision_sample
from n2n.models.bundled import load_bundled

MODELS = ("photo", "photo-plus", "camera")
# (model, pd, refining model): each factor alone, and pd 2 with each full-resolution second pass
FIXED = ([(m, pd, None) for m in MODELS for pd in (1, 2, 3)]
         + [(m, 2, r) for m in MODELS for r in MODELS])
FIRST_PASS = "camera pd 2 + photo"  # the rule's pixel-shuffled pass (the default before flat_pd)


def noise_statistics(noisy: np.ndarray) -> dict[str, float]:
    """What ``n2n diagnose`` and the automatic rule read from one noisy image."""
    corr, r = np.array(diagnose_image(noisy).correlation), 3
    return {"lag1": float(corr[r, r + 1] + corr[r + 1, r]) / 2,
            "lag2": float(corr[r, r + 2] + corr[r + 2, r]) / 2,
            "ratio": measure_noise(noisy).ratio}


def score_set(name: str, pairs, fixed: dict, autos: dict[str, AutoDenoiser]) -> dict:
    """Every treatment on every (name, noisy, clean) of one set: means, worst gains, choices."""
    rows = []
    for image, noisy, clean in pairs:
        row = {"image": image, "noisy": psnr(noisy, clean), **noise_statistics(noisy)}
        outputs = {key: denoiser(noisy, clip=False) for key, denoiser in fixed.items()}
        row.update({key: psnr(out, clean) for key, out in outputs.items()})  # psnr clips
        for key, auto in autos.items():
            start = time.perf_counter()
            row[key] = psnr(auto(noisy), clean)
            row[f"{key}_s"] = time.perf_counter() - start
        row["treatment"] = autos["auto"].last.to_json()
        row["choose_s"] = choice_seconds(noisy, autos["auto"], outputs[FIRST_PASS])
        rows.append(row)
    columns = ["noisy", *fixed, *autos]
    summary = {"set": name, "images": len(rows),
               **{c: float(np.mean([r[c] for r in rows])) for c in columns},
               "auto_worst_gain": float(min(r["auto"] - r["noisy"] for r in rows)),
               "choices": dict(Counter(short_label(**{k: r["treatment"][k] for k in
                                                        ("model", "pd", "refine")},
                                                     flat_pd=tuple(r["treatment"]["flat_pd"]))
                                       for r in rows)),
               "choice_time_share": float(sum(r["choose_s"] for r in rows)
                                          / sum(r["auto_s"] for r in rows)),
               **{f"{s}_range": [float(min(r[s] for r in rows)), float(max(r[s] for r in rows))]
                  for s in ("lag1", "lag2", "ratio")}}
    print(json.dumps({k: round(v, 3) if isinstance(v, float) else v
                      for k, v in summary.items()}), flush=True)
    return {"summary": summary, "images": rows}


def choice_seconds(noisy: np.ndarray, auto: AutoDenoiser, first: np.ndarray) -> float:
    """What the automatic choice costs beyond denoising, timed on the rule's own calls: the
    noise measurement, and where it pixel-shuffles, the flat-area decision on ``first`` (the
    first pass's result, already made)."""
    start = time.perf_counter()
    treatment = auto.choose(decision_sample(noisy, spatial=3))
    if treatment.pd == 2:
        residual_lag2(central_square(noisy, PROBE_SIDE), central_square(first, PROBE_SIDE))
    return time.perf_counter() - start


def data_sets(args: argparse.Namespace):
    """(name, pairs) for each --real set, each --noise on --clean, each --synthetic on it."""
    for spec in args.real:
        name, _, dirs = spec.partition("=")
        noisy_dir, _, reference_dir = dirs.partition(",")
        if not (name and noisy_dir and reference_dir):
            raise N2NError(f"--real '{spec}': expected NAME=NOISY_DIR,REFERENCE_DIR")
        yield name, list(reference_pairs(noisy_dir, reference_dir))
    if args.clean:
        images = sorted(p for p in Path(args.clean).iterdir() if p.suffix.lower() == ".png")
        for spec in [*args.noise, *args.synthetic]:
            pairs, _ = clean_pairs(images[:args.limit], parse_noise(spec), args.seed)
            yield f"{Path(args.clean).name} {spec}", list(pairs)


def candidates(specs: list[str]) -> dict[str, Denoiser]:
    """``NAME=WEIGHTS`` first passes at pd 2, alone and refined by photo, by column name."""
    fixed = {}
    for spec in specs:
        name, _, path = spec.partition("=")
        if not (name and path):
            raise N2NError(f"--candidate '{spec}': expected NAME=WEIGHTS")
        if name in MODELS:
            raise N2NError(f"--candidate '{spec}': {name} is a bundled model's column; "
                           "choose another name")
        for refine in (None, "photo"):  # each Denoiser sets its own model's pd: one load each
            fixed[short_label(name, 2, refine)] = Denoiser(
                load_weights(path), pd=2, refine=load_bundled(refine) if refine else None)
    return fixed


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--real", nargs="*", default=[], metavar="NAME=NOISY,REFERENCE")
    p.add_argument("--clean", type=Path, help="clean PNG photos for --noise and --synthetic")
    p.add_argument("--noise", nargs="*", default=["gaussian:15", "gaussian:25", "gaussian:50"])
    p.add_argument("--synthetic", nargs="*", default=[], help="camera: specs on --clean")
    p.add_argument("--limit", type=int, help="the first N photos of --clean")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--candidate", nargs="*", default=[], metavar="NAME=WEIGHTS",
                   help="more first passes to compare (checkpoints or weights files), each at "
                   "--pd 2, alone and then photo: how the camera model was chosen")
    p.add_argument("--ensemble", action="store_true", help="also the automatic choice with "
                   "each pass averaged over 8 flips and turns (8x the time)")
    p.add_argument("-o", "--output", type=Path)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    fixed = {short_label(m, pd, r): Denoiser(load_bundled(m), pd=pd,
                                                 refine=load_bundled(r) if r else None)
             for m, pd, r in FIXED}
    fixed.update(candidates(args.candidate))
    autos = {"auto": AutoDenoiser()}
    if args.ensemble:
        autos["auto --ensemble"] = AutoDenoiser(ensemble=True)
    results = [score_set(name, pairs, fixed, autos) for name, pairs in data_sets(args)]
    if args.output:
        record = {"command": "python benchmarks/camera_rule.py " + " ".join(argv),
                  "machine": machine(), "sets": results}
        write_text_atomic(args.output, json.dumps(record, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
