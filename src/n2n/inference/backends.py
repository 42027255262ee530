"""Which engine runs a network on this processor, measured once and cached.

The engines: ``torch`` (PyTorch float32, channels-last on the fast path), ``onnxruntime``
(ONNX Runtime's float32 CPU kernels, the ``fast`` extra) and ``bfloat16`` (PyTorch with
bfloat16 autocast, where the processor computes it natively: within 0.003 dB of float32).
None is fastest everywhere: ONNX Runtime ran the bundled U-Nets 1.7-2.2x faster than PyTorch
on an AVX2 processor under load and even when idle; bfloat16 ran the photo network 2.3x faster
than float32 on an AMD EPYC with AVX512-BF16, but 1.35x slower on an Intel Xeon with
AVX512-BF16 and no AMX (docs/guides/speed.md). The gain depends on the processor, the thread
count and the versions, so on a CPU it is measured here on first use, per network
architecture, and the choice is kept in the user's cache folder (never the working folder); a
GPU runs PyTorch, in bfloat16 where native:

* ``N2N_BACKEND`` = ``torch``, ``onnxruntime`` or ``bfloat16`` forces one (``auto``, the
  default, measures);
* ``N2N_CACHE_DIR`` names the cache folder (default ``$XDG_CACHE_HOME/n2n``, else
  ``~/.cache/n2n``; ``%LOCALAPPDATA%\\n2n`` on Windows).

int8 quantisation is no candidate: it cost 0.1-1 dB on real photos (docs/guides/speed.md),
outside the 0.02 dB allowed.
"""

from __future__ import annotations

import copy
import hashlib
import inspect
import io
import json
import os
import platform
import sys
import time
import warnings
from functools import partial
from pathlib import Path

import numpy as np
import torch
from torch import nn

from n2n.device import bfloat16_native
from n2n.errors import N2NError
from n2n.io.files import write_text_atomic

BACKENDS = ("torch", "onnxruntime", "bfloat16")
CACHE_FILE = "backends.json"
SIDE = 256  # pixels per side of the input the engines are timed on
REPEATS = 3  # interleaved runs of each engine; the best of each counts
GAIN = 1.1  # another engine is chosen over PyTorch float32 where at least this much faster


def cache_dir() -> Path:
    """Where measured choices are kept: ``N2N_CACHE_DIR``, else the user's cache folder."""
    if os.environ.get("N2N_CACHE_DIR"):
        return Path(os.environ["N2N_CACHE_DIR"])
    if sys.platform == "win32" and os.environ.get("LOCALAPPDATA"):
        return Path(os.environ["LOCALAPPDATA"]) / "n2n"
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "n2n"


def ort_version() -> str | None:
    """The installed onnxruntime's version, or None where it or the exporter's ``onnx``
    package (the ``fast`` extra holds both) is missing."""
    try:
        import onnx  # noqa: F401  (torch.onnx.export writes through it)
        import onnxruntime
    except ImportError:
        return None
    return str(onnxruntime.__version__)


def cache_key(net: nn.Module) -> str:
    """What the measured choice depends on: processor, its kernels, versions, threads and the
    network's architecture (layer shapes, not weights) and code (a network that computes in
    another way, e.g. its decoders in phases, is measured again)."""
    shapes = [(name, tuple(p.shape)) for name, p in net.named_parameters()]
    arch = hashlib.sha1(repr((type(net).__name__, shapes, _code(net))).encode()).hexdigest()[:12]
    bfloat16 = "bfloat16 native" if bfloat16_native(torch.device("cpu")) else "no bfloat16"
    return "|".join([platform.machine(), _processor(), torch.backends.cpu.get_cpu_capability(),
                     bfloat16, f"torch {torch.__version__}", f"onnxruntime {ort_version()}",
                     f"{torch.get_num_threads()} threads", arch])


def _code(net: nn.Module) -> str:
    """A digest of the source files of ``net``'s own classes and of its modules' classes
    (torch's excepted: its version is in the key)."""
    classes = {c for module in net.modules() for c in type(module).__mro__}
    files = {inspect.getsourcefile(c) for c in classes
             if not c.__module__.startswith(("torch", "builtins"))}
    digest = hashlib.sha1()
    for name in sorted(f for f in files if f):
        digest.update(Path(name).read_bytes())
    return digest.hexdigest()[:12]


