"""``n2n diagnose --residual`` on TIFF stacks: one plane checked (the middle one, or --plane),
neighbouring planes' residuals compared over the stack, both files on the noisy stack's scale.
Generated stacks only."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tifffile
from scipy import ndimage

from n2n.cli import main
from n2n.errors import N2NError
from n2n.evaluation.diagnose import check_stack_residual


def stacks(tmp_path, smear: bool = False, dtype=np.float32):
    """A float ZYX stack of smooth structure with white noise, and a 'denoised' one that is the
    clean stack (or, with ``smear``, the noise averaged with the neighbouring planes' noise)."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:64, :64]
    clean = np.stack([800 + 600 * np.sin(xx / 7.0 + z / 3) * np.cos(yy / 9.0) for z in range(9)])
    noise = rng.normal(0, 40, clean.shape)
    noisy = clean + noise
    denoised = clean + (noise - ndimage.uniform_filter1d(noise, 3, axis=0) if smear else 0)
    paths = tmp_path / "noisy.tif", tmp_path / "denoised.tif"
    for path, array in zip(paths, (noisy, denoised), strict=True):
        tifffile.imwrite(path, array.astype(dtype), imagej=True, metadata={"axes": "ZYX"})
    return paths


def test_a_clean_result_passes_with_independent_planes(tmp_path):
    found = check_stack_residual(*stacks(tmp_path))
    assert found.plane == 4 and found.planes == 9 and found.along == "Z"
    assert found.passed and abs(found.neighbour_correlation) < 0.1


def test_planes_smeared_together_show_along_the_stack(tmp_path):
    found = check_stack_residual(*stacks(tmp_path, smear=True), plane=2)
    assert found.plane == 2 and not found.independent and not found.passed


def test_cli_checks_a_stack_and_records_it(tmp_path, capsys):
    noisy, denoised = stacks(tmp_path)
    assert main(["diagnose", "--residual", str(noisy), str(denoised), "-o",
                 str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "PASSED (plane 4 of 9)" in out and "neighbouring planes along Z" in out
    record = json.loads((tmp_path / "out" / "residual.json").read_text())
    assert record["stack"]["planes"] == 9 and record["passed"]


def test_plane_out_of_range_and_mismatched_stacks_are_refused(tmp_path):
    noisy, denoised = stacks(tmp_path)
    with pytest.raises(N2NError, match="planes 0..8"):
        check_stack_residual(noisy, denoised, plane=9)
    tifffile.imwrite(tmp_path / "short.tif", np.zeros((3, 64, 64), np.float32), imagej=True,
                     metadata={"axes": "ZYX"})
    with pytest.raises(N2NError, match="not two TIFF stacks of one shape"):
        check_stack_residual(noisy, tmp_path / "short.tif")
