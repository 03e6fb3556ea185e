"""The alert delivery worker: claims due alerts from the outbox and POSTs each one to its User's endpoint.

What a receiver sees, per alert: one ``POST`` of exactly the signed bytes in ``alert_outbox.body``
(``Content-Type: application/xml``) with the alert's stable ID in ``X-DCC-Alert-ID`` and its code in
``X-DCC-Alert-Code``. Any 2xx marks the alert delivered; anything else (another status, a refused
connection, a timeout) is a failed attempt: the alert is tried again after an exponential backoff with
jitter (``Backoff``: 2 s, 4 s, 8 s … capped at 10 minutes, each delay drawn from its upper half, or the
receiver's ``Retry-After`` if that is longer), and ``last_error`` says what happened. There is no last
attempt: an alert is retried until it is delivered (at least once), and since its ID never changes a
receiver deduplicates by it.

Claiming is a lease of ``lease_seconds`` of wall time (under a `ScaledClock` it is stored as that many
wall seconds of virtual time, so the lease means the same whatever the speed, while backoff delays are
clock time, as everything the simulation does). A claim moves ``next_attempt_at`` to the end of the
lease and adds one to ``attempts`` in one transaction (PostgreSQL: ``FOR UPDATE SKIP LOCKED``, so
concurrent workers take disjoint rows; SQLite: the store's single writer). Nobody else claims the row
until the lease ends; a worker never starts a POST that could still be running when its lease ends
(``lease_seconds`` > ``timeout_seconds``), so two workers never send the same alert at the same time. A
worker that dies after sending and before recording leaves the row to be claimed again when the lease
ends: the same alert is sent again, with the same ID. ``attempts`` (raised by each claim) is the fencing
token: a worker whose lease has passed to another can no longer reschedule the row. A 2xx is recorded
whoever holds the lease (the receiver has the alert).

The endpoint is read from ``users.alert_endpoint`` when the alert is claimed, so a User who changes it is
served at the new address from the next attempt. A row whose recipient has no endpoint (any more) moves to
the mailbox (``mailbox = true``), from where the User pulls it (`hanota.alerts.mailbox`). Mailbox rows stay
in the mailbox even if the User later gets an endpoint.

HTTP is aiohttp on an event loop the worker owns: keep-alive connections, at most ``concurrency`` requests
in flight. (httpx's async client measured ~570 requests/s with 16 connections on this machine against
~14,000/s for aiohttp; see ``bench/bench_alerts.py``.)
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

import aiohttp
from sqlalchemy import Engine, bindparam, select, update

from hanota.background import poll_until_stopped
from hanota.clock import Clock
from hanota.db.models import AlertOutbox, User
from hanota.logs import get_logger

log = get_logger("hanota.alerts.delivery")

ALERT_ID_HEADER = "X-DCC-Alert-ID"
ALERT_CODE_HEADER = "X-DCC-Alert-Code"
_MAX_ERROR = 1000
_IN_CHUNK = 500  # ids per `IN (…)` when recording (well under every driver's parameter limit)


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with jitter: attempt n waits a time drawn from [c/2, c], c = min(cap, base·2^(n-1))."""

    base_seconds: float = 2.0
    max_seconds: float = 600.0

    def __post_init__(self) -> None:
        if not (0 < self.base_seconds <= self.max_seconds):
            raise ValueError("Backoff needs 0 < base_seconds <= max_seconds")

    def ceiling(self, attempts: int) -> float:
        """The longest wait after the `attempts`-th failed attempt (1-based)."""
        return min(self.max_seconds, self.base_seconds * 2.0 ** min(max(attempts - 1, 0), 60))

    def delay(self, attempts: int, rng: random.Random, retry_after: float | None = None) -> float:
        ceiling = self.ceiling(attempts)
        drawn = ceiling / 2 + rng.uniform(0, ceiling / 2)
        if retry_after is not None and retry_after > drawn:
            return min(retry_after, self.max_seconds)
        return drawn


@dataclass(frozen=True)
class ClaimedAlert:
    pk: int
    alert_id: str
    recipient: str
    code: str
    endpoint: str
    body: bytes
    attempts: int  # including this one: the fencing token of this claim
    lease_until: datetime  # in the clock's time, as stored
    wall_deadline: float  # the same moment in this process's monotonic seconds


