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


def test_augmentation_draws_one_transform_per_image_the_same_for_its_target():
    from n2n.scratch.model import random_dihedrals

    torch.manual_seed(0)
    image = torch.arange(16.0).view(1, 1, 4, 4).expand(64, 3, 4, 4)
    x, y = random_dihedrals(image, image + 100)
    assert torch.equal(x + 100, y)  # input and target transformed alike
    assert len({tuple(t.flatten().tolist()) for t in x[:, 0]}) == 8  # all 8 within one batch


def test_plateau_halves_the_rate_as_reduce_lr_on_plateau_does():
    from n2n.scratch import Adam
    from n2n.scratch.optim import Plateau

    weights = torch.zeros(3)
    ours = Adam([(weights, torch.zeros(3))], lr=1.0)
    reference = torch.optim.Adam([torch.zeros(3, requires_grad=True)], lr=1.0)
    plateau = Plateau(ours)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(reference, "max", 0.5, 2)
    for metric in [1.0, 2.0, 2.0, 1.5, 2.0, 1.0, 3.0, 3.0, 3.0, 3.0, 2.9, 2.0]:
        plateau.step(metric)
        scheduler.step(metric)
        assert ours.lr == reference.param_groups[0]["lr"]
    assert ours.lr == 0.25  # halved twice


def test_training_logs_validation_psnr_of_the_model_it_leaves(ee559_like):
    first, second, val_noisy, val_clean = ee559_like
    torch.manual_seed(0)
    model = Model("course")
    rows = []
    model.train(first[:100], second[:100], 2, log=lambda *row: rows.append(row),
                val=(val_noisy[:20], val_clean[:20]))
    from n2n.scratch.model import psnr

    assert [row[0] for row in rows] == [1, 2]
    assert rows[-1][3] == psnr(model.predict(val_noisy[:20]), val_clean[:20])
