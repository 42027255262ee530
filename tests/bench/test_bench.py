"""``n2n bench``: the quick run writes every piece of evidence; bad options fail early and a
failure mid-run keeps what was finished."""

from __future__ import annotations

import json
import sys

import pytest
from conftest import ok

from n2n.cli import main


def test_quick_bench_writes_tables_json_and_plots(tmp_path):
    printed = ok("bench", "--quick", "--threads", "2", cwd=tmp_path)  # no -o: a named folder
    out = tmp_path / "n2n-bench-quick"
    assert "to n2n-bench-quick" in printed
    record = json.loads((out / "results.json").read_text())
    methods = {r["method"]: r for r in record["results"]}
    assert {"noisy", "n2n-lite", "n2n-scratch", "nlm", "tv", "wavelet", "zero-shot",
            "n2n-trained", "n2c-trained", "ne2ne-trained"} <= set(methods)
    assert methods["n2n-lite"]["psnr"] > methods["noisy"]["psnr"] + 5
    assert methods["zero-shot"]["psnr"] > methods["noisy"]["psnr"] + 3
    assert all(r["seconds_per_image"] > 0 and r["megapixels_per_second"] > 0
               for r in record["results"])
    assert record["machine"]["torch_threads"] == 2 and record["machine"]["cores"] >= 1
    assert [e["recipe"] for e in record["training"]] == ["n2n-trained", "n2c-trained",
                                                         "ne2ne-trained"]
    report = (out / "results.md").read_text()
    assert "| n2n-lite |" in report and "Equal training budget" in report
    for name in ("pareto.png", "crops.png", "training.png"):
        assert (out / name).read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("args, message", [
    (("{tmp}/missing",), "missing: no such file or folder"),
    (("{tmp}/empty",), "folder holds no images"),
    (("{tmp}/data", "--methods", "fancy"), "unknown method(s) fancy"),
    (("{tmp}/data", "--noise", "gaussian:abc"), "noise spec 'gaussian:abc'"),
    ((), "needs data folders"),
])
def test_bad_options_fail_before_any_work(tmp_path, photo, capsys, args, message):
    from n2n.io.images import Image, write_image

    (tmp_path / "empty").mkdir()
    (tmp_path / "data").mkdir()
    write_image(tmp_path / "data" / "a.png", Image(photo))
    code = main(["bench", *(a.format(tmp=tmp_path) for a in args), "-o", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and message in err[0]
    assert not (tmp_path / "out" / "results.json").exists()


def test_bench_without_output_folder_is_a_usage_error(tmp_path, capsys):
    code = main(["bench", str(tmp_path)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err == ["n2n: error: bench needs -o/--output, the folder for its results"]


def test_missing_extra_stops_the_run_but_keeps_finished_results(tmp_path, photo, capsys,
                                                                monkeypatch):
    from n2n.io.images import Image, write_image

    monkeypatch.setitem(sys.modules, "bm3d", None)  # as if the bench extra were not installed
    (tmp_path / "data").mkdir()
    write_image(tmp_path / "data" / "a.png", Image(photo))
    code = main(["bench", str(tmp_path / "data"), "-o", str(tmp_path / "out"),
                 "--noise", "gaussian:25", "--methods", "noisy", "wavelet", "bm3d"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and "pip install 'n2n-lite[bench]'" in err[-1]
    record = json.loads((tmp_path / "out" / "results.json").read_text())
    assert [r["method"] for r in record["results"]] == ["noisy", "wavelet"]
    assert "| wavelet |" in (tmp_path / "out" / "results.md").read_text()


def test_memory_bench_measures_each_size_in_its_own_process(tmp_path):
    import subprocess
    import sys

    out = tmp_path / "memory.json"
    result = subprocess.run([sys.executable, "-m", "n2n.bench.memory", "--sizes", "48", "80",
                             "--format", "tif", "--json", str(out)], capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    rows = json.loads(out.read_text())["rows"]
    assert [r["size"] for r in rows] == [48, 80]
    assert all(r["peak_rss_mib"] > 50 and r["seconds"] > 0 for r in rows)  # a torch process
