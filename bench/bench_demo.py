"""The demo at full size: one SR 11.4 listing 50,000 IHDs (plus an SR 11.1 for 5,000 ESMEs alongside),
through the DSP, the three CSP gateways and their simulated networks, to signed alerts verified by a
supplier endpoint — `hanota demo` run as a user runs it, on a scaled clock.

Prints the demo's own summary (per region: when 50 % / 90 % / all devices finished, in virtual time), the
wall time and the peak memory of the process. The estate must hold 50,000 IHDs of one model for one
supplier: about 520,000 homes (2.5 M devices), generated on the first run and reused after.

    .venv/bin/python bench/bench_demo.py [--devices 50000] [--homes 520000] [--speed 4000] [--data DIR]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

from machine import describe


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--devices", type=int, default=50_000)
    p.add_argument("--esme", type=int, default=5_000)
    p.add_argument("--homes", type=int, default=520_000)
    p.add_argument("--speed", type=float, default=4_000.0)
    p.add_argument("--data", type=Path, default=Path(".hanota-bench-demo"))
    args = p.parse_args()
    print(f"machine: {describe()}")
    print(f"demo: {args.devices:,} IHDs in one SR 11.4 + {args.esme:,} ESMEs in one SR 11.1, "
          f"estate of {args.homes:,} homes, clock x{args.speed:,.0f}")  # fmt: skip
    env = {**os.environ, "HANOTA_DATA_DIR": str(args.data), "COLUMNS": "140"}
    hanota = str(Path(sys.executable).with_name("hanota"))
    t0 = time.perf_counter()
    result = subprocess.run(
        [hanota, "demo", "--devices", str(args.devices), "--esme", str(args.esme), "--homes", str(args.homes),
         "--speed", str(args.speed), "--exit-when-done"],
        env=env, check=False,
    )  # fmt: skip
    wall = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"exit {result.returncode}; wall {wall:.0f} s (estate generation included on a first run); "
          f"peak RSS {peak:.0f} MiB")  # fmt: skip


if __name__ == "__main__":
    main()