@dataclass(frozen=True)
class Outcome:
    """What one attempt got: an HTTP status, or none (`error` says why); `skipped` = not sent at all."""

    alert: ClaimedAlert
    status: int | None = None
    error: str | None = None
    retry_after: float | None = None
    skipped: bool = False

    @property
    def delivered(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


@dataclass(frozen=True)
class RunCounts:
    claimed: int = 0
    delivered: int = 0
    failed: int = 0
    released: int = 0
    to_mailbox: int = 0


class Transport(Protocol):
    """How a worker POSTs (the seam tests and benchmarks may replace). Used on the worker's event loop."""

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> tuple[int, float | None]:
        """POST `body`; return (HTTP status, Retry-After seconds or None); raise on no answer."""
        ...

    async def aclose(self) -> None: ...


class AiohttpTransport:
    """Keep-alive HTTP/1.1 with a bounded connection pool; redirects are not followed."""

    def __init__(self, *, concurrency: int, timeout_seconds: float) -> None:
        self._concurrency = concurrency
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self._concurrency, limit_per_host=self._concurrency)
            self._session = aiohttp.ClientSession(
                connector=connector, timeout=self._timeout, trust_env=False, auto_decompress=False
            )
        return self._session

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> tuple[int, float | None]:
        async with self._open().post(url, data=body, headers=dict(headers), allow_redirects=False) as r:
            await r.release()
            return r.status, _retry_after(r.headers.get("Retry-After"))

    async def aclose(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()


def _new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop where it is installed (it comes with uvicorn[standard]; about a third less CPU per POST)."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - not on every platform
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def _retry_after(value: str | None) -> float | None:
    """Retry-After in seconds (the HTTP-date form is ignored); None if absent or not a small number."""
    text = (value or "").strip()
    # ASCII only: str.isdigit() also accepts e.g. '²', which float() refuses (the 2xx would count as failed)
    if not (text.isascii() and text.isdigit()) or len(text) > 9:
        return None
    return float(text)


def _endpoint_problem(endpoint: str) -> str | None:
    if not endpoint.startswith(("http://", "https://")) or len(endpoint) > 500:
        return f"endpoint {endpoint[:100]!r} is not an http(s) URL"
    return None


class DeliveryWorker:
    """Delivers outbox alerts. `run_once` = `claim` → `send` → `record`; `run_forever` loops on it.

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
        lease_seconds: float = 120.0,
        timeout_seconds: float = 10.0,
        backoff: Backoff | None = None,
        rng: random.Random | None = None,
        transport: Transport | None = None,
    ) -> None:
        if batch_size < 1 or concurrency < 1:
            raise ValueError("batch_size and concurrency must be positive")
        if lease_seconds <= timeout_seconds:
            raise ValueError(
                "the lease must be longer than one POST may take (lease_seconds > timeout_seconds)"
            )
        self.engine = engine
        self.clock = clock
        self.name = name
        self.batch_size = batch_size
        self.concurrency = concurrency
        self.lease_seconds = lease_seconds
        self.timeout_seconds = timeout_seconds
        self.backoff = backoff or Backoff()
        self.rng = rng or random.Random()  # noqa: S311 - jitter, not a secret
        self._transport = transport
        self._loop: asyncio.AbstractEventLoop | None = None
        self.totals = RunCounts()

    # -- claim ---------------------------------------------------------------------------------------------
    def claim(self, limit: int | None = None) -> list[ClaimedAlert]:
        """Lease up to `limit` due alerts; rows whose recipient has no endpoint go to the mailbox instead."""
        now = self.clock.now()
        lease_until = now + timedelta(seconds=self.lease_seconds * _speed(self.clock))
        wall_deadline = time.monotonic() + self.lease_seconds
        query = (
            select(
                AlertOutbox.id, AlertOutbox.alert_id, AlertOutbox.recipient_eui, AlertOutbox.code,
                AlertOutbox.body, AlertOutbox.attempts,
            )
            .where(
                AlertOutbox.delivered_at.is_(None),
                AlertOutbox.mailbox.is_(False),
                AlertOutbox.next_attempt_at <= now,
            )
            .order_by(AlertOutbox.next_attempt_at, AlertOutbox.id)
            .limit(limit or self.batch_size)
        )  # fmt: skip
        if self.engine.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        with self.engine.begin() as conn:
            rows = conn.execute(query).all()
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
        if to_mailbox:
            self.totals = _add(self.totals, RunCounts(to_mailbox=len(to_mailbox)))
            log.info("alerts moved to the mailbox (recipient has no endpoint)", count=len(to_mailbox))
        return [
            ClaimedAlert(r.id, r.alert_id, r.recipient_eui, r.code, str(endpoints[r.recipient_eui]),
                         bytes(r.body), r.attempts + 1, lease_until, wall_deadline)
            for r in leased
        ]  # fmt: skip

    # -- send ----------------------------------------------------------------------------------------------
    def send(self, claimed: Sequence[ClaimedAlert]) -> list[Outcome]:
        """POST each claimed alert (at most `concurrency` at once); one outcome per alert, in order."""
        if not claimed:
            return []
        if self._loop is None or self._loop.is_closed():
            self._loop = _new_event_loop()
        return self._loop.run_until_complete(self._send_all(claimed))

    def _transport_now(self) -> Transport:
        if self._transport is None:
            self._transport = AiohttpTransport(
                concurrency=self.concurrency, timeout_seconds=self.timeout_seconds
            )
        return self._transport

    async def _send_all(self, claimed: Sequence[ClaimedAlert]) -> list[Outcome]:
        transport = self._transport_now()
        gate = asyncio.Semaphore(self.concurrency)

        async def one(a: ClaimedAlert) -> Outcome:
            async with gate:
                # never start a POST that could outlive the lease: another worker may claim it then
                if time.monotonic() + self.timeout_seconds >= a.wall_deadline:
                    return Outcome(a, skipped=True)
                problem = _endpoint_problem(a.endpoint)
                if problem is not None:
                    return Outcome(a, error=problem)
                headers = {
                    "Content-Type": "application/xml",
                    ALERT_ID_HEADER: a.alert_id,
                    ALERT_CODE_HEADER: a.code,
                }
                try:
                    status, retry_after = await transport.post(a.endpoint, a.body, headers)
                except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as e:
                    return Outcome(a, error=f"{type(e).__name__}: {e}"[:_MAX_ERROR])
                if 200 <= status < 300:
                    return Outcome(a, status=status)
                return Outcome(a, status=status, error=f"HTTP {status}", retry_after=retry_after)

        return list(await asyncio.gather(*(one(a) for a in claimed)))

    # -- record --------------------------------------------------------------------------------------------
    def record(self, outcomes: Sequence[Outcome]) -> RunCounts:
        """Mark 2xx alerts delivered, reschedule failures with backoff, release skipped ones, in one transaction."""
        now = self.clock.now()
        delivered = [o.alert.pk for o in outcomes if o.delivered]
        failed = [o for o in outcomes if not o.delivered and not o.skipped]
        skipped = [o for o in outcomes if o.skipped]
        with self.engine.begin() as conn:
            for chunk in _chunks(delivered):
                conn.execute(
                    update(AlertOutbox)
                    .where(AlertOutbox.id.in_(chunk), AlertOutbox.delivered_at.is_(None))
                    .values(delivered_at=now, last_error=None)
                )
            fenced = (
                update(AlertOutbox)
                .where(
                    AlertOutbox.id == bindparam("b_pk"),
                    AlertOutbox.attempts == bindparam("b_attempts"),
                    AlertOutbox.delivered_at.is_(None),
                )
                .values(next_attempt_at=bindparam("b_next"), last_error=bindparam("b_error"))
            )
            params = [
                {
                    "b_pk": o.alert.pk,
                    "b_attempts": o.alert.attempts,
                    "b_next": now
                    + timedelta(seconds=self.backoff.delay(o.alert.attempts, self.rng, o.retry_after)),
                    "b_error": (o.error or "failed")[:_MAX_ERROR],
                }
                for o in failed
            ] + [
                {"b_pk": o.alert.pk, "b_attempts": o.alert.attempts, "b_next": now,
                 "b_error": "lease too short to send; released"}
                for o in skipped
            ]  # fmt: skip
            if params:
                conn.execute(fenced, params)
        for o in failed[:5]:
            log.warning("alert delivery failed, will retry", alert_id=o.alert.alert_id,
                        recipient=o.alert.recipient, attempts=o.alert.attempts, error=o.error)  # fmt: skip
        counts = RunCounts(len(outcomes), len(delivered), len(failed), len(skipped))
        self.totals = _add(self.totals, counts)
        return counts

    # -- loop ----------------------------------------------------------------------------------------------
    def run_once(self, limit: int | None = None) -> int:
        """Claim, send and record one batch; returns how many alerts were claimed."""
        claimed = self.claim(limit)
        if claimed:
            self.record(self.send(claimed))
        return len(claimed)

    def run_forever(self, stop: threading.Event, poll_seconds: float) -> None:
        poll_until_stopped(self.run_once, stop, poll_seconds, what="alert delivery")

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


def _speed(clock: Clock) -> float:
    """Clock seconds per wall second (a `ScaledClock`'s speed; 1 otherwise)."""
    speed = getattr(clock, "speed", 1.0)
    return float(speed) if isinstance(speed, int | float) and speed > 0 else 1.0


def _chunks(ids: Sequence[int]) -> list[list[int]]:
    return [list(ids[i : i + _IN_CHUNK]) for i in range(0, len(ids), _IN_CHUNK)]


def _add(a: RunCounts, b: RunCounts) -> RunCounts:
    return RunCounts(
        a.claimed + b.claimed,
        a.delivered + b.delivered,
        a.failed + b.failed,
        a.released + b.released,
        a.to_mailbox + b.to_mailbox,
    )
