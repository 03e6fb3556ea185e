"""Alert delivery never storms: wall-clock backoff at any clock speed, dead letters, per-recipient isolation.

Issue 12 items 1, 1b and 15: an endpoint answering 400 was POSTed 598 times in 150 wall seconds at clock
×3,000; a 503 with Retry-After and a refused connection ~290 times per alert per minute; one stalled endpoint
delayed everyone's alerts by 8-10 s. The live tests here run the real worker (`run_forever`, aiohttp) against
the real sample receiver on a real `ScaledClock` and count what reached the endpoint per wall second.
"""

from __future__ import annotations

import random
import socket
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from sqlalchemy import select
from structlog.testing import capture_logs

import crafted
from alerts.alerts_testkit import Store, pending
from hanota.alerts.delivery import AiohttpTransport, DeliveryWorker, redeliver
from hanota.anomaly.quarantine import RELEASED_KIND
from hanota.clock import ManualClock, ScaledClock
from hanota.db.models import AlertOutbox
from hanota.duis import RequestID, codes
from hanota.duis.responses import Response, ResponseMessage, render_response_element
from hanota.supplier.receiver import Receiver, RunningReceiver

SPEED = 3000.0


class FastManualClock(ManualClock):
    """A hand-driven clock that says it runs ×3,000 (as the demo's): delays must still be wall seconds."""

    speed = SPEED


@contextmanager
def running(worker: DeliveryWorker, poll: float = 0.05) -> Iterator[None]:
    stop = threading.Event()
    thread = threading.Thread(target=worker.run_forever, args=(stop, poll), daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=30)
        assert not thread.is_alive()


def scaled(store: Store) -> ScaledClock:
    """A live clock ×3,000 from the crafted store's date (certificates valid), shared by worker and receiver."""
    return ScaledClock(crafted.NOW, SPEED)


def test_backoff_is_wall_seconds_whatever_the_clock_speed(store: Store, receiver: RunningReceiver) -> None:
    """At ×3,000 the first retry waits 1-2 wall seconds, i.e. 3,000-6,000 clock seconds (before: 1-2 clock
    seconds, under a millisecond of wall time)."""
    clock = FastManualClock(crafted.NOW)
    store.clock = clock
    store.set_endpoint(crafted.S1, receiver.endpoint_for(crafted.S1))
    store.write([pending(1, crafted.S1)])
    receiver.receiver.set_failing(True)
    worker = store.worker(rng=random.Random(3))
    assert worker.run_once() == 1
    (row,) = store.rows().values()
    wait = (row.next_attempt_at - clock.now()).total_seconds()
    assert SPEED * 1 <= wait <= SPEED * 2
    pause = store.recipient(crafted.S1)
    assert SPEED * 1 <= (pause.paused_until - clock.now()).total_seconds() <= SPEED * 2


def test_a_4xx_refusal_dead_letters_after_three_tries_and_can_be_redelivered_by_hand(
    store: Store, receiver: RunningReceiver
) -> None:
    """HTTP 400 three times: the alert is dead-lettered (kept, its last error says why), never claimed
    again by itself; `redeliver` makes it due again with the same ID and a fresh try count."""
    store.set_endpoint(crafted.S1, receiver.endpoint_for(crafted.S1))
    store.write([pending(1, crafted.S1)])
    r = receiver.receiver
    r.set_failing(True, status=400)
    worker = store.worker()
    for _ in range(3):
        assert worker.run_once() == 1
        store.clock.advance(3600)
    (row,) = store.rows().values()
    assert row.dead_at is not None and row.tries == 3 and row.delivered_at is None
    assert row.last_error == "HTTP 400; dead-lettered: refused with HTTP 400 3 times"
    store.clock.advance(86_400)
    assert worker.run_once() == 0 and r.posts_of(row.alert_id) == 3
    r.set_failing(False)
    with store.engine.begin() as conn:
        assert redeliver(conn, store.clock.now(), alert_ids=[row.alert_id]) == 1
    assert worker.run_once() == 1
    (row,) = store.rows().values()
    assert row.delivered_at is not None and row.dead_at is None and r.unique == 1


