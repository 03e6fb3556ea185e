"""Benchmark: generate a ~1,000,000-device estate into SQLite (target ≤ 60 s wall, ≤ 1 GiB peak).

Each run is a fresh process (so peak RSS is that run's alone) writing a fresh SQLite file.
Usage: python bench/bench_estate.py [--homes 205000] [--runs 3] [--url postgresql://…]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from machine import describe, median

CHILD = r"""
import json, resource, sys, time
from hanota.db.engine import make_engine
from hanota.db.migrate import upgrade
from hanota.estate.generate import generate
url, homes = sys.argv[1], int(sys.argv[2])
upgrade(url)
engine = make_engine(url)
t0 = time.perf_counter()
n = generate(engine, homes=homes, seed=1, replace=True)
dt = time.perf_counter() - t0
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"devices": n, "seconds": dt, "peak_bytes": rss}))
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--homes", type=int, default=205_000, help="205,000 homes ≈ 1,000,000 devices")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--url", default="", help="database URL (default: a fresh SQLite file per run)")
    args = ap.parse_args()
    print(f"machine: {describe()}")
    results = []
    for i in range(args.runs):
        with tempfile.TemporaryDirectory() as d:
            url = args.url or f"sqlite:///{Path(d) / 'bench.db'}"
            out = subprocess.run(
                [sys.executable, "-c", CHILD, url, str(args.homes)],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            r = json.loads(out.strip().splitlines()[-1])
            results.append(r)
            print(
                f"run {i + 1}: {r['devices']:,} devices in {r['seconds']:.1f} s "
                f"({r['devices'] / r['seconds']:,.0f} devices/s), peak RSS {r['peak_bytes'] / 2**20:.0f} MiB"
            )
    secs = median([r["seconds"] for r in results])
    peak = max(r["peak_bytes"] for r in results)
    n = results[0]["devices"]
    print(
        f"estate generation, {args.homes:,} homes / {n:,} devices, {args.url or 'SQLite'}: "
        f"median {secs:.1f} s wall ({n / secs:,.0f} devices/s), worst peak RSS {peak / 2**20:.0f} MiB "
        f"[targets: <= 60 s, <= 1024 MiB]"
    )


if __name__ == "__main__":
    main()
