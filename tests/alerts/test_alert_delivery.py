"""The delivery worker: outbox alerts reach each User's endpoint at least once, with stable IDs."""

from __future__ import annotations

import hashlib
import random
import socket
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

import crafted
from alerts.alerts_testkit import Store, pending
from hanota.alerts.delivery import DeliveryWorker
from hanota.api.app import create_app
from hanota.bootstrap import build_context, make_delivery
from hanota.retry import RetryPolicy
from hanota.settings import Settings
from hanota.supplier.receiver import RunningReceiver
from liveserver import LiveServer


def _deliver_all(worker: DeliveryWorker, rounds: int = 50) -> None:
    for _ in range(rounds):
        if not worker.run_once():
            return
    raise AssertionError("the outbox did not drain")


def test_alerts_reach_each_suppliers_endpoint_once_with_exact_signed_bytes(
    store: Store, receiver: RunningReceiver
) -> None:
    """Every alert is POSTed once to its recipient's endpoint, verified by the receiver against the DSP's
    certificate, byte-identical to the outbox body, and marked delivered; counts per supplier and code match."""
    store.set_endpoint(crafted.S1, receiver.endpoint_for(crafted.S1))
    store.set_endpoint(crafted.S2, receiver.endpoint_for(crafted.S2))
    alerts = [pending(n, crafted.S1) for n in range(60)] + [pending(n, crafted.S2) for n in range(30)]
    assert store.write(alerts) == 90
    worker = store.worker(batch_size=25, concurrency=4)
    _deliver_all(worker)
    r = receiver.receiver
    assert r.unique == 90 and r.duplicates == 0 and r.rejected == 0
    assert r.by_supplier() == {crafted.S1: {"N61": 20, "N62": 20, "N63": 20},
                               crafted.S2: {"N61": 10, "N62": 10, "N63": 10}}  # fmt: skip
    rows = store.rows()
    for alert_id, row in rows.items():
        assert row.delivered_at == crafted.NOW and row.attempts == 1 and row.last_error is None
        stored = r.stored(alert_id)
        assert stored is not None and stored.digest == hashlib.sha256(row.body).digest()
        assert r.posts_of(alert_id) == 1
    assert worker.run_once() == 0  # nothing left to claim


def test_failing_endpoint_is_paused_then_probed_one_alert_at_a_time_until_it_recovers(
    store: Store, receiver: RunningReceiver
) -> None:
    """While the endpoint answers 503 nothing is marked delivered: the first failed POST pauses the recipient
    (its backoff drawn from [c/2, c], c = 2 s, 4 s, …) and releases the alerts claimed with it unsent; no POST
    happens during a pause, and after it one alert probes the endpoint. When a probe is delivered the
    recipient is healthy again and every alert is delivered, each stored once."""
    store.set_endpoint(crafted.S1, receiver.endpoint_for(crafted.S1))
    store.write([pending(n, crafted.S1) for n in range(20)])
    worker = store.worker(per_recipient=1, policy=RetryPolicy(base_seconds=2, max_seconds=600),
                          rng=random.Random(5))  # fmt: skip
    r = receiver.receiver
    r.set_failing(True)
    assert worker.run_once() == 20
    assert r.posts == 1, "one POST failed; the other 19 were released unsent"
    rows = list(store.rows().values())
    (tried,) = [row for row in rows if row.tries]
    assert tried.tries == 1 and tried.last_error == "HTTP 503" and tried.dead_at is None
    assert all(row.next_attempt_at == store.clock.now() for row in rows if row is not tried)
    for failures, ceiling in ((1, 2.0), (2, 4.0), (3, 8.0)):
        pause = store.recipient(crafted.S1)
        assert pause.failures == failures
        wait = (pause.paused_until - store.clock.now()).total_seconds()
        assert ceiling / 2 <= wait <= ceiling
        assert worker.run_once() == 0, "nothing is claimed for a paused recipient"
        store.clock.advance(ceiling)
        assert worker.run_once() == 1, "one probe once the pause is over"
    assert r.posts == 4 and r.unique == 0
    r.set_failing(False)
    store.clock.advance(16)
    assert worker.run_once() == 1  # the probe, delivered: the recipient is healthy again
    assert store.recipient(crafted.S1).failures == 0
    store.clock.advance(600)  # past every alert's own backoff
    while worker.run_once():
        pass
    assert r.unique == 20 and r.duplicates == 0
    assert all(row.delivered_at is not None and row.last_error is None for row in store.rows().values())


