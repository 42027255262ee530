"""Exports run without n2n-lite and compute what the PyTorch model computes: TorchScript in
plain torch, ONNX in onnxruntime, both through ``--weights``; a bad export writes nothing."""

from __future__ import annotations

import json

import numpy as np
import onnxruntime
import pytest
import torch
from conftest import n2n, ok

from n2n.errors import N2NError
from n2n.export.exporter import TOLERANCE, export_model, written_kind
from n2n.inference.arrays import denoise_array
from n2n.inference.denoiser import Denoiser
from n2n.inference.exported import load_exported
from n2n.inference.weights import load_weights
from n2n.io.files import EXPORT
from n2n.models import ModelConfig, build_model
from n2n.models.bundled import load_bundled


def tiny_model():
    model = build_model(ModelConfig(width=4, depth=2, residual=True, pd=2), seed=0)
    model.set_normalization(torch.rand(4, 3, 16, 16) * 255)
    return model.eval()


@pytest.mark.parametrize("make", [lambda: load_bundled("photo"), tiny_model])
@pytest.mark.parametrize("suffix", [".ts", ".onnx", ".pt"])
def test_each_format_round_trips_within_tolerance_on_two_sizes(tmp_path, make, suffix):
    model = make()
    path = tmp_path / f"model{suffix}"
    fmt = {".ts": "torchscript", ".onnx": "onnx", ".pt": "pt"}[suffix]
    assert export_model(model, path, fmt) <= TOLERANCE
    exported = load_weights(path)
    for size in [(50, 70), (23, 9)]:
        x = torch.rand(2, 3, *size) * 255
        with torch.no_grad():
            assert (exported(x) - model(x)).abs().max() < TOLERANCE


def test_torchscript_loads_in_plain_torch_and_onnx_in_plain_onnxruntime(tmp_path, photo):
    model = load_bundled("photo")
    export_model(model, tmp_path / "m.ts", "torchscript")
    export_model(model, tmp_path / "m.onnx", "onnx")
    x = torch.from_numpy(photo).permute(2, 0, 1)[None][..., :45, :61].contiguous()
    with torch.no_grad():
        expected = model(x)
        scripted = torch.jit.load(str(tmp_path / "m.ts"))(x)  # no n2n code involved
    session = onnxruntime.InferenceSession(str(tmp_path / "m.onnx"))
    onnx_out = session.run(None, {"image": x.numpy()})[0]
    assert (scripted - expected).abs().max() < TOLERANCE
    assert np.abs(onnx_out - expected.numpy()).max() < TOLERANCE
    meta = load_exported(tmp_path / "m.onnx")
    assert (meta.multiple, meta.receptive_radius) == (model.multiple, model.receptive_radius)


def test_exports_denoise_through_weights_and_tile_like_the_checkpoint(tmp_path, photo):
    from PIL import Image

    Image.fromarray(photo.astype(np.uint8)).save(tmp_path / "x.png")
    ok("export", "photo", tmp_path / "m.onnx")
    ok("export", "photo", tmp_path / "m.ts")
    outs = {}
    for name, extra in [("pt", ["--model", "photo", "--pd", "1"]),
                        ("onnx", ["--weights", tmp_path / "m.onnx"]),
                        ("ts", ["--weights", tmp_path / "m.ts", "--tile", "32"])]:
        ok("denoise", tmp_path / "x.png", "-o", tmp_path / f"{name}.png", *extra)
        outs[name] = np.asarray(Image.open(tmp_path / f"{name}.png")).astype(int)
    assert np.abs(outs["onnx"] - outs["pt"]).max() <= 1  # rounding to 8 bits
    assert np.abs(outs["ts"] - outs["pt"]).max() <= 1  # tiled, through TorchScript


