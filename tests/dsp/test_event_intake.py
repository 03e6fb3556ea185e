"""End to end on a manual clock: the gateways drive the simulated network, report each target's events to
the DSP over HTTP, and the DSP moves every device to one final state, updates the inventory and writes the
DCC Alerts for every interested supplier — exactly two per device that takes the image, one per device
that fails in transfer. Forged, replayed and out-of-order event batches change nothing; ESME/GSME firmware
overtakes HAN firmware queued before it."""

from __future__ import annotations

import json
from collections import Counter

import httpx
from event_testkit import FINAL, HOUR, run_campaign
from sqlalchemy import func, select, text, update

import crafted as c
from api.conftest import Live
from api.test_routing import submit
from hanota.bootstrap import make_runners
from hanota.csp.interface import SIGNATURE_HEADER, region_key, sign_body
from hanota.csp.runner import GatewayRunner
from hanota.db.models import AlertOutbox, CSPEventBatch, CSPTarget, Device, FirmwareHistory, RequestDevice
from hanota.duis import parse_document, parse_response
from hanota.duis.alerts import CommsHubAlert, CSPFirmwareDeliveryStatus, DCCAlertMessage, PPMIDAlert


def test_every_sent_device_ends_in_one_final_state_with_its_alerts(
    live: Live, campaign: list[GatewayRunner]
) -> None:
    """After a whole campaign every accepted device is in one final state the CSP agrees with, with its
    timestamps (or failure reason); exactly the activated devices run the new version, each with a
    firmware_history row; every interested supplier has two signed alerts per device that took the
    image and one per transfer failure, each of the kind and code its event maps to."""
    accepted = {e.device_id for e in c.MIXED if e.outcome == "Accepted"}
    with live.engine.connect() as conn:
        rows = conn.execute(
            select(RequestDevice.device_id, RequestDevice.state, RequestDevice.failure, RequestDevice.device_type,
                   RequestDevice.transferred_at, RequestDevice.finished_at)
            .where(RequestDevice.outcome == "Accepted")
        ).all()  # fmt: skip
        csp = dict(conn.execute(select(CSPTarget.device_id, CSPTarget.state)).all())
        alerts = conn.execute(select(AlertOutbox).where(~AlertOutbox.alert_id.startswith("fdf:"))).all()
        firmware = dict(
            conn.execute(
                select(Device.device_id, Device.firmware_version).where(Device.device_id.in_(accepted))
            ).all()
        )
        history = conn.execute(
            select(FirmwareHistory.device_id, FirmwareHistory.firmware_version, FirmwareHistory.source).where(
                FirmwareHistory.source.like("SR 11.4 %")
            )
        ).all()
    assert {r.device_id for r in rows} == accepted
    for r in rows:
        assert r.state in FINAL, r
        assert csp[r.device_id] == r.state, "the CSP and the DSP agree on each target"
        assert r.finished_at is not None
        if r.state != "transfer_failed":
            assert r.transferred_at is not None and r.transferred_at <= r.finished_at
        else:
            assert r.failure
    activated = {r.device_id for r in rows if r.state == "activated"}
    assert {d for d, v in firmware.items() if v == c.NEW_VERSION} == activated
    assert {h.device_id for h in history} == activated and all(
        h.firmware_version == c.NEW_VERSION for h in history
    )

    # alerts: to every interested supplier (S1 imports on H1/H2, S2 is gas on H1), 2 per transferred device,
    # 1 per transfer failure; each is a signed DCCAlert of the mapped kind.
    interested = {c.P_OK: {c.S1, c.S2}, c.I_OK: {c.S1, c.S2}, c.P_GAS: {c.S1, c.S2}}
    per = Counter((a.device_id, a.recipient_eui) for a in alerts)
    expected: Counter[tuple[str, str]] = Counter()
    for r in rows:
        for s in interested.get(r.device_id, {c.S1}):
            expected[(r.device_id, s)] = 1 if r.state == "transfer_failed" else 2
    assert per == expected
    states = {r.device_id: r.state for r in rows}
    for a in alerts:
        msg = parse_response(parse_document(a.body, max_bytes=1_000_000)).body
        assert isinstance(msg, DCCAlertMessage)
        assert b"<ds:Signature" in a.body
        tag = a.alert_id.split(":")[0]
        if tag == "t":
            assert isinstance(msg.alert, CommsHubAlert) and a.code == "N62"
        elif tag in ("a", "af"):
            assert isinstance(msg.alert, PPMIDAlert) and a.code == "N63"
            assert states[a.device_id] == ("activated" if tag == "a" else "activation_failed")
        else:
            assert tag == "tf" and isinstance(msg.alert, CommsHubAlert | CSPFirmwareDeliveryStatus)


