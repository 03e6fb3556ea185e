"""`hanota capacity run`: how long a campaign takes and where it chokes."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hanota.capacity import bundled_scenarios, run_cli_scenario

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
    raise typer.Exit(run_cli_scenario(scenario, out, sweep or ()))
