"""`hanota esi extract`, `hanota billing` and `hanota users …`: the SSI's data from the command line."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy import select

from hanota.alerts.endpoints import EndpointChange, set_endpoint
from hanota.cli.common import EXIT_REFUSED, console, err_console, fail, load_settings, migrated_engine
from hanota.clock import SystemClock
from hanota.db.engine import read_engine
from hanota.db.models import User, WebCredential
from hanota.errors import AccessError, InputError
from hanota.estate.catalogue import DCC_OPERATOR_EUI
from hanota.settings import Settings
from hanota.ssi import billing as bill
from hanota.ssi.auth import OPERATOR_ROLE, SUPPLIER_ROLES, generate_password, normalise_eui, set_password
from hanota.ssi.csvout import csv_chunks
from hanota.ssi.esi import write_extract
from hanota.ssi.queries import Scope

ssi_cli = typer.Typer(no_args_is_help=True)  # merged into `hanota` itself: its groups are top-level
esi_app = typer.Typer(
    help="The ESI inventory extract (devices with IHD/PPMID firmware versions).", no_args_is_help=True
)
users_app = typer.Typer(
    help="Users' sign-in to the web SSI and where their alerts are delivered.", no_args_is_help=True
)
ssi_cli.add_typer(esi_app, name="esi")
ssi_cli.add_typer(users_app, name="users")


def _eui(value: str) -> str:
    eui = normalise_eui(value)
    if eui is None:
        fail(f"{value!r} is not a User ID (EUI-64, e.g. 90-B3-D5-1F-30-01-00-00)")
    return eui


@esi_app.command("extract")
def esi_extract(
    out: Annotated[Path, typer.Argument(help="the CSV file to write ('-' for standard output)")],
    user: Annotated[str | None, typer.Option(help="only the devices this User is interested in")] = None,
) -> None:
    """Write the inventory extract: every device, with firmware version, its CPL status and upgradeability."""
    settings = load_settings()
    engine = migrated_engine(settings)
    reader = read_engine(engine)
    now = SystemClock().now()
    scope = Scope(_eui(user), False, now) if user else Scope("", True, now)
    t0 = time.perf_counter()
    try:
        if str(out) == "-":
            n = write_extract(reader, scope, sys.stdout)
        else:
            if not out.parent.is_dir():
                fail(f"{out.parent} is not a folder: cannot write {out}")
            tmp = out.with_name(out.name + ".part")
            try:
                with tmp.open("w", newline="", encoding="utf-8") as f:
                    n = write_extract(reader, scope, f)
                tmp.replace(out)  # never leave a half-written extract under the final name
            finally:
                tmp.unlink(missing_ok=True)
    finally:
        reader.dispose()
        engine.dispose()
    err_console.print(f"{n:,} devices written to {out} in {time.perf_counter() - t0:.1f} s")


@ssi_cli.command("billing")
def billing(
    start: Annotated[str | None, typer.Option("--from", help="first month, YYYY-MM")] = None,
    end: Annotated[str | None, typer.Option("--to", help="last month, YYYY-MM")] = None,
    user: Annotated[str | None, typer.Option(help="one User only")] = None,
    csv: Annotated[
        Path | None,
        typer.Option(metavar="FILE", help="write the counts as CSV to FILE ('-' for standard output)"),
    ] = None,
) -> None:
    """Billing counts per User, per SRV, per month: requests and, for SR 11.4/11.1, devices."""
    first = bill.parse_month(start) if start else None
    last = bill.parse_month(end) if end else None
    if (start and first is None) or (end and last is None):
        fail("months are written YYYY-MM")
    settings = load_settings()
    who = _eui(user) if user else None
    writer = migrated_engine(settings)
    engine = read_engine(writer)
    try:
        with engine.connect() as conn:
            rows = bill.billing_rows(conn, user=who, start=first, end=bill.next_month(last) if last else None)
    finally:
        engine.dispose()
        writer.dispose()
    if csv is not None:
        data = b"".join(csv_chunks(bill.BILLING_CSV, bill.billing_csv(rows)))
        if str(csv) == "-":
            sys.stdout.buffer.write(data)
        else:
            if not csv.parent.is_dir():
                fail(f"{csv.parent} is not a folder: cannot write {csv}")
            tmp = csv.with_name(csv.name + ".part")
            tmp.write_bytes(data)
            tmp.replace(csv)
            err_console.print(f"{len(rows)} rows written to {csv}")
        return
    t = Table(title="Billing counts", show_header=True)
    for col, justify in (("month", "left"), ("User", "left"), ("SRV", "left"), ("requests", "right"),
                         ("accepted", "right"), ("devices", "right"), ("devices accepted", "right")):  # fmt: skip
        t.add_column(col, justify=justify)  # type: ignore[arg-type]
    for b in rows:
        t.add_row(
            b.month, f"{b.user_name} {b.user_eui}", b.srv, f"{b.requests:,}", f"{b.requests_accepted:,}",
            "" if b.devices is None else f"{b.devices:,}",
            "" if b.devices_accepted is None else f"{b.devices_accepted:,}",
        )  # fmt: skip
    console.print(t)


@users_app.command("set-password")
def users_set_password(
    eui: Annotated[str, typer.Argument(help="the User ID (EUI-64)")],
    generate: Annotated[
        bool, typer.Option("--generate", help="make a random password and print it once")
    ] = False,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="read the password from stdin")
    ] = False,
) -> None:
    """Set a User's SSI password (asked for twice, read from stdin, or generated)."""
    user = _eui(eui)
    if generate:
        password = generate_password()
    elif password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("New password", hide_input=True, confirmation_prompt=True)
    engine = migrated_engine(load_settings())
    try:
        with engine.begin() as conn:
            set_password(conn, user, password, SystemClock().now())
    except ValueError as e:
        fail(str(e))
    finally:
        engine.dispose()
    if generate:
        console.print(f"{user}  {password}")
    else:
        console.print(f"password set for {user}")


