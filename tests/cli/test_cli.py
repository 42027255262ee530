"""The installed ``n2n`` command, run through a subprocess as a user would."""

from __future__ import annotations

import json

import numpy as np
import torch
from conftest import ok

from n2n.evaluation.metrics import batch_psnr
from n2n.inference.denoiser import Denoiser
from n2n.io.images import Image, read_image, write_image
from n2n.models.checkpoint import load_model


def test_denoise_folder_keeps_names_sizes_and_bit_depth(tmp_path, photo_folder, photo):
    write_image(photo_folder / "deep.png", Image(photo[:37, :51], 16))
    ok("denoise", photo_folder, "-o", tmp_path / "out")
    outputs = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert outputs == sorted(p.name for p in photo_folder.iterdir())
    deep = read_image(tmp_path / "out" / "deep.png")
    assert deep.bit_depth == 16 and deep.pixels.shape == (37, 51, 3)


def test_denoise_single_file_and_glob_with_tiling(tmp_path, photo_folder):
    ok("denoise", photo_folder / "img00.png", "-o", tmp_path / "one.tif", "--tile", "32",
       "--device", "cpu")
    assert read_image(tmp_path / "one.tif").pixels.shape == (80, 96, 3)
    ok("denoise", str(photo_folder / "img1*.png"), "-o", tmp_path / "globbed")
    assert len(list((tmp_path / "globbed").iterdir())) == 2


def test_eval_prints_a_table_and_writes_json(tmp_path, photo_folder, gray_photo):
    write_image(photo_folder / "gray.png", Image(gray_photo))
    out = ok("eval", photo_folder, "--noise", "gaussian:25", "--seed", "0", "--json",
             tmp_path / "scores.json")
    assert "mean" in out and "gain dB" in out
    record = json.loads((tmp_path / "scores.json").read_text())
    assert len(record["images"]) == 5
    assert record["mean"]["psnr"] > record["mean"]["noisy_psnr"] + 3


def test_make_pairs_then_train_on_them_then_eval_the_val_pkl(tmp_path, photo_folder):
    pairs = tmp_path / "pairs"
    ok("make-pairs", photo_folder, pairs, "--train-count", "300", "--val-count", "20",
       "--scales", "1,2")
    first, second = torch.load(pairs / "train_data.pkl", weights_only=True)
    noisy, clean = torch.load(pairs / "val_data.pkl", weights_only=True)
    assert first.shape == second.shape == (300, 3, 32, 32) and first.dtype == torch.uint8
    assert noisy.shape == clean.shape == (20, 3, 32, 32)
    out = ok("train", tmp_path / "run", "--ee559", pairs / "train_data.pkl", "--val-pkl",
             pairs / "val_data.pkl", "--epochs", "1", "--width", "8")
    assert "val PSNR" in out
    assert (tmp_path / "run" / "best.pt").exists() and (tmp_path / "run" / "curves.png").exists()
    out = ok("eval", pairs / "val_data.pkl", "--weights", tmp_path / "run" / "best.pt")
    assert "EE-559 val pairs" in out


def test_train_on_clean_folder_then_export_and_denoise_with_it(tmp_path, photo_folder):
    ok("train", tmp_path / "run", "--clean", photo_folder, "--noise", "gaussian:10-40",
       "--patch-size", "32", "--patches-per-epoch", "64", "--batch-size", "16", "--epochs", "2",
       "--width", "8", "--residual", "--linear-output")
    log = json.loads((tmp_path / "run" / "log.json").read_text())
    assert len(log) == 2 and "val_psnr" in log[-1]
    ok("export", tmp_path / "run" / "best.pt", tmp_path / "w.pt", "--half")
    full = load_model(tmp_path / "run" / "best.pt")
    half = load_model(tmp_path / "w.pt")
    noisy = read_image(photo_folder / "img00.png").pixels
    half_out, full_out = (Denoiser(m, fast=False)(noisy) for m in (half, full))  # the export's
    assert np.abs(half_out - full_out).max() < 1e-2 * 255  # rounding alone, not bfloat16's
    assert np.abs(half_out - full_out).mean() < 1e-2
    ok("denoise", photo_folder / "img00.png", "-o", tmp_path / "d.png", "--weights",
       tmp_path / "w.pt")
    assert np.abs(read_image(tmp_path / "d.png").pixels - Denoiser(full)(noisy)).max() <= 1


