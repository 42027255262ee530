"""The training loop: it learns, validates against clean only, logs and checkpoints."""

from __future__ import annotations

import json

import pytest
import torch

from n2n.data.noise import Gaussian, Impulse
from n2n.data.pairs import SyntheticPairs
from n2n.errors import N2NError
from n2n.models import ModelConfig, build_model
from n2n.models.checkpoint import load_model, load_record
from n2n.training.config import TrainConfig
from n2n.training.loop import Validation, fit, validate


@pytest.fixture
def setup(photo):
    torch.manual_seed(0)
    clean = torch.from_numpy(photo).permute(2, 0, 1)
    noise = Gaussian((25.0, 25.0))
    source = SyntheticPairs([clean], noise, patch_size=32, patches_per_epoch=640)
    val_clean = clean[None, :, :64, :64]
    val = Validation(noise(val_clean, torch.Generator().manual_seed(9)), val_clean)
    return source, val


def small_config(**kw):
    model = ModelConfig(width=8, residual=True, linear_output=True)
    return TrainConfig(**{"model": model, "lr": 3e-3, "batch_size": 32, "epochs": 2, **kw})


@pytest.mark.parametrize("target", ["noisy", "clean"])
def test_training_raises_validation_psnr(setup, target):
    source, val = setup
    config = small_config(target=target)
    model = build_model(config.model)
    model.set_normalization(source.stats_sample(torch.Generator().manual_seed(0)))
    before = validate(model, val)
    history = fit(model, source, config, val, progress=False)
    assert history[-1]["val_psnr"] > before + 1.0


def test_run_dir_gets_logs_plot_and_loadable_checkpoints(setup, tmp_path):
    source, val = setup
    fit(build_model(small_config().model), source, small_config(), val, tmp_path, progress=False)
    assert {p.name for p in tmp_path.iterdir()} == {"log.csv", "log.json", "curves.png",
                                                     "last.pt", "best.pt"}
    log = json.loads((tmp_path / "log.json").read_text())
    assert [row["epoch"] for row in log] == [1, 2] and "val_psnr" in log[0]
    record = load_record(tmp_path / "last.pt")
    assert record["epoch"] == 2 and record["train_config"]["lr"] == 3e-3
    assert {"optimizer", "scheduler", "history", "model_config"} <= record.keys()
    model = load_model(tmp_path / "best.pt")
    assert model.config.width == 8


@pytest.mark.parametrize("loss", ["l1", "l0"])
def test_l1_and_l0_losses_learn_impulse_noise(photo, loss):
    clean = torch.from_numpy(photo).permute(2, 0, 1)
    noise = Impulse((0.2, 0.2))
    source = SyntheticPairs([clean], noise, patch_size=32, patches_per_epoch=320)
    val_clean = clean[None, :, :64, :64]
    val = Validation(noise(val_clean, torch.Generator().manual_seed(9)), val_clean)
    config = small_config(loss=loss, epochs=4)
    model = build_model(config.model, seed=0)
    model.set_normalization(source.stats_sample(torch.Generator().manual_seed(0)))
    before = validate(model, val)
    history = fit(model, source, config, val, progress=False, normalize=False)
    assert history[-1]["val_psnr"] > before + 2.0
    if loss == "l1":  # the annealed L0 changes its exponent each epoch: not comparable
        assert history[-1]["train_loss"] < history[0]["train_loss"]


def test_time_budget_stops_training(setup):
    source, val = setup
    history = fit(build_model(small_config().model), source,
                  small_config(epochs=1000, minutes=0.05), progress=False)
    assert len(history) < 1000


def test_bad_configs_are_refused():
    with pytest.raises(N2NError, match="loss"):
        TrainConfig(loss="l3")
    with pytest.raises(N2NError, match="learning rate"):
        TrainConfig(lr=0)


def test_corrupt_or_foreign_checkpoint_is_refused(tmp_path):
    (tmp_path / "x.pt").write_bytes(b"garbage")
    with pytest.raises(N2NError, match="not a loadable"):
        load_model(tmp_path / "x.pt")
    torch.save({"weights": torch.zeros(1)}, tmp_path / "y.pt")
    with pytest.raises(N2NError, match="not an n2n-lite checkpoint"):
        load_model(tmp_path / "y.pt")


def test_checkpoint_from_a_newer_version_is_refused(tmp_path):
    from n2n.models.checkpoint import VERSION, model_record

    record = model_record(build_model(ModelConfig(width=4)))
    record["version"] = VERSION + 1
    torch.save(record, tmp_path / "new.pt")
    with pytest.raises(N2NError, match=f"new.pt: checkpoint version {VERSION + 1} is newer"):
        load_model(tmp_path / "new.pt")