@users_app.command("set-endpoint")
def users_set_endpoint(
    eui: Annotated[str, typer.Argument(help="the User ID (EUI-64)")],
    url: Annotated[
        str | None,
        typer.Argument(
            help="the http:// or https:// URL the DSP POSTs the User's alerts to", show_default=False
        ),
    ] = None,
    clear: Annotated[
        bool, typer.Option("--clear", help="no endpoint: the User's alerts go to its mailbox again")
    ] = False,
    reason: Annotated[str, typer.Option("--reason", help="why (goes into the audit trail)")] = "",
    operator: Annotated[
        str, typer.Option("--operator", help="the acting DCC operator's EUI")
    ] = DCC_OPERATOR_EUI,
) -> None:
    """Set a User's alert endpoint (or --clear it: mailbox delivery), audited as the DCC operator's change.

    The DSP POSTs each signed alert there as application/xml and takes any 2xx as delivered (a DCC Boxed
    receiver: http://HOST:PORT/smartdcc/duis). A failing state of the old endpoint does not carry over.
    """
    if clear == (url is not None):
        fail("give either a URL or --clear")
    if not reason.strip():
        fail("give a --reason: it goes into the audit trail")
    user = _eui(eui)
    actor = _eui(operator)
    engine = migrated_engine(load_settings())
    try:
        with engine.begin() as conn:
            change = set_endpoint(conn, user=user, url=url, actor=actor, reason=reason.strip(),
                                  now=SystemClock().now())  # fmt: skip
    except AccessError as e:
        fail(f"refused: {e.message}", EXIT_REFUSED)
    except InputError as e:
        fail(e.message)
    finally:
        engine.dispose()
    console.print(_endpoint_line(change), markup=False, soft_wrap=True, highlight=False)


def _endpoint_line(c: EndpointChange) -> str:
    where = c.after or "none (alerts go to its mailbox)"
    if not c.changed:
        return f"{c.user}: alert endpoint already {where}; nothing changed"
    notes = []
    if c.reset_failing:
        notes.append("the old endpoint's failing state is dropped")
    if c.after is not None and c.in_mailbox:
        notes.append(f"{c.in_mailbox:,} alert{' stays' if c.in_mailbox == 1 else 's stay'} in its mailbox")
    return f"{c.user}: alert endpoint {where} (was {c.before or 'none'})" + "".join(f"; {n}" for n in notes)


@users_app.command("list")
def users_list() -> None:
    """The Users, their roles, and whether they can sign in to the SSI."""
    engine = migrated_engine(load_settings())
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                select(User.eui, User.name, User.roles, User.status, WebCredential.eui.label("has_pw"))
                .outerjoin(WebCredential, WebCredential.eui == User.eui)
                .order_by(User.eui)
            ).all()
    finally:
        engine.dispose()
    t = Table(title="Users", show_header=True)
    for col in ("User ID", "name", "roles", "status", "SSI password"):
        t.add_column(col)
    for r in rows:
        t.add_row(r.eui, r.name, r.roles, r.status, "set" if r.has_pw else "-")
    console.print(t)


@users_app.command("dev-passwords")
def users_dev_passwords(
    all_users: Annotated[bool, typer.Option("--all", help="also replace passwords already set")] = False,
) -> None:
    """Development only: give the DCC operator and every supplier without one a random password, printed once."""
    settings = load_settings()
    if settings.environment == "production":
        fail("refused in production: use `hanota users set-password EUI`")
    engine = migrated_engine(settings)
    now = SystemClock().now()
    made: list[tuple[str, str, str, str]] = []
    with engine.begin() as conn:
        have = set(conn.execute(select(WebCredential.eui)).scalars())
        for u in conn.execute(select(User.eui, User.name, User.roles).order_by(User.eui)).all():
            roles = set(u.roles.split())
            if not (roles & SUPPLIER_ROLES or OPERATOR_ROLE in roles) or (u.eui in have and not all_users):
                continue
            password = generate_password()
            set_password(conn, u.eui, password, now)
            made.append((u.eui, u.name, u.roles, password))
    engine.dispose()
    if not made:
        console.print("every supplier and the operator already have a password (use --all to replace them)")
        return
    # Plain lines, not a table: whole values whatever the terminal's width (or none, when piped)
    console.print(f"SSI passwords (shown once): sign in at {ssi_url(settings)}", markup=False, soft_wrap=True)
    width = max(len(row[1]) for row in made)
    for eui, name, user_roles, password in made:
        console.print(f"{eui}  {password}  {name:<{width}}  {user_roles}", markup=False, soft_wrap=True)


def ssi_url(settings: Settings) -> str:
    """Where `hanota serve` serves the SSI: HANOTA_DSP_URL if set, else http://HANOTA_HOST:HANOTA_PORT (an
    any-address bind is reached on the loopback address)."""
    if settings.dsp_url:
        return settings.dsp_url.rstrip("/") + "/ssi/"
    host = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}.get(settings.host, settings.host)  # noqa: S104
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{settings.port}/ssi/"
