"""The scratch EE-559 Model: same contract as the Lite one, weights stored as plain data."""

from __future__ import annotations

import os

import pytest
import torch

from n2n.metrics import batch_psnr
from n2n.scratch import Model, ScratchError
from n2n.scratch.model import PRETRAINED
from n2n.scratch.serialize import load_weights


@pytest.fixture(scope="module")
def pairs(ee559_like):
    first, second, val_noisy, val_clean = ee559_like
    return first[:800], second[:800], val_noisy[:80], val_clean[:80]


def mean_psnr(out, clean):
    return sum(batch_psnr(out, clean)) / len(out)


def test_predict_any_size_same_shape_0_255():
    model = Model()
    for shape in [(2, 3, 32, 32), (1, 3, 13, 47), (1, 3, 1, 1)]:
        x = torch.randint(0, 256, shape, dtype=torch.uint8)
        out = model.predict(x)
        assert out.shape == x.shape and 0 <= out.min() and out.max() <= 255


def test_one_epoch_raises_psnr_and_writes_nothing(pairs, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    torch.manual_seed(0)
    first, second, val_noisy, val_clean = pairs
    model = Model()
    before = mean_psnr(model.predict(val_noisy), val_clean)
    model.train(first, second, 1)
    assert mean_psnr(model.predict(val_noisy), val_clean) > before + 1
    assert os.listdir(tmp_path) == []


def test_pretrained_weights_load_without_pickle_and_denoise(pairs):
    _, _, val_noisy, val_clean = pairs
    assert PRETRAINED.read_bytes()[:1] == b"{"  # a JSON header, not a pickle
    model = Model()
    model.load_pretrained_model()
    assert mean_psnr(model.predict(val_noisy), val_clean) > \
        mean_psnr(val_noisy.float(), val_clean) + 4


def test_save_and_load_round_trip(tmp_path):
    model = Model()
    model.save(tmp_path / "w.n2nw", {"note": "test"})
    tensors, meta = load_weights(tmp_path / "w.n2nw", torch.empty(0))
    assert meta == {"note": "test"}
    other = Model()
    other.load_pretrained_model(tmp_path / "w.n2nw")
    x = torch.rand(1, 3, 16, 16) * 255
    torch.testing.assert_close(other.predict(x), model.predict(x))


def test_bad_input_and_bad_files_get_clear_errors(tmp_path):
    with pytest.raises(ScratchError, match="N x 3 x H x W"):
        Model().predict(torch.zeros(3, 8, 8))
    with pytest.raises(ScratchError, match="same shape"):
        Model().train(torch.zeros(4, 3, 8, 8), torch.zeros(2, 3, 8, 8), 1)
    (tmp_path / "bad.n2nw").write_bytes(b"\x80\x04garbage")
    with pytest.raises(ScratchError, match="bad.n2nw"):
        Model().load_pretrained_model(tmp_path / "bad.n2nw")
