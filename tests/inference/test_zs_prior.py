"""The zero-shot prior: its pretraining, its bundled files, and fits that start from it."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import SCRIPTS, load_script

from n2n.cli import main as cli_main
from n2n.data.noise import parse_noise
from n2n.errors import N2NError
from n2n.evaluation.metrics import psnr
from n2n.inference.zeroshot import ZeroShotDenoiser
from n2n.models.bundled import ZS_PRIORS, load_zs_prior
from n2n.models.checkpoint import load_record
from n2n.training.objectives import zero_shot_loss

zs_prior = load_script("zs_prior.py")
NoisyWindows, pretrain_prior, main = zs_prior.NoisyWindows, zs_prior.pretrain_prior, zs_prior.main


def _tensor(pixels: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(pixels)).permute(2, 0, 1)


def _noisy(clean: np.ndarray, sigma: float = 25, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(clean + rng.normal(0, sigma, clean.shape), 0, 255).astype(np.float32)


def test_windows_come_from_both_sources_clipped(photo):
    capture = _tensor(np.full((40, 40, 3), 300.0, np.float32))  # beyond 255: must be clipped
    windows = NoisyWindows([capture], [_tensor(photo)], [parse_noise("gaussian:25")], 16,
                           torch.Generator().manual_seed(0))
    drawn = [windows.window() for _ in range(40)]
    assert all(w.shape == (3, 16, 16) and 0 <= w.min() and w.max() <= 255 for w in drawn)
    from_capture = sum(bool((w == 255).all()) for w in drawn)
    assert 5 < from_capture < 35  # about half from each source


def test_windows_refuse_images_smaller_than_a_window_and_no_source(photo):
    with pytest.raises(N2NError, match="smaller than the 128x128 window"):
        NoisyWindows([], [_tensor(photo)], [parse_noise("gaussian:25")], 128, torch.Generator())
    with pytest.raises(N2NError, match="needs noisy images, or clean images and a noise"):
        NoisyWindows([], [_tensor(photo)], [], 16, torch.Generator())


def test_pretraining_lowers_the_zero_shot_loss_on_unseen_windows(photo):
    noise = [parse_noise("gaussian:10-40")]
    train = NoisyWindows([], [_tensor(photo[:, :40])], noise, 32, torch.Generator().manual_seed(0))
    held_out = NoisyWindows([], [_tensor(photo[:, 40:])], noise, 32,
                            torch.Generator().manual_seed(1))
    batch = torch.stack([held_out.window() for _ in range(16)])
    z = (batch - batch.mean((2, 3), keepdim=True)) / batch.std((2, 3), keepdim=True)

    def loss(model) -> float:
        with torch.no_grad():
            return zero_shot_loss(lambda v: model.net(v) + v, z,
                                  lambda a, b: ((a - b) ** 2).mean()).item()

    untrained = pretrain_prior(train, 3, steps=1, lr=1e-9, progress=False)
    trained = pretrain_prior(train, 3, steps=150, progress=False)
    assert loss(trained) < 0.8 * loss(untrained)


def test_main_writes_a_prior_with_its_recipe_and_never_overwrites(tmp_path, photo_folder,
                                                                 capsys):
    out = tmp_path / "prior.pt"
    main([str(out), "--channels", "1", "--clean", str(photo_folder), "--steps", "3",
          "--crop", "32"])
    record = load_record(out)
    assert record["model_config"]["arch"] == "zs" and record["model_config"]["channels"] == 1
    assert record["zs_prior"]["steps"] == 3 and record["zs_prior"]["clean"] == [str(photo_folder)]
    before = out.read_bytes()
    with pytest.raises(SystemExit):
        main([str(out), "--channels", "1", "--clean", str(photo_folder)])
    assert "exists" in capsys.readouterr().err and out.read_bytes() == before
    with pytest.raises(SystemExit):
        main([str(tmp_path / "none.pt"), "--channels", "3", "--clean", str(photo_folder)])
    assert "smaller than the 128x128 window" in capsys.readouterr().err
    assert not (tmp_path / "none.pt").exists()


def test_an_interrupted_pretraining_writes_nothing(tmp_path, photo_folder):
    out = tmp_path / "prior.pt"
    child = subprocess.Popen([sys.executable, str(SCRIPTS / "zs_prior.py"), str(out),
                              "--channels", "3", "--clean", str(photo_folder), "--crop", "32",
                              "--steps", "1000000"], stderr=subprocess.PIPE, text=True,
                             # Ctrl-C's SIGINT even under a launcher that ignores it
                             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    seen = ""
    while "zero-shot prior" not in seen:  # its progress bar: in the steps, past start-up
        char = child.stderr.read(1)
        assert char, f"ended before training: {seen}"
        seen += char
    child.send_signal(signal.SIGINT)
    _, err = child.communicate(timeout=60)
    assert child.returncode == 130 and "not written" in err
    assert list(tmp_path.iterdir()) == [photo_folder]  # no output, no temporary


def test_bundled_priors_exist_for_gray_and_rgb_only():
    assert set(ZS_PRIORS) == {1, 3}
    for channels in (1, 3):
        prior = load_zs_prior(channels)
        assert prior.config.arch == "zs" and prior.config.channels == channels
    assert load_zs_prior(2) is None


@pytest.mark.parametrize("channels", [3, 1])
def test_a_fit_from_the_prior_beats_one_from_random_weights_at_equal_steps(photo, channels):
    clean = photo if channels == 3 else photo.mean(2, keepdims=True)
    noisy = _noisy(clean)
    warm = ZeroShotDenoiser(iterations=30, progress=False)(noisy)
    cold = ZeroShotDenoiser(iterations=30, lr=3e-4, prior=False, progress=False)(noisy)
    assert psnr(warm, clean) > psnr(cold, clean) + 1.0
    assert psnr(warm, clean) > psnr(noisy, clean) + 3.0


def test_channel_counts_without_a_prior_start_from_random_weights(photo):
    clean = photo[..., :2]
    noisy = _noisy(clean)
    out = ZeroShotDenoiser(iterations=100, progress=False)(noisy)
    assert out.shape == noisy.shape and psnr(out, clean) > psnr(noisy, clean) + 2.0


def test_pixel_shuffled_fits_start_from_random_weights(photo):
    noisy = _noisy(photo[:48, :48])
    default = ZeroShotDenoiser(iterations=5, pd=2, progress=False)(noisy)
    assert np.array_equal(default, ZeroShotDenoiser(iterations=5, pd=2, prior=False,
                                                    progress=False)(noisy))


def test_learning_rate_must_be_positive():
    for lr in (0.0, -1e-3):
        with pytest.raises(N2NError, match=f"zero-shot lr {lr} must be > 0"):
            ZeroShotDenoiser(lr=lr)


def test_another_width_needs_the_prior_off():
    with pytest.raises(N2NError, match="zero-shot width 32: the bundled prior is 48 wide"):
        ZeroShotDenoiser(width=32)
    ZeroShotDenoiser(width=32, prior=False)


def test_bench_records_whether_zero_shot_started_from_the_prior(tmp_path):
    out = tmp_path / "bench"
    assert cli_main(["bench", "--quick", "--methods", "noisy", "zero-shot",
                     "--zero-shot-no-prior", "-o", str(out)]) == 0
    record = json.loads((out / "results.json").read_text())
    assert record["config"]["zero_shot_prior"] is False


def test_cli_no_prior_fits_from_random_weights(tmp_path, photo):
    from n2n.io.images import Image, read_image, write_image

    clean = photo[:48, :48]
    write_image(tmp_path / "in.png", Image(_noisy(clean)))
    outputs = {}
    for name, extra in (("warm", []), ("cold", ["--no-prior"])):
        assert cli_main(["denoise", str(tmp_path / "in.png"), "-o", str(tmp_path / f"{name}.png"),
                         "--zero-shot", "--iterations", "10"] + extra) == 0
        outputs[name] = read_image(tmp_path / f"{name}.png").pixels
    assert psnr(outputs["warm"], clean) > psnr(outputs["cold"], clean) + 1.0
