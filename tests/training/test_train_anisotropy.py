"""A 3-D U-Net's Z pooling taken from the training stack's physical sizes by the one
``train()`` call: derived from an ImageJ stack's spacing and saved in the checkpoint, kept on
resume, 1 (with the reason printed) where the file does not say its sizes, and overridden by
``--z-pool``. Tiny networks, one short epoch each."""

from __future__ import annotations

from pathlib import Path

import pytest
import tifffile
from conftest import generated_volume

from n2n.cli import main
from n2n.errors import N2NError
from n2n.models import ModelConfig, build_model
from n2n.models.checkpoint import load_record
from n2n.training import DataConfig, TrainConfig, train

UNET3D = {"arch": "unet3d", "width": 4, "residual": True}
CLI_RUN = ["--arch", "unet3d", "--width", "4", "--depth", "2", "--patch-depth", "4",
           "--patch-size", "16", "--patches-per-epoch", "2", "--batch-size", "2",
           "--epochs", "1", "--lr", "1e-4", "--threads", "1"]


def stack(folder: Path, spacing: float | None) -> Path:
    """An ImageJ ZYX stack of 10 planes, 1 um pixels and a Z step of ``spacing`` um (None:
    no physical sizes at all)."""
    _, noisy = generated_volume(planes=10, size=32)
    path = folder / ("stack.tif" if spacing is None else f"stack_{spacing}.tif")
    if spacing is None:
        tifffile.imwrite(path, noisy, imagej=True, metadata={"axes": "ZYX"})
    else:
        tifffile.imwrite(path, noisy, imagej=True, resolution=(1.0, 1.0),
                         metadata={"axes": "ZYX", "spacing": spacing, "unit": "um"})
    return path


def saved_z_pool(run: Path, name: str = "best.pt") -> int:
    return load_record(run / name)["train_config"]["model"]["z_pool"]


def test_z_pool_from_the_stack_spacing_is_saved_and_kept_on_resume(tmp_path):
    data = DataConfig(source="volume", paths=stack(tmp_path, 9.0), patch_size=16,
                      patches_per_epoch=2, patch_depth=4)
    config = TrainConfig(data=data, model={**UNET3D, "depth": 3}, batch_size=2, epochs=1,
                         lr=1e-4, threads=1)
    assert config.model.z_pool is None  # not given: from the data
    result = train(config, tmp_path / "run", device="cpu", progress=False)
    # Z step 9x the pixel: XY at 1, 2 and 4 um stays under 9/2 um, so no level pools Z
    assert result.model.config.z_pool == 0 and saved_z_pool(tmp_path / "run") == 0
    assert [z for z, _ in result.model.net.factors] == [1, 1, 1]
    again = TrainConfig(data=data, model={**UNET3D, "depth": 3}, batch_size=2, epochs=2,
                        lr=1e-4, threads=1)  # z_pool still not given: the run's own
    more = train(again, tmp_path / "run", resume=True, device="cpu", progress=False)
    assert len(more.history) == 2 and saved_z_pool(tmp_path / "run", "last.pt") == 0
    other = TrainConfig(data=data, model={**UNET3D, "depth": 3, "z_pool": 3}, batch_size=2,
                        epochs=3, lr=1e-4, threads=1)
    with pytest.raises(N2NError, match="z_pool"):  # a different one given is refused
        train(other, tmp_path / "run", resume=True, device="cpu", progress=False)


def test_cli_says_the_choice_falls_back_to_1_and_z_pool_overrides(tmp_path, capsys):
    bare = stack(tmp_path, None)
    assert main(["train", str(tmp_path / "bare"), "--volume", str(bare), *CLI_RUN]) == 0
    out = capsys.readouterr().out
    assert "--z-pool 1: the default, as" in out and "does not say its Z step" in out
    assert saved_z_pool(tmp_path / "bare") == 1
    spaced = stack(tmp_path, 3.0)
    assert main(["train", str(tmp_path / "given"), "--volume", str(spaced), *CLI_RUN,
                 "--z-pool", "0"]) == 0
    assert "--z-pool 0" not in capsys.readouterr().out  # given, not derived: nothing to say
    assert saved_z_pool(tmp_path / "given") == 0


def test_cli_auto_derives_and_explains(tmp_path, capsys):
    spaced = stack(tmp_path, 1.0)  # isotropic: the rule would pool Z at both levels
    assert main(["train", str(tmp_path / "run"), "--volume", str(spaced), *CLI_RUN,
                 "--z-pool", "auto"]) == 0
    out = capsys.readouterr().out
    assert "--z-pool 1: Z step 1 um is 1x the XY pixel 1 um" in out
    assert "the rule's 2 is not taken by default" in out
    assert saved_z_pool(tmp_path / "run") == 1


def test_an_unsettled_z_pool_cannot_build_a_network_by_hand():
    with pytest.raises(N2NError, match="z_pool"):
        build_model(ModelConfig(arch="unet3d", channels=1, width=4, depth=2, z_pool=None))
    assert ModelConfig(arch="unet3d").z_pool == 1  # as before, and for old checkpoints
