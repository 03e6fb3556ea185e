"""The `hanota` command.

Every failure of every command ends the same way: one line on stderr and a meaningful exit code (see
`hanota.cli.common`), never a traceback. `HanotaGroup` is the one place that applies that rule: it wraps
the whole command tree, so commands raise what they meet (a down server, a missing file, a bad setting)
and need no try/except of their own.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated, Any

import typer
from sqlalchemy.engine import make_url
from typer._click.exceptions import ClickException, NoArgsIsHelpError, UsageError
from typer.core import TyperGroup

from hanota import __version__
from hanota.cli.alerts import alerts_app
from hanota.cli.anomaly import quarantine_app, thresholds_app
from hanota.cli.capacity import capacity_app
from hanota.cli.common import (
    EXIT_CODES_HELP,
    EXIT_REFUSED,
    EXIT_USAGE,
    console,
    describe_error,
    fail,
    load_settings,
)
from hanota.cli.deadletters import dead_letters_app
from hanota.cli.demo import demo
from hanota.cli.estate import estate_app, pki_app
from hanota.cli.firmware import firmware_app
from hanota.cli.serve import csp_app, serve, sr_app, worker
from hanota.cli.ssi import ssi_cli
from hanota.db.migrate import current_revision, downgrade, downgrade_steps, history, upgrade

HELP_WIDTH = 120


def _usage_line(e: UsageError) -> str:
    where = e.ctx.command_path if e.ctx is not None else "hanota"
    return f"{where}: {e.format_message()} (see '{where} --help')"


class HanotaGroup(TyperGroup):
    """The top of the command tree: plain help that is never cut, and the one error handler."""

    def make_context(self, info_name: str | None, args: list[str], parent: Any = None, **extra: Any) -> Any:
        extra.setdefault("max_content_width", HELP_WIDTH)
        if not sys.stdout.isatty():
            extra.setdefault("terminal_width", HELP_WIDTH)  # piped help wraps at 120, not 80
        try:
            return super().make_context(info_name, args, parent, **extra)
        except NoArgsIsHelpError:
            raise
        except UsageError as e:
            fail(_usage_line(e), EXIT_USAGE)

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, NoArgsIsHelpError, BrokenPipeError, KeyboardInterrupt, EOFError):
            raise
        except UsageError as e:
            fail(_usage_line(e), EXIT_USAGE)
        except ClickException as e:
            fail(e.format_message(), e.exit_code)
        except Exception as e:
            if os.environ.get("HANOTA_TRACEBACK", "") not in ("", "0"):
                raise
            message, code = describe_error(e)
            fail(message, code)


app = typer.Typer(
    cls=HanotaGroup,
    help="hanota: over-the-air firmware for GB smart-metering IHDs and PPMIDs (SECMP0007), "
    "a DSP, CSP gateways, a simulated network and a capacity planner.",
    epilog=EXIT_CODES_HELP,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help: flags without "<bool>", defaults never cut at 80 columns
)
db_app = typer.Typer(help="The store: migrations.", no_args_is_help=True)
app.add_typer(estate_app, name="estate")
app.add_typer(pki_app, name="pki")
app.add_typer(db_app, name="db")
app.add_typer(sr_app, name="sr")
app.add_typer(firmware_app, name="firmware")
app.add_typer(capacity_app, name="capacity")
app.add_typer(quarantine_app, name="quarantine")
app.add_typer(thresholds_app, name="thresholds")
app.command()(demo)
app.command()(serve)
app.command()(worker)
app.add_typer(csp_app, name="csp")
app.add_typer(ssi_cli)  # `hanota esi extract`, `hanota billing`, `hanota users …` (issue 7)
app.add_typer(alerts_app, name="alerts")
app.add_typer(dead_letters_app, name="dead-letters")


@app.command()
def version() -> None:
    """Print hanota's version."""
    console.print(__version__)


def _shown(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


@db_app.command("upgrade")
def db_upgrade(
    revision: Annotated[str, typer.Argument(help="the revision to go to (default: the newest)")] = "head",
) -> None:
    """Migrate the store forward (default: to the newest schema), in one transaction."""
    settings = load_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.database_url, revision)
    console.print(f"upgraded {_shown(settings.database_url)} to {revision}")


@db_app.command("history")
def db_history() -> None:
    """The migrations, newest first, and which one the store is at."""
    settings = load_settings()
    current = current_revision(settings.database_url)
    for step in history():
        console.print(
            f"{step.revision}  {step.title}{'  (the store is here)' if step.revision == current else ''}"
        )
    if current is None:
        console.print(f"{_shown(settings.database_url)} has no schema yet")


@db_app.command("downgrade")
def db_downgrade(
    revision: Annotated[
        str,
        typer.Argument(
            help="the revision to go back to: an ID such as 0009 (`hanota db history` lists them), or "
            "'base' for an empty store"
        ),
    ],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="do not ask for confirmation")] = False,
) -> None:
    """Migrate the store backward to REVISION, in one transaction, after showing what that undoes and
    asking. What the undone migrations added (tables, columns, pre-notified devices) is dropped with its
    data; anything going wrong changes nothing."""
    settings = load_settings()
    url = settings.database_url
    current, steps = downgrade_steps(url, revision)
    if not steps:
        console.print(f"{_shown(url)} is already at {current}: nothing to do")
        return
    console.print(f"{_shown(url)} is at revision {current}; going back to {revision} undoes:")
    for step in steps:
        console.print(f"  {step.revision}  {step.title}")
    if revision == "base":
        console.print("which drops every table: the store will be empty")
    if not yes:
        try:
            confirmed = typer.confirm("Drop what they added, with its data?", default=False)
        except typer.Abort:
            confirmed = False
        if not confirmed:
            fail("downgrade not confirmed: nothing changed (--yes confirms without asking)", EXIT_REFUSED)
    downgrade(url, revision)
    console.print(f"downgraded {_shown(url)} from {current} to {revision}")


if __name__ == "__main__":
    app()