def test_a_transient_failure_is_retried_up_to_the_age_limit_then_dead_lettered(
    store: Store, receiver: RunningReceiver
) -> None:
    """A 503 is retried with backoff; once the next wait would pass the age limit (72 wall hours from the
    alert's creation) the alert is dead-lettered, as is the backlog its paused recipient kept waiting."""
    store.set_endpoint(crafted.S1, receiver.endpoint_for(crafted.S1))
    store.write([pending(n, crafted.S1) for n in range(5)])
    receiver.receiver.set_failing(True)
    worker = store.worker(per_recipient=1)
    assert worker.run_once() == 5  # one POST fails, four released
    store.clock.advance(71 * 3600)
    assert worker.run_once() == 1  # the probe
    store.clock.advance(3600 + 60)
    worker.run_once()
    rows = store.rows().values()
    assert all(row.dead_at is not None for row in rows), [(r.tries, r.last_error) for r in rows]
    assert any("age limit" in (row.last_error or "") for row in rows)


def test_at_x3000_a_400_endpoint_gets_at_most_three_posts_per_alert_then_each_is_dead_lettered(
    store: Store,
) -> None:
    """The issue's reproduction, live: the real worker and receiver on a ×3,000 clock, the endpoint
    refusing with 400, for 12 wall seconds. Before: ~4 POSTs per alert per wall second, forever."""
    clock = scaled(store)
    store.clock = clock  # type: ignore[assignment]
    receiver = Receiver(store.signer.certificate, clock=clock)
    receiver.set_failing(True, status=400)
    with receiver.serve_in_thread() as endpoint:
        store.set_endpoint(crafted.S1, endpoint.endpoint_for(crafted.S1))
        store.write([pending(n, crafted.S1) for n in range(30)])
        worker = store.worker()
        with capture_logs() as logs, running(worker):
            time.sleep(12)
    receiver.close()
    rows = store.rows()
    for alert_id, row in rows.items():
        assert 1 <= receiver.posts_of(alert_id) <= 3
        assert row.dead_at is not None and "dead-lettered" in (row.last_error or "")
    lines = [e for e in logs if e["event"] == "alerts dead-lettered"]
    assert len(lines) == 1 and lines[0]["count"] >= 1, "one line, not one per batch of dead letters"


def test_at_x3000_retry_after_is_read_as_wall_seconds(store: Store) -> None:
    """503 with Retry-After: 4 at ×3,000: the next POST comes ≥ 4 wall seconds later, so 9 wall seconds
    see at most 3 POSTs (before: ~40, the header read as clock seconds)."""
    clock = scaled(store)
    store.clock = clock  # type: ignore[assignment]
    receiver = Receiver(store.signer.certificate, clock=clock)
    receiver.set_failing(True, retry_after=4)
    with receiver.serve_in_thread() as endpoint:
        store.set_endpoint(crafted.S1, endpoint.endpoint_for(crafted.S1))
        store.write([pending(1, crafted.S1)])
        worker = store.worker()
        with running(worker):
            time.sleep(9)
    receiver.close()
    assert 1 <= receiver.posts <= 3
    (row,) = store.rows().values()
    assert row.dead_at is None and row.delivered_at is None, "a 503 is not dead-lettered in seconds"


class CountingTransport(AiohttpTransport):
    """The real aiohttp transport, counting the POSTs it starts (a refused connection leaves no trace at a
    server)."""

    def __init__(self, **kw: float | int) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.started = 0

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> tuple[int, float | None]:
        self.started += 1
        return await super().post(url, body, headers)


def test_at_x3000_a_down_endpoint_is_not_stormed(store: Store) -> None:
    """Nothing listens at the endpoint (connection refused), 20 alerts, ×3,000, 10 wall seconds: the
    recipient pauses after the first failures and is then probed one alert at a time — a handful of
    connection attempts in all (before: every alert tried every few milliseconds)."""
    clock = scaled(store)
    store.clock = clock  # type: ignore[assignment]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}/alerts"
    store.set_endpoint(crafted.S1, dead)
    store.write([pending(n, crafted.S1) for n in range(20)])
    transport = CountingTransport(concurrency=32, timeout_seconds=5.0)
    worker = store.worker(transport=transport, timeout_seconds=5.0)
    with running(worker):
        time.sleep(10)
    # the first claim's POSTs start together (≤ per_recipient = 16), then ≤ 4 probes in 10 s (1-2, 2-4, 4-8 s)
    assert 1 <= transport.started <= 16 + 4
    rows = store.rows().values()
    assert all(row.delivered_at is None and row.dead_at is None for row in rows)
    assert "Connect" in (store.recipient(crafted.S1).last_error or "")


