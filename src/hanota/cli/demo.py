"""`hanota demo`: the whole service end to end on one machine, watched live.

It generates (or reuses) an estate and a test PKI, starts the DSP with the three CSP gateways in-process,
each driving its region's simulated network on a shared scaled clock, starts a sample supplier endpoint
that verifies and stores every DCC Alert, then submits over HTTP, signed by the supplier, one SR 11.4 for a
model of IHD and, just after it, one SR 11.1 for a model of ESME. It shows per region and campaign how far
delivery is, in virtual time, and ends with a summary that says what the codes, exclusions and alerts
mean, and where to look next.

Reproducible for a seed: each run submits at a stated virtual time, 10:00 UTC on the first day after both
the wall clock and the store's virtual time (where the previous run stopped the clock), so virtual time
never goes back for what earlier runs recorded, and every run's campaign starts 14 hours before the nightly
WAN window like every other. The clock is held there while the service starts and the requests go in,
released after, and stopped again when the demo ends. The same seed on the same store gives the same
numbers; a later run on the same store may list devices that an earlier run already updated (the
validation then says so, per device).

When stdout is not a terminal (CI logs, `tee`, `| cat`), every line is plain and complete: no live
display, no progress bars, tables as aligned text that is never cut.
"""

from __future__ import annotations

import logging
import re
import signal
import socket
import sys
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
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

from hanota.api.app import create_app
from hanota.background import ServerThread
from hanota.bootstrap import AppContext, build_context, make_delivery, make_router, make_runners
from hanota.cli.common import console, load_settings, migrated_engine
from hanota.clock import ScaledClock, SystemClock, next_at_hour, utc
from hanota.db.models import (
    AlertOutbox,
    DistributionJob,
    RequestDevice,
    ServiceRequest,
    Setting,
    User,
    WebCredential,
)
from hanota.dsp.events import JOB_PREFIX
from hanota.dsp.simclock import hold_shared_clock, save_shared_clock, stored_virtual_now
from hanota.dsp.trust import dsp_signer
from hanota.duis import Request, RequestID, Signer, load_certificate, load_private_key, render_request
from hanota.duis.codes import (
    DCC_EUI,
    alert_code,
    is_known_response_code,
    response_code,
    service_reference_of,
)
from hanota.duis.requests import UpdateFirmware, UpdatePPMIDFirmware
from hanota.estate.campaign import Campaign, model_of, plan
from hanota.estate.catalogue import DCC_OPERATOR_EUI
from hanota.estate.generate import EstateExists, generate
from hanota.estate.pki import DSP_CERT_SETTING, init_pki
from hanota.logs import configure_logging
from hanota.ssi.auth import generate_password, set_password
from hanota.supplier.receiver import Receiver

OPEN_STATES = ("accepted", "sent", "transferred")
FAILED_STATES = ("transfer_failed", "activation_failed", "csp_rejected")
# the CSP regions of hubs (hanota.db.models.HUB_REGIONS): a 4G hub's devices are in "4G <region>"
REGIONS = ("North", "Central", "South", "4G North", "4G Central", "4G South")
#: every run submits at this hour of virtual time (UTC), on the first day after everything in the store
START_HOUR = 10
#: when piped, a progress line each time this many virtual hours have passed (or PLAIN_EVERY_WALL_S)
PLAIN_EVERY_H = 3
PLAIN_EVERY_WALL_S = 30.0
#: what each delivery failure means (the network model's vocabulary, `hanota.network.events`)
FAILURES = {
    "DeviceUnreachable": "the device never fetched the image before the hub gave up on it",
    "FileTransferFailure": "the download over the HAN failed",
    "FirmwareImageDiscarded": "the device discarded the downloaded image",
    "HardwareVersionMismatch": "the device's hardware version is outside the image's range",
    "ActivationFailure": "the device took the image but did not activate it",
}
_EUI = re.compile(r"\b(?:[0-9A-F]{2}-){7}[0-9A-F]{2}\b")
_SINGLE_HEX = re.compile(r"(?<![0-9A-Fx–-])0x[0-9A-F]+(?![0-9A-F–-])")


