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

The parts: this module sets up and runs it; `demo_watch` shows the progress, `demo_summary` the summary
and where to look next, over the output helpers of `demo_common`.
"""

from __future__ import annotations

import logging
import signal
import socket
import threading
import time
from pathlib import Path
from typing import Annotated

import httpx
import typer
from sqlalchemy import Engine, select, text, update

from hanota.api.app import create_app
from hanota.background import ServerThread
from hanota.bootstrap import AppContext, build_context, make_delivery, make_router, make_runners
from hanota.cli.common import load_settings, migrated_engine
from hanota.cli.demo_common import Login, Submitted, fmt_virtual, say
from hanota.cli.demo_summary import next_steps, summary
from hanota.cli.demo_watch import watch
from hanota.clock import ScaledClock, SystemClock, next_at_hour
from hanota.db.models import ServiceRequest, Setting, User, WebCredential
from hanota.dsp.simclock import hold_shared_clock, save_shared_clock, stored_virtual_now
from hanota.dsp.trust import dsp_signer
from hanota.duis import Request, RequestID, Signer, load_certificate, load_private_key, render_request
from hanota.duis.codes import DCC_EUI, service_reference_of
from hanota.duis.requests import UpdateFirmware, UpdatePPMIDFirmware
from hanota.estate.campaign import Campaign, model_of, plan
from hanota.estate.catalogue import DCC_OPERATOR_EUI
from hanota.estate.generate import EstateExists, generate
from hanota.estate.pki import DSP_CERT_SETTING, init_pki
from hanota.logs import configure_logging
from hanota.ssi.auth import generate_password, set_password
from hanota.supplier.receiver import Receiver

#: every run submits at this hour of virtual time (UTC), on the first day after everything in the store
START_HOUR = 10


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
    say(f"port {configured} (HANOTA_PORT) is in use: the DSP and the web SSI use port {port} instead")
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
        say(
            f"estate: generated {n:,} devices ({homes:,} homes, seed {seed}) in {time.perf_counter() - t0:.1f} s"
        )
    except EstateExists:
        with engine.connect() as conn:
            n = conn.execute(text("SELECT count(*) FROM devices")).scalar_one()
        say(
            f"estate: reusing the {n:,} devices already in the store (--homes applies only to a new estate; "
            "delete the data folder to start again)"
        )
    with engine.connect() as conn:
        has_pki = (
            conn.execute(select(Setting.value).where(Setting.key == DSP_CERT_SETTING)).first() is not None
        )
    if not has_pki:
        ids = init_pki(engine, pki_dir, now=SystemClock().now())
        say(f"PKI: CA, DSP identity and {len(ids)} User identities written to {pki_dir}")


def _virtual_start(engine: Engine, speed: float) -> ScaledClock:
    """The shared clock, held at this run's stated virtual start (see the module docstring)."""
    wall = SystemClock().now()
    stored = stored_virtual_now(engine)
    base = wall if stored is None or stored < wall else stored
    start = next_at_hour(base, START_HOUR)
    after = "now" if base is wall else "where earlier runs stopped the store's clock"
    say(
        f"virtual time: the requests go in at {start:%Y-%m-%d %H:%M} UTC, the first {START_HOUR:02d}:00 after "
        f"{after}; every run starts at {START_HOUR:02d}:00, so the same seed on the same store gives the same "
        f"numbers. Clock x{speed:,.0f}: 1 wall second = {fmt_virtual(speed)} virtual"
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
    say(
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
                say(
                    f"web SSI {url}/ssi/ : {login.who} signs in as {login.eui} with password {login.password}"
                )
        submitted: list[Submitted] = []
        with httpx.Client(timeout=120) as client:
            counter = int(time.time() * 1000)
            for i, c in enumerate(campaigns):
                t0 = time.perf_counter()
                s = _submit(client, url, ctx, c, _signer(ctx, c.sender), counter + i)
                submitted.append(s)
                say(
                    f"SR {c.srv} from {c.sender}: {len(c.device_ids):,} {c.model.device_type}s of model "
                    f"{c.model.model}, firmware {c.firmware_version} ({len(c.image):,} bytes) -> {s.code} "
                    f"in {time.perf_counter() - t0:.2f} s"
                )
        clock.release()  # the requests are in at the stated time: from now on virtual time runs
        save_shared_clock(ctx.engine, clock)
        router_thread.start()
        watch(ctx, submitted, timeout * 60, wall0)
        summary(ctx, submitted, receiver, wall0)
        next_steps(ctx, url, logins, speed, exit_when_done, settings_port)
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
