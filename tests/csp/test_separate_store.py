"""A CSP gateway runs against a database of its own: the DSP on one SQLite file, the Central gateway and its
network runner on another, talking over real HTTP in both directions. An SR 11.4 goes end to end: the file
crosses to the gateway (which knows the hubs and devices only from it), the devices are activated, their
events come back, and the DSP writes the inventory's new versions and the DCC Alerts."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi import FastAPI
from sqlalchemy import Engine, func, select, update

import crafted as c
from duisclient import request, signed, signer_for
from hanota.api.app import create_app
from hanota.bootstrap import AppContext, build_context, make_router
from hanota.clock import ManualClock
from hanota.csp.gateway import Gateway, gateway_router
from hanota.csp.interface import region_key
from hanota.csp.runner import GatewayRunner
from hanota.db.engine import make_engine
from hanota.db.migrate import upgrade
from hanota.db.models import (
    AlertOutbox,
    CommsHub,
    CSPDistribution,
    CSPEventBatch,
    CSPEventCursor,
    CSPTarget,
    Device,
    RequestDevice,
)
from hanota.duis.requests import UpdatePPMIDFirmware
from hanota.estate.pki import init_pki
from hanota.network.profile import load_profile
from hanota.settings import Settings
from liveserver import LiveServer

HOUR = 3600
NO_FAILURES = {
    "outcomes": {
        "device_unreachable": 0.0, "transfer_failure": 0.0, "image_discarded": 0.0, "activation_failure": 0.0,
    }
}  # fmt: skip


@dataclass
class TwoStores:
    dsp: AppContext
    dsp_engine: Engine
    dsp_url: str
    csp_engine: Engine
    runner: GatewayRunner
    clock: ManualClock
    pki: Path


@pytest.fixture
def two_stores(tmp_path: Path) -> Iterator[TwoStores]:
    clock = ManualClock(c.NOW)
    csp_url = f"sqlite:///{tmp_path / 'csp.db'}"
    upgrade(csp_url)
    csp_engine = make_engine(csp_url)
    dsp_url = f"sqlite:///{tmp_path / 'dsp.db'}"
    upgrade(dsp_url)
    dsp_engine = make_engine(dsp_url)
    c.build(dsp_engine)
    init_pki(dsp_engine, tmp_path / "pki", now=c.NOW)
    secret = "two-stores-secret"
    gateway = Gateway("Central", csp_engine, clock, region_key(secret, "Central"))
    csp_app = FastAPI(title="hanota CSP Central")
    csp_app.include_router(gateway_router(gateway))
    with LiveServer(csp_app) as csp_server:
        settings = Settings(
            data_dir=tmp_path, database_url=dsp_url, csp_secret=secret, inprocess_gateways=False,
            csp_central_url=csp_server.url,
        )  # fmt: skip
        ctx = build_context(settings, clock=clock, migrate=False)
        with LiveServer(create_app(ctx)) as dsp_server:
            runner = GatewayRunner(gateway, load_profile(overrides=NO_FAILURES), dsp_server.url, seed=3)
            yield TwoStores(ctx, dsp_engine, dsp_server.url, csp_engine, runner, clock, tmp_path / "pki")
            runner.close()
        ctx.engine.dispose()
    csp_engine.dispose()
    dsp_engine.dispose()


def test_a_gateway_on_its_own_database_delivers_an_11_4_end_to_end(two_stores: TwoStores) -> None:
    """The DSP's router sends the file over HTTP to a gateway whose store holds no hub and no device; the
    gateway accepts the devices on their hub, rejects one the inventory moved since validation, drives its
    network and reports over HTTP; every accepted device is activated, the DSP's inventory has the new
    version, and the DSP wrote the alerts (two suppliers per event, and one distribution failure)."""
    t = two_stores
    ids = (c.P_OK, c.I_OK, c.P_GAS)
    answer = t.dsp.dsp.handle(signed(signer_for(t.pki, c.S1), request(c.S1, "11.4", UpdatePPMIDFirmware(
        c.NEW_IMAGE, c.NEW_VERSION, ids))))  # fmt: skip
    assert answer.code == "I0"
    with t.dsp_engine.begin() as conn:  # moved to a South hub after validation: the CSP must refuse it
        conn.execute(update(Device).where(Device.device_id == c.P_GAS).values(hub_id=c.H3))
    with t.csp_engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Device)).scalar_one() == 0
        assert conn.execute(select(func.count()).select_from(CommsHub)).scalar_one() == 0

    router = make_router(t.dsp, t.dsp_url, name="two-stores")
    try:
        assert router.run_once() == 1
    finally:
        router.close()
    with t.csp_engine.connect() as conn:
        queued = conn.execute(
            select(CSPTarget.device_id, CSPTarget.chf_id, CSPTarget.hub_region, CSPTarget.hardware_version)
        ).all()
    assert sorted(tuple(r) for r in queued) == [
        (c.P_OK, c.H1, "Central", 0x1200),
        (c.I_OK, c.H1, "Central", 0x1200),
    ]

    for _ in range(24 * 8):
        t.clock.advance(HOUR)
        t.runner.tick()
        with t.dsp_engine.connect() as conn:
            states = dict(conn.execute(select(RequestDevice.device_id, RequestDevice.state)).all())
        if states[c.P_OK] == states[c.I_OK] == "activated":
            break
    assert states == {c.P_OK: "activated", c.I_OK: "activated", c.P_GAS: "csp_rejected"}

    with t.dsp_engine.connect() as conn:
        versions = dict(
            conn.execute(
                select(Device.device_id, Device.firmware_version).where(Device.device_id.in_(ids))
            ).all()
        )
        cursor = conn.execute(
            select(CSPEventCursor.last_seq).where(CSPEventCursor.region == "Central")
        ).scalar_one()
        event_alerts = conn.execute(
            select(func.count()).where(~AlertOutbox.alert_id.startswith("fdf:"))
        ).scalar_one()
        failure_alerts = conn.execute(
            select(func.count()).where(AlertOutbox.alert_id.startswith("fdf:"))
        ).scalar_one()
        dsp_side_csp_rows = conn.execute(select(func.count()).select_from(CSPDistribution)).scalar_one()
    with t.csp_engine.connect() as conn:
        batches = conn.execute(
            select(func.max(CSPEventBatch.seq)).where(CSPEventBatch.sent_at.is_not(None))
        ).scalar()
        csp_states = dict(conn.execute(select(CSPTarget.device_id, CSPTarget.state)).all())
    assert versions[c.P_OK] == versions[c.I_OK] == c.NEW_VERSION
    assert versions[c.P_GAS] != c.NEW_VERSION
    assert cursor == batches and cursor >= 1, "every batch the gateway sent was applied by the DSP"
    assert csp_states == {c.P_OK: "activated", c.I_OK: "activated"}
    assert event_alerts == 2 * 2 * 2  # two devices, transferred then activated, S1 and S2 interested
    assert failure_alerts == 1
    assert dsp_side_csp_rows == 0, "the gateway's distribution is in its own store, not the DSP's"