def test_a_failed_self_check_writes_nothing(tmp_path, monkeypatch):
    import n2n.export.exporter as exporter

    monkeypatch.setattr(exporter, "TOLERANCE", -1.0)  # any difference, even 0, now fails
    with pytest.raises(N2NError, match="differs from the PyTorch model"):
        export_model(tiny_model(), tmp_path / "m.ts", "torchscript")
    assert list(tmp_path.iterdir()) == []


def test_the_python_door_names_an_unknown_format_and_takes_the_suffix_by_default(tmp_path):
    with pytest.raises(N2NError, match="export format 'ts': choose one of pt, torchscript"):
        export_model(tiny_model(), tmp_path / "m.ts", "ts")
    assert list(tmp_path.iterdir()) == []
    export_model(tiny_model(), tmp_path / "m.onnx")  # no format: the suffix names it
    assert written_kind(tmp_path / "m.onnx") == EXPORT
    assert load_exported(tmp_path / "m.onnx").receptive_radius == tiny_model().receptive_radius


def test_corrupt_or_unsupported_exports_are_one_clear_error(tmp_path, photo):
    from PIL import Image

    Image.fromarray(photo.astype(np.uint8)).save(tmp_path / "x.png")
    (tmp_path / "bad.onnx").write_bytes(b"not a graph")
    (tmp_path / "bad.ts").write_bytes(b"PK\x03\x04 truncated")
    for name in ("bad.onnx", "bad.ts"):
        result = n2n("denoise", tmp_path / "x.png", "-o", tmp_path / "y.png",
                     "--weights", tmp_path / name)
        assert result.returncode == 2 and f"{name}: not a readable n2n-lite" in result.stderr
    result = n2n("export", "photo", tmp_path / "m.bin", "--format", "tflite")
    assert result.returncode == 2 and "invalid choice: 'tflite'" in result.stderr
    result = n2n("export", "photo", tmp_path / "m.onnx", "--half")
    assert result.returncode == 2 and "--half applies to the pt format only" in result.stderr


