"""The CSP gateway's runner: what it sends over the WAN first, and how its network engine is renewed.

The priority rule of the seed (ESME/GSME firmware ahead of HAN firmware queued before it) and the engine
generations that bound what a restarted gateway replays, driven through a real gateway and runner on the
crafted estate's live DSP.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest
from sqlalchemy import select, text, update

import crafted as c
from api.conftest import Live
from api.test_routing import submit
from dsp.event_testkit import FINAL, HOUR, run_campaign
from hanota.bootstrap import make_runners
from hanota.csp.interface import Distribution, PriorityClass, Target
from hanota.csp.runner import GatewayRunner
from hanota.db.models import Device, RequestDevice
from hanota.firmware import build_image, parse_image
from hanota.network.profile import load_profile


def on_h1(hardware_version: int) -> dict[str, Any]:
    """The inventory's facts a target on the crafted estate's Central hub H1 travels with."""
    return {"hub_region": "Central", "han_hub_id": c.H1, "hardware_version": hardware_version}


def test_esme_firmware_overtakes_han_firmware_queued_before_it(live: Live) -> None:
    """One WAN session and the window closed: a HAN file queued first, an 11.1 file after; when the window
    opens the ESME image crosses the WAN first."""
    gw = next(g for g in live.ctx.gateways if g.region == "Central")
    profile = load_profile(
        overrides={"wan": {"central": {"sessions": 1}}, "window": {"start_h": 2.0, "end_h": 6.0}}
    )
    runner = GatewayRunner(gw, profile, live.url, seed=7)
    live.clock.set(c.NOW.replace(hour=0))
    han = Distribution(
        distribution_id="han-1", request_id="r-han", priority=PriorityClass.HAN, firmware_version=c.NEW_VERSION,
        firmware_hash=parse_image(c.NEW_IMAGE).firmware_hash, image=base64.b64encode(c.NEW_IMAGE).decode(),
        targets=[Target(device_id=c.P_OK, chf_id=c.H1, device_type="PPMID", **on_h1(0x1200)),
                 Target(device_id=c.I_OK, chf_id=c.H1, device_type="IHD", **on_h1(0x1200))],
    )  # fmt: skip
    esme_image = build_image(
        manufacturer_code=0x121D, image_type=0, file_version=2, manufacturer_image=b"meter" * 100,
        supplier_signature=bytes(64),
    )  # fmt: skip
    esme = Distribution(
        distribution_id="esme-1", request_id="r-esme", priority=PriorityClass.ESME_GSME, firmware_version="0B000002",
        firmware_hash=parse_image(esme_image).firmware_hash, image=base64.b64encode(esme_image).decode(),
        targets=[Target(device_id=c.E1, chf_id=c.H1, device_type="ESME", **on_h1(0x100))],
    )  # fmt: skip
    assert gw.accept(han).accepted == 2
    runner.tick()
    live.clock.advance(600)
    assert gw.accept(esme).accepted == 1
    runner.tick()
    live.clock.set(c.NOW.replace(hour=12))
    runner.tick()
    assert runner.engine is not None
    han_r, esme_r = runner.engine.results("han-1"), runner.engine.results("esme-1")
    assert esme_r.submitted > han_r.submitted
    assert float(esme_r.wan_start.max()) < float(han_r.wan_start.min())
    assert float(esme_r.wan_start.max()) >= 2 * HOUR, "nothing starts before the window opens"
    runner.close()


def test_an_idle_gateway_starts_a_new_engine_generation(live: Live, campaign: list[GatewayRunner]) -> None:
    """Once everything it held is reported, a gateway's next distribution goes to a fresh engine: a restart
    then replays only the work of the current generation, never the gateway's whole history."""
    with live.engine.begin() as conn:  # back on the old release (replaced units), so the update is due again
        conn.execute(
            update(Device)
            .where(Device.device_id.in_((c.P_OK, c.I_OK, c.P_GAS)))
            .values(firmware_version=c.OLD_VERSION)
        )
    assert submit(live, (c.P_OK, c.I_OK, c.P_GAS)) == "I0"
    assert live.router().run_once() == 1
    run_campaign(live, campaign)
    with live.engine.connect() as conn:
        generation = conn.execute(
            text("SELECT generation FROM csp_gateway_state WHERE region = 'Central'")
        ).scalar()
        jobs = conn.execute(text("SELECT distribution_id, engine_generation FROM csp_distributions")).all()
        states = (
            conn.execute(select(RequestDevice.state).where(RequestDevice.outcome == "Accepted"))
            .scalars()
            .all()
        )
    assert generation == 1 and sorted(g for _, g in jobs) == [0, 1]
    assert all(s in FINAL for s in states)
    fresh = make_runners(live.ctx, live.url)
    central = next(r for r in fresh if r.region == "Central")
    central.tick()
    assert central.engine is not None
    first, second = sorted(jobs, key=lambda j: j[1])
    central.engine.results(second[0])
    with pytest.raises(KeyError):
        central.engine.results(first[0])
    for r in fresh:
        r.close()
