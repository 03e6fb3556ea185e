"""`hanota estate …` and `hanota pki …`."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from hanota.cli.common import console, fail, load_settings, migrated_engine
from hanota.clock import SystemClock
from hanota.estate.generate import EstateExists, generate
from hanota.estate.pki import init_pki, trust_dccboxed
from hanota.estate.summary import EstateSummary, summarise

estate_app = typer.Typer(
    help="Synthetic GB estates: homes, hubs, devices, suppliers and the CPL.", no_args_is_help=True
)
pki_app = typer.Typer(help="Test PKI: keys and certificates with the DUIS fields.", no_args_is_help=True)


def print_summary(s: EstateSummary) -> None:
    t = Table(title="Estate", show_header=True)
    t.add_column("what")
    t.add_column("count", justify="right")
    t.add_row("homes", f"{s.homes:,}")
    t.add_row("  of which gas", f"{s.gas_homes:,}")
    t.add_row("  of which prepayment", f"{s.prepayment_homes:,}")
    t.add_row("  with two interested suppliers", f"{s.homes_two_suppliers:,}")
    t.add_row("comms hubs", f"{s.hubs:,}")
    t.add_row("  without HAN-device OTA", f"{s.hubs_without_han_ota:,}")
    t.add_row("devices", f"{s.devices:,}")
    for region, n in s.by_region.items():
        t.add_row(f"  in {region}", f"{n:,}")
    t.add_row("IHDs without a recorded firmware version", f"{s.ihd_without_firmware:,}")
    t.add_row(
        "CPL entries", f"{s.cpl_entries:,}  ({', '.join(f'{k} {v}' for k, v in s.cpl_by_status.items())})"
    )
    t.add_row("users", ", ".join(f"{k} {v}" for k, v in s.users_by_role.items()))
    console.print(t)
    d = Table(title="Devices by SMI status and type", show_header=True)
    d.add_column("SMI status")
    types = list(s.by_type_status)
    for dtype in types:
        d.add_column(dtype, justify="right")
    statuses = sorted({st for v in s.by_type_status.values() for st in v})
    for st in statuses:
        label = "(none: Type 2)" if st == "-" else st
        d.add_row(label, *(f"{s.by_type_status[t].get(st, 0):,}" for t in types))
    d.add_row("total", *(f"{s.by_type[t]:,}" for t in types), style="bold")
    console.print(d)


@estate_app.command("generate")
def estate_generate(
    homes: Annotated[int, typer.Option(help="number of homes (about 4.9 devices each)")] = 2_000,
    seed: Annotated[int, typer.Option(help="random seed: the same seed gives the same estate")] = 1,
    dccboxed: Annotated[bool, typer.Option("--dccboxed", help="add the DCC Boxed test home")] = False,
    replace: Annotated[bool, typer.Option("--replace", help="wipe an existing estate first")] = False,
    reuse: Annotated[
        bool, typer.Option("--reuse", help="if the store already holds an estate, keep it and summarise it")
    ] = False,
) -> None:
    """Generate a synthetic GB estate into the store and print its summary."""
    settings = load_settings()
    engine = migrated_engine(settings)
    try:
        t0 = time.perf_counter()
        try:
            n = generate(engine, homes=homes, seed=seed, dccboxed=dccboxed, replace=replace)
            console.print(
                f"generated {n:,} devices in {time.perf_counter() - t0:.1f} s into {settings.database_url}"
            )
        except EstateExists as e:
            if not reuse:
                fail(f"{e} (or --reuse to keep it)")
            console.print(f"reusing the estate in {settings.database_url}")
        print_summary(summarise(engine))
    finally:
        engine.dispose()


@estate_app.command("summary")
def estate_summary() -> None:
    """Print what the store's estate holds."""
    engine = migrated_engine(load_settings())
    try:
        print_summary(summarise(engine))
    finally:
        engine.dispose()


@pki_app.command("init")
def pki_init(
    directory: Annotated[Path | None, typer.Argument(help="where keys go (default: DATA_DIR/pki)")] = None,
    years: Annotated[int, typer.Option(help="validity of the certificates")] = 10,
) -> None:
    """Create a CA, an XML-signing certificate per User and the DSP's signing identity."""
    settings = load_settings()
    engine = migrated_engine(settings)
    out = directory or settings.pki_dir
    try:
        ids = init_pki(engine, out, now=SystemClock().now(), years=years)
    finally:
        engine.dispose()
    console.print(f"CA, DSP identity and {len(ids)} User identities written to {out}")


@pki_app.command("trust-dccboxed")
def pki_trust_dccboxed(
    directory: Annotated[Path, typer.Argument(help="the DCC Boxed PKI folder, e.g. tests/data/duis/pki")],
) -> None:
    """Trust the DCC Boxed test identities and sign responses with the DCC Boxed DSP key."""
    settings = load_settings()
    engine = migrated_engine(settings)
    try:
        n = trust_dccboxed(engine, directory, settings.data_dir)
    finally:
        engine.dispose()
    console.print(
        f"pinned {n} DCC Boxed certificates; the DSP now signs with Z1-accessControlBroker-dSPXmlSign"
    )
