"""The EE-559 Model contract, shared by n2n.lite.Model and n2n.scratch.Model, exactly as the
course's test harness uses it."""

from __future__ import annotations

import os

import pytest
import torch

import n2n.lite
import n2n.scratch
from n2n.evaluation.metrics import batch_psnr

MODELS = [pytest.param(n2n.lite.Model, id="lite"), pytest.param(n2n.scratch.Model, id="scratch")]


def mean_psnr(output, clean):
    return sum(batch_psnr(output, clean)) / len(output)


@pytest.mark.parametrize("Model", MODELS)
def test_model_takes_no_argument_and_predicts_0_255_same_shape(Model):
    model = Model()
    for shape in [(2, 3, 32, 32), (1, 3, 17, 45), (3, 3, 1, 1)]:
        x = torch.randint(0, 256, shape, dtype=torch.uint8)
        out = model.predict(x)
        assert out.shape == x.shape and out.device == x.device
        assert out.min() >= 0 and out.max() <= 255


@pytest.mark.parametrize("Model", MODELS)
def test_pretrained_model_denoises(Model, ee559_like):
    _, _, val_noisy, val_clean = ee559_like
    model = Model()
    model.load_pretrained_model()
    out = model.predict(val_noisy)
    assert mean_psnr(out, val_clean) > mean_psnr(val_noisy.float(), val_clean) + 4


@pytest.mark.parametrize("Model", MODELS)
def test_one_epoch_of_train_raises_validation_psnr(Model, ee559_like, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    torch.manual_seed(0)
    first, second, val_noisy, val_clean = ee559_like
    model = Model()
    before = mean_psnr(model.predict(val_noisy), val_clean)
    model.train(first, second, 1)
    assert mean_psnr(model.predict(val_noisy), val_clean) > before + 1
    assert os.listdir(tmp_path) == []  # train writes nothing into the current directory


@pytest.mark.parametrize("Model", MODELS)
def test_fine_tuning_pretrained_weights_keeps_them_working(Model, ee559_like):
    first, second, val_noisy, val_clean = ee559_like
    model = Model()
    model.load_pretrained_model()
    model.train(first[:100].float(), second[:100].float(), 1)
    assert mean_psnr(model.predict(val_noisy.float()), val_clean) > \
        mean_psnr(val_noisy.float(), val_clean) + 3


@pytest.mark.parametrize("Model", MODELS)
@pytest.mark.parametrize("bad, message", [
    (torch.zeros(3, 32, 32), "x H x W"),
    (torch.zeros(1, 1, 32, 32), "3"),
    (torch.full((1, 3, 8, 8), float("nan")), "NaN"),
    (torch.full((1, 3, 8, 8), 300.0), "0..255"),
])
def test_bad_predict_input_is_a_clear_error(Model, bad, message):
    with pytest.raises(ValueError, match=message):
        Model().predict(bad)


@pytest.mark.parametrize("Model", MODELS)
def test_bad_train_input_is_a_clear_error(Model):
    model = Model()
    with pytest.raises(ValueError, match="same shape"):
        model.train(torch.zeros(4, 3, 8, 8), torch.zeros(3, 3, 8, 8), 1)
    with pytest.raises(ValueError, match="num_epochs"):
        model.train(torch.zeros(4, 3, 8, 8), torch.zeros(4, 3, 8, 8), 0)
