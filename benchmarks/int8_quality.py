"""int8 quantisation of the bundled networks by ONNX Runtime: PSNR on real noisy/clean pairs
against float32, and speed against ONNX Runtime float32 (issue 39: int8 only where PSNR stays
within 0.02 dB). The network alone is quantised (normalisation, padding and pixel-shuffle stay
in float32): dynamic (weights int8, activations quantised per call), and static with QDQ and
QOperator formats, calibrated on 8 DND crops (no test image). PSNR on SIDD ``train_0..2`` and
Nam ``01..03`` (512 x 512) at the given ``pd``; speed on a 512 x 512 input, 3 interleaved runs,
2 threads.

Usage: ``python benchmarks/int8_quality.py photo 1`` or ``camera 2`` (data under
``$N2N_REAL``, default /work/shared/data/real); writes ``docs/results/speed/int8_NAME.json``
and its ONNX files into a temporary folder.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import sys
import tempfile
import time
import warnings

import numpy as np
import torch
from onnxruntime import InferenceSession, SessionOptions
from onnxruntime import quantization as q
from PIL import Image
from torch import nn

from n2n.evaluation.metrics import psnr
from n2n.models.bundled import load_bundled
from n2n.models.pd import pd_split

REAL = os.environ.get("N2N_REAL", "/work/shared/data/real")
PAIRS = ([f"{REAL}/sidd_mini/%s/train_{i}.png" for i in range(3)]
         + [f"{REAL}/nam_cbdnet/%s/0{i}.png" for i in (1, 2, 3)])


def load(path: str) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.float32)


class OrtNet(nn.Module):
    """A network run by an ONNX Runtime session, with the torch network's size attributes."""

    def __init__(self, net: nn.Module, session: InferenceSession) -> None:
        super().__init__()
        self.session = session
        self.multiple, self.receptive_radius = net.multiple, net.receptive_radius

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        array = np.ascontiguousarray(z.numpy())
        return torch.from_numpy(self.session.run(None, {"z": array})[0])


def session(path: str) -> InferenceSession:
    options = SessionOptions()
    options.intra_op_num_threads = 2
    return InferenceSession(path, options, providers=["CPUExecutionProvider"])


class Calibration(q.CalibrationDataReader):
    """8 DND crops (no test image), normalised and split as the network sees them."""

    def __init__(self, model: nn.Module, pd: int) -> None:
        mean, std = model.mean.view(1, -1, 1, 1), model.std.view(1, -1, 1, 1)
        files = sorted(glob.glob(f"{REAL}/dnd_noisy/*.png"))[:8]
        crops = [torch.from_numpy(load(f)[:256, :256]).permute(2, 0, 1)[None] for f in files]
        self.data = iter([{"z": pd_split((c - mean) / std, pd).numpy()} for c in crops])

    def get_next(self):
        return next(self.data, None)


def export(net: nn.Module, path: str) -> None:
    axes = {0: "n", 2: "h", 3: "w"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(net, (torch.rand(1, 3, 64, 64),), path, dynamo=False,
                          opset_version=17, input_names=["z"], output_names=["y"],
                          dynamic_axes={"z": axes, "y": axes})


def variants(model: nn.Module, pd: int, base: str) -> dict[str, str]:
    """ONNX files: float32, int8 dynamic, int8 static (QDQ and QOperator)."""
    export(model.net, base + ".onnx")
    q.quant_pre_process(base + ".onnx", base + "_pre.onnx", skip_symbolic_shape=True)
    q.quantize_dynamic(base + "_pre.onnx", base + "_dyn.onnx", weight_type=q.QuantType.QUInt8)
    for suffix, fmt in (("_qdq", q.QuantFormat.QDQ), ("_qop", q.QuantFormat.QOperator)):
        q.quantize_static(base + "_pre.onnx", base + suffix + ".onnx", Calibration(model, pd),
                          quant_format=fmt, activation_type=q.QuantType.QUInt8,
                          weight_type=q.QuantType.QInt8, per_channel=True)
    return {"ort_fp32": ".onnx", "ort_int8_dynamic": "_dyn.onnx",
            "ort_int8_static_qdq": "_qdq.onnx", "ort_int8_static_qop": "_qop.onnx"}


def main() -> None:
    torch.set_num_threads(2)
    name, pd = sys.argv[1], int(sys.argv[2])
    model = load_bundled(name).eval()
    base = os.path.join(tempfile.mkdtemp(), name)
    with contextlib.chdir(os.path.dirname(base)):  # onnxruntime's shape inference writes
        files = variants(model, pd, base)           # sym_shape_infer_temp.onnx into the cwd
    sessions = {k: session(base + v) for k, v in files.items()}
    record = {"model": name, "pd": pd, "threads": 2, "processor": "AVX2, no bfloat16",
              "images": [p % "noisy" for p in PAIRS], "psnr": {}, "seconds": {}}
    for label, engine in [("torch_fp32", None), *sessions.items()]:
        run = load_bundled(name).eval()
        run.config.pd = pd
        if engine is not None:
            run.net = OrtNet(model.net, engine)
        scores = []
        for pair in PAIRS:
            noisy, clean = load(pair % "noisy"), load(pair % "clean")
            with torch.no_grad():
                out = run(torch.from_numpy(noisy).permute(2, 0, 1)[None])[0]
            scores.append(float(psnr(np.clip(out.permute(1, 2, 0).numpy(), 0, 255), clean)))
        record["psnr"][label] = scores
        print(label, "PSNR", [round(v, 3) for v in scores], flush=True)
    z = torch.rand(pd * pd, 3, 512 // pd, 512 // pd).numpy() * 4 - 2
    for _ in range(3):
        for label, engine in sessions.items():
            start = time.perf_counter()
            engine.run(None, {"z": z})
            record["seconds"].setdefault(label, []).append(time.perf_counter() - start)
    for label, seconds in record["seconds"].items():
        ratio = min(record["seconds"]["ort_fp32"]) / min(seconds)
        print(label, "s", [round(x, 3) for x in seconds], "ratio vs fp32", round(ratio, 2))
    with open(f"docs/results/speed/int8_{name}.json", "w") as out:
        json.dump(record, out, indent=1)


if __name__ == "__main__":
    main()
