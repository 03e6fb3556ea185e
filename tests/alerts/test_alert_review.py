"""Security review of the alert mailbox, the delivery worker and the sample receiver: hostile but signed or
well-framed inputs get a 4xx (never a 500), a receiver's answer is read the way it meant it, and the sample
receiver never acknowledges an alert it has not durably stored."""

from __future__ import annotations

import itertools
import json
import sqlite3
from pathlib import Path
from typing import Any

import httpx
from alerts_testkit import DSP, Store, pending
from sqlalchemy import select

import crafted
from api import conftest as api_conftest
from api.conftest import Live
from api.test_routing import submit
from duisclient import signer_for
from hanota.alerts import mailbox
from hanota.alerts.outbox import AlertWriter
from hanota.csp.interface import SIGNATURE_HEADER, region_key, sign_body
from hanota.db.models import CSPEventCursor, RequestCounter, RequestDevice
from hanota.retry import retry_after_seconds as _retry_after
from hanota.supplier.receiver import Receiver, Stored

_counter = itertools.count(9_000_000)
live = api_conftest.live  # the fixture of tests/api: a real DSP server with CSP routing


def _send(dsp: DSP, action: str, body: bytes) -> httpx.Response:
    return dsp.client.post(f"{dsp.url}/api/v1/alerts/{action}", content=body,
                           headers={"content-type": "application/xml"})  # fmt: skip


def _signed_with_limit(store: Store, limit_text: str) -> bytes:
    """A correctly signed pull by S1 whose Limit element holds `limit_text` verbatim."""
    req = mailbox.new_request("pull", crafted.S1, next(_counter), store.clock.now(), limit=7)
    doc = mailbox.render_request(req).replace(b">7</", f">{limit_text}</".encode())
    assert limit_text.encode() in doc
    return signer_for(store.pki, crafted.S1).sign(doc)


def _last_counter(store: Store) -> str | None:
    with store.engine.connect() as c:
        return c.execute(
            select(RequestCounter.last_counter).where(RequestCounter.originator_eui == crafted.S1)
        ).scalar()


def test_a_signed_pull_with_a_non_ascii_digit_limit_is_400_not_500(store: Store, dsp: DSP) -> None:
    """Limit '²' or '١٠' (Unicode digits that str.isdigit() accepts, the first of which int() refuses) in a
    validly signed pull is a malformed request (400 E3-style refusal) and the User's counter does not move."""
    before = _last_counter(store)
    for text in ("²", "١٠", "+5", " 5 5"):
        r = _send(dsp, "pull", _signed_with_limit(store, text))
        assert r.status_code == 400, (text, r.status_code, r.text)
    assert _last_counter(store) == before
    ok = _send(dsp, "pull", _signed_with_limit(store, "5"))
    assert ok.status_code == 200, ok.text


def test_retry_after_that_is_not_an_ascii_number_is_ignored() -> None:
    """Retry-After '²' (a Unicode digit float() refuses) is ignored like any other unusable value, instead of
    raising: a raise turned the receiver's 2xx into a failed attempt and a resend."""
    assert _retry_after("²") is None
    assert _retry_after("٣") is None
    assert _retry_after(" 12 ") == 12.0
    assert _retry_after("1e3") is None and _retry_after("-1") is None


