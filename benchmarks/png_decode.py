"""Decoding a large PNG row by row, as ``n2n denoise`` streams it: libvips against pypng, each
in a fresh process (seconds and peak memory).

Usage: ``python benchmarks/png_decode.py IMAGE.png [--json out.json]`` (make one with
``python -m n2n.bench.memory --make 8192 IMAGE.png``)
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

from n2n.bench.measure import machine
from n2n.io.formats.png import decode_rows


def decode(path: Path, vips: bool) -> dict:
    """Decode every row of ``path``; seconds and this process's peak memory."""
    start = time.perf_counter()
    (width, height, planes, _, depth), rows = decode_rows(path, vips=vips)
    count = sum(1 for _ in rows)
    assert count == height, f"decoded {count} of {height} rows"
    return {"decoder": "libvips" if vips else "pypng", "megapixels": width * height / 1e6,
            "seconds": time.perf_counter() - start,
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("image", type=Path)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--one", choices=("libvips", "pypng"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:  # helper process: one decoder, its own peak memory
        print(json.dumps(decode(args.image, vips=args.one == "libvips")))
        return 0
    rows = []
    for decoder in ("pypng", "libvips"):
        out = subprocess.run([sys.executable, __file__, str(args.image),
                              "--one", decoder], capture_output=True, text=True, check=True)
        rows.append(json.loads(out.stdout))
        print(f"{decoder:8} {rows[-1]['megapixels']:6.1f} Mpx  {rows[-1]['seconds']:6.1f} s  "
              f"peak RSS {rows[-1]['peak_rss_mib']:5.0f} MiB", flush=True)
    print(f"libvips / pypng speed-up: {rows[0]['seconds'] / rows[1]['seconds']:.1f}x")
    if args.json:
        args.json.write_text(json.dumps({"machine": machine(), "rows": rows}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
