"""`hanota demo`: the whole service end to end on one machine, watched live.

It generates (or reuses) an estate and a test PKI, starts the DSP with the three CSP gateways in-process,
each driving its region's simulated network on a shared scaled clock, starts a sample supplier endpoint
that verifies and stores every DCC Alert, then submits over HTTP, signed by the supplier, one SR 11.4 for a
model of IHD and, just after it, one SR 11.1 for a model of ESME. It shows per region and campaign how far
delivery is, in virtual time, and ends with a summary.
"""

from __future__ import annotations

import logging
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated

import httpx
import typer
from rich.console import Group
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn
from rich.table import Table
from rich.text import Text
from sqlalchemy import Engine, func, select, text, update

from hanota.alerts.receiver import Receiver
from hanota.api.app import AppContext, build_context, create_app, make_delivery, make_router, make_runners
from hanota.background import ServerThread
from hanota.cli.common import console, load_settings, migrated_engine
from hanota.clock import SystemClock, utc
from hanota.db.models import (
    AlertOutbox,
    CSPDistribution,
    DistributionJob,
    RequestDevice,
    ServiceRequest,
    Setting,
    User,
    WebCredential,
)
from hanota.dsp.trust import dsp_signer
from hanota.duis import Request, RequestID, Signer, load_certificate, load_private_key, render_request
from hanota.duis.codes import DCC_EUI, service_reference_of
from hanota.duis.models import UpdateFirmware, UpdatePPMIDFirmware
from hanota.estate.campaign import Campaign, model_of, plan
from hanota.estate.catalogue import DCC_OPERATOR_EUI
from hanota.estate.generate import EstateExists, generate
from hanota.estate.pki import DSP_CERT_SETTING, init_pki
from hanota.logs import configure_logging
from hanota.ssi.auth import generate_password, set_password

OPEN_STATES = ("accepted", "sent", "transferred")
REGIONS = ("North", "Central", "South")


@dataclass
class Submitted:
    campaign: Campaign
    request_pk: int
    code: str
    submitted_at: datetime


def _port(preferred: int) -> int:
    """`preferred` when it is free on loopback, else any free port."""
    import socket

    for port in (preferred, 0):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(s.getsockname()[1])
    raise RuntimeError("no free port")


def _web_passwords(ctx: AppContext, euis: list[str]) -> list[tuple[str, str]]:
    """Development only: a password for each of `euis` that has none, to sign in to the web SSI."""
    if ctx.settings.environment == "production":
        return []
    made = []
    with ctx.engine.begin() as conn:
        have = set(conn.execute(select(WebCredential.eui)).scalars())
        for eui in euis:
            if eui not in have:
                password = generate_password()
                set_password(conn, eui, password, SystemClock().now())
                made.append((eui, password))
    return made


def _prepare(engine: Engine, homes: int, seed: int, pki_dir: Path) -> None:
    t0 = time.perf_counter()
    try:
        n = generate(engine, homes=homes, seed=seed, dccboxed=True)
        console.print(f"estate: generated {n:,} devices in {time.perf_counter() - t0:.1f} s")
    except EstateExists:
        with engine.connect() as conn:
            n = conn.execute(text("SELECT count(*) FROM devices")).scalar_one()
        console.print(f"estate: reusing the {n:,} devices already in the store")
    with engine.connect() as conn:
        has_pki = (
            conn.execute(select(Setting.value).where(Setting.key == DSP_CERT_SETTING)).first() is not None
        )
    if not has_pki:
        ids = init_pki(engine, pki_dir, now=SystemClock().now())
        console.print(f"PKI: CA, DSP identity and {len(ids)} User identities written to {pki_dir}")


def _submit(
    client: httpx.Client, url: str, ctx: AppContext, campaign: Campaign, signer: Signer, counter: int
) -> Submitted:
    body = (
        UpdatePPMIDFirmware(campaign.image, campaign.firmware_version, campaign.device_ids)
        if campaign.srv == "11.4"
        else UpdateFirmware(campaign.image, campaign.firmware_version, campaign.device_ids)
    )
    rid = RequestID(campaign.sender, DCC_EUI, counter)
    request = Request(
        schema_version="5.4", request_id=rid, command_variant=8,
        service_reference=service_reference_of(campaign.srv), srv=campaign.srv, body=body,
    )  # fmt: skip
    signed = signer.sign(render_request(request))
    r = client.post(f"{url}/api/v1/serviceD", content=signed, headers={"content-type": "application/xml"})
    code = r.headers.get("x-duis-response-code", f"HTTP {r.status_code}")
    with ctx.engine.connect() as conn:
        pk = conn.execute(select(ServiceRequest.id).where(ServiceRequest.request_id == str(rid))).scalar_one()
    return Submitted(campaign, pk, code, ctx.clock.now())