def test_a_finished_campaign_is_stable_and_all_batches_are_acknowledged(
    live: Live, campaign: list[GatewayRunner]
) -> None:
    """Once a campaign has finished every event batch has been acknowledged by the DSP, and more ticks of the
    gateways add no alert."""
    with live.engine.connect() as conn:
        before = conn.execute(select(func.count()).select_from(AlertOutbox)).scalar_one()
        unsent = conn.execute(select(func.count()).where(CSPEventBatch.sent_at.is_(None))).scalar_one()
    assert unsent == 0
    run_campaign(live, campaign, max_hours=3)  # more ticks change nothing
    with live.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(AlertOutbox)).scalar_one() == before


def test_a_restarted_gateway_replays_its_network_without_reporting_twice(live: Live) -> None:
    """Gateways restarted part way through a campaign (their engines rebuilt from the store) finish it without
    reporting any event twice, and every device ends in a final state."""
    assert submit(live, (c.P_OK, c.I_OK, c.P_GAS)) == "I0"
    live.router().run_once()
    first = make_runners(live.ctx, live.url)
    for _ in range(30):  # part way through the campaign
        live.clock.advance(HOUR)
        for r in first:
            r.tick()
    for r in first:
        r.close()
    fresh = make_runners(live.ctx, live.url)  # "a new process": engines rebuilt from the store
    run_campaign(live, fresh)
    with live.engine.connect() as conn:
        events = conn.execute(text("SELECT body FROM csp_event_batches ORDER BY region, seq")).scalars().all()
        states = dict(conn.execute(select(RequestDevice.device_id, RequestDevice.state)).all())
    keys = [
        (e["distribution_id"], e["device_id"], e["kind"]) for b in events for e in json.loads(b)["events"]
    ]
    assert len(keys) == len(set(keys)), "no event reported twice"
    assert all(s in FINAL for s in states.values())
    for r in fresh:
        r.close()


def batch_body(region: str, seq: int, device: str = c.P_OK) -> bytes:
    event = {"distribution_id": "dsp-job-1", "device_id": device, "chf_id": c.H1, "kind": "transferred",
             "reason": None, "at": c.NOW.isoformat()}  # fmt: skip
    return json.dumps({"region": region, "seq": seq, "events": [event]}).encode()


def post(live: Live, body: bytes, key: bytes | None, region: str = "central") -> httpx.Response:
    headers = {"content-type": "application/json"}
    if key is not None:
        headers[SIGNATURE_HEADER] = sign_body(key, body)
    return live.client.post(f"{live.url}/api/v1/csp/{region}/events", content=body, headers=headers)