@dataclass
class Submitted:
    campaign: Campaign
    request_pk: int
    request_id: str
    code: str
    submitted_at: datetime


@dataclass
class Login:
    who: str
    eui: str
    password: str | None  # None: the User had one already (from an earlier run)


# --- output: complete lines when piped ------------------------------------------------------------------


def _plain() -> bool:
    """Plain output: stdout is not a terminal."""
    return not console.is_terminal


def _say(line: str = "") -> None:
    """Print one line as it is: never wrapped, cropped or styled when piped."""
    console.print(line, soft_wrap=_plain(), markup=False, highlight=False, emoji=False)


@dataclass
class _Grid:
    """A table: a Rich table on a terminal, aligned plain lines (never cut) when piped."""

    title: str
    columns: list[tuple[str, bool]]  # (header, right-aligned)
    rows: list[list[str]] = field(default_factory=list)

    def lines(self) -> list[str]:
        widths = [len(h) for h, _ in self.columns]
        for row in self.rows:
            widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]

        def fmt(cells: list[str]) -> str:
            parts = [
                cell.rjust(w) if right else cell.ljust(w)
                for cell, w, (_, right) in zip(cells, widths, self.columns, strict=True)
            ]
            return ("  " + "  ".join(parts)).rstrip()

        return [self.title, fmt([h for h, _ in self.columns]), *(fmt(r) for r in self.rows)]

    def show(self) -> None:
        if _plain():
            for line in self.lines():
                _say(line)
            return
        table = Table(title=self.title, title_justify="left")
        for header, right in self.columns:
            table.add_column(header, justify="right" if right else "left")
        for row in self.rows:
            table.add_row(*row)
        console.print(table)


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


def _pct(n: int, total: int) -> str:
    if not total:
        return "-"
    share = 100 * n / total
    return "<1 %" if 0 < share < 0.5 else f"{share:.0f} %"


# --- set-up ---------------------------------------------------------------------------------------------


def _free(port: int) -> int | None:
    """`port` (0: any) if it is free on loopback, else None."""
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return None
        return int(s.getsockname()[1])


def _choose_port(explicit: int | None, configured: int) -> int:
    """--port if given (it must be free), else HANOTA_PORT, else (saying so) any free port."""
    if explicit is not None:
        port = _free(explicit)
        if port is None:
            raise typer.BadParameter(f"port {explicit} is in use", param_hint="--port")
        return port
    port = _free(configured)
    if port is not None:
        return port
    port = _free(0)
    if port is None:
        raise RuntimeError("no free port")
    _say(f"port {configured} (HANOTA_PORT) is in use: the DSP and the web SSI use port {port} instead")
    return port


def _web_logins(ctx: AppContext, users: list[tuple[str, str]]) -> list[Login]:
    """Development only: a password for each User of `users` (who, EUI) that has none, to sign in to the SSI."""
    if ctx.settings.environment == "production":
        return []
    logins = []
    with ctx.engine.begin() as conn:
        have = set(conn.execute(select(WebCredential.eui)).scalars())
        for who, eui in users:
            password = None
            if eui not in have:
                password = generate_password()
                set_password(conn, eui, password, SystemClock().now())
                have.add(eui)
            logins.append(Login(who, eui, password))
    return logins