def choose_backend(net: nn.Module, device: torch.device, requested: str | None = None) -> str:
    """The engine for ``net`` on ``device``: ``requested`` (or ``N2N_BACKEND``) where given;
    on a GPU, bfloat16 where native, else PyTorch float32; on a CPU, the measured fastest of
    the engines it has (measured on first use, then read from the cache)."""
    requested = requested or os.environ.get("N2N_BACKEND") or "auto"
    if requested not in (*BACKENDS, "auto"):
        raise N2NError(f"backend '{requested}' unknown: use auto, {', '.join(BACKENDS)} "
                       "(N2N_BACKEND)")
    if requested == "onnxruntime" and device.type != "cpu":
        raise N2NError(f"backend 'onnxruntime' runs on the CPU, not on {device}: use torch or "
                       "bfloat16 there")
    if requested == "onnxruntime" and ort_version() is None:
        raise N2NError("backend 'onnxruntime' needs ONNX Runtime: pip install 'n2n-lite[fast]'")
    if requested == "bfloat16" and not bfloat16_native(device):
        raise N2NError(f"backend 'bfloat16': {device.type} does not compute bfloat16 natively "
                       "here (it needs CUDA, or a CPU with AVX512-BF16 or AMX); use torch")
    if requested != "auto":
        return requested
    if device.type != "cpu":
        return "bfloat16" if bfloat16_native(device) else "torch"
    if len(candidates(device)) == 1:
        return "torch"
    return measured_choice(net)["backend"]


def candidates(device: torch.device) -> tuple[str, ...]:
    """The engines a CPU here can run: PyTorch float32 always, ONNX Runtime where installed,
    bfloat16 where native."""
    return tuple(name for name, present in (("torch", True), ("onnxruntime", bool(ort_version())),
                                            ("bfloat16", bfloat16_native(device))) if present)


