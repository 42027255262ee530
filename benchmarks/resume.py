"""An interrupted and resumed training run against the same run left alone.

Run A trains uninterrupted; run B gets SIGTERM part-way (after ``--kill-after`` seconds), writes
its checkpoint and is continued with ``n2n train RUN --resume``. Prints both final validation
PSNRs and whether the final weights are bit-identical.

Usage: ``python benchmarks/resume.py CLEAN_DIR [--epochs 4] [--kill-after 60] [--json out.json]``
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from n2n.bench.measure import machine
from n2n.models.checkpoint import load_model
from n2n.training.distributed import weights_digest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("clean_dir", type=Path)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--patches-per-epoch", type=int, default=2000)
    parser.add_argument("--kill-after", type=float, default=60.0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    n2n = str(Path(sys.executable).parent / "n2n")
    with tempfile.TemporaryDirectory() as tmp:
        runs = {name: Path(tmp) / name for name in ("uninterrupted", "resumed")}

        def train(run: Path, *extra: str) -> subprocess.Popen:
            return subprocess.Popen([n2n, "train", str(run), "--clean", str(args.clean_dir),
                                     "--noise", "gaussian:25", "--residual", "--linear-output",
                                     "--epochs", str(args.epochs), "--patches-per-epoch",
                                     str(args.patches_per_epoch), "--batch-size", "32",
                                     "--threads", str(args.threads), *extra],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

        if train(runs["uninterrupted"]).wait() != 0:
            return 1
        proc = train(runs["resumed"])
        time.sleep(args.kill_after)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate()
        print(f"interrupted: exit {proc.returncode}: {err.strip().splitlines()[-1]}")
        resume = subprocess.run([n2n, "train", str(runs["resumed"]), "--resume"],
                                capture_output=True, text=True)
        if resume.returncode != 0:
            print(resume.stderr, file=sys.stderr)
            return 1
        result = {}
        for name, run in runs.items():
            log = json.loads((run / "log.json").read_text())
            result[name] = {"final_val_psnr": log[-1]["val_psnr"], "epochs": len(log),
                            "digest": weights_digest(load_model(run / "last.pt"))}
    difference = result["resumed"]["final_val_psnr"] - result["uninterrupted"]["final_val_psnr"]
    identical = result["resumed"]["digest"] == result["uninterrupted"]["digest"]
    print(f"final val PSNR: uninterrupted {result['uninterrupted']['final_val_psnr']:.4f} dB, "
          f"resumed {result['resumed']['final_val_psnr']:.4f} dB (difference {difference:+.4f}); "
          f"weights bit-identical: {identical}")
    if args.json:
        args.json.write_text(json.dumps({"machine": machine(), "runs": result,
                                         "psnr_difference": difference,
                                         "bit_identical": identical}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
