"""The speed-ups keep results: prefetching keeps order and errors, the fast path trains a model
as well as float32 eager and leaves it as it found it, fast inference keeps PSNR and tiling,
and the bundled quality model loads and denoises."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from n2n.bench.inference import main as inference_main
from n2n.bench.throughput import main as throughput_main
from n2n.data.noise import parse_noise
from n2n.data.pairs import SyntheticPairs, Validation
from n2n.device import autocast, bfloat16_native
from n2n.inference.denoiser import Denoiser
from n2n.models import ModelConfig, build_model
from n2n.models.bundled import BUNDLED_MODELS, load_bundled
from n2n.training.config import TrainConfig
from n2n.training.loop import fit
from n2n.training.speed import prefetch


def test_prefetch_keeps_order_and_stops_early():
    assert list(prefetch(iter(range(50)), depth=3)) == list(range(50))
    seen = []
    for item in prefetch(iter(range(10**6))):  # the producer must not outlive the loop
        seen.append(item)
        if item == 4:
            break
    assert seen == [0, 1, 2, 3, 4]


def test_prefetch_raises_the_producers_error_where_it_happened():
    def items():
        yield 1
        raise ValueError("bad batch 2")

    got = []
    with pytest.raises(ValueError, match="bad batch 2"):
        for item in prefetch(items()):
            got.append(item)
    assert got == [1]


def test_autocast_only_when_asked_and_native():
    cpu = torch.device("cpu")
    with autocast(cpu, enabled=False):
        assert not torch.is_autocast_enabled("cpu")
    with autocast(cpu, enabled=True):
        assert torch.is_autocast_enabled("cpu") == bfloat16_native(cpu)


def small_fit(photo: np.ndarray, fast: bool) -> tuple[torch.nn.Module, float, float]:
    image = torch.from_numpy(photo).permute(2, 0, 1)
    noise = parse_noise("gaussian:25")
    source = SyntheticPairs([image], noise, patch_size=32, patches_per_epoch=256)
    crops = image[None, :, :64, :64]
    val = Validation(noise(crops, torch.Generator().manual_seed(1)), crops)
    model = build_model(ModelConfig(width=8, residual=True, linear_output=True), seed=0)
    config = TrainConfig(model=model.config, batch_size=16, epochs=3, lr=3e-3, fast=fast)
    history = fit(model, source, config, val, progress=False)
    noisy_psnr = float(10 * torch.log10(255**2 / ((val.noisy - val.clean) ** 2).mean()))
    return model, history[-1]["val_psnr"], noisy_psnr


def test_fast_training_learns_like_float32_and_returns_a_plain_model(photo):
    fast_model, fast_psnr, noisy_psnr = small_fit(photo, fast=True)
    _, slow_psnr, _ = small_fit(photo, fast=False)
    assert fast_psnr > noisy_psnr + 3  # it learned to denoise
    assert abs(fast_psnr - slow_psnr) < 0.5  # same recipe, same steps, same data
    for param in fast_model.parameters():  # float32 and contiguous again, as before training
        assert param.dtype == torch.float32 and param.is_contiguous()


def test_throughput_bench_reports_ratios_against_float32(tmp_path):
    out = tmp_path / "throughput.json"
    throughput_main(["--models", "lite", "--devices", "cpu", "--threads", "1", "--steps", "1",
                     "--batch-size", "2", "--patch-size", "16", "--no-compile", "-o", str(out)])
    rows = json.loads(out.read_text())["rows"]
    assert rows[0]["variant"].startswith("float32 eager") and rows[0]["ratio"] == 1.0
    names = {row["variant"] for row in rows}
    assert {"n2n train, fast=False", "n2n train, fast=True"} <= names
    assert all("ratio" in row or "skipped" in row for row in rows)


def test_photo_plus_is_registered_loads_and_denoises(photo):
    assert BUNDLED_MODELS["photo-plus"].channels == 3
    model = load_bundled("photo-plus")
    assert model.config.arch == "n2n" and model.config.residual
    clean = photo[:64, :64]
    noisy = clean + np.random.default_rng(0).normal(0, 25, clean.shape).astype(np.float32)
    out = Denoiser(model)(noisy)
    assert out.shape == clean.shape
    assert np.mean((out - clean) ** 2) < 0.3 * np.mean((noisy - clean) ** 2)


@pytest.mark.parametrize("arch", ["lite", "n2n", "halfres", "zs"])
def test_output_layer_stays_float32_under_bfloat16_autocast(arch):
    net = build_model(ModelConfig(arch, channels=3, width=8, depth=2), seed=0).net
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        out = net(x)
    assert out.dtype == torch.float32  # the residual and the 0..255 scale stay in float32


@pytest.mark.parametrize("name", ["photo", "photo-plus"])
def test_fast_inference_keeps_quality(photo, name):
    clean = photo[:96, :80]
    noisy = np.clip(clean + np.random.default_rng(0).normal(0, 25, clean.shape), 0, 255)
    plain = Denoiser(load_bundled(name), fast=False)(noisy)
    fast = Denoiser(load_bundled(name))(noisy)
    assert fast.dtype == np.float32 and fast.shape == clean.shape
    mse = [np.mean((out - clean) ** 2) for out in (plain, fast)]
    assert abs(10 * np.log10(mse[0] / mse[1])) < 0.05  # dB
    tiled = Denoiser(load_bundled(name), tile=32)(noisy, tiled=True)
    np.testing.assert_allclose(tiled, fast, atol=1e-3)  # tiles agree with the whole image


def test_inference_bench_reports_ratios_against_float32(tmp_path):
    out = tmp_path / "inference.json"
    inference_main(["--models", "photo", "--threads", "1", "--repeats", "1", "--no-compile",
                    "--tiles", "512", "-o", str(out)])
    rows = json.loads(out.read_text())["rows"]
    assert rows[0]["variant"].startswith("float32 eager") and rows[0]["ratio"] == 1.0
    names = {row["variant"] for row in rows}
    assert {"Denoiser, fast=False", "Denoiser, fast=True", "ONNX Runtime (float32)",
            "Denoiser, fast, 1536x1024, tile 512"} <= names
    assert all("ratio" in row or "skipped" in row for row in rows)




def test_info_names_the_processor_path_and_times_each_treatment_here():
    from conftest import ok

    from n2n.bench.machine_speed import TREATMENTS, inference_path

    printed = ok("info", "--speed", "--size", "64", "--device", "cpu").splitlines()
    native = bfloat16_native(torch.device("cpu"))
    assert printed[0].startswith("processor: ") and "avx2" in printed[0]
    assert printed[1].startswith(f"inference: {inference_path('cpu')}")
    assert ("bfloat16 native here" in printed[1]) == native  # what the engines could be
    engines = [line for line in printed[2:] if line.startswith("  network ")]
    assert all("torch" in line and "onnxruntime" in line for line in engines)
    assert all(("bfloat16" in line) == native for line in engines)  # measured where native
    speeds = {line.split(": ")[0].strip(): line.split(": ")[1] for line in printed[2:]
              if line not in engines}
    assert list(speeds) == list(TREATMENTS)
    assert all(float(s.removesuffix(" MP/s")) > 0 for s in speeds.values())