def test_missing_onnx_extra_is_one_line(tmp_path, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_onnx(name, *args, **kwargs):
        if name in ("onnx", "onnxruntime"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_onnx)
    with pytest.raises(N2NError, match=r"pip install 'n2n-lite\[export\]'"):
        export_model(tiny_model(), tmp_path / "m.onnx", "onnx")


def test_exported_model_refuses_a_new_pd(tmp_path):
    export_model(tiny_model(), tmp_path / "m.ts", "torchscript")
    with pytest.raises(N2NError, match="keeps the pixel-shuffle factor"):
        Denoiser(load_weights(tmp_path / "m.ts"), pd=3)


def test_denoise_array_keeps_shape_dtype_and_denoises_stacks(gray_photo):
    clean = gray_photo[..., 0]
    rng = np.random.default_rng(0)
    noisy = np.clip(clean + rng.normal(0, 20, clean.shape), 0, 255)
    stack16 = (np.stack([noisy, noisy[::-1]]) * 257).astype(np.uint16)  # (Z, H, W), 16-bit
    out = denoise_array(stack16)
    assert out.shape == stack16.shape and out.dtype == np.uint16
    error = np.abs(out[0] / 257.0 - clean).mean()
    assert error < 0.6 * np.abs(noisy - clean).mean()
    rgb = np.repeat(noisy[None] / 255.0, 3, axis=0)  # (3, H, W) floats in 0..1
    out = denoise_array(rgb, "photo", channel_axis=0)
    assert out.shape == rgb.shape and out.dtype == rgb.dtype
    with pytest.raises(N2NError, match="expected 1 or 3"):
        denoise_array(np.zeros((4, 8, 8)), channel_axis=0)


@pytest.fixture(scope="module")
def trained_gray_run(tmp_path_factory):
    """A tiny gray model freshly trained by `n2n train` on noisy pairs of a real photo."""
    from skimage import data as skdata

    from n2n.cli import main
    from n2n.io.images import Image, write_image

    root = tmp_path_factory.mktemp("bmz")
    (root / "clean").mkdir()
    for i, top in enumerate((0, 200)):
        crop = skdata.cell()[top:top + 128, :128, None] * 1.0
        write_image(root / "clean" / f"cell{i}.png", Image(crop))
    assert main(["train", str(root / "run"), "--clean", str(root / "clean"), "--channels", "1",
                 "--patch-size", "32", "--patches-per-epoch", "32", "--batch-size", "16",
                 "--epochs", "1", "--width", "4", "--depth", "2", "--residual"]) == 0
    return root / "run"


def test_bmz_package_validates_and_runs_in_bioimageio_core(tmp_path, trained_gray_run):
    import zipfile

    from bioimageio.core import test_model
    from bioimageio.spec import load_description

    from n2n.models.checkpoint import load_model

    out = ok("export", trained_gray_run / "best.pt", tmp_path / "model.zip", "--author", "Ada",
             "--data-range", "65535")
    assert "(bmz" in out and "validated with bioimageio.spec" in out
    description = load_description(tmp_path / "model.zip", perform_io_checks=True)
    assert description.validation_summary.status in ("passed", "valid-format")
    summary = test_model(tmp_path / "model.zip")  # both weight formats, several sizes
    assert summary.status == "passed", [(d.name, d.errors) for d in summary.details]

    model = load_model(trained_gray_run / "best.pt")
    with zipfile.ZipFile(tmp_path / "model.zip") as archive:
        archive.extractall(tmp_path / "unzipped")
    rdf = json.loads((tmp_path / "unzipped" / "rdf.yaml").read_text())
    assert rdf["outputs"][0]["axes"][2]["halo"] == Denoiser(model).margin >= model.receptive_radius
    assert rdf["authors"] == [{"name": "Ada"}]
    assert "patch_size" in rdf["training_data"]["description"]
    x = torch.from_numpy(np.load(tmp_path / "unzipped" / "test_input.npy"))
    assert x.max() > 1000  # in the 16-bit range it was asked for
    scripted = torch.jit.load(str(tmp_path / "unzipped" / "weights.ts"))  # no n2n code
    with torch.no_grad():
        assert (scripted(x * 255 / 65535) - model(x * 255 / 65535)).abs().max() < TOLERANCE


def test_bmz_blocks_cut_with_its_halo_equal_the_whole_image(tmp_path, gray_photo):
    """deepImageJ and bioimageio.core tile with the halo: tiles must start on the pooling grid
    (the confocal model's radius, 92, is not a multiple of its 16)."""
    from bioimageio.core import predict

    ok("export", "confocal", tmp_path / "confocal.zip")
    model = load_bundled("confocal")
    image = np.tile(gray_photo[:, :, 0], (4, 4))[None, None]  # 256 x 288
    blocks = predict(model=tmp_path / "confocal.zip", inputs={"noisy": image},
                     input_block_shape={"noisy": {"y": 208, "x": 208}})
    tiled = np.asarray(blocks.members["denoised"].data)
    with torch.no_grad():
        whole = model(torch.from_numpy(image)).numpy()
    halo = Denoiser(model).margin  # the edges are padded by each its own way
    assert np.abs(tiled - whole)[..., halo:-halo, halo:-halo].max() < TOLERANCE


def test_bmz_needs_a_zip_name_and_works_without_the_validator(tmp_path, monkeypatch):
    result = n2n("export", "photo", tmp_path / "m.bmz", "--format", "bmz")
    assert result.returncode == 2 and "name it .zip" in result.stderr
    monkeypatch.setattr("n2n.export.bmz.validator_version", lambda: None)
    from n2n.cli import main

    assert main(["export", "photo", str(tmp_path / "photo.zip")]) == 0
    assert load_exported_from_zip(tmp_path / "photo.zip").multiple == 16


def load_exported_from_zip(package):
    import zipfile

    with zipfile.ZipFile(package) as archive:
        archive.extract("weights.ts", package.parent)
    return load_exported(package.parent / "weights.ts")
