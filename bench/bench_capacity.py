"""Benchmark of the capacity planner (the network engine at fleet scale).

    .venv/bin/python bench/bench_capacity.py [--repeat 3] [--cases default-50k,plain-1m,national-1m]

Each case runs in a fresh subprocess (so its peak memory is its own) `--repeat` times; the figures are
the median wall time of `run_scenario` (fleet generation, simulation of every region, analysis), the time
`write_report` then takes once (CSV, PNG plots, HTML; so `hanota capacity run` costs about the sum), events
per second (heap events handled plus per-target events produced), the peak
resident set size of that process (`resource.getrusage(...).ru_maxrss`), and the overall HAN p90
completion in hours (the same on every run: if it moves, the model changed, not its speed). Targets:
1,000,000 devices in ≤ 60 s (aim 30 s), 50,000 in ≤ 3 s on the 2-core development machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CASES = {
    "default-50k": ("default-50k", None),
    "plain-1m": ("default-50k", 1_000_000),  # the default scenario scaled to 1,000,000 devices
    "national-1m": ("national-1m", None),  # 1,000,000 HAN + 200,000 competing ESME/GSME targets
}


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _child(case: str, repeat: int) -> None:
    from hanota.capacity import load_scenario, run_scenario, write_report

    name, devices = CASES[case]
    scenario = load_scenario(name)
    if devices is not None:
        scenario = scenario.with_value(("fleet", "devices"), devices)
    walls = []
    for _ in range(repeat):
        started = time.perf_counter()
        result = run_scenario(scenario)
        walls.append(time.perf_counter() - started)
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        write_report(result, Path(out))
        report_s = time.perf_counter() - started
    events = result.events
    targets = sum(r.stats.targets for r in result.regions)
    print(
        json.dumps(
            {
                "case": case,
                "devices": scenario.fleet.devices,
                "targets": targets,
                "walls": walls,
                "report_s": report_s,
                "events": events,
                "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "p90_h": result.overall.percentiles_h[90],
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=_positive, default=3)
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child, args.repeat)
        return

    import numpy

    mem_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    print(f"machine: {_cpu_model()}, {os.cpu_count()} cores, {mem_gib:.0f} GiB RAM, {platform.system()}")
    print(
        f"python {platform.python_version()} ({platform.python_implementation()}), numpy {numpy.__version__}"
    )
    header = (
        "case",
        "devices",
        "targets",
        "median s",
        "runs s",
        "report s",
        "events",
        "events/s",
        "peak MB",
        "p90 h",
    )
    print("{:<12} {:>10} {:>10} {:>9} {:<34} {:>8} {:>11} {:>11} {:>8} {:>7}".format(*header))
    for case in args.cases.split(","):
        out = subprocess.run(
            [sys.executable, __file__, "--child", case, "--repeat", str(args.repeat)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        r = json.loads(out.strip().splitlines()[-1])
        median = statistics.median(r["walls"])
        runs = ", ".join(f"{w:.2f}" for w in r["walls"])
        print(
            f"{r['case']:<12} {r['devices']:>10,} {r['targets']:>10,} {median:>9.2f} {runs:<34} "
            f"{r['report_s']:>8.2f} "
            f"{r['events']:>11,} {r['events'] / median:>11,.0f} {r['maxrss_mb']:>8.0f} {r['p90_h']:>7.2f}"
        )


if __name__ == "__main__":
    main()
