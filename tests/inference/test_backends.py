"""The inference engine chosen per machine (n2n.inference.backends): the choice and its cache
without ONNX Runtime; ONNX Runtime's results equal PyTorch's where it is installed."""

from __future__ import annotations

import importlib
import json
import sys

import numpy as np
import pytest
import torch

from n2n.device import bfloat16_native
from n2n.errors import N2NError
from n2n.inference import backends
from n2n.inference.backends import cache_dir, choose_backend, measured_choice
from n2n.inference.denoiser import Denoiser
from n2n.models.bundled import load_bundled


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A fresh cache folder, and the engine left to the choice (conftest forces PyTorch)."""
    monkeypatch.setenv("N2N_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("N2N_BACKEND")
    return tmp_path / "cache"


class Clock:
    """A stand-in measurement: given speeds, and how often it was asked."""

    def __init__(self, torch_speed: float, ort_speed: float, **others: float) -> None:
        self.speeds, self.calls = {"torch": torch_speed, "onnxruntime": ort_speed, **others}, 0

    def __call__(self, net: torch.nn.Module) -> dict[str, float]:
        self.calls += 1
        return dict(self.speeds)


def test_the_choice_is_measured_once_and_cached(cache):
    net = load_bundled("photo").net
    clock = Clock(0.5, 1.0)
    first = measured_choice(net, clock)
    again = measured_choice(net, clock)
    assert first["backend"] == again["backend"] == "onnxruntime"
    assert clock.calls == 1
    records = json.loads((cache / backends.CACHE_FILE).read_text())
    assert list(records) == [backends.cache_key(net)]
    assert records[backends.cache_key(net)]["mp_s"] == {"torch": 0.5, "onnxruntime": 1.0}


def test_a_network_whose_code_changed_is_measured_again(cache, tmp_path, monkeypatch):
    source = tmp_path / "edited_net.py"
    code = ("import torch\n"
            "class Net(torch.nn.Module):\n"
            "    def __init__(self):\n"
            "        super().__init__()\n"
            "        self.conv = torch.nn.Conv2d(3, 3, 3, padding=1)\n"
            "    def forward(self, x):\n"
            "        return {}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    source.write_text(code.format("self.conv(x)"))
    before = backends.cache_key(importlib.import_module("edited_net").Net())
    source.write_text(code.format("self.conv(x) + x"))
    after = backends.cache_key(importlib.reload(importlib.import_module("edited_net")).Net())
    del sys.modules["edited_net"]
    assert before != after


def test_pytorch_stays_unless_onnx_runtime_is_clearly_faster(cache):
    net = load_bundled("photo").net
    assert measured_choice(net, Clock(1.0, 1.05))["backend"] == "torch"


def test_the_fastest_engine_is_taken_bfloat16_included_where_it_is_measured(cache, tmp_path,
                                                                            monkeypatch):
    net = load_bundled("photo").net
    # a Xeon with AVX512-BF16 and no AMX: bfloat16 ran slower than float32 (1.26 vs 1.73)
    assert measured_choice(net, Clock(1.73, 1.5, bfloat16=1.26))["backend"] == "torch"
    monkeypatch.setenv("N2N_CACHE_DIR", str(tmp_path / "other"))
    assert measured_choice(net, Clock(1.0, 1.5, bfloat16=2.9))["backend"] == "bfloat16"
    monkeypatch.setenv("N2N_CACHE_DIR", str(tmp_path / "third"))
    assert measured_choice(net, Clock(1.0, 1.6, bfloat16=1.2))["backend"] == "onnxruntime"


def test_bfloat16_is_native_only_with_the_instructions(monkeypatch):
    from n2n import device

    cpu = torch.device("cpu")
    monkeypatch.setattr(device.platform, "machine", lambda: "x86_64")
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: True)
    monkeypatch.setattr(torch.backends.mkldnn, "is_available", lambda: True)
    for avx512_bf16, amx, native in ((False, False, False), (True, False, True),
                                     (False, True, True)):
        monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda v=avx512_bf16: v)
        monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda v=amx: v)
        assert device.bfloat16_native(cpu) is native  # AVX-512 alone: emulated, not native
    monkeypatch.setattr(torch.ops.mkldnn, "_is_mkldnn_bf16_supported", lambda: False)
    assert not device.bfloat16_native(cpu)  # oneDNN held below AVX-512 (ONEDNN_MAX_CPU_ISA)


def test_bfloat16_is_refused_by_name_where_not_native(cache, monkeypatch):
    monkeypatch.setattr(backends, "bfloat16_native", lambda device: False)
    net = load_bundled("photo").net
    with pytest.raises(N2NError, match="backend 'bfloat16': cpu does not compute bfloat16 "
                                       "natively here"):
        choose_backend(net, torch.device("cpu"), "bfloat16")
    assert "bfloat16" not in backends.candidates(torch.device("cpu"))


def test_a_gpu_runs_pytorch_in_bfloat16_where_native_and_never_onnx_runtime(cache, monkeypatch):
    net, gpu = load_bundled("photo").net, torch.device("cuda")  # the device object only
    for native, engine in ((True, "bfloat16"), (False, "torch")):
        monkeypatch.setattr(backends, "bfloat16_native", lambda device, v=native: v)
        assert choose_backend(net, gpu) == engine
    with pytest.raises(N2NError, match="runs on the CPU, not on cuda"):
        choose_backend(net, gpu, "onnxruntime")
    assert not cache.exists()  # nothing measured


def test_a_bfloat16_engine_runs_its_passes_under_autocast(cache, monkeypatch, photo):
    """Where bfloat16 is native (else the same, as float32): the refining pass takes its own
    engine's precision."""
    seen = []
    real = torch.autocast

    def spy(device_type, dtype=None, **kwargs):
        seen.append(dtype)
        return real(device_type, dtype=dtype, **kwargs)

    monkeypatch.setattr(torch, "autocast", spy)
    monkeypatch.setattr(backends, "bfloat16_native", lambda device: True)
    monkeypatch.setenv("N2N_BACKEND", "bfloat16")
    denoiser = Denoiser(load_bundled("camera"), "cpu", pd=2, refine=load_bundled("photo"))
    assert denoiser.backend == "bfloat16"
    assert [p.bfloat16 for p in denoiser._passes] == [True, True]
    out = denoiser(photo[:40, :48])
    assert out.shape == (40, 48, 3) and np.isfinite(out).all()
    plain = Denoiser(load_bundled("camera"), "cpu", pd=2, refine=load_bundled("photo"),
                     backend="torch")
    assert [p.bfloat16 for p in plain._passes] == [False, False]
    # native here: within bfloat16's rounding of float32 (0.003 dB on photos)
    native = bfloat16_native(torch.device("cpu"))
    assert np.abs(plain(photo[:40, :48]) - out).mean() < (2.0 if native else 1e-3)
    assert (torch.bfloat16 in seen) == native  # autocast itself only where native


