"""Dask scaling on this machine: throughput of ``denoise_on_dask`` with 1, 2, ... local workers
(ratios against one worker, same run), peak memory per worker against one chunk plus its halo,
the overhead against one process on a small image, and the per-task costs that extrapolate to
larger clusters.

Usage: ``python benchmarks/dask_scaling.py [--planes 8] [--size 1024] [--tile 256]
[--workers 1,2] [--model confocal] [--json docs/results/dask/scaling.json]``. The stack is
generated (a smooth gradient plus noise, uint16), so no data is needed.
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path

import distributed
import numpy as np
import tifffile
import torch

from n2n.bench.measure import machine
from n2n.inference.arrays import denoise_array
from n2n.inference.cluster import denoise_on_dask
from n2n.inference.weights import load_weights
from n2n.models.wrapper import tile_margin


def noisy_stack(planes: int, size: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    scene = np.linspace(2000, 50000, size)[None, None, :].repeat(size, axis=1)
    return np.clip(scene + rng.normal(0, 3000, (planes, size, size)), 0, 65535).astype(np.uint16)


def reset_peak_rss() -> float:
    """Start a new peak-memory window for this process (Linux: clear_refs 5 resets VmHWM)
    and return its resident memory now, in MiB."""
    Path("/proc/self/clear_refs").write_text("5")
    return peak_rss_mib()


def peak_rss_mib() -> float:
    """This process's peak resident memory since the last reset, in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def on_cluster(model, source: Path, folder: Path, workers: int, tile: int) -> dict:
    """One run on a fresh local cluster: start-up, run time, per-task compute, peak memory."""
    start = time.perf_counter()
    env = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    with distributed.LocalCluster(n_workers=workers, threads_per_worker=1, env=env,
                                  dashboard_address=":0", silence_logs=50) as cluster, \
            distributed.Client(cluster) as client:
        started = time.perf_counter() - start
        client.run(lambda: __import__("n2n.inference.dask_arrays"))  # imports, as a user's would
        idle = client.run(reset_peak_rss)
        target = folder / f"out-{workers}.zarr"
        with distributed.get_task_stream(client) as stream:
            start = time.perf_counter()
            denoise_on_dask(model, source, target, address=cluster.scheduler_address,
                            tile=tile, progress=False)
            seconds = time.perf_counter() - start
        peaks = client.run(peak_rss_mib)
    tasks = [t for t in stream.data if "n2n-denoise" in str(t["key"])]
    compute = [s["stop"] - s["start"] for t in tasks for s in t["startstops"]
               if s["action"] == "compute"]
    return {"workers": workers, "startup_s": round(started, 2), "run_s": round(seconds, 2),
            "denoise_tasks": len(tasks), "task_compute_s_mean": round(float(np.mean(compute)), 4),
            "worker_idle_rss_mib": [round(v, 1) for v in idle.values()],
            "worker_peak_rss_mib": [round(v, 1) for v in peaks.values()]}


def single_process(model, stack: np.ndarray, tile: int, threads: int) -> float:
    torch.set_num_threads(threads)
    start = time.perf_counter()
    denoise_array(stack, model, tile=tile, device="cpu")
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--planes", type=int, default=8)
    parser.add_argument("--size", type=int, default=1024, help="plane height and width")
    parser.add_argument("--tile", type=int, default=256)
    parser.add_argument("--workers", default="1,2", help="cluster sizes, e.g. 1,2")
    parser.add_argument("--model", default="confocal")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    model = load_weights(args.model)
    margin = tile_margin(model)
    stack = noisy_stack(args.planes, args.size)
    small = noisy_stack(1, 256, seed=1)
    megapixels = stack.size / 1e6
    result = {"machine": machine(), "model": args.model, "tile": args.tile, "margin": margin,
              "stack": list(stack.shape), "runs": []}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        tifffile.imwrite(folder / "stack.tif", stack)
        tifffile.imwrite(folder / "small.tif", small)
        result["single_process_1_thread_s"] = round(single_process(model, stack, args.tile, 1), 2)
        for workers in map(int, args.workers.split(",")):
            run = on_cluster(model, folder / "stack.tif", folder, workers, args.tile)
            run["megapixels_per_s"] = round(megapixels / run["run_s"], 3)
            result["runs"].append(run)
            print(json.dumps(run))
        small_one = single_process(model, small, args.tile, 1)
        small_dask = on_cluster(model, folder / "small.tif", folder, 1, args.tile)
        result["small_image"] = {"shape": list(small.shape), "single_process_s":
                                 round(small_one, 3), "dask_1_worker_run_s": small_dask["run_s"],
                                 "dask_startup_s": small_dask["startup_s"]}
    base = result["runs"][0]["run_s"]
    for run in result["runs"]:
        run["speedup_vs_first"] = round(base / run["run_s"], 2)
    window = (args.tile + 2 * margin) ** 2
    result["chunk_plus_halo_mib_float32"] = round(window * 4 / 2**20, 2)
    print(json.dumps({k: v for k, v in result.items() if k != "runs"}, indent=1))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
