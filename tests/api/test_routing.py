"""Routing: the worker sends each CSP its file over HTTP; CSPs reject what they do not recognise; resends
are idempotent; two workers never send a job twice."""

from __future__ import annotations

import base64
import json
import threading
from collections import Counter

import httpx
import pytest
from sqlalchemy import func, select, text, update

import crafted as c
from api.conftest import Live
from duisclient import request, signed, signer_for
from hanota.csp.client import CSPClient
from hanota.csp.interface import SIGNATURE_HEADER, Distribution, PriorityClass, Target, region_key, sign_body
from hanota.db.models import AlertOutbox, CSPTarget, Device, DistributionJob, RequestDevice
from hanota.duis import parse_document, parse_response
from hanota.duis.alerts import DCCAlertMessage, FirmwareDistributionFailure
from hanota.duis.requests import UpdatePPMIDFirmware


def submit(live: Live, ids: tuple[str, ...], sender: str = c.S1) -> str:
    r = live.post(
        signed(
            signer_for(live.pki, sender),
            request(sender, "11.4", UpdatePPMIDFirmware(c.NEW_IMAGE, c.NEW_VERSION, ids)),
        )
    )
    return r.headers["x-duis-response-code"]


def test_worker_sends_each_region_its_file(live: Live) -> None:
    assert submit(live, tuple(e.device_id for e in c.MIXED)) == "W110401"
    assert live.router().run_once() == 1
    with live.engine.connect() as conn:
        job = conn.execute(select(DistributionJob)).one()
        states = dict(conn.execute(select(RequestDevice.device_id, RequestDevice.state)).all())
        queued = conn.execute(select(CSPTarget.device_id, CSPTarget.chf_id, CSPTarget.device_type)).all()
        image = conn.execute(text("SELECT image, region, priority FROM csp_distributions")).one()
    assert job.status == "sent" and job.region == "Central" and job.rejected_count == 0
    accepted = {e.device_id for e in c.MIXED if e.outcome == "Accepted"}
    assert {d for d, s in states.items() if s == "sent"} == accepted
    assert {d for d, _, _ in queued} == accepted and {h for _, h, _ in queued} == {c.H1}
    assert image.image == c.NEW_IMAGE and image.region == "Central" and image.priority == "HAN"
    assert live.router().run_once() == 0, "nothing left to send"


def test_csp_rejections_become_a_distribution_failure_alert(live: Live) -> None:
    assert submit(live, (c.P_OK, c.I_OK, c.P_GAS)) == "I0"
    # between validation and distribution the inventory moves P_GAS to another hub: the CSP will not recognise it
    with live.engine.begin() as conn:
        conn.execute(update(Device).where(Device.device_id == c.P_GAS).values(hub_id=c.H3))
    router = live.router()
    router.run_once()
    with live.engine.connect() as conn:
        states = dict(conn.execute(select(RequestDevice.device_id, RequestDevice.state)).all())
        failure = conn.execute(
            select(RequestDevice.failure).where(RequestDevice.device_id == c.P_GAS)
        ).scalar_one()
        alerts = conn.execute(select(AlertOutbox)).all()
    assert states == {c.P_OK: "sent", c.I_OK: "sent", c.P_GAS: "csp_rejected"}
    assert failure == "DeviceNotOnCommsHubHAN"
    assert len(alerts) == 1
    a = alerts[0]
    assert a.alert_id.startswith("fdf:") and a.recipient_eui == c.S1 and a.code == "N64"
    body = parse_response(parse_document(a.body, max_bytes=1_000_000)).body
    assert isinstance(body, DCCAlertMessage) and isinstance(body.alert, FirmwareDistributionFailure)
    assert body.alert.meter_ids == (c.P_GAS,)
    assert b"<ds:Signature" in a.body