def measured_choice(net: nn.Module, measure=None) -> dict:
    """The cached record for ``net`` here ({"backend", "mp_s": {engine: MP/s}, ...}), measured
    by ``measure(net)`` (default :func:`measure_backends`) and cached where absent."""
    path, key = cache_dir() / CACHE_FILE, cache_key(net)
    records = _read(path)
    if key in records:
        return records[key]
    speeds = (measure or measure_backends)(net)
    fastest = max(speeds, key=speeds.__getitem__)
    record = {"backend": fastest if speeds[fastest] >= GAIN * speeds["torch"] else "torch",
              "mp_s": speeds, "side": SIDE,
              "measured": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    records = {**_read(path), key: record}  # another process may have written meanwhile
    try:
        write_text_atomic(path, json.dumps(records, indent=1))
    except OSError:  # a read-only home: measured again next time, still correct
        pass
    return record


def measure_backends(net: nn.Module, side: int = SIDE, repeats: int = REPEATS
                     ) -> dict[str, float]:
    """Megapixels per second of ``net`` under each of the CPU's :func:`candidates` (PyTorch
    channels-last) on a (1, C, side, side) input (side rounded up to the network's multiple),
    interleaved, best of ``repeats`` after a warm-up."""
    channels, side = _in_channels(net), -(-side // net.multiple) * net.multiple
    x = torch.randn(1, channels, side, side, generator=torch.Generator().manual_seed(0))
    x = x.contiguous(memory_format=torch.channels_last)
    torch_net = memory_layout_copy(net)

    def bfloat16_run() -> torch.Tensor:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return torch_net(x)

    engines = candidates(torch.device("cpu"))
    runs = {"torch": lambda: torch_net(x)}
    if "onnxruntime" in engines:
        runs["onnxruntime"] = partial(OnnxNet(net), x)
    if "bfloat16" in engines:
        runs["bfloat16"] = bfloat16_run
    best = dict.fromkeys(runs, float("inf"))
    with torch.no_grad():
        for run in runs.values():
            run()  # warm-up: first-call costs excluded
        for _ in range(repeats):
            for name, run in runs.items():
                start = time.perf_counter()
                run()
                best[name] = min(best[name], time.perf_counter() - start)
    return {name: round(side * side / 1e6 / seconds, 4) for name, seconds in best.items()}


def memory_layout_copy(net: nn.Module) -> nn.Module:
    """A channels-last float32 copy of ``net`` in eval mode (the caller's is left as it is)."""
    return copy.deepcopy(net).float().eval().to(memory_format=torch.channels_last)


class OnnxNet(nn.Module):
    """A network run by ONNX Runtime on the CPU in float32: (N, C, H, W) in and out, any
    size, with the ``multiple`` and ``receptive_radius`` of the PyTorch network it came from
    (exported in memory, with as many intra-op threads as PyTorch has)."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        import onnxruntime as ort

        self.multiple = net.multiple
        self.receptive_radius = net.receptive_radius
        self.in_channels = _in_channels(net)
        options = ort.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()
        options.inter_op_num_threads = 1
        # no arena: it kept each tile size's buffers, 2.0 KB per input pixel against 1.1
        # without (photo-plus, 928 x 928), past the tile budget of n2n.inference.tiling
        options.enable_cpu_mem_arena = False
        # threads sleep rather than spin between operators: 1.64x PyTorch against 1.42x
        # spinning, on a shared 2-core machine (photo, 1024 x 1024, 2 threads)
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(_onnx_bytes(net, self.in_channels), options,
                                            providers=["CPUExecutionProvider"])

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        array = np.ascontiguousarray(z.detach().float().cpu().numpy())
        return torch.from_numpy(self.session.run(None, {"z": array})[0]).to(z.device)


def with_onnx_net(model: nn.Module) -> nn.Module:
    """A copy of the checkpoint ``model`` whose network runs in ONNX Runtime (normalisation,
    padding and pixel-shuffle stay in PyTorch); ``model`` itself is left as it is."""
    net = model.net
    model.net = None  # the copy takes everything but the network
    try:
        clone = copy.deepcopy(model)
    finally:
        model.net = net
    clone.net = OnnxNet(net)
    return clone


def _onnx_bytes(net: nn.Module, channels: int) -> bytes:
    """``net`` (float32, eval) as an ONNX graph with dynamic batch, height and width."""
    example = torch.zeros(1, channels, 2 * net.multiple, 2 * net.multiple)
    axes = {0: "batch", 2: "height", 3: "width"}
    buffer = io.BytesIO()
    exported = copy.deepcopy(net).float().eval().to(memory_format=torch.contiguous_format)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript-based exporter is deprecated
        torch.onnx.export(exported, (example,), buffer, dynamo=False, opset_version=17,
                          input_names=["z"], output_names=["y"],
                          dynamic_axes={"z": axes, "y": axes})
    return buffer.getvalue()


def _in_channels(net: nn.Module) -> int:
    """Input channels of ``net``: its first convolution's."""
    first = next(m for m in net.modules() if isinstance(m, nn.Conv2d))
    return int(first.in_channels)


def _processor() -> str:
    """The processor's model name (Linux), else what the platform says."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _read(path: Path) -> dict:
    """The cache's records, or none where it is absent or unreadable (measured again)."""
    try:
        records = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return records if isinstance(records, dict) else {}


def on_engine(model: nn.Module | None, device: torch.device, fast: bool,
              requested: str | None = None) -> tuple[nn.Module | None, str]:
    """``model`` as it runs on the fast path, and the engine: a copy whose network runs in ONNX
    Runtime where :func:`choose_backend` picks it, else ``model`` itself under PyTorch (in
    bfloat16 autocast where it picks ``bfloat16``: the caller's to apply). Not ``fast`` (the
    plain float32 reference path), an export or no model: PyTorch float32, unchanged."""
    if model is None or not fast or not hasattr(model, "net"):
        return model, "torch"
    backend = choose_backend(model.net, device, requested)
    return (with_onnx_net(model) if backend == "onnxruntime" else model), backend