def _signer(ctx: AppContext, eui: str) -> Signer:
    stem = eui.replace("-", "")
    users = ctx.settings.pki_dir / "users"
    return Signer(load_private_key(users / f"{stem}.key.pem"), load_certificate(users / f"{stem}.pem"))


def _progress_counts(engine: Engine, pks: list[int]) -> dict[tuple[int, str, str], int]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(RequestDevice.request_pk, RequestDevice.region, RequestDevice.state, func.count())
            .where(RequestDevice.request_pk.in_(pks), RequestDevice.outcome == "Accepted")
            .group_by(RequestDevice.request_pk, RequestDevice.region, RequestDevice.state)
        ).all()
    return {(r[0], r[1] or "?", r[2]): int(r[3]) for r in rows}


def _finished(engine: Engine, pks: list[int]) -> bool:
    with engine.connect() as conn:
        open_devices = conn.execute(
            select(func.count()).where(
                RequestDevice.request_pk.in_(pks), RequestDevice.state.in_(OPEN_STATES)
            )
        ).scalar_one()
        open_jobs = conn.execute(
            select(func.count()).where(DistributionJob.request_pk.in_(pks), DistributionJob.status != "sent")
        ).scalar_one()
        undelivered = conn.execute(
            select(func.count()).where(
                AlertOutbox.request_pk.in_(pks),
                AlertOutbox.delivered_at.is_(None),
                AlertOutbox.mailbox.is_(False),
            )
        ).scalar_one()
    return open_devices == 0 and open_jobs == 0 and undelivered == 0


def _fmt_virtual(seconds: float) -> str:
    d, rem = divmod(int(seconds), 86400)
    h, rem = divmod(rem, 3600)
    return f"{d}d {h:02d}:{rem // 60:02d}"


def _quantiles(times: list[float]) -> str:
    """50 % / 90 % / all of `times` (seconds), or '-'."""
    if not times:
        return "-"
    times = sorted(times)
    return " / ".join(_fmt_virtual(times[min(len(times) - 1, int(q * len(times)))]) for q in (0.5, 0.9, 1.0))


def _wan_table(ctx: AppContext) -> Table:
    """When the image reached the targets' Comms Hubs, per region and priority class: the CSP queue at work."""
    table = Table(title="image at the Comms Hubs (WAN), per region: 50 % / 90 % / all after reaching the CSP")
    table.add_column("firmware class")
    for r in REGIONS:
        table.add_column(r, justify="right")
    cells: dict[str, dict[str, str]] = defaultdict(dict)
    for runner in ctx.runners:
        if runner.engine is None:
            continue
        with ctx.engine.connect() as conn:
            ids = conn.execute(
                select(CSPDistribution.distribution_id, CSPDistribution.priority).where(
                    CSPDistribution.region == runner.region, CSPDistribution.engine_seq.is_not(None)
                )
            ).all()
        by_class: dict[str, list[float]] = defaultdict(list)
        for did, priority in ids:
            res = runner.engine.results(did)
            by_class[priority].extend(
                float(t) - res.submitted for t in res.ready if t == t
            )  # NaN: never sent
        for priority, times in by_class.items():
            cells[priority][runner.region] = _quantiles(times)
    for priority in ("ESME_GSME", "HAN"):
        if priority in cells:
            table.add_row(priority, *(cells[priority].get(r, "-") for r in REGIONS))
    return table