def test_a_stalled_endpoint_never_delays_another_recipients_alerts(store: Store) -> None:
    """S1's endpoint holds every POST for 30 s; S2's answers at once. Alerts for both are written while S1's
    POSTs hang: S2's are delivered within a second or two of being written (before: 8-10 s, held behind
    the batch that waited for S1's timeout)."""
    receiver = Receiver(store.signer.certificate, clock=store.clock)
    receiver.stall(crafted.S1, 30)
    with receiver.serve_in_thread() as endpoint:
        store.set_endpoint(crafted.S1, endpoint.endpoint_for(crafted.S1))
        store.set_endpoint(crafted.S2, endpoint.endpoint_for(crafted.S2))
        worker = store.worker(timeout_seconds=10.0, lease_seconds=60.0)
        latencies: list[float] = []
        with running(worker, poll=0.02):
            store.write([pending(n, crafted.S1) for n in range(40)])
            time.sleep(0.5)  # S1's POSTs are now hanging
            for wave in range(3):
                t0 = time.monotonic()
                store.write([pending(1000 + 10 * wave + n, crafted.S2) for n in range(10)])
                while len(receiver.by_supplier().get(crafted.S2, {})) == 0 or sum(
                    receiver.by_supplier()[crafted.S2].values()
                ) < 10 * (wave + 1):
                    assert time.monotonic() - t0 < 8, "S2's alerts are held behind S1's stalled endpoint"
                    time.sleep(0.01)
                latencies.append(time.monotonic() - t0)
            receiver.stall(crafted.S1, 0)
    receiver.close()
    assert max(latencies) < 2.0, latencies
    assert sum(receiver.by_supplier()[crafted.S2].values()) == 30


def test_an_endpoint_failing_for_many_attempts_logs_state_changes_not_attempts(
    store: Store, receiver: RunningReceiver
) -> None:
    """Twenty alerts to a failing endpoint over several pauses and probes, then recovery: one warning when
    the endpoint starts failing and one line when it recovers, however many POSTs failed in between."""
    store.set_endpoint(crafted.S1, receiver.endpoint_for(crafted.S1))
    store.write([pending(n, crafted.S1) for n in range(20)])
    receiver.receiver.set_failing(True)
    worker = store.worker()
    with capture_logs() as logs:
        for _ in range(6):
            worker.run_once()
            store.clock.advance(3600)
        receiver.receiver.set_failing(False)
        while worker.run_once():
            store.clock.advance(3600)
    failing = [e for e in logs if e["event"].startswith("alert endpoint failing")]
    recovered = [e for e in logs if e["event"] == "alert endpoint recovered"]
    assert len(failing) == 1 and len(recovered) == 1
    assert receiver.receiver.failed_on_purpose >= 6
    assert not [e for e in logs if "will retry" in e["event"]]


def test_the_sample_receiver_takes_a_released_requests_signed_answer(
    store: Store, receiver: RunningReceiver
) -> None:
    """A request held by anomaly detection and then released is answered asynchronously through the outbox
    with the request's own DUIS response (not a DCCAlertMessage). The demo's receiver refused it (400 'a
    service response, not a DCC alert', and 413 over 1 MiB for a 50,000-device answer) so it was retried
    forever. Now it is verified, stored under its response code, and the outbox row is delivered."""
    rid = RequestID(crafted.S1, codes.DCC_EUI, 4242)
    response = Response(rid, codes.SUCCESS, crafted.NOW, ResponseMessage("8.2"))
    body = store.signer.sign_element(render_response_element(response))
    store.set_endpoint(crafted.S1, receiver.endpoint_for(crafted.S1))
    with store.engine.begin() as conn:
        conn.execute(
            AlertOutbox.__table__.insert().values(
                alert_id="adr:1", recipient_eui=crafted.S1, code=response.response_code, kind=RELEASED_KIND,
                request_pk=None, device_id=None, created_at=store.clock.now(), body=body, attempts=0,
                tries=0, next_attempt_at=store.clock.now(), mailbox=False,
            )
        )  # fmt: skip
    assert store.worker().run_once() == 1
    with store.engine.connect() as conn:
        delivered = conn.execute(
            select(AlertOutbox.delivered_at).where(AlertOutbox.alert_id == "adr:1")
        ).scalar_one()
    assert delivered is not None
    assert receiver.receiver.by_supplier() == {crafted.S1: {response.response_code: 1}}
    assert receiver.receiver.rejected == 0
