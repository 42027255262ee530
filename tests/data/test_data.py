"""Pair sources, augmentation and the EE-559 files."""

from __future__ import annotations

import pickle

import pytest
import torch

from n2n.data.augment import augment, dihedral
from n2n.data.ee559 import TensorPairs, load_ee559_pairs, make_ee559_pairs
from n2n.data.noise import Gaussian
from n2n.data.pairs import Batch, CapturePairs, SyntheticPairs
from n2n.errors import N2NError


def test_eight_dihedral_transforms_are_distinct():
    x = torch.arange(16.0).reshape(1, 4, 4)
    outs = {tuple(dihedral(x, k).flatten().tolist()) for k in range(8)}
    assert len(outs) == 8


def test_augment_applies_the_same_transform_to_input_target_and_clean():
    x = torch.rand(64, 3, 8, 8)
    batch = augment(Batch(x, x + 1, x + 2), torch.Generator().manual_seed(0))
    assert torch.equal(batch.target, batch.input + 1) and torch.equal(batch.clean, batch.input + 2)
    assert not torch.equal(batch.input, x)  # something was transformed


def test_synthetic_pairs_draw_independent_noise_around_the_clean_patch():
    images = [torch.rand(3, 50, 60) * 255 for _ in range(3)]
    source = SyntheticPairs(images, Gaussian((20.0, 20.0)), patch_size=16, patches_per_epoch=40,
                            scales=(1, 2))
    batches = list(source.batches(16, torch.Generator().manual_seed(0)))
    assert [len(b.input) for b in batches] == [16, 16, 8]
    b = batches[0]
    assert b.input.shape == (16, 3, 16, 16)
    a_noise, b_noise = b.input - b.clean, b.target - b.clean
    correlation = float((a_noise * b_noise).mean() / (a_noise.std() * b_noise.std()))
    assert abs(correlation) < 0.05
    assert float(a_noise.std()) == pytest.approx(20.0, rel=0.1)


def test_patch_larger_than_every_image_is_a_clear_error():
    with pytest.raises(N2NError, match="patch_size 64"):
        SyntheticPairs([torch.zeros(3, 20, 30)], Gaussian((1.0, 1.0)), patch_size=64)


def test_capture_pairs_crop_the_same_window_of_two_captures():
    a = torch.arange(3 * 40 * 40.0).reshape(3, 40, 40)
    source = CapturePairs([torch.stack([a, a + 1000])], patch_size=8, patches_per_epoch=10)
    batch = next(source.batches(10, torch.Generator().manual_seed(0)))
    assert torch.equal((batch.target - batch.input).abs(), torch.full_like(a[:, :8, :8], 1000)
                       .expand(10, -1, -1, -1)) and batch.clean is None


def test_tensor_pairs_check_shapes():
    with pytest.raises(N2NError, match="same shape"):
        TensorPairs(torch.zeros(4, 3, 8, 8), torch.zeros(5, 3, 8, 8))
    with pytest.raises(N2NError, match="N x C x H x W"):
        TensorPairs(torch.zeros(3, 8, 8), torch.zeros(3, 8, 8))


def test_make_and_load_ee559_pairs(tmp_path):
    images = [torch.rand(3, 140, 150) * 255]
    first, second, clean = make_ee559_pairs(images, 20, Gaussian((25.0, 25.0)), (1, 4),
                                            torch.Generator().manual_seed(0))
    assert first.shape == (20, 3, 32, 32) and first.dtype == torch.uint8
    assert not torch.equal(first, second)
    torch.save((first, second), tmp_path / "train_data.pkl")
    a, b = load_ee559_pairs(tmp_path / "train_data.pkl")
    assert torch.equal(a, first) and torch.equal(b, second)


class Exploit:
    def __reduce__(self):
        return (exec, ("open('PWNED', 'w').write('x')",))


@pytest.mark.parametrize("content, message", [
    ((torch.zeros(4, 3, 8, 8), torch.zeros(5, 3, 8, 8)), "differ in shape"),
    ((torch.zeros(4, 8, 8), torch.zeros(4, 8, 8)), "N x C x H x W"),
    ((torch.full((2, 3, 4, 4), 300.0), torch.zeros(2, 3, 4, 4)), "0..255"),
    (torch.zeros(3), "pair of tensors"),
])
def test_bad_ee559_files_are_refused(tmp_path, content, message):
    torch.save(content, tmp_path / "bad.pkl")
    with pytest.raises(N2NError, match=message):
        load_ee559_pairs(tmp_path / "bad.pkl")


def test_pickle_that_runs_code_is_refused_and_never_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "evil.pkl").write_bytes(pickle.dumps(Exploit()))
    with pytest.raises(N2NError, match="evil.pkl"):
        load_ee559_pairs(tmp_path / "evil.pkl")
    assert not (tmp_path / "PWNED").exists()


def test_gray_fraction_makes_gray_patches_with_channel_identical_noise():
    images = [torch.rand(3, 40, 40) * 255]
    source = SyntheticPairs(images, Gaussian((20.0, 20.0)), patch_size=16, patches_per_epoch=64,
                            gray_fraction=0.5)
    batch = next(source.batches(64, torch.Generator().manual_seed(0)))
    gray = (batch.clean[:, 0] == batch.clean[:, 1]).flatten(1).all(1)
    assert 16 < int(gray.sum()) < 48
    for x in (batch.input, batch.target):
        assert torch.equal(x[gray][:, 0], x[gray][:, 2])  # one noise for all channels
        assert not torch.equal(x[~gray][:, 0] - batch.clean[~gray][:, 0],
                               x[~gray][:, 2] - batch.clean[~gray][:, 2])
    assert not torch.equal(batch.input[gray], batch.target[gray])


def test_lazy_folder_reads_in_workers_and_does_not_depend_on_their_number(photo_folder):
    from n2n.data.folders import LazyFolder
    from n2n.io.images import list_images

    paths = list_images([photo_folder])
    made = []
    for workers in (0, 2):
        source = LazyFolder(paths, Gaussian((25.0, 25.0)), patch_size=32, patches_per_epoch=40,
                            workers=workers, patches_per_image=4)
        made.append(list(source.batches(16, torch.Generator().manual_seed(0))))
    assert [b.input.shape for b in made[0]] == [(16, 3, 32, 32)] * 2 + [(8, 3, 32, 32)]
    for a, b in zip(*made, strict=True):
        assert torch.equal(a.input, b.input) and torch.equal(a.clean, b.clean)
    assert not torch.equal(made[0][0].input, made[0][0].target)  # two independent noise draws


def test_lazy_folder_worker_errors_come_back_as_one_line(tmp_path, photo):
    from n2n.data.folders import LazyFolder
    from n2n.io.images import Image, write_image

    write_image(tmp_path / "small.png", Image(photo[:20, :20]))
    source = LazyFolder([tmp_path / "small.png"], Gaussian((25.0, 25.0)), patch_size=32,
                        patches_per_epoch=8, workers=1)
    with pytest.raises(N2NError, match="^patch_size 32 is larger than every image") as err:
        list(source.batches(8, torch.Generator().manual_seed(0)))
    assert "\n" not in str(err.value)
