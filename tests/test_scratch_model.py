"""The scratch EE-559 Model: same contract as the Lite one, weights stored as plain data."""

from __future__ import annotations

import pytest
import torch

from n2n.scratch import Model, ScratchError
from n2n.scratch.model import PRETRAINED
from n2n.scratch.serialize import load_weights


def test_pretrained_weights_are_plain_data_not_a_pickle():
    assert PRETRAINED.read_bytes()[:1] == b"{"  # a JSON header line


def test_course_network_trains_and_predicts(ee559_like):
    first, second, val_noisy, _ = ee559_like
    torch.manual_seed(0)  # the Model draws its initial weights from torch's global generator
    model = Model("course")
    losses = model.train(first[:200], second[:200], 2)
    assert len(losses) == 2 and losses[1] < losses[0]
    assert model.predict(val_noisy[:3, :, :9, :13]).shape == (3, 3, 9, 13)


def test_save_and_load_round_trip(tmp_path):
    model = Model()
    model.save(tmp_path / "w.n2nw", {"note": "test"})
    tensors, meta = load_weights(tmp_path / "w.n2nw", torch.empty(0))
    assert meta == {"note": "test", "network": "unet"}
    other = Model()
    other.load_pretrained_model(tmp_path / "w.n2nw")
    x = torch.rand(1, 3, 16, 16) * 255
    torch.testing.assert_close(other.predict(x), model.predict(x))


def test_bad_weights_files_get_clear_errors(tmp_path):
    (tmp_path / "bad.n2nw").write_bytes(b"\x80\x04garbage")
    with pytest.raises(ScratchError, match="bad.n2nw"):
        Model().load_pretrained_model(tmp_path / "bad.n2nw")
    Model("course").save(tmp_path / "course.n2nw")
    with pytest.raises(ScratchError, match="for network 'course'"):
        Model().load_pretrained_model(tmp_path / "course.n2nw")
