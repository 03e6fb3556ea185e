"""POST /api/v1/serviceD end to end over HTTP: signed in, signed out, access control in order."""

from __future__ import annotations

from sqlalchemy import text, update

import crafted as c
from api.conftest import Live
from duisclient import request, signed, signer_for
from hanota.db.models import User
from hanota.duis import parse_document, parse_response
from hanota.duis.requests import ReadInventory, UpdatePPMIDFirmware
from hanota.duis.responses import DSPInventory, DSPUpdatePPMIDFirmwareWarning


def answer(live: Live, body: bytes) -> tuple[str, object]:
    r = live.post(body)
    assert r.status_code == 200, r.text
    resp = parse_response(parse_document(r.content, max_bytes=10_000_000))
    assert r.headers["x-duis-response-code"] == resp.response_code
    return resp.response_code, resp.body


def test_read_inventory_shows_ihd_firmware(live: Live) -> None:
    """An 8.2 for an IHD over HTTP answers I0 with that IHD first, its firmware version and status, and the
    other devices of its home."""
    s1 = signer_for(live.pki, c.S1)
    code, body = answer(live, signed(s1, request(c.S1, "8.2", ReadInventory(device_id=c.I_OK))))
    assert code == "I0"
    payload = body.payload  # type: ignore[attr-defined]
    assert isinstance(payload, DSPInventory)
    first = payload.devices[0]
    assert first.device_id == c.I_OK and first.device_type.value == "IHD"
    assert first.firmware_version == c.OLD_VERSION and first.firmware_version_status is not None
    assert {d.device_id for d in payload.devices} >= {c.I_OK, c.P_OK, c.E1}


def test_update_ppmid_firmware_over_http(live: Live) -> None:
    """An 11.4 over HTTP for the mixed estate answers W110401 with each excluded device in the warning list of
    its outcome, and records the three accepted devices."""
    s1 = signer_for(live.pki, c.S1)
    ids = tuple(e.device_id for e in c.MIXED)
    code, body = answer(
        live, signed(s1, request(c.S1, "11.4", UpdatePPMIDFirmware(c.NEW_IMAGE, c.NEW_VERSION, ids)))
    )
    assert code == "W110401"
    warning = body.payload  # type: ignore[attr-defined]
    assert isinstance(warning, DSPUpdatePPMIDFirmwareWarning)
    got = {d: name for name, ds in warning.lists() for d in ds}
    assert got == {e.device_id: e.outcome for e in c.MIXED if e.outcome != "Accepted"}
    with live.engine.connect() as conn:
        assert (
            conn.execute(text("SELECT count(*) FROM request_devices WHERE state = 'accepted'")).scalar_one()
            == 3
        )


def test_replayed_counter_is_refused_and_persisted(live: Live) -> None:
    """A RequestID counter is accepted once: the same counter again, or a lower one, is E41."""
    s1 = signer_for(live.pki, c.S1)
    req = request(c.S1, "8.2", ReadInventory(device_id=c.P_OK), counter=500)
    assert answer(live, signed(s1, req))[0] == "I0"
    assert answer(live, signed(s1, req))[0] == "E41"
    lower = request(c.S1, "8.2", ReadInventory(device_id=c.P_OK), counter=499)
    assert answer(live, signed(s1, lower))[0] == "E41"


def test_access_control_codes(live: Live) -> None:
    """Access control over HTTP: an SRV the User's role may not send is E2, a suspended User E3, an unknown
    User E1, a target other than the DCC E42, a command variant not the SRV's E12; none is recorded or spends
    a counter."""
    other = signer_for(live.pki, c.OTHER)
    body = UpdatePPMIDFirmware(c.NEW_IMAGE, c.NEW_VERSION, (c.P_OK,))
    assert answer(live, signed(other, request(c.OTHER, "11.4", body)))[0] == "E2"
    s3 = signer_for(live.pki, c.S3)
    with live.engine.begin() as conn:
        conn.execute(update(User).where(User.eui == c.S3).values(status="Suspended"))
    assert answer(live, signed(s3, request(c.S3, "8.2", ReadInventory(device_id=c.P_OK))))[0] == "E3"
    gone = signer_for(live.pki, c.GONE)
    with live.engine.begin() as conn:
        conn.execute(text("DELETE FROM users WHERE eui = :e"), {"e": c.GONE})
    assert answer(live, signed(gone, request(c.GONE, "8.2", ReadInventory(device_id=c.P_OK))))[0] == "E1"
    s1 = signer_for(live.pki, c.S1)
    assert (
        answer(live, signed(s1, request(c.S1, "8.2", ReadInventory(device_id=c.P_OK), target=c.S2)))[0]
        == "E42"
    )
    assert answer(live, signed(s1, request(c.S1, "8.2", ReadInventory(device_id=c.P_OK), cv=3)))[0] == "E12"
    with live.engine.connect() as conn:  # refused before any handler: nothing recorded, no counter spent
        assert conn.execute(text("SELECT count(*) FROM service_requests")).scalar_one() == 0
        assert conn.execute(text("SELECT count(*) FROM request_counters")).scalar_one() == 0


def test_fifty_thousand_ids_the_schema_maximum(live: Live) -> None:
    """50,000 IDs is the schema's cap: every one is answered and recorded (50,001 is refused: see the
    hostile corpus)."""
    s1 = signer_for(live.pki, c.S1)
    filler = [f"CC-00-00-00-00-{i >> 16:02X}-{(i >> 8) & 255:02X}-{i & 255:02X}" for i in range(50_000 - 3)]
    ids = (c.P_OK, c.I_OK, c.P_GAS, *filler)
    assert len(ids) == 50_000
    code, body = answer(
        live, signed(s1, request(c.S1, "11.4", UpdatePPMIDFirmware(c.NEW_IMAGE, c.NEW_VERSION, ids)))
    )
    assert code == "W110401"
    lists = dict(body.payload.lists())  # type: ignore[attr-defined]
    assert len(lists["InvalidDeviceIDList"]) == 50_000 - 3
    with live.engine.connect() as conn:
        rows = dict(conn.execute(text("SELECT state, count(*) FROM request_devices GROUP BY state")).all())
        job = conn.execute(text("SELECT region, target_count FROM distribution_jobs")).one()
    assert rows == {"accepted": 3, "rejected": 50_000 - 3}
    assert tuple(job) == ("Central", 3)