def demo(
    devices: Annotated[int, typer.Option(help="IHDs listed in the SR 11.4 (at most 50,000)")] = 10_000,
    esme: Annotated[int, typer.Option(help="ESMEs in the SR 11.1 sent alongside (0: none)")] = 2_000,
    homes: Annotated[int, typer.Option(help="homes of the estate, when one is generated")] = 100_000,
    speed: Annotated[float, typer.Option(help="virtual seconds per wall second")] = 3_000.0,
    seed: Annotated[int, typer.Option(help="seed of the estate and of the network")] = 1,
    exit_when_done: Annotated[
        bool, typer.Option("--exit-when-done", help="exit when the campaigns end")
    ] = False,
    timeout: Annotated[float, typer.Option(help="give up after this many wall minutes")] = 30.0,
) -> None:
    """Run the whole service on this machine and watch a firmware campaign reach the homes."""
    if not 0 < devices <= 50_000:
        raise typer.BadParameter("--devices must be 1..50,000")
    wall0 = time.monotonic()
    settings = load_settings()
    configure_logging("warning", json=settings.log_json)  # the progress display is the demo's output
    logging.getLogger("httpx").setLevel(logging.WARNING)
    engine = migrated_engine(settings)
    _prepare(engine, homes, seed, settings.pki_dir)
    engine.dispose()
    settings = settings.model_copy(
        update={"clock_speed": speed, "inprocess_gateways": True, "run_worker": True, "run_network": True,
                "network_seed": seed, "port": _port(settings.port)}
    )  # fmt: skip
    ctx = build_context(settings, migrate=False)
    receiver = Receiver(dsp_signer(ctx.engine).certificate)
    endpoint = receiver.serve_in_thread()
    with ctx.engine.begin() as conn:
        suppliers = [
            eui
            for eui, roles in conn.execute(select(User.eui, User.roles))
            if {"IS", "GS"} & set(roles.split())
        ]
        for eui in suppliers:
            conn.execute(
                update(User).where(User.eui == eui).values(alert_endpoint=endpoint.endpoint_for(eui))
            )
    base = f"http://127.0.0.1:{settings.port}"
    ctx.router = make_router(ctx, base, name="demo")
    ctx.runners = make_runners(ctx, base)
    ctx.delivery = make_delivery(ctx, name="demo")
    server = ServerThread(create_app(ctx), port=settings.port, name="dsp")
    url = server.start()
    console.print(
        f"DSP, CSP gateways North/Central/South and the network on {url}; supplier endpoint on {endpoint.url}; "
        f"virtual time x{speed:,.0f} (1 wall second = {_fmt_virtual(speed)})"
    )
    try:
        now = ctx.clock.now()
        han = plan(ctx.engine, model_of("IHD"), devices, now, seed=seed)
        campaigns = [han]
        if esme:
            campaigns.append(plan(ctx.engine, model_of("ESME"), esme, now, sender=han.sender, seed=seed))
        for eui, password in _web_passwords(ctx, [DCC_OPERATOR_EUI, han.sender]):
            who = "the DCC operator" if eui == DCC_OPERATOR_EUI else "the sending supplier"
            console.print(f"web SSI {url}/ssi/ : {who} signs in as {eui} with password {password}")
        submitted: list[Submitted] = []
        with httpx.Client(timeout=120) as client:
            counter = int(time.time() * 1000)
            for i, c in enumerate(campaigns):
                t0 = time.perf_counter()
                s = _submit(client, url, ctx, c, _signer(ctx, c.sender), counter + i)
                submitted.append(s)
                console.print(
                    f"SR {c.srv} from {c.sender}: {len(c.device_ids):,} {c.model.device_type}s of model {c.model.model}, "
                    f"firmware {c.firmware_version} ({len(c.image):,} bytes) -> {s.code} in "
                    f"{time.perf_counter() - t0:.2f} s"
                )
        _watch(ctx, submitted, speed, exit_when_done, timeout * 60, wall0)
        _summary(ctx, submitted, receiver, wall0)
    finally:
        server.stop()
        endpoint.stop()
        receiver.close()
        ctx.engine.dispose()


def _window(ctx: AppContext) -> str:
    w = ctx.runners[0].profile.window if ctx.runners else None
    return f"{w.start_h:02.0f}:00-{w.end_h:02.0f}:00" if w else "-"


def _watch(
    ctx: AppContext,
    submitted: list[Submitted],
    speed: float,
    exit_when_done: bool,
    limit_s: float,
    wall0: float,
) -> None:
    pks = [s.request_pk for s in submitted]
    start = min(s.submitted_at for s in submitted)
    progress = Progress(
        TextColumn("{task.description}", justify="left"),
        BarColumn(bar_width=30),
        MofNCompleteColumn(),
        TextColumn("{task.fields[detail]}"),
        console=console,
        auto_refresh=False,
    )
    tasks: dict[tuple[int, str], TaskID] = {}
    for s in submitted:
        for region in REGIONS:
            label = f"{region:<8} SR {s.campaign.srv} {s.campaign.model.device_type:<5}"
            tasks[(s.request_pk, region)] = progress.add_task(label, total=1, detail="")
    wall_deadline = time.monotonic() + limit_s
    done_once = False
    clock_line = Text("")
    with Live(Group(clock_line, progress), console=console, refresh_per_second=4, transient=False):
        while time.monotonic() < wall_deadline:
            counts = _progress_counts(ctx.engine, pks)
            per: dict[tuple[int, str], Counter[str]] = defaultdict(Counter)
            for (pk, region, state), n in counts.items():
                per[(pk, region)][state] += n
            for key, task in tasks.items():
                c = per.get(key, Counter())
                total = sum(c.values())
                final = c["activated"] + c["activation_failed"] + c["transfer_failed"] + c["csp_rejected"]
                detail = (f"sent {c['sent']:,}  transferred {c['transferred']:,}  activated {c['activated']:,}  "
                          f"failed {c['transfer_failed'] + c['activation_failed'] + c['csp_rejected']:,}")  # fmt: skip
                progress.update(task, total=max(total, 1), completed=final, detail=detail)
            virtual = (ctx.clock.now() - start).total_seconds()
            clock_line.plain = (
                f"virtual time {ctx.clock.now():%Y-%m-%d %H:%M} UTC, {_fmt_virtual(virtual)} after submission "
                f"(night window {_window(ctx)}); wall {time.monotonic() - wall0:.0f} s"
            )
            progress.refresh()
            if _finished(ctx.engine, pks):
                if exit_when_done or done_once:
                    return
                done_once = True
                console.print(
                    f"all campaigns finished; the service stays up (web SSI at http://127.0.0.1:{ctx.settings.port}/ssi/) "
                    "until Ctrl-C"
                )
                if not exit_when_done:
                    try:
                        while True:
                            time.sleep(1)
                    except KeyboardInterrupt:
                        return
            time.sleep(0.5)
    console.print(f"[yellow]stopped after {limit_s / 60:.0f} wall minutes with work still open[/yellow]")