def test_other_architectures_are_measured_apart(cache):
    clock = Clock(1.0, 2.0)
    measured_choice(load_bundled("photo").net, clock)
    measured_choice(load_bundled("camera").net, clock)
    assert clock.calls == 2
    assert len(json.loads((cache / backends.CACHE_FILE).read_text())) == 2


def test_an_unreadable_cache_is_measured_again(cache):
    cache.mkdir()
    (cache / backends.CACHE_FILE).write_text("{not json")
    clock = Clock(1.0, 2.0)
    assert measured_choice(load_bundled("photo").net, clock)["backend"] == "onnxruntime"
    assert clock.calls == 1
    assert json.loads((cache / backends.CACHE_FILE).read_text())


def test_the_cache_folder_is_the_users_never_the_working_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("N2N_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.chdir(tmp_path)
    assert cache_dir() == tmp_path / "xdg" / "n2n"
    measured_choice(load_bundled("photo").net, Clock(1.0, 2.0))
    assert [p.name for p in tmp_path.iterdir()] == ["xdg"]
    assert (tmp_path / "xdg" / "n2n" / backends.CACHE_FILE).is_file()
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir() == tmp_path / "home" / ".cache" / "n2n"


def test_without_onnx_runtime_pytorch_runs_and_nothing_is_measured(cache, monkeypatch):
    monkeypatch.setattr(backends, "ort_version", lambda: None)
    monkeypatch.setattr(backends, "bfloat16_native", lambda device: False)  # else measured
    net = load_bundled("photo").net
    assert choose_backend(net, torch.device("cpu")) == "torch"
    assert not cache.exists()
    with pytest.raises(N2NError, match=r"n2n-lite\[fast\]"):
        choose_backend(net, torch.device("cpu"), "onnxruntime")


def test_the_engine_is_overridden_by_name_or_environment(cache, monkeypatch):
    net = load_bundled("photo").net
    assert choose_backend(net, torch.device("cpu"), "torch") == "torch"
    monkeypatch.setenv("N2N_BACKEND", "torch")
    assert choose_backend(net, torch.device("cpu")) == "torch"
    assert not cache.exists()
    monkeypatch.setenv("N2N_BACKEND", "tensorrt")
    with pytest.raises(N2NError, match="backend 'tensorrt' unknown"):
        choose_backend(net, torch.device("cpu"))


def test_the_plain_path_stays_on_pytorch(cache):
    denoiser = Denoiser(load_bundled("photo"), "cpu", fast=False)
    assert denoiser.backend == "torch"
    assert not cache.exists()


@pytest.fixture
def ort():
    pytest.importorskip("onnx")
    return pytest.importorskip("onnxruntime")


@pytest.mark.parametrize("options", [{"name": "photo"},
                                     {"name": "camera", "pd": 2, "refine": "photo"}])
def test_onnx_runtime_equals_pytorch(ort, photo, options):
    model = load_bundled(options["name"])
    refine = load_bundled(options["refine"]) if "refine" in options else None
    results = {}
    for engine in ("torch", "onnxruntime"):
        denoiser = Denoiser(model, "cpu", pd=options.get("pd"), refine=refine, backend=engine)
        assert denoiser.backend == engine
        results[engine] = denoiser(photo[:67, :75])
    assert np.abs(results["onnxruntime"] - results["torch"]).max() < 1e-3
    assert isinstance(model.net, torch.nn.Module) and not hasattr(model.net, "session")


def test_a_cached_choice_of_onnx_runtime_is_taken(ort, cache, photo):
    model = load_bundled("photo")
    measured_choice(model.net, Clock(0.5, 1.0))
    assert Denoiser(model, "cpu").backend == "onnxruntime"


def test_every_engine_here_is_measured(ort):
    speeds = backends.measure_backends(load_bundled("photo").net, side=64, repeats=1)
    expected = {"torch", "onnxruntime"} | ({"bfloat16"} if bfloat16_native(
        torch.device("cpu")) else set())
    assert set(speeds) == expected and min(speeds.values()) > 0