def test_retry_policy_backoff_doubles_up_to_its_cap_and_honours_a_longer_retry_after() -> None:
    """Backoff ceilings are base·2^(n-1) capped; delays lie in the upper half; Retry-After wins when longer
    (never past the cap)."""
    b = RetryPolicy(base_seconds=1, max_seconds=60)
    assert [b.ceiling(n) for n in (1, 2, 3, 6, 7, 50, 10_000)] == [1, 2, 4, 32, 60, 60, 60]
    rng = random.Random(1)
    for n in range(1, 12):
        d = b.delay(n, rng)
        assert b.ceiling(n) / 2 <= d <= b.ceiling(n)
    assert b.delay(1, rng, retry_after=30) == 30
    assert b.delay(1, rng, retry_after=3600) == 60
    assert b.delay(6, random.Random(2), retry_after=1) >= 16
    with pytest.raises(ValueError, match="base_seconds"):
        RetryPolicy(base_seconds=0)


def test_receiver_retry_after_sets_the_next_attempt(store: Store, receiver: RunningReceiver) -> None:
    """A 503 with Retry-After: 300 puts the next attempt 300 s out, though the first backoff is at most 2 s."""
    store.set_endpoint(crafted.S1, receiver.endpoint_for(crafted.S1))
    store.write([pending(1, crafted.S1)])
    receiver.receiver.fail_next(1, retry_after=300)
    store.worker().run_once()
    (row,) = store.rows().values()
    assert row.next_attempt_at - store.clock.now() == timedelta(seconds=300)


def test_crash_between_post_and_record_resends_the_same_id_after_the_lease(
    store: Store, receiver: RunningReceiver
) -> None:
    """A worker that POSTs and dies before recording leaves the alerts leased: nobody sends them during the
    lease; afterwards another worker sends them again with the SAME IDs, the receiver deduplicates (stores
    each once, answers the resend 200) and the outbox records them delivered."""
    store.set_endpoint(crafted.S1, receiver.endpoint_for(crafted.S1))
    store.write([pending(n, crafted.S1) for n in range(10)])
    doomed = store.worker("doomed", lease_seconds=120)
    doomed.send(doomed.claim())  # the POSTs happen; the process "dies" before record()
    r = receiver.receiver
    assert r.unique == 10
    assert all(row.delivered_at is None for row in store.rows().values())
    survivor = store.worker("survivor", lease_seconds=120)
    assert survivor.run_once() == 0  # still leased to the dead worker
    store.clock.advance(121)
    assert survivor.run_once() == 10
    assert r.unique == 10 and r.duplicates == 10
    for alert_id, row in store.rows().items():
        assert row.delivered_at is not None and row.attempts == 2
        assert r.posts_of(alert_id) == 2


def test_a_worker_whose_lease_passed_cannot_reschedule_but_a_2xx_still_counts(
    store: Store, receiver: RunningReceiver
) -> None:
    """attempts is the fencing token: the first worker's late failure leaves the second worker's lease
    alone; a late success is recorded whoever holds the lease."""
    store.set_endpoint(crafted.S1, receiver.endpoint_for(crafted.S1))
    store.write([pending(1, crafted.S1), pending(2, crafted.S1)])
    # one POST at a time, so the receiver's one refusal goes to the first alert (two at once race); a 400,
    # which does not hold the recipient, so the second alert is still sent
    a, b = store.worker("a", concurrency=1), store.worker("b")
    claimed_a = a.claim()
    store.clock.advance(121)
    claimed_b = b.claim()
    assert [c.attempts for c in claimed_a] == [1, 1] and [c.attempts for c in claimed_b] == [2, 2]
    receiver.receiver.fail_next(1, status=400)
    outcomes = a.send(claimed_a)
    assert [o.delivered for o in outcomes] == [False, True]
    a.record(outcomes)
    rows = store.rows()
    failed = rows[claimed_a[0].alert_id]
    assert failed.delivered_at is None and failed.next_attempt_at == claimed_b[0].lease_until
    assert rows[claimed_a[1].alert_id].delivered_at is not None


