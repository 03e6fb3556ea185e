"""The `hanota capacity run` command as one function, for the CLI to wire up.

    hanota capacity run SCENARIO.toml [--out DIR] [--sweep name=v1,v2,...] [--sweep name=...]

`SCENARIO` is a path or the name of a bundled example (`bundled_scenarios()`, e.g. `default-50k`). The
run prints the terminal tables and writes CSV, PNG and HTML into `DIR` (default
`./capacity-<scenario name>`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from rich.console import Console

from hanota.capacity.planner import run_scenario
from hanota.capacity.report import print_result, print_sweep, write_report
from hanota.capacity.scenario import ScenarioError, load_scenario
from hanota.capacity.sweep import apply, parse_sweep, run_sweep

EXIT_OK = 0
EXIT_OUTPUT_ERROR = 1
EXIT_BAD_INPUT = 2


def run_cli_scenario(
    scenario: str | Path,
    out_dir: Path | None = None,
    sweep: Sequence[str] = (),
    *,
    console: Console | None = None,
) -> int:
    """Run a scenario (and an optional sweep of one or two parameters), print it and write the report.

    Returns the exit code: 0 done, 2 the scenario or a sweep is invalid (message printed, nothing run),
    1 the output directory could not be written.
    """
    console = console or Console()
    try:
        loaded = load_scenario(scenario)
        params = [parse_sweep(spec) for spec in sweep]
        if len(params) > 2:
            raise ScenarioError(f"--sweep takes one or two parameters, got {len(params)}")
        for param in params:  # refuse a bad value before anything runs
            for value in param.values:
                apply(loaded, param, value)
        result = run_scenario(loaded)
        print_result(result, console)
        swept = run_sweep(loaded, params) if params else None
        if swept is not None:
            print_sweep(swept, console)
    except ScenarioError as exc:
        console.print(f"[red]error:[/red] {exc.message}")
        return EXIT_BAD_INPUT
    out = out_dir if out_dir is not None else Path(f"capacity-{loaded.name}")
    try:
        files = write_report(result, out, swept)
    except OSError as exc:
        console.print(f"[red]error:[/red] cannot write the report to {out}: {exc}")
        return EXIT_OUTPUT_ERROR
    console.print(f"report: {files.html} (+ {len(files.csv)} CSV, {len(files.png)} PNG in {files.out_dir})")
    return EXIT_OK