def _summary(ctx: AppContext, submitted: list[Submitted], receiver: Receiver, wall0: float) -> None:
    with ctx.engine.connect() as conn:
        for s in submitted:
            rows = conn.execute(
                select(RequestDevice.outcome, RequestDevice.state, RequestDevice.failure, func.count())
                .where(RequestDevice.request_pk == s.request_pk)
                .group_by(RequestDevice.outcome, RequestDevice.state, RequestDevice.failure)
            ).all()
            last = conn.execute(
                select(func.max(RequestDevice.finished_at)).where(RequestDevice.request_pk == s.request_pk)
            ).scalar()
            table = Table(
                title=f"SR {s.campaign.srv} ({s.code}): {len(s.campaign.device_ids):,} devices listed"
            )
            table.add_column("where validation put it")
            table.add_column("how delivery ended")
            table.add_column("devices", justify="right")
            for outcome, state, failure, n in sorted(
                rows, key=lambda r: (r[0] != "Accepted", r[0], r[1], r[2] or "")
            ):
                ended = f"{state}: {failure}" if failure else state
                table.add_row(outcome, "" if state == "rejected" else ended, f"{n:,}")
            console.print(table)
            if last is not None:
                console.print(
                    f"  last device finished {_fmt_virtual((utc(last) - s.submitted_at).total_seconds())} "
                    "(virtual) after submission"
                )
        finish = conn.execute(
            select(RequestDevice.request_pk, RequestDevice.region, RequestDevice.finished_at).where(
                RequestDevice.request_pk.in_([s.request_pk for s in submitted]),
                RequestDevice.outcome == "Accepted",
                RequestDevice.finished_at.is_not(None),
            )
        ).all()
        outbox = conn.execute(
            select(AlertOutbox.recipient_eui, AlertOutbox.code, func.count(),
                   func.count(AlertOutbox.delivered_at))
            .group_by(AlertOutbox.recipient_eui, AlertOutbox.code)
        ).all()  # fmt: skip
    regions = Table(title="devices finished, per region: 50 % / 90 % / all (virtual time after submission)")
    regions.add_column("request")
    for r in REGIONS:
        regions.add_column(r, justify="right")
    for s in submitted:
        cells = [
            _quantiles(
                [(utc(f) - s.submitted_at).total_seconds() for pk, region, f in finish
                 if pk == s.request_pk and region == r and f is not None]
            )
            for r in REGIONS
        ]  # fmt: skip
        regions.add_row(f"SR {s.campaign.srv} {s.campaign.model.device_type}", *cells)
    console.print(regions)
    console.print(_wan_table(ctx))
    codes = sorted({code for _, code, _, _ in outbox})
    alerts = Table(
        title="DCC alerts per supplier: written to the outbox / verified by its endpoint (unique IDs)"
    )
    alerts.add_column("supplier")
    for code in codes:
        alerts.add_column(code, justify="right")
    alerts.add_column("total", justify="right")
    received = receiver.by_supplier()
    per_supplier: dict[str, dict[str, int]] = defaultdict(dict)
    for eui, code, n, _delivered in outbox:
        per_supplier[eui][code] = n
    for eui, written in sorted(per_supplier.items()):
        got = received.get(eui, {})
        alerts.add_row(
            eui,
            *(f"{written.get(c, 0):,} / {got.get(c, 0):,}" for c in codes),
            f"{sum(written.values()):,} / {sum(got.values()):,}",
        )
    console.print(alerts)
    console.print(
        f"receiver: {receiver.unique:,} unique alerts, {receiver.duplicates:,} duplicate posts, "
        f"{receiver.rejected:,} refused; wall time {time.monotonic() - wall0:.0f} s"
    )
