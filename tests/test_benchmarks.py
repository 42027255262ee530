"""The experiment scripts of benchmarks/ that need no data: run as a user runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parents[1] / "benchmarks"


def run_script(name: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPTS / name), *args], capture_output=True,
                          text=True, timeout=300)


def test_seeds_table_gives_mean_and_sd_per_recipe_and_plots(tmp_path):
    for recipe, finals in {"n2n": [29.0, 29.2, 29.4], "n2c": [29.5, 29.5, 29.5]}.items():
        for seed, final in enumerate(finals):
            run = tmp_path / f"{recipe}-s{seed}"
            run.mkdir()
            log = [{"epoch": e, "val_psnr": final - 1.0 / e} for e in (1, 2, 3)]
            (run / "log.json").write_text(json.dumps(log))
            (tmp_path / f"{recipe}-s{seed}.cbsd68.json").write_text(
                json.dumps({"mean": {"psnr": final - 0.5}}))
    result = run_script("seeds.py", *map(str, sorted(tmp_path.iterdir())), "--eval-suffix",
                        "cbsd68", "--steps-per-epoch", "50", "--plot", str(tmp_path / "curves.png"))
    assert result.returncode == 0, result.stderr
    assert "| n2n | 3 | 150 | 28.87 +- 0.20 | 28.70 +- 0.20 |" in result.stdout
    assert "| n2c | 3 | 150 | 29.17 +- 0.00 | 29.00 +- 0.00 |" in result.stdout
    assert (tmp_path / "curves.png").stat().st_size > 1000


def test_seeds_refuses_a_folder_that_is_not_a_run(tmp_path):
    (tmp_path / "notes").mkdir()
    result = run_script("seeds.py", str(tmp_path / "notes"))
    assert result.returncode != 0 and "notes" in result.stderr
