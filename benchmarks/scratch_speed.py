"""Scratch framework against PyTorch: time of forward + backward + Adam step on a batch of 100
32x32 RGB images, for the course's required net and the Lite U-Net, and peak memory.

Each (framework, network) runs in its own process so that peak RSS is its own (on CUDA: peak
GPU memory allocated by torch).
Usage: ``python benchmarks/scratch_speed.py [--steps 20] [--threads 2] [--device cpu|cuda]
[--json out.json]``
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time

import torch
from torch import nn

NETWORKS = ("course", "lite_unet")


def torch_network(name: str) -> nn.Module:
    from n2n.models.unet import LiteUNet

    if name == "lite_unet":
        return LiteUNet(3, 24, 4, linear_output=True)
    return nn.Sequential(
        nn.Conv2d(3, 48, 3, 2, 1), nn.ReLU(), nn.Conv2d(48, 48, 3, 2, 1), nn.ReLU(),
        nn.Upsample(scale_factor=2), nn.Conv2d(48, 48, 3, padding=1), nn.ReLU(),
        nn.Upsample(scale_factor=2), nn.Conv2d(48, 3, 3, padding=1), nn.Sigmoid())


def torch_step(name: str, device: str):
    net = torch_network(name).to(device)
    optimizer, loss_fn = torch.optim.Adam(net.parameters(), 1e-3), nn.MSELoss()

    def step(x, y):
        optimizer.zero_grad()
        loss = loss_fn(net(x), y)
        loss.backward()
        optimizer.step()

    return step


def scratch_step(name: str, device: str = "cpu"):
    from n2n import scratch as S

    net = S.LiteUNet(3, 24, 4, residual=True) if name == "lite_unet" else S.course_net(3, 48)
    net.to(device)
    optimizer, loss_fn = S.Adam(net.param(), 1e-3), S.MSE()

    def step(x, y):
        optimizer.zero_grad()
        loss_fn.forward(net.forward(x), y)
        net.backward(loss_fn.backward())
        optimizer.step()

    return step


def measure_one(framework: str, name: str, steps: int, device: str = "cpu") -> dict:
    torch.manual_seed(0)
    x, y = (torch.rand(100, 3, 32, 32).to(device) for _ in range(2))
    step = (torch_step if framework == "pytorch" else scratch_step)(name, device)
    cuda = device.startswith("cuda")
    for _ in range(3):
        step(x, y)  # warm-up
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step(x, y)
        if cuda:
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    times.sort()
    peak = (torch.cuda.max_memory_allocated() / 2**20 if cuda
            else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return {"framework": framework, "network": name, "device": device,
            "median_ms": 1000 * times[len(times) // 2], "peak_rss_mb": peak}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    parser.add_argument("--json", help="write the results here too")
    parser.add_argument("--one", nargs=2, metavar=("FRAMEWORK", "NETWORK"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.one:
        print(json.dumps(measure_one(*args.one, args.steps, args.device)))
        return 0
    rows = []
    for name in NETWORKS:
        for framework in ("pytorch", "scratch"):  # interleaved so drift hits both alike
            out = subprocess.run([sys.executable, __file__, "--one",
                                  framework, name, "--steps", str(args.steps), "--threads",
                                  str(args.threads), "--device", args.device],
                                 capture_output=True, text=True, check=True)
            rows.append(json.loads(out.stdout))
    where = (torch.cuda.get_device_name() if args.device.startswith("cuda")
             else f"{platform.processor() or platform.machine()}, {args.threads} threads")
    print(f"machine: {where}, torch {torch.__version__}, batch 100 x 3 x 32 x 32, "
          f"forward + backward + Adam step")
    print(f"{'network':<10} {'pytorch ms':>10} {'scratch ms':>10} {'ratio':>6} "
          f"{'pytorch MB':>10} {'scratch MB':>10}")
    for name in NETWORKS:
        t, s = (next(r for r in rows if r["network"] == name and r["framework"] == f)
                for f in ("pytorch", "scratch"))
        ratio = s["median_ms"] / t["median_ms"]
        print(f"{name:<10} {t['median_ms']:10.1f} {s['median_ms']:10.1f} {ratio:6.2f} "
              f"{t['peak_rss_mb']:10.0f} {s['peak_rss_mb']:10.0f}")
        t["ratio_scratch_over_pytorch"] = s["ratio_scratch_over_pytorch"] = ratio
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
