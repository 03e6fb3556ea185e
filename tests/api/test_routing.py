"""Routing: the worker sends each CSP its file; CSPs reject what they do not recognise; resends are
idempotent; a CSP that does not take a file is tried again later; two workers never send a job twice.

The routing itself is tested on the in-process transport (`hanota.csp.transport.InProcessTransport`: the
gateways' domain objects, no socket); what is about HTTP (the client's file and answer over the wire, the
gateway's authentication) on a live server."""

from __future__ import annotations

import base64
import json
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, func, select, text, update

import crafted as c
from api.conftest import Live
from duisclient import request, signed, signer_for
from hanota.bootstrap import AppContext, build_context, make_router
from hanota.clock import ManualClock
from hanota.csp.interface import SIGNATURE_HEADER, Distribution, PriorityClass, Target, region_key, sign_body
from hanota.csp.transport import CSPUnavailable, InProcessTransport
from hanota.db.models import AlertOutbox, CSPTarget, Device, DistributionJob, RequestDevice
from hanota.dsp.router import Router
from hanota.dsp.service import Answer
from hanota.duis import parse_document, parse_response
from hanota.duis.alerts import DCCAlertMessage, FirmwareDistributionFailure
from hanota.duis.requests import UpdatePPMIDFirmware
from hanota.estate.pki import init_pki
from hanota.settings import Settings


def submit(live: Live, ids: tuple[str, ...], sender: str = c.S1) -> str:
    """Submit an SR 11.4 for `ids` over the live DSP's HTTP interface; its DUIS response code."""
    r = live.post(
        signed(
            signer_for(live.pki, sender),
            request(sender, "11.4", UpdatePPMIDFirmware(c.NEW_IMAGE, c.NEW_VERSION, ids)),
        )
    )
    return r.headers["x-duis-response-code"]


@dataclass
class Desk:
    """The DSP and its in-process gateways on a crafted estate, called directly: no server, no socket."""

    ctx: AppContext
    engine: Engine
    pki: Path
    clock: ManualClock
    routers: list[Router] = field(default_factory=list)

    def router(self, name: str = "test") -> Router:
        r = make_router(self.ctx, name=name, inprocess=True)
        self.routers.append(r)
        return r

    def answer(self, ids: tuple[str, ...], sender: str = c.S1) -> Answer:
        """The DSP's answer to an SR 11.4 for `ids`, handled in-process."""
        update_firmware = UpdatePPMIDFirmware(c.NEW_IMAGE, c.NEW_VERSION, ids)
        return self.ctx.dsp.handle(
            signed(signer_for(self.pki, sender), request(sender, "11.4", update_firmware))
        )

    def submit(self, ids: tuple[str, ...], sender: str = c.S1) -> str:
        """Its DUIS response code."""
        answer = self.answer(ids, sender)
        assert answer.code is not None, answer.body[:300]
        return answer.code


@pytest.fixture
def desk(db_url: str, engine: Engine, tmp_path: Path) -> Iterator[Desk]:
    c.build(engine)
    clock = ManualClock(c.NOW)
    init_pki(engine, tmp_path / "pki", now=c.NOW)
    ctx = build_context(Settings(data_dir=tmp_path, database_url=db_url), clock=clock, migrate=False)
    d = Desk(ctx, engine, tmp_path / "pki", clock)
    yield d
    for r in d.routers:
        r.close()
    ctx.engine.dispose()


def _fact_target(device: str, hub: str, device_type: str, engine: Engine) -> Target:
    """A target with the inventory's facts about it, as the router would send it."""
    with engine.connect() as conn:
        region = conn.execute(text("SELECT region FROM comms_hubs WHERE chf_id = :h"), {"h": hub}).scalar()
        row = conn.execute(
            text("SELECT hub_id, hardware_version FROM devices WHERE device_id = :d"), {"d": device}
        ).first()
    return Target(
        device_id=device, chf_id=hub, device_type=device_type, hub_region=region,
        han_hub_id=row.hub_id if row else None, hardware_version=row.hardware_version if row else None,
    )  # fmt: skip


def _check_central_file_sent(engine: Engine) -> None:
    with engine.connect() as conn:
        job = conn.execute(select(DistributionJob)).one()
        states = dict(conn.execute(select(RequestDevice.device_id, RequestDevice.state)).all())
        queued = conn.execute(
            select(CSPTarget.device_id, CSPTarget.chf_id, CSPTarget.hub_region, CSPTarget.hardware_version)
        ).all()
        hardware = dict(conn.execute(select(Device.device_id, Device.hardware_version)).all())
        image = conn.execute(text("SELECT image, region, priority FROM csp_distributions")).one()
    assert job.status == "sent" and job.region == "Central" and job.rejected_count == 0
    accepted = {e.device_id for e in c.MIXED if e.outcome == "Accepted"}
    assert {d for d, s in states.items() if s == "sent"} == accepted
    assert {d for d, *_ in queued} == accepted and {h for _, h, _, _ in queued} == {c.H1}
    assert {r for *_, r, _ in queued} == {"Central"}, "the hub's region travelled in the file"
    assert {d: hw for d, _, _, hw in queued} == {d: hardware[d] for d in accepted}
    assert image.image == c.NEW_IMAGE and image.region == "Central" and image.priority == "HAN"


def test_worker_sends_each_region_its_file(desk: Desk) -> None:
    """One job per region is claimed and sent: the gateway queues the accepted devices with the hub facts
    the file carries, the devices become 'sent', the job 'sent'; nothing is left to claim."""
    assert desk.submit(tuple(e.device_id for e in c.MIXED)) == "W110401"
    assert desk.router().run_once() == 1
    _check_central_file_sent(desk.engine)
    assert desk.router().run_once() == 0, "nothing left to send"


