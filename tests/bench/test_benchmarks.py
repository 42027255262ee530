"""The experiment scripts of benchmarks/ that need no data: run as a user runs them."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from conftest import SCRIPTS, load_script

from n2n.errors import N2NError


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


def test_camera_bench_scores_candidate_first_passes_beside_the_bundled_ones(tmp_path, photo):
    camera = load_script("camera_rule.py")
    from n2n.io.images import Image, write_image
    from n2n.models.bundled import bundled_weights_path

    rng = np.random.default_rng(0)
    for folder in ("noisy", "clean"):
        (tmp_path / folder).mkdir()
    for i in range(2):
        crop = photo[i * 16:i * 16 + 64, :64]
        write_image(tmp_path / "clean" / f"{i}.png", Image(crop))
        write_image(tmp_path / "noisy" / f"{i}.png",
                    Image(np.clip(crop + rng.normal(0, 10, crop.shape), 0, 255)))
    out = tmp_path / "camera.json"
    assert camera.main(["--real", f"tiny={tmp_path / 'noisy'},{tmp_path / 'clean'}", "--noise",
                        "--candidate", f"same={bundled_weights_path('camera')}",
                        "--ensemble", "--threads", "1", "-o", str(out)]) == 0
    summary = json.loads(out.read_text())["sets"][0]["summary"]
    assert summary["same pd 2"] == summary["camera pd 2"]
    assert summary["auto --ensemble"] != summary["auto"]  # the same choice, 8 views averaged
    assert sum(summary["choices"].values()) == 2
    assert summary["same pd 2 + photo"] == summary["camera pd 2 + photo"]
    with pytest.raises(N2NError, match="--candidate 'nope': expected NAME=WEIGHTS"):
        camera.main(["--candidate", "nope"])


def test_zero_shot_bench_times_every_schedule_on_the_same_image(tmp_path, capsys):
    out = tmp_path / "zeroshot.json"
    zeroshot = load_script("zeroshot_schedules.py")
    zeroshot.main(["--time-only", "--size", "40", "--before-steps", "2", "--threads", "1",
                   "-o", str(out)])
    (row,) = json.loads(out.read_text())["rows"]
    assert row["size"] == [40, 40, 3]
    assert row["before_extrapolated"] and row["before_seconds"] > 0
    assert row["random_init_seconds"] > 0 and row["default_seconds"] > 0
    assert row["default_psnr"] > row["noisy_psnr"]  # the default fit denoised it
    assert row["random_init_psnr"] > row["noisy_psnr"]
    assert "psnr_difference_random_init" in row and "psnr_difference_before" not in row
    with pytest.raises(SystemExit):
        zeroshot.main(["--captures", str(tmp_path / "x.png")])
    assert "--captures needs --reference" in capsys.readouterr().err


def test_ablation_trains_each_recipe_for_the_same_minutes(tmp_path, photo):
    from n2n.io.images import Image, write_image

    ablation = load_script("ablation.py")
    train = tmp_path / "train"
    train.mkdir()
    for i in range(4):
        write_image(train / f"{i}.png", Image(photo[i * 8:i * 8 + 72, :72]))
    out = tmp_path / "ablation.json"
    assert ablation.main([str(train), "--minutes", "0.01", "--recipes", "2",
                          "--patches-per-epoch", "32", "--threads", "1", "-o", str(out)]) == 0
    entries = json.loads(out.read_text())["ablation"]
    assert [e["recipe"] for e in entries] == [r.name for r in ablation.ABLATION[:2]]
    assert all(e["minutes"] == 0.01 and e["epochs"] >= 1 for e in entries)
    assert "| course recipe" in (tmp_path / "ablation.md").read_text()
    assert (tmp_path / "ablation.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "ablation-runs").is_dir()


def test_bench_has_no_ablation_flag(capsys):
    from n2n.cli import main

    with pytest.raises(SystemExit):
        main(["bench", "--quick", "--ablation-minutes", "1"])
    assert "--ablation-minutes" in capsys.readouterr().err
