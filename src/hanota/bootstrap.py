"""The composition root: from one `Settings`, the context every entry point runs on.

`build_context` migrates and opens the store, picks the clock (the shared scaled clock of a live simulation,
or the system clock), loads the DSP's key and trust store and makes the DSP service, the in-process CSP
gateways and the CSP event intake. `make_router`, `make_delivery` and `make_runners` add the background
workers an entry point chooses to run (the distribution router, the alert delivery worker, the in-process
gateways' network drivers). The entry points (`hanota.api`, `hanota.ssi`, `hanota.cli`) import this module,
never each other, except that the API mounts the SSI."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from sqlalchemy import Engine

from hanota.alerts.delivery import DeliveryWorker
from hanota.alerts.outbox import AlertWriter
from hanota.clock import Clock, SystemClock
from hanota.csp.acceptance import REGIONS, Gateway
from hanota.csp.client import CSPClient
from hanota.csp.interface import region_key
from hanota.csp.runner import GatewayRunner
from hanota.csp.transport import CSPTransport, InProcessTransport
from hanota.db.engine import make_engine
from hanota.db.migrate import upgrade
from hanota.dsp.events import EventIntake
from hanota.dsp.router import Router
from hanota.dsp.service import DSPService
from hanota.dsp.simclock import shared_scaled_clock
from hanota.dsp.trust import DbTrustStore, dsp_signer
from hanota.duis.xmlparse import XmlLimits
from hanota.network.profile import load_profile
from hanota.settings import Settings


@dataclass
class AppContext:
    settings: Settings
    engine: Engine
    clock: Clock
    dsp: DSPService
    gateways: list[Gateway] = field(default_factory=list)
    router: Router | None = None
    intake: EventIntake | None = None
    runners: list[GatewayRunner] = field(default_factory=list)
    delivery: DeliveryWorker | None = None  # the alert delivery worker (issue 5), runs next to the router


def make_clock(engine: Engine, settings: Settings) -> Clock:
    """The clock of this store: with HANOTA_CLOCK_SPEED, the scaled clock every process on the store shares
    (its virtual start kept in the store); otherwise the system clock."""
    return shared_scaled_clock(engine, settings.clock_speed) if settings.clock_speed else SystemClock()


def make_router(
    ctx: AppContext, base_url: str | None = None, *, name: str = "serve", inprocess: bool = False
) -> Router:
    """A distribution worker for this context, sending to the configured (or in-process) gateways.

    By default over HTTP (`CSPClient`: HANOTA_CSP_<REGION>_URL, else this server's `/csp/<region>`); with
    `inprocess`, straight to this context's own gateways (`InProcessTransport`: no socket, no HMAC)."""
    transport: CSPTransport = (
        InProcessTransport(ctx.gateways)
        if inprocess
        else CSPClient(ctx.settings.csp_urls(base_url), ctx.settings.csp_secret)
    )
    return Router(ctx.engine, ctx.clock, transport, AlertWriter(ctx.dsp.signer), name=f"{name}-{os.getpid()}")


def make_runners(ctx: AppContext, base_url: str | None = None) -> list[GatewayRunner]:
    """The in-process gateways' network drivers, reporting to this DSP (or HANOTA_DSP_URL) over HTTP."""
    dsp_url = ctx.settings.dsp_url or (base_url or f"http://{ctx.settings.host}:{ctx.settings.port}")
    profile = load_profile(ctx.settings.network_profile)
    return [GatewayRunner(gw, profile, dsp_url, seed=ctx.settings.network_seed) for gw in ctx.gateways]


def make_delivery(ctx: AppContext, *, name: str = "serve") -> DeliveryWorker:
    """An alert delivery worker for this context (POSTs outbox alerts to the Users' endpoints)."""
    return DeliveryWorker(
        ctx.engine, ctx.clock, name=f"{name}-{os.getpid()}", lease_seconds=ctx.settings.alert_lease_seconds
    )


def build_context(settings: Settings, *, clock: Clock | None = None, migrate: bool = True) -> AppContext:
    """Everything the API needs, from settings: the migrated store, the trust store, the DSP key."""
    if migrate:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        upgrade(settings.database_url)
    engine = make_engine(settings.database_url)
    if clock is None:
        clock = make_clock(engine, settings)
    dsp = DSPService(
        engine=engine,
        clock=clock,
        signer=dsp_signer(engine),
        trust=DbTrustStore(engine),
        max_body_bytes=settings.max_body_bytes,
        xml_limits=xml_limits(settings),
    )
    gateways = (
        [Gateway(r, engine, clock, region_key(settings.csp_secret, r)) for r in REGIONS]
        if settings.inprocess_gateways
        else []
    )
    intake = EventIntake(engine, clock, AlertWriter(dsp.signer))
    return AppContext(
        settings=settings, engine=engine, clock=clock, dsp=dsp, gateways=gateways, intake=intake
    )


def xml_limits(settings: Settings) -> XmlLimits:
    """The document shape the DSP's hardened parse accepts (HANOTA_XML_MAX_*)."""
    return XmlLimits(
        max_depth=settings.xml_max_depth,
        max_elements=settings.xml_max_elements,
        max_attributes=settings.xml_max_attributes,
        max_namespace_declarations=settings.xml_max_namespace_declarations,
    )