def test_the_http_transport_carries_the_same_file_and_answer(live: Live) -> None:
    """Over HTTP (the default `CSPClient`, HMAC-signed, through the mounted gateway) the same file is
    queued with the same facts and the same answer applied as in-process."""
    assert submit(live, tuple(e.device_id for e in c.MIXED)) == "W110401"
    assert live.router().run_once() == 1
    _check_central_file_sent(live.engine)


def test_csp_rejections_become_a_distribution_failure_alert(desk: Desk) -> None:
    """A device the inventory moved to another hub between validation and sending is rejected by the CSP
    (the file says which hub's HAN it is on now): 'csp_rejected' with the reason, and one signed
    FirmwareDistributionFailure alert to the sender listing it."""
    assert desk.submit((c.P_OK, c.I_OK, c.P_GAS)) == "I0"
    with desk.engine.begin() as conn:
        conn.execute(update(Device).where(Device.device_id == c.P_GAS).values(hub_id=c.H3))
    desk.router().run_once()
    with desk.engine.connect() as conn:
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


def test_resending_a_distribution_is_idempotent(desk: Desk) -> None:
    """The same distribution sent twice gets the same answer, and its targets are queued once; a hub of
    another region and an unknown hub are rejected with their reasons."""
    transport = InProcessTransport(desk.ctx.gateways)
    dist = Distribution(
        distribution_id="manual-1", request_id="x", priority=PriorityClass.HAN, firmware_version=c.NEW_VERSION,
        firmware_hash="ab" * 32, image=base64.b64encode(c.NEW_IMAGE).decode(),
        targets=[_fact_target(c.P_OK, c.H1, "PPMID", desk.engine),
                 _fact_target(c.P_NOOTA, c.H2, "PPMID", desk.engine),
                 _fact_target("CC-00-00-00-00-00-00-01", "CC-00-00-00-00-00-00-02", "IHD", desk.engine)],
    )  # fmt: skip
    first = transport.send("Central", dist)
    again = transport.send("Central", dist)
    assert first == again
    assert first.accepted == 1
    assert {(r.device_id, r.reason.value) for r in first.rejected} == {
        (c.P_NOOTA, "CommsHubNotInRegion"),
        ("CC-00-00-00-00-00-00-01", "UnknownCommsHub"),
    }
    with desk.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(CSPTarget)).scalar_one() == 1


def test_gateway_refuses_unauthenticated_or_malformed_files(live: Live) -> None:
    """Over HTTP, a file without a signature, with a wrong one or signed with another region's key is 401;
    a signed body that is not a distribution is 422; the interface publishes its OpenAPI description."""
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


def test_unavailable_csp_means_retry_later(desk: Desk) -> None:
    """A CSP that does not take the file leaves the job pending with its error and a backoff: not claimed
    again before the backoff ends, claimed once it has."""
    assert desk.submit((c.P_OK,)) == "I0"
    router = desk.router()
    router.client = InProcessTransport([])  # no gateway answers for Central
    router.run_once()
    with desk.engine.connect() as conn:
        job = conn.execute(select(DistributionJob)).one()
    assert job.status == "pending" and job.attempts == 1 and "Central" in (job.last_error or "")
    assert job.next_attempt_at > c.NOW
    assert desk.router().run_once() == 0, "not before its backoff"
    desk.clock.advance(60)
    assert desk.router().run_once() == 1


def test_a_file_the_gateway_refuses_fails_in_process_as_over_http(desk: Desk) -> None:
    """In-process, a file the gateway refuses (an image that is not base64) fails as it does over HTTP:
    `CSPUnavailable` with status 422 and the gateway's answer in its message; a region without a gateway
    fails with no status (no answer)."""
    transport = InProcessTransport(desk.ctx.gateways)
    dist = Distribution(
        distribution_id="manual-2", request_id="x", priority=PriorityClass.HAN, firmware_version=c.NEW_VERSION,
        firmware_hash="ab" * 32, image="not base64!", targets=[_fact_target(c.P_OK, c.H1, "PPMID", desk.engine)],
    )  # fmt: skip
    with pytest.raises(CSPUnavailable) as refused:
        transport.send("Central", dist)
    assert refused.value.status == 422
    assert str(refused.value) == 'Central: HTTP 422: {"detail":"image is not base64"}'
    with pytest.raises(CSPUnavailable) as absent:
        InProcessTransport([]).send("Central", dist)
    assert absent.value.status is None and "Central" in str(absent.value)


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)  # the SKIP LOCKED race is a PostgreSQL test
def test_two_workers_never_send_a_job_twice(desk: Desk) -> None:
    """Two workers claiming concurrently on PostgreSQL (FOR UPDATE SKIP LOCKED) send every job exactly once."""
    assert desk.engine.dialect.name == "postgresql"
    for i in range(12):
        sender = (c.S1, c.S2)[i % 2]
        assert desk.answer((c.P_OK, c.I_OK, c.P_GAS), sender).status == 200
    with desk.engine.connect() as conn:
        jobs = conn.execute(select(func.count()).select_from(DistributionJob)).scalar_one()
    sent: Counter[str] = Counter()
    lock = threading.Lock()

    def counting(router_name: str) -> None:
        router = desk.router(router_name)
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
    with desk.engine.connect() as conn:
        assert conn.execute(select(func.count()).where(DistributionJob.status == "sent")).scalar_one() == jobs