def _prepare(engine: Engine, homes: int, seed: int, pki_dir: Path) -> None:
    t0 = time.perf_counter()
    try:
        n = generate(engine, homes=homes, seed=seed, dccboxed=True)
        _say(
            f"estate: generated {n:,} devices ({homes:,} homes, seed {seed}) in {time.perf_counter() - t0:.1f} s"
        )
    except EstateExists:
        with engine.connect() as conn:
            n = conn.execute(text("SELECT count(*) FROM devices")).scalar_one()
        _say(
            f"estate: reusing the {n:,} devices already in the store (--homes applies only to a new estate; "
            "delete the data folder to start again)"
        )
    with engine.connect() as conn:
        has_pki = (
            conn.execute(select(Setting.value).where(Setting.key == DSP_CERT_SETTING)).first() is not None
        )
    if not has_pki:
        ids = init_pki(engine, pki_dir, now=SystemClock().now())
        _say(f"PKI: CA, DSP identity and {len(ids)} User identities written to {pki_dir}")


def _virtual_start(engine: Engine, speed: float) -> ScaledClock:
    """The shared clock, held at this run's stated virtual start (see the module docstring)."""
    wall = SystemClock().now()
    stored = stored_virtual_now(engine)
    base = wall if stored is None or stored < wall else stored
    start = next_at_hour(base, START_HOUR)
    after = "now" if base is wall else "where earlier runs stopped the store's clock"
    _say(
        f"virtual time: the requests go in at {start:%Y-%m-%d %H:%M} UTC, the first {START_HOUR:02d}:00 after "
        f"{after}; every run starts at {START_HOUR:02d}:00, so the same seed on the same store gives the same "
        f"numbers. Clock x{speed:,.0f}: 1 wall second = {_fmt_virtual(speed)} virtual"
    )
    return hold_shared_clock(engine, start, speed)


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
    return Submitted(campaign, pk, str(rid), code, ctx.clock.now())


def _signer(ctx: AppContext, eui: str) -> Signer:
    stem = eui.replace("-", "")
    users = ctx.settings.pki_dir / "users"
    return Signer(load_private_key(users / f"{stem}.key.pem"), load_certificate(users / f"{stem}.pem"))


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _command() -> str:
    """How the user ran hanota (e.g. `.venv/bin/hanota`), for the commands the demo suggests."""
    argv0 = Path(sys.argv[0]) if sys.argv and sys.argv[0] else Path("hanota")
    return str(argv0) if argv0.name == "hanota" else "hanota"