def test_two_workers_in_parallel_never_send_an_alert_twice(store: Store, receiver: RunningReceiver) -> None:
    """Two workers draining the same outbox at the same time (threads; PostgreSQL: FOR UPDATE SKIP LOCKED;
    SQLite: one writer) claim disjoint alerts: every alert reaches the receiver exactly once."""
    store.set_endpoint(crafted.S1, receiver.endpoint_for(crafted.S1))
    store.set_endpoint(crafted.S2, receiver.endpoint_for(crafted.S2))
    n = 600
    store.write([pending(i, crafted.S1 if i % 2 else crafted.S2) for i in range(n)])
    workers = [store.worker(f"p{i}", batch_size=20, concurrency=4) for i in range(2)]
    claimed = [0, 0]
    barrier = threading.Barrier(2)

    def drain(i: int) -> None:
        barrier.wait()
        while got := workers[i].run_once():
            claimed[i] += got

    threads = [threading.Thread(target=drain, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    r = receiver.receiver
    assert sum(claimed) == n and min(claimed) > 0
    assert r.unique == n and r.duplicates == 0 and r.posts == n
    assert all(row.delivered_at is not None and row.attempts == 1 for row in store.rows().values())


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_postgres_claim_skips_rows_another_transaction_holds(store: Store) -> None:
    """On PostgreSQL a claim neither waits for nor takes rows that a concurrent, uncommitted claim holds
    (FOR UPDATE SKIP LOCKED): the two claims are disjoint even before either lease is written."""
    store.set_endpoint(crafted.S1, "http://127.0.0.1:9/alerts")
    store.write([pending(i, crafted.S1) for i in range(10)])
    with store.engine.connect() as holder:
        tx = holder.begin()
        held = (
            holder.execute(text("SELECT id FROM alert_outbox ORDER BY id LIMIT 4 FOR UPDATE SKIP LOCKED"))
            .scalars()
            .all()
        )
        t0 = time.monotonic()
        claimed = store.worker("other").claim()
        waited = time.monotonic() - t0
        tx.rollback()
    assert waited < 5
    assert len(held) == 4 and len(claimed) == 6
    assert not {c.pk for c in claimed} & set(held)


def test_recipient_without_endpoint_goes_to_the_mailbox_and_is_not_posted(
    store: Store, receiver: RunningReceiver
) -> None:
    """An alert whose recipient has no endpoint (any more) is moved to the mailbox at claim time; it is not
    POSTed anywhere, not counted as an attempt, and never claimed for pushing again."""
    store.set_endpoint(crafted.S1, receiver.endpoint_for(crafted.S1))
    store.write([pending(n, crafted.S1) for n in range(3)])
    store.set_endpoint(crafted.S1, None)
    worker = store.worker()
    assert worker.run_once() == 0
    assert receiver.receiver.posts == 0
    assert all(
        row.mailbox and row.attempts == 0 and row.delivered_at is None for row in store.rows().values()
    )
    assert worker.totals.to_mailbox == 3
    store.set_endpoint(crafted.S1, receiver.endpoint_for(crafted.S1))
    assert worker.run_once() == 0  # mailbox alerts stay in the mailbox


def test_a_changed_endpoint_is_used_from_the_next_attempt(store: Store, receiver: RunningReceiver) -> None:
    """The endpoint is read at claim time: after a failed attempt at a dead address, the User's new address
    gets the alert."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}/alerts"  # nothing listens once closed
    store.set_endpoint(crafted.S1, dead)
    store.write([pending(1, crafted.S1)])
    worker = store.worker(timeout_seconds=2, lease_seconds=10)
    assert worker.run_once() == 1
    (row,) = store.rows().values()
    assert row.delivered_at is None and row.last_error and "Connect" in row.last_error
    store.set_endpoint(crafted.S1, receiver.endpoint_for(crafted.S1))
    store.clock.advance(600)
    assert worker.run_once() == 1
    assert receiver.receiver.unique == 1


def test_an_endpoint_that_is_not_http_fails_the_attempt_without_sending(store: Store) -> None:
    """A malformed endpoint is a failed attempt with the reason recorded (and retried later), never a crash."""
    store.set_endpoint(crafted.S1, "ftp://example.invalid/alerts")
    store.write([pending(1, crafted.S1)])
    worker = store.worker()
    assert worker.run_once() == 1
    (row,) = store.rows().values()
    assert row.delivered_at is None and row.attempts == 1 and "not an http(s) URL" in (row.last_error or "")
    assert row.next_attempt_at > store.clock.now()


def test_a_lease_too_short_to_finish_a_post_releases_the_alert_unsent(
    store: Store, receiver: RunningReceiver
) -> None:
    """A worker never starts a POST that could outlive its lease: with the lease nearly over it sends nothing
    and gives the alerts back (due at once) for the next claim."""
    store.set_endpoint(crafted.S1, receiver.endpoint_for(crafted.S1))
    store.write([pending(n, crafted.S1) for n in range(3)])
    worker = store.worker(lease_seconds=1.2, timeout_seconds=1.0)
    claimed = worker.claim()
    time.sleep(0.3)
    outcomes = worker.send(claimed)
    assert all(o.skipped for o in outcomes) and receiver.receiver.posts == 0
    counts = worker.record(outcomes)
    assert counts.released == 3
    assert all(row.next_attempt_at == store.clock.now() for row in store.rows().values())
    assert store.worker(lease_seconds=120).run_once() == 3
    assert receiver.receiver.unique == 3


def test_run_forever_delivers_until_stopped(store: Store, receiver: RunningReceiver) -> None:
    """run_forever keeps claiming (alerts written while it runs included) and returns when stopped."""
    store.set_endpoint(crafted.S1, receiver.endpoint_for(crafted.S1))
    worker = store.worker()
    stop = threading.Event()
    thread = threading.Thread(target=worker.run_forever, args=(stop, 0.02))
    thread.start()
    try:
        store.write([pending(n, crafted.S1) for n in range(5)])
        deadline = time.monotonic() + 20
        while receiver.receiver.unique < 5 and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        stop.set()
        thread.join(timeout=20)
    assert not thread.is_alive()
    assert receiver.receiver.unique == 5


def test_the_served_app_runs_the_delivery_worker_in_its_lifespan(
    store: Store, receiver: RunningReceiver, db_url: str, tmp_path: Path
) -> None:
    """`hanota serve` (create_app with ctx.delivery, as make_delivery gives it) delivers outbox alerts from
    a thread next to the router, and stops it on shutdown."""
    settings = Settings(data_dir=tmp_path, database_url=db_url, run_worker=False, run_network=False,
                        worker_poll_seconds=0.02)  # fmt: skip
    ctx = build_context(settings, clock=store.clock, migrate=False)
    ctx.delivery = make_delivery(ctx)
    store.set_endpoint(crafted.S3, receiver.endpoint_for(crafted.S3))
    store.write([pending(n, crafted.S3) for n in range(4)])
    with LiveServer(create_app(ctx)):
        deadline = time.monotonic() + 20
        while receiver.receiver.unique < 4 and time.monotonic() < deadline:
            time.sleep(0.02)
    ctx.engine.dispose()
    assert receiver.receiver.by_supplier() == {crafted.S3: {"N61": 1, "N62": 2, "N63": 1}}