def test_a_2xx_with_an_odd_retry_after_header_marks_the_alert_delivered(store: Store) -> None:
    """A receiver that answers 204 with 'Retry-After: ²' has the alert: it is marked delivered, not resent."""
    posts: list[str] = []

    async def odd_receiver(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        while (await receive()).get("more_body"):
            pass
        posts.append(dict(scope["headers"]).get(b"x-dcc-alert-id", b"").decode())
        await send({"type": "http.response.start", "status": 204,
                    "headers": [(b"retry-after", "²".encode())]})  # fmt: skip
        await send({"type": "http.response.body", "body": b""})

    from hanota.supplier.receiver import RunningReceiver

    running = RunningReceiver(odd_receiver, "127.0.0.1", 0).start()  # type: ignore[arg-type]
    try:
        store.set_endpoint(crafted.S1, f"{running.url}/alerts")
        store.write([pending(1, crafted.S1)])
        worker = store.worker(timeout_seconds=5, lease_seconds=30)
        assert worker.run_once() == 1
        row = store.rows()[f"t1:1:{crafted.S1}"]
        assert row.delivered_at is not None, row.last_error
        assert posts == [f"t1:1:{crafted.S1}"]
    finally:
        running.stop()


class _FailingOnce:
    """A sqlite3 connection whose next INSERT fails (a full disk, an I/O error)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        self.armed = True

    def execute(self, sql: str, params: Any = ()) -> sqlite3.Cursor:
        if self.armed and sql.startswith("INSERT"):
            self.armed = False
            raise sqlite3.OperationalError("disk I/O error")
        return self.db.execute(sql, params)

    def close(self) -> None:
        self.db.close()


def test_the_receiver_does_not_acknowledge_an_alert_its_store_failed_to_keep(
    store: Store, tmp_path: Path
) -> None:
    """If writing the alert to the receiver's SQLite store fails, the POST is not a success and the alert is
    not remembered in memory either: the DSP's resend is stored (204), and it is in the file after a
    restart. (It used to be marked stored in memory first, so the resend got '200 duplicate' and the alert
    was lost at the next restart.)"""
    db = tmp_path / "received.db"
    a = pending(1, crafted.S1)
    body = AlertWriter(store.signer).render(a, store.clock.now())[1]
    headers = {"content-type": "application/xml", "X-DCC-Alert-ID": a.alert_id}
    r = Receiver(store.signer.certificate, store=db, clock=store.clock)
    assert r._db is not None
    r._db = _FailingOnce(r._db)  # type: ignore[assignment]
    with r.serve_in_thread() as running:
        url = running.endpoint_for(crafted.S1)
        first = httpx.post(url, content=body, headers=headers, timeout=10)
        assert not 200 <= first.status_code < 300
        assert r.unique == 0
        again = httpx.post(url, content=body, headers=headers, timeout=10)
        assert again.status_code == 204, again.text
    r.close()
    restarted = Receiver(store.signer.certificate, store=db, clock=store.clock)
    assert restarted.alert_ids() == {a.alert_id}
    restarted.close()


def test_a_concurrent_post_of_the_same_id_with_other_content_is_a_conflict(store: Store) -> None:
    """When another POST stores the same alert ID while this one is being verified, this one is answered
    409 if its bytes differ (a conflict), not '200 duplicate'."""
    a = pending(1, crafted.S1)
    body = AlertWriter(store.signer).render(a, store.clock.now())[1]
    r = Receiver(store.signer.certificate, clock=store.clock)
    real_code_of = r._code_of

    def racing_code_of(data: bytes) -> str:
        code = real_code_of(data)
        with r._lock:  # the other POST wins the race with different bytes
            r._stored[a.alert_id] = Stored(a.alert_id, crafted.S1, code, b"\x00" * 32)
        return code

    r._code_of = racing_code_of  # type: ignore[method-assign]
    with r.serve_in_thread() as running:
        resp = httpx.post(running.endpoint_for(crafted.S1), content=body, timeout=10,
                          headers={"content-type": "application/xml", "X-DCC-Alert-ID": a.alert_id})  # fmt: skip
    r.close()
    assert resp.status_code == 409, resp.text
    assert r.conflicts == 1 and r.duplicates == 0


def _post_batch(live: Live, batch: dict[str, Any]) -> httpx.Response:
    body = json.dumps(batch).encode()
    key = region_key(live.ctx.settings.csp_secret, "Central")
    headers = {"content-type": "application/json", SIGNATURE_HEADER: sign_body(key, body)}
    return live.client.post(f"{live.url}/api/v1/csp/central/events", content=body, headers=headers)


def _event(distribution: str = "dsp-job-1", at: str = crafted.NOW.isoformat()) -> dict[str, Any]:
    return {"distribution_id": distribution, "device_id": crafted.P_OK, "chf_id": crafted.H1,
            "kind": "transferred", "reason": None, "at": at}  # fmt: skip


def _cursor(live: Live) -> int | None:
    with live.engine.connect() as conn:
        return conn.execute(
            select(CSPEventCursor.last_seq).where(CSPEventCursor.region == "Central")
        ).scalar()


def test_csp_event_batches_with_out_of_range_values_are_refused_or_ignored_never_500(live: Live) -> None:
    """A correctly signed batch whose seq is beyond 64 bits or whose event time cannot be expressed in UTC
    is refused with 422 and changes nothing; an event whose distribution ID holds a Unicode or huge number
    names no job, so it is ignored like any unknown target (200, nothing applied) — neither is a 500; the
    next good batch applies."""
    assert submit(live, (crafted.P_OK,)) == "I0"
    live.router().run_once()
    refused = [
        {"region": "Central", "seq": 2**63, "events": [_event()]},
        {"region": "Central", "seq": 1, "events": [_event(at="9999-12-31T23:59:59-05:00")]},
        {"region": "Central", "seq": 1, "events": [_event(at="0001-01-01T00:00:00+05:00")]},
    ]
    for batch in refused:
        r = _post_batch(live, batch)
        assert r.status_code == 422, (batch, r.status_code, r.text)
    assert _cursor(live) in (None, 0)
    for seq, distribution in enumerate(("dsp-job-²", "dsp-job-" + "9" * 40, "dsp-job-١"), start=1):
        r = _post_batch(live, {"region": "Central", "seq": seq, "events": [_event(distribution)]})
        assert r.status_code == 200 and r.json()["applied"] == 0, (distribution, r.status_code, r.text)
    with live.engine.connect() as conn:
        state = conn.execute(
            select(RequestDevice.state).where(RequestDevice.device_id == crafted.P_OK)
        ).scalar()
    assert state == "sent"
    ok = _post_batch(live, {"region": "Central", "seq": 4, "events": [_event()]})
    assert ok.status_code == 200 and ok.json()["applied"] == 1