def demo(
    devices: Annotated[int, typer.Option(help="IHDs listed in the SR 11.4 (at most 50,000)")] = 10_000,
    esme: Annotated[int, typer.Option(help="ESMEs in the SR 11.1 sent alongside (0: none)")] = 2_000,
    homes: Annotated[int, typer.Option(help="homes of the estate, when one is generated")] = 100_000,
    speed: Annotated[float, typer.Option(help="virtual seconds per wall second")] = 3_000.0,
    seed: Annotated[int, typer.Option(help="seed of the estate and of the network")] = 1,
    port: Annotated[
        int | None,
        typer.Option(
            help="port of the DSP and the web SSI [default: HANOTA_PORT, 8079, or a free one if that is taken]",
            show_default=False,
        ),
    ] = None,
    exit_when_done: Annotated[
        bool, typer.Option("--exit-when-done", help="exit after the summary (else the service stays up)")
    ] = False,
    timeout: Annotated[float, typer.Option(help="give up after this many wall minutes")] = 30.0,
) -> None:
    """Run the whole service on this machine and watch a firmware campaign reach the homes."""
    if not 0 < devices <= 50_000:
        raise typer.BadParameter("--devices must be 1..50,000")
    if speed <= 0:
        raise typer.BadParameter("--speed must be positive")
    wall0 = time.monotonic()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _interrupt)  # `kill` stops it like Ctrl-C: services down, clock stopped
    settings = load_settings()
    settings_port = port or settings.port
    configure_logging("warning", json=settings.log_json)  # the progress display is the demo's output
    logging.getLogger("httpx").setLevel(logging.WARNING)
    chosen_port = _choose_port(port, settings.port)
    engine = migrated_engine(settings)
    _prepare(engine, homes, seed, settings.pki_dir)
    clock = _virtual_start(engine, speed)
    engine.dispose()
    settings = settings.model_copy(
        update={"clock_speed": speed, "inprocess_gateways": True, "run_worker": True, "run_network": True,
                "network_seed": seed, "port": chosen_port}
    )  # fmt: skip
    ctx = build_context(settings, clock=clock, migrate=False)
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
    # the distribution worker starts once every request is in (below), so that the CSPs get the files in the
    # same order (ESME/GSME first) every run, whatever the timing: their network engines draw by that order
    router = make_router(ctx, base, name="demo")
    routing = threading.Event()
    router_thread = threading.Thread(
        target=router.run_forever,
        args=(routing, settings.worker_poll_seconds),
        name="demo-router",
        daemon=True,
    )
    ctx.runners = make_runners(ctx, base)
    ctx.delivery = make_delivery(ctx, name="demo")
    server = ServerThread(create_app(ctx), port=settings.port, name="dsp")
    url = server.start()
    _say(
        f"DSP, CSP gateways North/Central/South and their simulated networks on {url}; "
        f"the suppliers' alert endpoint (a sample receiver that verifies every alert) on {endpoint.url}"
    )
    try:
        now = clock.now()
        han = plan(ctx.engine, model_of("IHD"), devices, now, seed=seed)
        campaigns = [han]
        if esme:
            campaigns.append(plan(ctx.engine, model_of("ESME"), esme, now, sender=han.sender, seed=seed))
        logins = _web_logins(
            ctx, [("the DCC operator", DCC_OPERATOR_EUI), ("the sending supplier", han.sender)]
        )
        for login in logins:
            if login.password:
                _say(
                    f"web SSI {url}/ssi/ : {login.who} signs in as {login.eui} with password {login.password}"
                )
        submitted: list[Submitted] = []
        with httpx.Client(timeout=120) as client:
            counter = int(time.time() * 1000)
            for i, c in enumerate(campaigns):
                t0 = time.perf_counter()
                s = _submit(client, url, ctx, c, _signer(ctx, c.sender), counter + i)
                submitted.append(s)
                _say(
                    f"SR {c.srv} from {c.sender}: {len(c.device_ids):,} {c.model.device_type}s of model "
                    f"{c.model.model}, firmware {c.firmware_version} ({len(c.image):,} bytes) -> {s.code} "
                    f"in {time.perf_counter() - t0:.2f} s"
                )
        clock.release()  # the requests are in at the stated time: from now on virtual time runs
        save_shared_clock(ctx.engine, clock)
        router_thread.start()
        _watch(ctx, submitted, timeout * 60, wall0)
        _summary(ctx, submitted, receiver, wall0)
        _next_steps(ctx, url, logins, speed, exit_when_done, settings_port)
        if not exit_when_done:
            try:
                while True:
                    time.sleep(1)
            except KeyboardInterrupt:
                pass
    finally:
        routing.set()
        if router_thread.is_alive():
            router_thread.join(timeout=30)
        server.stop()
        endpoint.stop()
        clock.hold()  # virtual time stands still until the next run (or `hanota serve`) resumes it
        save_shared_clock(ctx.engine, clock)
        receiver.close()
        ctx.engine.dispose()


# --- watching -------------------------------------------------------------------------------------------


def _window(ctx: AppContext) -> str:
    w = ctx.runners[0].profile.window if ctx.runners else None
    return f"{w.start_h:02.0f}:00-{w.end_h:02.0f}:00" if w else "-"