def test_resending_a_distribution_is_idempotent(live: Live) -> None:
    client = CSPClient(live.ctx.settings.csp_urls(live.url), live.ctx.settings.csp_secret)
    dist = Distribution(
        distribution_id="manual-1", request_id="x", priority=PriorityClass.HAN, firmware_version=c.NEW_VERSION,
        firmware_hash="ab" * 32, image=base64.b64encode(c.NEW_IMAGE).decode(),
        targets=[Target(device_id=c.P_OK, chf_id=c.H1, device_type="PPMID"),
                 Target(device_id=c.P_NOOTA, chf_id=c.H2, device_type="PPMID"),
                 Target(device_id="CC-00-00-00-00-00-00-01", chf_id="CC-00-00-00-00-00-00-02", device_type="IHD")],
    )  # fmt: skip
    first = client.send("Central", dist)
    again = client.send("Central", dist)
    assert first == again
    assert first.accepted == 1
    assert {(r.device_id, r.reason.value) for r in first.rejected} == {
        (c.P_NOOTA, "CommsHubNotInRegion"),
        ("CC-00-00-00-00-00-00-01", "UnknownCommsHub"),
    }
    with live.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(CSPTarget)).scalar_one() == 1
    client.close()


def test_gateway_refuses_unauthenticated_or_malformed_files(live: Live) -> None:
    url = f"{live.url}/csp/central/v1/distributions"
    body = json.dumps({"distribution_id": "x"}).encode()
    assert httpx.post(url, content=body, headers={SIGNATURE_HEADER: "sha256=00"}).status_code == 401
    assert httpx.post(url, content=body).status_code == 401
    key = region_key(live.ctx.settings.csp_secret, "Central")
    r = httpx.post(url, content=body, headers={SIGNATURE_HEADER: sign_body(key, body)})
    assert r.status_code == 422
    wrong_region = region_key(live.ctx.settings.csp_secret, "North")
    assert (
        httpx.post(url, content=body, headers={SIGNATURE_HEADER: sign_body(wrong_region, body)}).status_code
        == 401
    )
    assert (
        httpx.get(f"{live.url}/csp/central/v1/openapi.json").json()["info"]["title"].startswith("hanota CSP")
    )


def test_unavailable_csp_means_retry_later(live: Live) -> None:
    assert submit(live, (c.P_OK,)) == "I0"
    router = live.router()
    router.client.close()
    router.client = CSPClient({"Central": "http://127.0.0.1:9"}, live.ctx.settings.csp_secret, timeout=2)
    router.run_once()
    with live.engine.connect() as conn:
        job = conn.execute(select(DistributionJob)).one()
    assert job.status == "pending" and job.attempts == 1 and "Central" in (job.last_error or "")
    assert job.next_attempt_at > c.NOW
    assert live.router().run_once() == 0, "not before its backoff"
    live.clock.advance(60)
    assert live.router().run_once() == 1


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)  # the SKIP LOCKED race is a PostgreSQL test
def test_two_workers_never_send_a_job_twice(live: Live) -> None:
    assert live.engine.dialect.name == "postgresql"
    for i in range(12):
        sender = (c.S1, c.S2)[i % 2]
        ids = (c.P_OK, c.I_OK, c.P_GAS)
        r = live.post(
            signed(
                signer_for(live.pki, sender),
                request(sender, "11.4", UpdatePPMIDFirmware(c.NEW_IMAGE, c.NEW_VERSION, ids)),
            )
        )
        assert r.status_code == 200
    with live.engine.connect() as conn:
        jobs = conn.execute(select(func.count()).select_from(DistributionJob)).scalar_one()
    sent: Counter[str] = Counter()
    lock = threading.Lock()

    def counting(router_name: str) -> None:
        router = live.router(router_name)
        real = router.client.send

        def send(region: str, dist: Distribution):  # type: ignore[no-untyped-def]
            with lock:
                sent[dist.distribution_id] += 1
            return real(region, dist)

        router.client.send = send  # type: ignore[method-assign]
        while router.run_once(limit=1):
            pass

    threads = [threading.Thread(target=counting, args=(f"w{i}",)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(sent.values()) == len(sent) == jobs, sent
    with live.engine.connect() as conn:
        assert conn.execute(select(func.count()).where(DistributionJob.status == "sent")).scalar_one() == jobs
