"""4G Comms Hubs over HTTP: an 8.2 reports a 4G hub as DCC Boxed does (schema-valid), and an 11.4 to devices
behind a 4G hub is routed to its geographic region's CSP gateway and completes over the 4G WAN."""

from __future__ import annotations

from sqlalchemy import insert, update

import crafted as c
from api.conftest import Live
from api.test_service_d import answer
from duisclient import request, signed, signer_for
from hanota.db.models import CommsHub, Device
from hanota.duis import parse_document, validate_schema
from hanota.duis.models import Connectivity, CSPRegion, DeviceType, DSPInventory, ReadInventory


def make_4g(live: Live, hub: str = c.H1, *, region: str = "4G Central") -> None:
    with live.engine.begin() as conn:
        conn.execute(
            update(CommsHub)
            .where(CommsHub.chf_id == hub)
            .values(region=region, chts_version="CHTS V1.4", han_variant="Dual Band", connectivity="Cellular")
        )


def test_read_inventory_of_a_device_behind_a_4g_hub(live: Live) -> None:
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