def _state_counts(engine: Engine, pks: list[int]) -> dict[tuple[int, str], Counter[str]]:
    """Per (request, region): how many accepted devices are in each delivery state."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(RequestDevice.request_pk, RequestDevice.region, RequestDevice.state, func.count())
            .where(RequestDevice.request_pk.in_(pks), RequestDevice.outcome == "Accepted")
            .group_by(RequestDevice.request_pk, RequestDevice.region, RequestDevice.state)
        ).all()
    per: dict[tuple[int, str], Counter[str]] = defaultdict(Counter)
    for pk, region, state, n in rows:
        per[(pk, region or "?")][state] += int(n)
    return per


@dataclass(frozen=True)
class _Stages:
    """Cumulative counts: how many accepted devices got at least this far."""

    accepted: int
    sent: int  # handed to the CSP (and taken by it)
    transferred: int  # the image is on the device
    activated: int
    failed: int

    @classmethod
    def of(cls, c: Counter[str]) -> _Stages:
        total = sum(c.values())
        transferred = c["transferred"] + c["activated"] + c["activation_failed"]
        return cls(
            accepted=total,
            sent=total - c["accepted"] - c["csp_rejected"],
            transferred=transferred,
            activated=c["activated"],
            failed=sum(c[s] for s in FAILED_STATES),
        )

    @property
    def done(self) -> int:
        return self.activated + self.failed

    def line(self) -> str:
        return (
            f"sent {self.sent:,}  transferred {self.transferred:,}  activated {self.activated:,}  "
            f"failed {self.failed:,}"
        )


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


def _watch(ctx: AppContext, submitted: list[Submitted], limit_s: float, wall0: float) -> bool:
    """Show progress until the campaigns end (True) or `limit_s` wall seconds pass (False)."""
    start = min(s.submitted_at for s in submitted)
    han = ctx.runners[0].profile.han if ctx.runners else None
    fetch = (
        f"each device fetches its image at its OTA query (every {han.query_interval_s / 3600:g} h), and one that "
        f"never does is reported DeviceUnreachable after {han.unreachable_timeout_s / 3600:g} h"
        if han
        else "each device fetches its image at its next OTA query"
    )
    _say(
        f"progress, cumulative per request: sent = handed to the CSP, transferred = the image is on the device, "
        f"activated, failed (at any stage). The WAN takes images to the hubs only in the night window "
        f"{_window(ctx)} UTC; {fetch}"
    )
    if _plain():
        done = _watch_plain(ctx, submitted, start, limit_s, wall0)
    else:
        done = _watch_live(ctx, submitted, start, limit_s, wall0)
    if not done:
        _say(f"stopped after {limit_s / 60:.0f} wall minutes with work still open")
    return done


def _watch_plain(
    ctx: AppContext, submitted: list[Submitted], start: datetime, limit_s: float, wall0: float
) -> bool:
    """A plain line every PLAIN_EVERY_H virtual hours (or PLAIN_EVERY_WALL_S wall seconds), and at the end."""
    pks = [s.request_pk for s in submitted]
    deadline = time.monotonic() + limit_s
    last_mark, last_wall = -1, 0.0
    while True:
        finished = _finished(ctx.engine, pks)
        now = ctx.clock.now()
        elapsed = (now - start).total_seconds()
        mark = int(elapsed // (PLAIN_EVERY_H * 3600))
        timed_out = time.monotonic() >= deadline
        if finished or timed_out or mark != last_mark or time.monotonic() - last_wall >= PLAIN_EVERY_WALL_S:
            per = _state_counts(ctx.engine, pks)
            parts = []
            for s in submitted:
                total: Counter[str] = Counter()
                for region in REGIONS:
                    total.update(per.get((s.request_pk, region), Counter()))
                st = _Stages.of(total)
                parts.append(
                    f"SR {s.campaign.srv} {s.campaign.model.device_type}: {st.done:,}/{st.accepted:,} done, "
                    f"{st.line()}"
                )
            _say(
                f"+{_fmt_virtual(elapsed)} ({now:%Y-%m-%d %H:%M} UTC, wall {time.monotonic() - wall0:.0f} s) "
                + "; ".join(parts)
            )
            last_mark, last_wall = mark, time.monotonic()
        if finished:
            return True
        if timed_out:
            return False
        time.sleep(0.5)


def _watch_live(
    ctx: AppContext, submitted: list[Submitted], start: datetime, limit_s: float, wall0: float
) -> bool:
    pks = [s.request_pk for s in submitted]
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
    deadline = time.monotonic() + limit_s
    clock_line = Text("")
    with Live(Group(clock_line, progress), console=console, refresh_per_second=4, transient=False):
        while time.monotonic() < deadline:
            finished = _finished(ctx.engine, pks)
            per = _state_counts(ctx.engine, pks)
            for key, task in tasks.items():
                st = _Stages.of(per.get(key, Counter()))
                progress.update(task, total=max(st.accepted, 1), completed=st.done, detail=st.line())
            now = ctx.clock.now()
            clock_line.plain = (
                f"virtual time {now:%Y-%m-%d %H:%M} UTC, {_fmt_virtual((now - start).total_seconds())} after "
                f"submission (night window {_window(ctx)}); wall {time.monotonic() - wall0:.0f} s"
            )
            progress.refresh()
            if finished:
                return True
            time.sleep(0.5)
    return False


# --- the summary ----------------------------------------------------------------------------------------


def _reason_kind(reason: str) -> str:
    """A validation reason without the device's own details (its hub's EUI, its hardware version)."""
    return _SINGLE_HEX.sub("<hex>", _EUI.sub("<EUI>", reason))


def _request_report(ctx: AppContext, s: Submitted) -> None:
    c = s.campaign
    with ctx.engine.connect() as conn:
        rows = conn.execute(
            select(RequestDevice.outcome, RequestDevice.reason, RequestDevice.state, RequestDevice.failure,
                   func.count())
            .where(RequestDevice.request_pk == s.request_pk)
            .group_by(RequestDevice.outcome, RequestDevice.reason, RequestDevice.state, RequestDevice.failure)
        ).all()  # fmt: skip
        last = conn.execute(
            select(func.max(RequestDevice.finished_at)).where(RequestDevice.request_pk == s.request_pk)
        ).scalar()
    listed = sum(int(r[4]) for r in rows)
    delivery: Counter[str] = Counter()
    excluded: Counter[tuple[str, str]] = Counter()
    for outcome, reason, state, failure, n in rows:
        if outcome == "Accepted":
            delivery[f"{state}: {failure}" if failure else state] += int(n)
        else:
            excluded[(outcome, _reason_kind(reason or "-"))] += int(n)
    accepted, n_excluded = sum(delivery.values()), sum(excluded.values())
    meaning = response_code(s.code).meaning if is_known_response_code(s.code) else "not a DUIS answer"
    _say()
    _say(
        f"SR {c.srv} from {c.sender}: {listed:,} {c.model.device_type}s of model {c.model.model} listed. "
        f"The DSP answered {s.code}: {meaning}"
    )
    _say(
        f"  validation: {accepted:,} accepted ({_pct(accepted, listed)}), {n_excluded:,} excluded "
        f"({_pct(n_excluded, listed)}); the reason of each exclusion is the one recorded per device (the "
        f"SSI's request page and CSV list them); by reason:"
    )
    grid = _Grid(
        f"SR {c.srv} ({s.code}): where each listed device went",
        [
            ("devices", True),
            ("share", True),
            ("validation", False),
            ("why excluded / how delivery ended", False),
        ],
    )
    for ended, n in sorted(delivery.items(), key=lambda kv: (-kv[1], kv[0])):
        grid.rows.append([f"{n:,}", _pct(n, listed), "Accepted", ended])
    for (outcome, reason), n in sorted(excluded.items(), key=lambda kv: (-kv[1], kv[0])):
        grid.rows.append([f"{n:,}", _pct(n, listed), outcome, reason])
    grid.show()
    failures = sorted({k.split(": ", 1)[1] for k in delivery if ": " in k})
    for failure in failures:
        _say(f"  {failure}: {FAILURES.get(failure, 'as the CSP reported it')}")
    if last is not None:
        _say(
            f"  last device finished {_fmt_virtual((utc(last) - s.submitted_at).total_seconds())} (virtual) "
            "after submission"
        )


def _finish_table(ctx: AppContext, submitted: list[Submitted]) -> None:
    with ctx.engine.connect() as conn:
        finish = conn.execute(
            select(RequestDevice.request_pk, RequestDevice.region, RequestDevice.finished_at).where(
                RequestDevice.request_pk.in_([s.request_pk for s in submitted]),
                RequestDevice.outcome == "Accepted",
                RequestDevice.finished_at.is_not(None),
            )
        ).all()
    grid = _Grid(
        "devices finished (last event), per region: 50 % / 90 % / all, virtual time after submission",
        [("request", False), *((r, True) for r in REGIONS)],
    )
    for s in submitted:
        cells = [
            _quantiles(
                [(utc(f) - s.submitted_at).total_seconds() for pk, region, f in finish
                 if pk == s.request_pk and region == r and f is not None]
            )
            for r in REGIONS
        ]  # fmt: skip
        grid.rows.append([f"SR {s.campaign.srv} {s.campaign.model.device_type}", *cells])
    grid.show()


def _wan_table(ctx: AppContext, submitted: list[Submitted]) -> None:
    """When the image reached the targets' Comms Hubs, per region and priority class: the CSP queue at work.

    Only this run's distributions: a gateway's network engine knows only its current generation's (earlier
    runs' distributions went to earlier engines). Times count from the request's submission."""
    by_pk = {s.request_pk: s for s in submitted}
    with ctx.engine.connect() as conn:
        jobs = conn.execute(
            select(DistributionJob.id, DistributionJob.request_pk, DistributionJob.region).where(
                DistributionJob.request_pk.in_(list(by_pk))
            )
        ).all()
    times: dict[tuple[str, str], list[float]] = defaultdict(list)
    unknown = 0
    runners = {r.region: r for r in ctx.runners}
    for job_id, pk, region in jobs:
        runner = runners.get(region)
        if runner is None or runner.engine is None or runner.epoch is None:
            unknown += 1
            continue
        try:
            res = runner.engine.results(f"{JOB_PREFIX}{job_id}")
        except KeyError:  # not in this engine (a rebuilt gateway replays only its current generation)
            unknown += 1
            continue
        offset = (runner.epoch - by_pk[pk].submitted_at).total_seconds()
        times[(res.priority.value, region)].extend(
            offset + float(t) for t in res.ready if t == t
        )  # NaN: never
    grid = _Grid(
        "image at the Comms Hubs (WAN), per region and firmware class: 50 % / 90 % / all, virtual time after "
        "submission (ESME/GSME images go first)",
        [("firmware class", False), *((r, True) for r in REGIONS)],
    )
    for priority in ("ESME_GSME", "HAN"):
        if any(k[0] == priority for k in times):
            grid.rows.append([priority, *(_quantiles(times.get((priority, r), [])) for r in REGIONS)])
    grid.show()
    if unknown:
        _say(f"  ({unknown} distribution(s) of this run are not in their gateway's current network engine)")


def _alerts_report(ctx: AppContext, submitted: list[Submitted], receiver: Receiver) -> None:
    pks = [s.request_pk for s in submitted]
    senders = {s.campaign.sender for s in submitted}
    with ctx.engine.connect() as conn:
        outbox = conn.execute(
            select(AlertOutbox.recipient_eui, AlertOutbox.code, func.count())
            .where(AlertOutbox.request_pk.in_(pks))
            .group_by(AlertOutbox.recipient_eui, AlertOutbox.code)
        ).all()
        shared_devices = conn.execute(
            select(func.count(func.distinct(AlertOutbox.device_id))).where(
                AlertOutbox.request_pk.in_(pks), AlertOutbox.recipient_eui.not_in(senders)
            )
        ).scalar_one()
    codes = sorted({code for _, code, _ in outbox})
    per_supplier: dict[str, dict[str, int]] = defaultdict(dict)
    for eui, code, n in outbox:
        per_supplier[eui][code] = int(n)
    received = receiver.by_supplier()
    grid = _Grid(
        "DCC alerts this run caused, per supplier: written to the outbox / verified by the supplier's endpoint",
        [("supplier", False), *((c, True) for c in codes), ("total", True)],
    )
    order = sorted(per_supplier, key=lambda e: (e not in senders, e))
    for eui in order:
        written, got = per_supplier[eui], received.get(eui, {})
        grid.rows.append(
            [
                eui + (" (sender)" if eui in senders else ""),
                *(f"{written.get(c, 0):,} / {got.get(c, 0):,}" for c in codes),
                f"{sum(written.values()):,} / {sum(got.values()):,}",
            ]
        )
    _say()
    grid.show()
    for code in codes:
        try:
            _say(f"  {code}: {alert_code(code).meaning}")
        except KeyError:
            _say(f"  {code}: (not in the product's alert code table)")
    others = [e for e in per_supplier if e not in senders]
    if others:
        n_others = sum(sum(per_supplier[e].values()) for e in others)
        _say(
            f"  {len(others)} other supplier(s) got {n_others:,} alerts about {shared_devices:,} device(s): an alert "
            "goes to every supplier interested in the device, and for an IHD or PPMID that is both the home's "
            "electricity supplier (of its ESME) and its gas supplier (of its GSME); in those homes the other fuel "
            "has another supplier"
        )
    _say(
        f"receiver: {receiver.unique:,} unique alerts verified, {receiver.duplicates:,} duplicate posts, "
        f"{receiver.rejected:,} refused"
    )


def _summary(ctx: AppContext, submitted: list[Submitted], receiver: Receiver, wall0: float) -> None:
    start = min(s.submitted_at for s in submitted)
    _say()
    _say(
        f"=== summary: requests submitted at {start:%Y-%m-%d %H:%M} UTC (virtual); times below are virtual, "
        "after submission"
    )
    for s in submitted:
        _request_report(ctx, s)
    _say()
    _finish_table(ctx, submitted)
    _say()
    _wan_table(ctx, submitted)
    _alerts_report(ctx, submitted, receiver)
    _say(f"wall time {time.monotonic() - wall0:.0f} s")


def _next_steps(
    ctx: AppContext, url: str, logins: list[Login], speed: float, exit_when_done: bool, configured_port: int
) -> None:
    settings = ctx.settings
    hanota = _command()
    _say()
    _say("=== where to look next")
    if exit_when_done:
        serve_url = f"http://127.0.0.1:{configured_port}"
        _say(
            "  the service stopped with the demo (--exit-when-done). To look around, serve this data folder again: "
            f"`HANOTA_DATA_DIR={settings.data_dir} HANOTA_CLOCK_SPEED={speed:g} {hanota} serve` (port: HANOTA_PORT, "
            f"{configured_port}), or run the demo without --exit-when-done: it stays up after its summary until Ctrl-C"
        )
    else:
        serve_url = url
        _say(f"  the service stays up at {url} until Ctrl-C")
    _say(f"  web SSI: {serve_url}/ssi/ (requests with per-device outcomes and CSV, alerts, inventory, CPL)")
    for login in logins:
        how = (
            f"with password {login.password}"
            if login.password
            else f"with the password an earlier run printed (`{hanota} users set-password {login.eui}` sets a new one)"
        )
        _say(f"    {login.who} signs in as {login.eui} {how}")
    _say(
        "  DUIS response and alert codes: src/hanota/duis/codes.py; the README explains the alerts and the estate"
    )
    _say(
        f"  data folder: {settings.data_dir} (the next demo reuses it; delete it to start again with a new estate)"
    )
