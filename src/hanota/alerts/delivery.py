"""The alert delivery worker: claims due alerts from the outbox and POSTs each one to its User's endpoint.

What a receiver sees, per alert: one ``POST`` of exactly the signed bytes in ``alert_outbox.body``
(``Content-Type: application/xml``) with the alert's stable ID in ``X-DCC-Alert-ID`` and its code in
``X-DCC-Alert-Code``. **Every 2xx marks the alert delivered**: 200, 201, 202 and 204 alike (a DCC
Boxed-style receiver, e.g. its Node-RED flow on ``/smartdcc/duis``, answers 204 with no body; the body of
an answer is never read). A 202 is taken at its word: the receiver has the alert, what it does next is its
business. A **3xx is not delivered**: redirects are not followed (a signed alert is not re-POSTed to an
address the User did not register, and 301/302 would turn the POST into a GET), so it is a failed try
like a 5xx — the recipient pauses and its alerts wait, rather than being dead-lettered after three tries,
until the User sets the address the redirect points to (`hanota.alerts.endpoints`; the error recorded says
so). Anything else (another status, a refused connection, a timeout) is a failed try too, handled by the
shared `hanota.retry.RetryPolicy`, in **wall** seconds whatever the simulation clock's speed:

- the alert is tried again after an exponential backoff with jitter (2 s, 4 s, 8 s … capped at 30 minutes,
  each delay drawn from its upper half), or after the receiver's ``Retry-After`` if that is longer;
- **the recipient pauses too**: after a POST that got no answer, a 5xx, 408, 425 or 429, none of that
  recipient's alerts is sent until its own backoff ends (``alert_recipients``), and then one alert at a
  time (a probe) until one is delivered. So an endpoint that is down or overloaded sees about one POST per
  backoff period, not one per alert, and the other recipients are not held at all. A permanent refusal
  (another 4xx) is about that alert: the endpoint answered, so only the alert backs off;
- **dead letters**: an alert refused with a 4xx other than 408/425/429 three times, tried 50 times, or still
  undelivered 72 wall hours after it was written is dead-lettered (``dead_at``): kept with its last error,
  never sent again by itself, listed by ``hanota alerts outbox --dead`` and on the SSI's outbox page, and
  sent again by hand (``hanota alerts redeliver`` or the page's button), with the same ID;
- logging is one line per state change (an endpoint starts failing, recovers; alerts are dead-lettered),
  never one per attempt.

Claiming is a lease of ``lease_seconds`` of wall time (stored as that many wall seconds of clock time). A
claim moves ``next_attempt_at`` to the end of the lease and adds one to ``attempts`` in one transaction
(PostgreSQL: ``FOR UPDATE SKIP LOCKED``, so concurrent workers take disjoint rows; SQLite: the store's single
writer). Nobody else claims the row until the lease ends; a worker never starts a POST that could still be
running when its lease ends (``lease_seconds`` > ``timeout_seconds``), so two workers never send the same
alert at the same time. A worker that dies after sending and before recording leaves the row to be claimed
again when the lease ends: the same alert is sent again, with the same ID. ``attempts`` (raised by each
claim) is the fencing token: a worker whose lease has passed to another can no longer reschedule the row.
``tries`` counts the POSTs actually made (what the cap counts). A 2xx is recorded whoever holds the lease.

The endpoint is read from ``users.alert_endpoint`` when the alert is claimed, so a User who changes it is
served at the new address from the next attempt. A changed endpoint starts healthy: `set_endpoint` drops
the recipient's failing state, and an answer from the old address that arrives afterwards (a POST in
flight during the change) neither pauses nor restores the recipient. A row whose recipient has no
endpoint (any more) moves to the mailbox (``mailbox = true``), from where the User pulls it
(`hanota.alerts.mailbox`). Mailbox rows stay in the mailbox even if the User later gets an endpoint.

HTTP is aiohttp on an event loop the worker owns: keep-alive connections, at most ``concurrency`` requests
in flight, at most ``per_recipient`` (16) of them to one recipient, each bounded by ``timeout_seconds``.
`run_forever` pipelines: it claims, POSTs and records continuously, so an alert to a healthy endpoint is
never held behind a slow one (a stalled endpoint occupies at most ``per_recipient`` slots). `run_once`
(claim → send → record) is the same work in lockstep, for tests and benchmarks. (httpx's async client
measured ~570 requests/s with 16 connections on this machine against ~14,000/s for aiohttp; see
``bench/bench_alerts.py``.)

The parts: what a claim and an attempt are (`hanota.alerts.attempts`), how one alert is POSTed
(`hanota.alerts.posting`), dead letters sent again by hand (`hanota.alerts.redelivery`); the claim's row
locking, its lease and the backoff are `hanota.retry`'s (`claimable`, `Lease`, `Backoff`), as for the
distribution router.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import threading
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

import aiohttp
from sqlalchemy import Connection, Engine, bindparam, select, update

from hanota.alerts.attempts import ClaimedAlert, Outcome, RunCounts, add_counts, judge
from hanota.alerts.endpoints import endpoint_problem
from hanota.alerts.posting import (
    ALERT_CODE_HEADER,
    ALERT_ID_HEADER,
    AiohttpTransport,
    Transport,
    new_event_loop,
)
from hanota.alerts.redelivery import redeliver
from hanota.background import poll_until_stopped
from hanota.clock import Clock
from hanota.db.bulk import insert_or_ignore
from hanota.db.models import AlertOutbox, AlertRecipient, User
from hanota.logs import get_logger
from hanota.retry import Backoff, Lease, RetryPolicy, claimable, is_permanent, to_clock_seconds

log = get_logger("hanota.alerts.delivery")

_MAX_ERROR = 1000
_IN_CHUNK = 500  # ids per `IN (…)` when recording (well under every driver's parameter limit)
_AGE_SWEEP_WALL_SECONDS = 10.0  # how often a worker dead-letters a paused recipient's over-age backlog
_RECORD_AFTER_SECONDS = 0.05  # the longest a delivered alert waits to be recorded (pipelined worker)
_DEAD_LOG_WALL_SECONDS = 60.0  # at most one "dead-lettered" line per recipient per minute
RELEASED = "lease too short to send; released"
HELD = "recipient paused after a failure; released"


class DeliveryWorker:
    """Delivers outbox alerts. `run_once` = `claim` → `send` → `record`; `run_forever` pipelines the same.

    Thread use: one thread at a time drives a worker (it owns an event loop); several workers, in threads or
    processes, may share the store.
    """

    def __init__(
        self,
        engine: Engine,
        clock: Clock,
        *,
        name: str,
        batch_size: int = 500,
        concurrency: int = 32,
        per_recipient: int = 16,
        lease_seconds: float = 120.0,
        timeout_seconds: float = 10.0,
        policy: RetryPolicy | None = None,
        rng: random.Random | None = None,
        transport: Transport | None = None,
    ) -> None:
        if batch_size < 1 or concurrency < 1 or per_recipient < 1:
            raise ValueError("batch_size, concurrency and per_recipient must be positive")
        if lease_seconds <= timeout_seconds:
            raise ValueError(
                "the lease must be longer than one POST may take (lease_seconds > timeout_seconds)"
            )
        self.engine = engine
        self.clock = clock
        self.name = name
        self.batch_size = batch_size
        self.concurrency = concurrency
        self.per_recipient = per_recipient
        self.lease_seconds = lease_seconds
        self.timeout_seconds = timeout_seconds
        self.policy = policy or RetryPolicy()
        self.rng = rng or random.Random()  # noqa: S311 - jitter, not a secret
        self._transport = transport
        self._loop: asyncio.AbstractEventLoop | None = None
        self._held: dict[str, float] = {}  # recipient -> monotonic time of its last failure on this worker
        self._gates: dict[str, asyncio.Semaphore] = {}
        self._gate: asyncio.Semaphore | None = None
        self._last_sweep: datetime | None = None
        self._dead_logged: dict[str, tuple[float, int]] = {}  # recipient -> (last line, dead-lettered since)
        self.totals = RunCounts()

    @property
    def backoff(self) -> Backoff:
        """The retry policy on this worker's clock (built on use: tests swap `policy` and `rng`)."""
        return Backoff(self.policy, self.clock, self.rng)

    # -- claim ---------------------------------------------------------------------------------------------
    def claim(self, limit: int | None = None, busy: Sequence[str] = ()) -> list[ClaimedAlert]:
        """Lease up to `limit` due alerts; rows whose recipient has no endpoint go to the mailbox instead.

        Recipients in `busy` (this worker has enough of theirs in hand) are left out; so are paused
        recipients, and a recipient whose endpoint is failing but whose pause is over gets one alert (a probe).
        """
        now = self.clock.now()
        lease_until = Lease(self.clock, self.lease_seconds).until(now)
        wall_deadline = time.monotonic() + self.lease_seconds
        limit = limit or self.batch_size
        with self.engine.begin() as conn:
            self._sweep_over_age(conn, now)
            troubled = dict(
                conn.execute(
                    select(AlertRecipient.recipient_eui, AlertRecipient.paused_until).where(
                        AlertRecipient.failures > 0
                    )
                ).all()
            )
            skip = set(busy) | set(troubled)
            rows = list(conn.execute(self._due(now, limit, exclude=sorted(skip))).all())
            probes = [
                eui for eui, until in troubled.items() if eui not in busy and (until is None or until <= now)
            ]
            for eui in probes:
                rows.extend(conn.execute(self._due(now, 1, only=eui)).all())
            if not rows:
                return []
            recipients = sorted({r.recipient_eui for r in rows})
            endpoints: dict[str, str | None] = dict(
                conn.execute(select(User.eui, User.alert_endpoint).where(User.eui.in_(recipients))).all()
            )
            to_mailbox = [r.id for r in rows if not endpoints.get(r.recipient_eui)]
            leased = [r for r in rows if endpoints.get(r.recipient_eui)]
            for chunk in _chunks(to_mailbox):
                conn.execute(update(AlertOutbox).where(AlertOutbox.id.in_(chunk)).values(mailbox=True))
            for chunk in _chunks([r.id for r in leased]):
                conn.execute(
                    update(AlertOutbox)
                    .where(AlertOutbox.id.in_(chunk))
                    .values(attempts=AlertOutbox.attempts + 1, next_attempt_at=lease_until)
                )
            probing = sorted({r.recipient_eui for r in leased} & set(probes))
            if probing:  # nobody else probes them while this probe is out
                conn.execute(
                    update(AlertRecipient)
                    .where(AlertRecipient.recipient_eui.in_(probing))
                    .values(paused_until=lease_until)
                )
        if to_mailbox:
            self.totals = add_counts(self.totals, RunCounts(to_mailbox=len(to_mailbox)))
            log.info("alerts moved to the mailbox (recipient has no endpoint)", count=len(to_mailbox))
        return [
            ClaimedAlert(r.id, r.alert_id, r.recipient_eui, r.code, str(endpoints[r.recipient_eui]),
                         bytes(r.body), r.attempts + 1, r.tries, r.created_at, lease_until, wall_deadline)
            for r in leased
        ]  # fmt: skip

    def _due(
        self, now: datetime, limit: int, *, exclude: Sequence[str] = (), only: str | None = None
    ) -> Any:  # a Select over the outbox columns
        query = (
            select(
                AlertOutbox.id, AlertOutbox.alert_id, AlertOutbox.recipient_eui, AlertOutbox.code,
                AlertOutbox.body, AlertOutbox.attempts, AlertOutbox.tries, AlertOutbox.created_at,
            )
            .where(
                AlertOutbox.delivered_at.is_(None),
                AlertOutbox.dead_at.is_(None),
                AlertOutbox.mailbox.is_(False),
                AlertOutbox.next_attempt_at <= now,
            )
            .order_by(AlertOutbox.next_attempt_at, AlertOutbox.id)
            .limit(limit)
        )  # fmt: skip
        if only is not None:
            query = query.where(AlertOutbox.recipient_eui == only)
        elif exclude:
            query = query.where(AlertOutbox.recipient_eui.not_in(list(exclude)))
        return claimable(query, self.engine.dialect.name)

    def _sweep_over_age(self, conn: Connection, now: datetime) -> None:
        """Dead-letter what a failing recipient's pauses kept from ever being tried within the age limit."""
        if self._last_sweep is not None and now - self._last_sweep < to_clock_seconds(
            self.clock, _AGE_SWEEP_WALL_SECONDS
        ):
            return
        self._last_sweep = now
        oldest = now - to_clock_seconds(self.clock, self.policy.max_age_seconds)
        failing = select(AlertRecipient.recipient_eui).where(AlertRecipient.failures > 0)
        swept = conn.execute(
            update(AlertOutbox)
            .where(
                AlertOutbox.delivered_at.is_(None),
                AlertOutbox.dead_at.is_(None),
                AlertOutbox.mailbox.is_(False),
                AlertOutbox.created_at < oldest,
                AlertOutbox.next_attempt_at <= now,
                AlertOutbox.recipient_eui.in_(failing),
            )
            .values(
                dead_at=now,
                last_error="dead-lettered: its recipient's endpoint was failing past the age limit",
            )
        ).rowcount
        if swept:
            self.totals = add_counts(self.totals, RunCounts(dead=swept))
            log.warning("alerts dead-lettered: recipient failing past the age limit", count=swept)

    # -- send ----------------------------------------------------------------------------------------------
    def send(self, claimed: Sequence[ClaimedAlert]) -> list[Outcome]:
        """POST each claimed alert (at most `concurrency` at once, `per_recipient` per recipient); one
        outcome per alert, in order."""
        if not claimed:
            return []
        loop = self._event_loop()
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # the usual case: no loop runs on this thread
            return loop.run_until_complete(self._send_all(claimed))
        # called from inside an event loop (an ASGI app, Playwright's sync API): run ours on a helper thread
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"{self.name}-send") as helper:
            return helper.submit(loop.run_until_complete, self._send_all(claimed)).result()

    def _event_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None or self._loop.is_closed():
            self._loop = new_event_loop()
            self._gate = None
            self._gates = {}
        return self._loop

    def _transport_now(self) -> Transport:
        if self._transport is None:
            self._transport = AiohttpTransport(
                concurrency=self.concurrency, timeout_seconds=self.timeout_seconds
            )
        return self._transport

    async def _send_all(self, claimed: Sequence[ClaimedAlert]) -> list[Outcome]:
        return list(await asyncio.gather(*(self._post_one(a) for a in claimed)))

    async def _post_one(self, a: ClaimedAlert) -> Outcome:
        if self._gate is None:
            self._gate = asyncio.Semaphore(self.concurrency)
        lane = self._gates.setdefault(a.recipient, asyncio.Semaphore(self.per_recipient))
        async with lane, self._gate:
            if self._held.get(a.recipient, float("-inf")) > a.wall_deadline - self.lease_seconds:
                # its endpoint failed after this alert was claimed: it waits for the recipient's backoff
                return Outcome(a, skipped=True, error=HELD)
            # never start a POST that could outlive the lease: another worker may claim it then
            if time.monotonic() + self.timeout_seconds >= a.wall_deadline:
                return Outcome(a, skipped=True, error=RELEASED)
            problem = endpoint_problem(a.endpoint)
            if problem is not None:
                return Outcome(a, error=problem, permanent=True)
            headers = {
                "Content-Type": "application/xml",
                ALERT_ID_HEADER: a.alert_id,
                ALERT_CODE_HEADER: a.code,
            }
            try:
                status, retry_after = await self._transport_now().post(a.endpoint, a.body, headers)
            except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as e:
                self._held[a.recipient] = time.monotonic()
                return Outcome(a, error=(f"{type(e).__name__}: {e}".rstrip(": "))[:_MAX_ERROR])
            if 200 <= status < 300:
                self._held.pop(a.recipient, None)
                return Outcome(a, status=status)
            permanent = is_permanent(status)
            if not permanent:
                self._held[a.recipient] = time.monotonic()
            error = f"HTTP {status}"
            if 300 <= status < 400:
                error += " (a redirect, not followed: set the endpoint to the address it redirects to)"
            return Outcome(a, status=status, error=error, retry_after=retry_after, permanent=permanent)

    # -- record --------------------------------------------------------------------------------------------
    def record(self, outcomes: Sequence[Outcome]) -> RunCounts:
        """In one transaction: mark 2xx alerts delivered, reschedule failures with backoff or dead-letter
        them, release skipped ones, and pause or restore their recipients."""
        now = self.clock.now()
        delivered = [o.alert.pk for o in outcomes if o.delivered]
        failed = [o for o in outcomes if not o.delivered and not o.skipped]
        skipped = [o for o in outcomes if o.skipped]
        params = []
        dead: Counter[str] = Counter()
        for o in failed:
            tries = o.alert.tries + 1
            retry = self.backoff.after_failure(
                tries,
                o.alert.created_at,
                now,
                status=o.status,
                permanent=o.permanent,
                retry_after=o.retry_after,
            )
            verdict = retry.verdict
            error = o.error or "failed"
            if verdict.dead:
                dead[o.alert.recipient] += 1
                error = f"{error}; dead-lettered: {verdict.dead_reason}"
            params.append({
                "b_pk": o.alert.pk, "b_attempts": o.alert.attempts, "b_tries": tries,
                "b_next": retry.at,
                "b_dead": now if verdict.dead else None, "b_error": error[:_MAX_ERROR],
            })  # fmt: skip
        with self.engine.begin() as conn:
            for chunk in _chunks(delivered):
                conn.execute(
                    update(AlertOutbox)
                    .where(AlertOutbox.id.in_(chunk), AlertOutbox.delivered_at.is_(None))
                    .values(
                        delivered_at=now, last_error=None, last_attempt_at=now, tries=AlertOutbox.tries + 1
                    )
                )
            if params:
                conn.execute(
                    _fenced().values(
                        tries=bindparam("b_tries"), next_attempt_at=bindparam("b_next"),
                        dead_at=bindparam("b_dead"), last_error=bindparam("b_error"), last_attempt_at=now,
                    ),
                    params,
                )  # fmt: skip
            if skipped:
                conn.execute(
                    _fenced().values(next_attempt_at=now),
                    [{"b_pk": o.alert.pk, "b_attempts": o.alert.attempts} for o in skipped],
                )
            self._recipients(conn, outcomes, now)
        for recipient, n in sorted(dead.items()):
            self._log_dead(recipient, n, next(o.error for o in failed if o.alert.recipient == recipient))
        counts = RunCounts(len(outcomes), len(delivered), len(failed), len(skipped), dead=sum(dead.values()))
        self.totals = add_counts(self.totals, counts)
        return counts

    def _log_dead(self, recipient: str, n: int, error: str | None) -> None:
        """One line when a recipient's alerts start being dead-lettered, then at most one a minute with the
        count since (a refusing endpoint dead-letters a whole backlog in small batches)."""
        last, held = self._dead_logged.get(recipient, (float("-inf"), 0))
        mono = time.monotonic()
        if mono - last < _DEAD_LOG_WALL_SECONDS:
            self._dead_logged[recipient] = (last, held + n)
            return
        self._dead_logged[recipient] = (mono, 0)
        log.warning("alerts dead-lettered", recipient=recipient, count=n + held, error=error,
                    see="hanota dead-letters list")  # fmt: skip

    def _recipients(self, conn: Connection, outcomes: Sequence[Outcome], now: datetime) -> None:
        """Pause each recipient that failed (its own backoff), restore each that got one delivered.

        Only answers from the recipient's current endpoint count: a POST to an address the User replaced
        while it was in flight says nothing about the new one (see `hanota.alerts.endpoints`)."""
        ok, bad, released = judge(outcomes)
        touched = sorted(ok | set(bad) | released)
        if not touched:
            return
        known = {
            r.recipient_eui: r
            for r in conn.execute(
                select(AlertRecipient).where(AlertRecipient.recipient_eui.in_(touched))
            ).all()
        }
        judged = sorted(set(bad) | {eui for eui in ok if eui in known and known[eui].failures > 0})
        if judged:  # rare (a failure, or a recovery): the only case worth a look at the endpoints
            current = dict(
                conn.execute(select(User.eui, User.alert_endpoint).where(User.eui.in_(judged))).all()
            )
            stale = [o for o in outcomes if o.alert.recipient in current
                     and o.alert.endpoint != current[o.alert.recipient]]  # fmt: skip
            if stale:
                gone = {id(o) for o in stale}
                ok, bad, released = judge([o for o in outcomes if id(o) not in gone])
                released -= {o.alert.recipient for o in stale}
        recovered = [eui for eui in sorted(ok) if eui in known and known[eui].failures > 0]
        if recovered:
            conn.execute(
                update(AlertRecipient)
                .where(AlertRecipient.recipient_eui.in_(recovered))
                .values(failures=0, paused_until=None, failing_since=None, updated_at=now)
            )
            for eui in recovered:
                log.info("alert endpoint recovered", recipient=eui, failed_for=str(now - known[eui].failing_since)
                         if known[eui].failing_since else None)  # fmt: skip
        for eui in sorted(released):  # a probe released unsent: the next claim may probe again
            if eui in known and known[eui].failures > 0:
                conn.execute(
                    update(AlertRecipient).where(AlertRecipient.recipient_eui == eui).values(paused_until=now)
                )
        for eui, o in sorted(bad.items()):
            before = known.get(eui)
            failures = (before.failures if before is not None else 0) + 1
            wait, paused_until = self.backoff.pause(failures, now, o.retry_after)
            values = {
                "failures": failures,
                "paused_until": paused_until,
                "failing_since": before.failing_since if before is not None and before.failing_since else now,
                "last_error": (o.error or "failed")[:_MAX_ERROR],
                "updated_at": now,
            }
            if before is None:
                conn.execute(insert_or_ignore(conn, AlertRecipient, key="recipient_eui").values(
                    recipient_eui=eui, **values))  # fmt: skip
            conn.execute(update(AlertRecipient).where(AlertRecipient.recipient_eui == eui).values(**values))
            if failures == 1:
                log.warning("alert endpoint failing: its alerts pause, then go one at a time",
                            recipient=eui, error=o.error, pause_s=round(wait, 1))  # fmt: skip

    # -- loop ----------------------------------------------------------------------------------------------
    def run_once(self, limit: int | None = None) -> int:
        """Claim, send and record one batch; returns how many alerts were claimed."""
        claimed = self.claim(limit)
        if claimed:
            self.record(self.send(claimed))
        return len(claimed)

    def run_forever(self, stop: threading.Event, poll_seconds: float) -> None:
        """Claim, POST and record continuously until `stop` is set (see the module docstring)."""
        loop = self._event_loop()
        try:
            loop.run_until_complete(self._pipeline(stop, poll_seconds))
        except Exception as e:  # the loop itself broke: fall back to the lockstep cycle
            log.error(
                "alert delivery pipeline failed; continuing in lockstep", error=f"{type(e).__name__}: {e}"
            )
            poll_until_stopped(self.run_once, stop, poll_seconds, what="alert delivery")

    async def _pipeline(self, stop: threading.Event, poll_seconds: float) -> None:
        loop = asyncio.get_running_loop()
        store = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"{self.name}-store")
        in_hand: Counter[str] = Counter()  # claimed and not yet recorded, per recipient
        finished: list[Outcome] = []
        wake = asyncio.Event()
        tasks: set[asyncio.Task[Outcome]] = set()
        claimed_by_task: dict[asyncio.Task[Outcome], ClaimedAlert] = {}
        backlog = self.per_recipient * 4  # what a worker takes in hand per recipient
        # fewer, larger transactions (a SQLite commit costs more than a POST): claim and record in steps of
        # `concurrency` alerts (at most a quarter batch), or when the oldest outcome has waited RECORD_AFTER
        claim_min = max(1, min(self.batch_size // 4, self.concurrency))
        record_min = max(1, min(self.batch_size // 4, self.concurrency))
        first_finished = [0.0]

        def done(task: asyncio.Task[Outcome]) -> None:
            tasks.discard(task)
            alert = claimed_by_task.pop(task)
            if task.cancelled():
                return
            if not finished:
                first_finished[0] = time.monotonic()
            failure = task.exception()
            if failure is None:
                finished.append(task.result())
            else:  # a bug in sending, not an answer: give the alert back rather than lose track of it
                finished.append(Outcome(alert, skipped=True, error=f"{type(failure).__name__}: {failure}"))
            if len(finished) >= record_min or not tasks:  # else the loop's timed wait records them soon
                wake.set()

        try:
            while not stop.is_set():
                try:
                    claimed: list[ClaimedAlert] = []
                    free = self.batch_size - sum(in_hand.values())
                    if free >= claim_min or (free > 0 and not tasks):
                        busy = [r for r, n in in_hand.items() if n >= backlog]
                        claimed = await loop.run_in_executor(store, self.claim, free, busy)
                    for a in claimed:
                        in_hand[a.recipient] += 1
                        task = loop.create_task(self._post_one(a))
                        tasks.add(task)
                        claimed_by_task[task] = a
                        task.add_done_callback(done)
                    waited = time.monotonic() - first_finished[0]
                    if finished and (
                        len(finished) >= record_min or not tasks or waited >= _RECORD_AFTER_SECONDS
                    ):
                        batch, finished[:] = list(finished), []
                        await loop.run_in_executor(store, self.record, batch)
                        for o in batch:
                            in_hand[o.alert.recipient] -= 1
                            if in_hand[o.alert.recipient] <= 0:
                                del in_hand[o.alert.recipient]
                        continue
                    if not claimed:
                        wake.clear()
                        timeout = max(0.001, _RECORD_AFTER_SECONDS - waited) if finished else poll_seconds
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(wake.wait(), timeout)
                except Exception as e:  # the store away for a moment: log, wait, carry on
                    log.error("alert delivery cycle failed", error=f"{type(e).__name__}: {e}")
                    await asyncio.sleep(poll_seconds)
            if tasks:  # let what is in flight finish (each POST is bounded by the timeout), then record it
                await asyncio.wait(set(tasks), timeout=self.timeout_seconds + 1)
            if finished:
                await loop.run_in_executor(store, self.record, list(finished))
        finally:
            for task in tasks:
                task.cancel()
            store.shutdown(wait=True)

    def close(self) -> None:
        """Close the connections and the event loop (a no-op while another thread is still sending).

        Done on a helper thread: the caller may itself be inside an event loop (an ASGI lifespan), where
        this worker's loop cannot be run.
        """
        loop = self._loop
        if loop is None or loop.is_closed() or loop.is_running():
            return
        transport = self._transport

        def shut() -> None:
            if transport is not None:
                loop.run_until_complete(transport.aclose())
            loop.run_until_complete(asyncio.sleep(0))  # let aiohttp's connections finish closing
            loop.close()

        closer = threading.Thread(target=shut, name=f"{self.name}-close")
        closer.start()
        closer.join(timeout=10)


def _fenced() -> Any:
    """UPDATE of one undelivered alert (:b_pk) only while the claim that read it (:b_attempts) still holds it."""
    return update(AlertOutbox).where(
        AlertOutbox.id == bindparam("b_pk"),
        AlertOutbox.attempts == bindparam("b_attempts"),
        AlertOutbox.delivered_at.is_(None),
    )


def _chunks(ids: Sequence[int]) -> list[list[int]]:
    return [list(ids[i : i + _IN_CHUNK]) for i in range(0, len(ids), _IN_CHUNK)]


__all__ = [
    "ALERT_CODE_HEADER", "ALERT_ID_HEADER", "HELD", "RELEASED", "AiohttpTransport", "ClaimedAlert",
    "DeliveryWorker", "Outcome", "RunCounts", "Transport", "redeliver",
]  # fmt: skip
