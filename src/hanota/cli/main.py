"""The `hanota` command."""

from __future__ import annotations

from typing import Annotated

import typer

from hanota import __version__
from hanota.cli.alerts import alerts_app
from hanota.cli.anomaly import quarantine_app, thresholds_app
from hanota.cli.capacity import capacity_app
from hanota.cli.common import console, load_settings
from hanota.cli.demo import demo
from hanota.cli.estate import estate_app, pki_app
from hanota.cli.serve import csp_app, serve, sr_app, worker
from hanota.cli.ssi import ssi_cli
from hanota.db.migrate import downgrade, upgrade

app = typer.Typer(
    help="hanota: over-the-air firmware for GB smart-metering IHDs and PPMIDs (SECMP0007), "
    "a DSP, CSP gateways, a simulated network and a capacity planner.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="The store: migrations.", no_args_is_help=True)
app.add_typer(estate_app, name="estate")
app.add_typer(pki_app, name="pki")
app.add_typer(db_app, name="db")
app.add_typer(sr_app, name="sr")
app.add_typer(capacity_app, name="capacity")
app.add_typer(quarantine_app, name="quarantine")
app.add_typer(thresholds_app, name="thresholds")
app.command()(demo)
app.command()(serve)
app.command()(worker)
app.add_typer(csp_app, name="csp")
app.add_typer(ssi_cli)  # `hanota esi extract`, `hanota billing`, `hanota users …` (issue 7)
app.add_typer(alerts_app, name="alerts")


@app.command()
def version() -> None:
    """Print hanota's version."""
    console.print(__version__)


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument()] = "head") -> None:
    """Migrate the store forward (default: to the newest schema)."""
    settings = load_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.database_url, revision)
    console.print(f"upgraded {settings.database_url} to {revision}")


@db_app.command("downgrade")
def db_downgrade(revision: Annotated[str, typer.Argument()] = "base") -> None:
    """Migrate the store backward (default: to empty)."""
    settings = load_settings()
    downgrade(settings.database_url, revision)
    console.print(f"downgraded {settings.database_url} to {revision}")


if __name__ == "__main__":
    app()