def test_neighbor2neighbor_trains_from_single_noisy_images(tmp_path, photo_folder):
    noisy_dir = tmp_path / "noisy"
    noisy_dir.mkdir()
    rng = np.random.default_rng(0)
    for path in sorted(photo_folder.iterdir()):
        pixels = read_image(path).pixels
        write_image(noisy_dir / path.name, Image(np.clip(pixels + rng.normal(0, 25, pixels.shape),
                                                         0, 255).astype(np.float32)))
    ok("train", tmp_path / "run", "--mode", "ne2ne", "--noisy", noisy_dir, "--val", photo_folder,
       "--patch-size", "32", "--patches-per-epoch", "64", "--batch-size", "16", "--epochs", "2",
       "--width", "8", "--residual", "--linear-output")
    log = json.loads((tmp_path / "run" / "log.json").read_text())
    assert len(log) == 2 and "val_psnr" in log[-1]
    ok("denoise", noisy_dir, "-o", tmp_path / "out", "--weights", tmp_path / "run" / "best.pt")
    assert len(list((tmp_path / "out").iterdir())) == 4


def test_zero_shot_denoise_needs_no_weights(tmp_path, photo):
    noisy = np.clip(photo + np.random.default_rng(1).normal(0, 25, photo.shape), 0, 255)
    write_image(tmp_path / "noisy.png", Image(noisy.astype(np.float32)))
    ok("denoise", tmp_path / "noisy.png", "-o", tmp_path / "clean.png", "--zero-shot",
       "--iterations", "100", "--crop", "48")
    assert read_image(tmp_path / "clean.png").pixels.shape == photo.shape


def test_no_fast_denoises_in_plain_float32_to_the_same_result(tmp_path, photo_folder):
    ok("denoise", photo_folder / "img00.png", "-o", tmp_path / "fast.png")
    ok("denoise", photo_folder / "img00.png", "-o", tmp_path / "plain.png", "--no-fast")
    fast, plain = (read_image(tmp_path / f"{n}.png").pixels for n in ("fast", "plain"))
    assert fast.shape == plain.shape
    assert np.abs(fast - plain).mean() < 0.5  # 8-bit outputs: mostly equal, a few levels apart


def test_demo_writes_its_pngs_and_prints_the_gain(tmp_path):
    out = ok("demo", "-o", tmp_path / "demo")
    assert "gain" in out
    assert {p.name for p in (tmp_path / "demo").iterdir()} == {
        "noisy.png", "denoised.png", "clean.png", "side_by_side.png"}
    gain = float(out.split("gain ")[1].split(" dB")[0])
    assert gain > 5


def test_scratch_train_writes_plain_weights_and_a_log(tmp_path, photo_folder):
    pairs = tmp_path / "pairs"
    ok("make-pairs", photo_folder, pairs, "--train-count", "200", "--val-count", "10")
    out = ok("scratch-train", pairs / "train_data.pkl", tmp_path / "s.n2nw", "--val-pkl",
             pairs / "val_data.pkl", "--epochs", "3")
    assert "val_psnr" in out
    assert (tmp_path / "s.n2nw").read_bytes()[:1] == b"{"
    log = json.loads((tmp_path / "s.json").read_text())
    noisy, clean = torch.load(pairs / "val_data.pkl", weights_only=True)
    assert [row["epoch"] for row in log] == [1, 2, 3]
    assert log[-1]["val_psnr"] > np.mean(batch_psnr(noisy.float(), clean.float()))


def test_train_streams_a_folder_with_dataloader_workers(tmp_path, photo_folder):
    ok("train", tmp_path / "run", "--clean", photo_folder, "--workers", "2", "--patch-size", "32",
       "--patches-per-epoch", "320", "--batch-size", "16", "--epochs", "2", "--width", "8",
       "--residual", "--linear-output", "--lr", "3e-3")
    log = json.loads((tmp_path / "run" / "log.json").read_text())
    assert len(log) == 2 and log[-1]["val_psnr"] > 21  # the gaussian-25 input is about 20.2
