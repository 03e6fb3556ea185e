"""`hanota capacity run`: how long a campaign takes and where it chokes."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hanota.capacity import bundled_scenarios, run_cli_scenario
from hanota.capacity.scenario import ScenarioError, load_scenario
from hanota.capacity.sweep import apply, parse_sweep
from hanota.cli.common import console, fail

capacity_app = typer.Typer(
    help="Capacity planner on the same network model as the live system.", no_args_is_help=True
)


@capacity_app.command("run")
def capacity_run(
    scenario: Annotated[
        str,
        typer.Argument(help=f"a scenario .toml, or a bundled name: {', '.join(sorted(bundled_scenarios()))}"),
    ],
    out: Annotated[
        Path | None, typer.Option("--out", help="output folder (default ./capacity-<name>)")
    ] = None,
    sweep: Annotated[list[str] | None, typer.Option("--sweep", help="name=v1,v2,... (once or twice)")] = None,
) -> None:
    """Run a scenario: completion percentiles per region, bottleneck utilisation, failures, CSV/PNG/HTML."""
    # The input is checked here first, so that a bad scenario or sweep is one line on stderr (exit 2) and
    # nothing runs; an output folder that cannot be made is refused before the run, not after it.
    try:
        loaded = load_scenario(scenario)
        params = [parse_sweep(spec) for spec in sweep or ()]
        if len(params) > 2:
            raise ScenarioError(f"--sweep takes one or two parameters, got {len(params)}")
        for param in params:
            for value in param.values:
                apply(loaded, param, value)
    except ScenarioError as e:
        fail(e.message)
    (out if out is not None else Path(f"capacity-{loaded.name}")).mkdir(parents=True, exist_ok=True)
    raise typer.Exit(run_cli_scenario(scenario, out, sweep or (), console=console))