def test_forged_replayed_and_out_of_order_batches_are_refused(live: Live) -> None:
    """A batch without the region's HMAC, or signed with another secret's or another region's key, is refused
    with 401; an unknown region is 404, a body that is not JSON or speaks for another region 422; a gap and a
    replay are 409 with the DSP's last sequence number; only the region's next batch is applied, once: the
    device is transferred and its two suppliers alerted once."""
    assert submit(live, (c.P_OK,)) == "I0"
    live.router().run_once()
    key = region_key(live.ctx.settings.csp_secret, "Central")
    body = batch_body("Central", 1)
    assert post(live, body, None).status_code == 401
    assert post(live, body, region_key("another secret", "Central")).status_code == 401
    assert post(live, body, region_key(live.ctx.settings.csp_secret, "North")).status_code == 401
    assert post(live, body, key, region="atlantis").status_code == 404
    assert post(live, b"{not json", key).status_code == 422
    assert post(live, batch_body("North", 1), key).status_code == 422, "a region cannot speak for another"
    gap = post(live, batch_body("Central", 2), key)
    assert gap.status_code == 409 and gap.json()["last_seq"] == 0
    ok = post(live, body, key)
    assert ok.status_code == 200 and ok.json()["applied"] == 1
    replay = post(live, body, key)
    assert replay.status_code == 409 and replay.json()["last_seq"] == 1
    with live.engine.connect() as conn:
        assert conn.execute(
            select(RequestDevice.state).where(RequestDevice.device_id == c.P_OK)
        ).scalar_one() == ("transferred")
        assert (
            conn.execute(select(func.count()).where(AlertOutbox.alert_id.startswith("t:"))).scalar_one() == 2
        )


def test_a_batch_may_hold_an_activation_before_another_device_s_transfer(live: Live) -> None:
    """Within a batch, events apply in stage order, whatever order the devices' events come in."""
    assert submit(live, (c.P_OK, c.I_OK)) == "I0"
    live.router().run_once()
    key = region_key(live.ctx.settings.csp_secret, "Central")
    assert post(live, batch_body("Central", 1, c.P_OK), key).status_code == 200

    def event(device: str, kind: str) -> dict[str, object]:
        return {"distribution_id": "dsp-job-1", "device_id": device, "chf_id": c.H1, "kind": kind, "reason": None,
                "at": c.NOW.isoformat()}  # fmt: skip

    body = json.dumps(
        {"region": "Central", "seq": 2, "events": [event(c.P_OK, "activated"), event(c.I_OK, "transferred")]}
    ).encode()
    r = post(live, body, key)
    assert r.status_code == 200 and r.json()["applied"] == 2
    with live.engine.connect() as conn:
        states = dict(conn.execute(select(RequestDevice.device_id, RequestDevice.state)).all())
    assert states == {c.P_OK: "activated", c.I_OK: "transferred"}


def test_an_activation_on_a_device_already_on_that_version_records_no_change(live: Live) -> None:
    """The inventory learnt the new version while the request was in flight (an SR 8.4, or another supplier's
    request, A-008): the activation is alerted as usual, but no same-version history row ("Version X,
    Previous X") is written and the device row is left alone."""
    assert submit(live, (c.P_OK, c.I_OK)) == "I0"
    live.router().run_once()
    with live.engine.begin() as conn:
        conn.execute(update(Device).where(Device.device_id == c.P_OK).values(firmware_version=c.NEW_VERSION))
    key = region_key(live.ctx.settings.csp_secret, "Central")

    def event(device: str, kind: str) -> dict[str, object]:
        return {"distribution_id": "dsp-job-1", "device_id": device, "chf_id": c.H1, "kind": kind, "reason": None,
                "at": c.NOW.isoformat()}  # fmt: skip

    events = [event(d, k) for k in ("transferred", "activated") for d in (c.P_OK, c.I_OK)]
    r = post(live, json.dumps({"region": "Central", "seq": 1, "events": events}).encode(), key)
    assert r.status_code == 200 and r.json()["applied"] == 4
    with live.engine.connect() as conn:
        history = conn.execute(
            select(
                FirmwareHistory.device_id, FirmwareHistory.previous_version, FirmwareHistory.firmware_version
            )
        ).all()
        states = dict(conn.execute(select(RequestDevice.device_id, RequestDevice.state)).all())
    assert states == {c.P_OK: "activated", c.I_OK: "activated"}
    assert [tuple(h) for h in history] == [(c.I_OK, c.OLD_VERSION, c.NEW_VERSION)]
