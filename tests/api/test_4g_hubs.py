"""4G Comms Hubs over HTTP: an 8.2 reports a 4G hub as DCC Boxed does (schema-valid), and an 11.4 to devices
behind a 4G hub is routed to its geographic region's CSP gateway and completes over the 4G WAN."""

from __future__ import annotations

import pytest
from sqlalchemy import insert, select, update

import crafted as c
from api.conftest import Live
from api.test_routing import submit
from api.test_service_d import answer
from dsp.event_testkit import FINAL, run_campaign
from duisclient import request, signed, signer_for
from hanota.bootstrap import make_runners
from hanota.db.models import CommsHub, CSPTarget, Device, DistributionJob, RequestDevice
from hanota.duis import parse_document, validate_schema
from hanota.duis.requests import ReadInventory
from hanota.duis.responses import DSPInventory
from hanota.duis.values import Connectivity, CSPRegion, DeviceType


def make_4g(live: Live, hub: str = c.H1, *, region: str = "4G Central") -> None:
    with live.engine.begin() as conn:
        conn.execute(
            update(CommsHub)
            .where(CommsHub.chf_id == hub)
            .values(region=region, chts_version="CHTS V1.4", han_variant="Dual Band", connectivity="Cellular")
        )


def test_read_inventory_of_a_device_behind_a_4g_hub(live: Live) -> None:
    """An 8.2 for a device behind a 4G Comms Hub answers, schema-valid, every device in the `4G Central` CSP
    region and the hub with its CHTS version, HAN variant and Cellular connectivity."""
    make_4g(live)
    with live.engine.begin() as conn:  # the crafted estate lists no hub devices: add H1's CHF
        conn.execute(
            insert(Device).values(
                device_id=c.H1, device_type="CHF", smi_status="Commissioned", manufacturer="106C",
                model="433100AC", hardware_version=0x0100, firmware_version=None, hub_id=c.H1, premises_id=1,
            )
        )  # fmt: skip
    s1 = signer_for(live.pki, c.S1)
    r = live.post(signed(s1, request(c.S1, "8.2", ReadInventory(device_id=c.P_OK))))
    assert r.status_code == 200
    validate_schema(parse_document(r.content, max_bytes=1_000_000))
    code, body = answer(live, signed(s1, request(c.S1, "8.2", ReadInventory(device_id=c.P_OK))))
    assert code == "I0"
    payload = body.payload  # type: ignore[attr-defined]
    assert isinstance(payload, DSPInventory)
    assert payload.devices[0].device_id == c.P_OK
    assert {d.csp_region for d in payload.devices} == {CSPRegion.CENTRAL_4G}
    hub = next(d for d in payload.devices if d.device_type is DeviceType.CHF)
    assert hub.device_id == c.H1
    assert (hub.smets_chts_version, hub.han_variant, hub.connectivity) == (
        "CHTS V1.4",
        "Dual Band",
        Connectivity.CELLULAR,
    )
    assert b"<sr:SMETSCHTSVersion>CHTS V1.4</sr:SMETSCHTSVersion>" in r.content
    assert b"<sr:CSPRegion>4G Central</sr:CSPRegion>" in r.content
    assert b"<sr:HANVariant>Dual Band</sr:HANVariant>" in r.content
    assert b"<sr:Connectivity>Cellular</sr:Connectivity>" in r.content


def test_an_11_4_to_devices_behind_a_4g_hub_is_routed_and_completes_over_the_4g_link(live: Live) -> None:
    """An 11.4 to devices behind a 4G Comms Hub is one job for the Central gateway, which takes them all; the
    image crosses the region's 4G link once, in the time the profile gives for it, and every device
    ends in a final state."""
    make_4g(live)
    ids = (c.P_OK, c.I_OK, c.P_GAS)  # all on H1, now a 4G Comms Hub in '4G Central'
    assert submit(live, ids) == "I0"
    with live.engine.connect() as conn:
        regions = set(
            conn.execute(select(RequestDevice.region).where(RequestDevice.outcome == "Accepted")).scalars()
        )
        jobs = conn.execute(select(DistributionJob.region, DistributionJob.target_count)).all()
    assert regions == {"4G Central"}
    assert [tuple(j) for j in jobs] == [("Central", 3)], "one job, for the Central CSP gateway"

    assert live.router().run_once() == 1
    with live.engine.connect() as conn:
        job = conn.execute(select(DistributionJob.status, DistributionJob.rejected_count)).one()
        states = set(conn.execute(select(RequestDevice.state)).scalars())
        queued = conn.execute(select(CSPTarget.chf_id)).scalars().all()
    assert tuple(job) == ("sent", 0), "the Central gateway takes a 4G Central hub's devices"
    assert states == {"sent"} and set(queued) == {c.H1}

    runners = make_runners(live.ctx, live.url)
    try:
        run_campaign(live, runners)
        central = next(r for r in runners if r.region == "Central")
        assert central.engine is not None
        on_4g, on_wan = central.engine.wan_intervals(four_g=True), central.engine.wan_intervals()
        assert len(on_4g[0]) == 1 and len(on_wan[0]) == 0, "H1's image crossed the 4G link, once"
        profile = central.profile
        size = len(c.NEW_IMAGE)
        assert on_4g[1][0] - on_4g[0][0] == pytest.approx(profile.wan_time("central", size, four_g=True))
    finally:
        for r in runners:
            r.close()
    with live.engine.connect() as conn:
        final = dict(
            conn.execute(
                select(RequestDevice.device_id, RequestDevice.state).where(
                    RequestDevice.outcome == "Accepted"
                )
            ).all()
        )
    assert set(final) == set(ids) and set(final.values()) <= FINAL
    assert "activated" in final.values()
