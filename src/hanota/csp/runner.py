"""A CSP gateway at work: its queued distributions go through the simulated network, and what happens to
each target goes back to the DSP as numbered, authenticated event batches.

One `GatewayRunner` per region. A target behind a 4G Comms Hub (its hub's CSP region is `4G <region>`) goes
over the region's 4G WAN link in the network model (`TargetTable.four_g`, profile `wan.lte`); everything
else about it is as for any other target of the region. Each `tick()`:

1. submits the distributions the gateway accepted since the last tick to the region's `NetworkEngine` at
   the clock's now (ESME/GSME before HAN is the engine's queue discipline), recording the order and the
   virtual time of each submission;
2. advances the engine to the clock's now and writes the events (per target: transferred /
   transfer_failed, then activated / activation_failed) into `csp_targets` and into numbered
   `csp_event_batches`, together with how far it has reported — all in ONE transaction;
3. sends the unsent batches, oldest first, to the DSP over HTTP (`POST {dsp}/api/v1/csp/{region}/events`,
   HMAC-signed like the distribution interface). The DSP applies batch n only after n-1 and only once, and
   answers a resend of an applied batch with 409 and its `last_seq`, which marks it sent here.

Crashes: the engine is never snapshotted. On start (and after any failed tick) the runner builds a new
engine with the same seed, re-submits the recorded distributions in their order at their recorded times and
advances it to where it had reported (`engine.py`, "Determinism and replay"): the events up to there are
the ones already in batches, so nothing is lost and nothing is reported twice. A tick that died before its
commit is simply done again.
"""

from __future__ import annotations

import hashlib
import random
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
import numpy as np
from sqlalchemy import Connection, bindparam, func, insert, select, text, update

from hanota.background import poll_until_stopped
from hanota.clock import utc
from hanota.csp.acceptance import Gateway
from hanota.csp.interface import SIGNATURE_HEADER, BatchAnswer, EventBatch, TargetEvent, sign_body
from hanota.db.models import CSPDistribution, CSPEventBatch, CSPGatewayState, CSPTarget
from hanota.firmware import parse_image
from hanota.lifecycle import Region, is_4g
from hanota.logs import get_logger
from hanota.network.distribution import Distribution, PriorityClass, TargetTable
from hanota.network.engine import NetworkEngine
from hanota.network.events import Event
from hanota.network.profile import NetworkProfile
from hanota.retry import Backoff, RetryPolicy, retry_after_seconds

log = get_logger("hanota.csp.runner")

BATCH_EVENTS = 5_000
# Device classes for the HAN model: battery gas meters poll (sleepy); the rest are mains-powered.
SLEEPY_TYPES = frozenset({"GSME"})


def events_path(region: str) -> str:
    return f"/api/v1/csp/{region.lower()}/events"


def epoch_for(now: datetime) -> datetime:
    """Virtual second 0 of a region's engine: the midnight before `now`, so the night window is wall-clock."""
    now = utc(now)
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


@dataclass(frozen=True)
class _State:
    epoch: datetime
    seed: int
    reported_until_s: float
    next_batch_seq: int
    generation: int


class GatewayRunner:
    def __init__(
        self,
        gateway: Gateway,
        profile: NetworkProfile,
        dsp_url: str,
        *,
        seed: int = 1,
        http: httpx.Client | None = None,
        batch_events: int = BATCH_EVENTS,
        policy: RetryPolicy | None = None,
    ) -> None:
        self.gateway = gateway
        self.region = gateway.region
        self.profile = profile
        self.seed = seed
        self.events_url = dsp_url.rstrip("/") + events_path(self.region)
        self.http = http or httpx.Client(timeout=60)
        self._own_http = http is None
        self.batch_events = batch_events
        self.engine: NetworkEngine | None = None
        self.epoch: datetime | None = None
        self._lock = threading.Lock()
        self.policy = policy or RetryPolicy()
        self.rng = random.Random()  # noqa: S311 - jitter, not a secret

    # -- engine life ---------------------------------------------------------------------------------------
    def _state(self, conn: Connection) -> _State:
        query = select(
            CSPGatewayState.epoch, CSPGatewayState.seed, CSPGatewayState.reported_until_s,
            CSPGatewayState.next_batch_seq, CSPGatewayState.generation,
        ).where(CSPGatewayState.region == self.region)  # fmt: skip
        row = conn.execute(query).first()
        if row is None:
            conn.execute(
                insert(CSPGatewayState).values(
                    region=self.region, epoch=epoch_for(self.gateway.clock.now()), seed=self.seed,
                    reported_until_s=0.0, next_batch_seq=1, generation=0,
                )
            )  # fmt: skip
            row = conn.execute(query).one()
        return _State(utc(row.epoch), row.seed, row.reported_until_s, row.next_batch_seq, row.generation)

    def _rebuild(self) -> NetworkEngine:
        """A fresh engine in exactly the state it had when it last reported (replay of the submissions)."""
        with self.gateway.engine.begin() as conn:
            state = self._state(conn)
            self.epoch = utc(state.epoch)
            engine = self._fresh_engine(state.seed, state.generation)
            done = conn.execute(
                select(CSPDistribution.id, CSPDistribution.engine_at_s)
                .where(
                    CSPDistribution.region == self.region,
                    CSPDistribution.engine_seq.is_not(None),
                    func.coalesce(CSPDistribution.engine_generation, 0) == state.generation,
                )
                .order_by(CSPDistribution.engine_seq)
            ).all()
            for pk, at in done:
                engine.submit(self._network_distribution(conn, pk), float(at or 0.0))
            replayed = engine.advance_to(max(state.reported_until_s, engine.now))
        log.info("network engine rebuilt", region=self.region, distributions=len(done),
                 reported_until_s=state.reported_until_s, replayed_events=len(replayed))  # fmt: skip
        return engine

    def _fresh_engine(self, seed: int, generation: int) -> NetworkEngine:
        """Generation 0 runs on the configured seed; each later one on its own stream derived from it."""
        if generation:
            digest = hashlib.sha256(f"{seed}:{generation}".encode()).digest()
            seed = int.from_bytes(digest[:4], "big")
        return NetworkEngine(self.profile, Region.parse(self.region), seed=seed)

    @staticmethod
    def _idle(engine: NetworkEngine) -> bool:
        """Every target submitted so far has reached its last event (and there was at least one)."""
        q = engine.queue_state()
        busy = sum(c.pending + c.queued + c.in_flight for c in (q.esme_gsme, q.han))
        return busy == 0 and (q.esme_gsme.done + q.han.done) > 0

    def _network_distribution(self, conn: Connection, pk: int) -> Distribution:
        dist = conn.execute(
            select(CSPDistribution.distribution_id, CSPDistribution.priority, CSPDistribution.image,
                   CSPDistribution.firmware_hash)
            .where(CSPDistribution.id == pk)
        ).one()  # fmt: skip
        rows = conn.execute(
            select(CSPTarget.device_id, CSPTarget.chf_id, CSPTarget.device_type, CSPTarget.hardware_version,
                   CSPTarget.hub_region)
            .where(CSPTarget.distribution_pk == pk)
            .order_by(CSPTarget.device_id)
        ).all()  # fmt: skip
        image = parse_image(dist.image, expect_signature=dist.priority == PriorityClass.ESME_GSME.value)
        hw_range = image.hardware_version_range
        return Distribution(
            distribution_id=dist.distribution_id,
            priority=PriorityClass(dist.priority),
            image_size=len(dist.image),
            hw_range=hw_range,
            targets=TargetTable(
                target_ids=[r.device_id for r in rows],
                hub_ids=[r.chf_id for r in rows],
                sleepy=np.array([r.device_type in SLEEPY_TYPES for r in rows], dtype=np.bool_),
                hw_versions=np.array([_hw(r.hardware_version, hw_range) for r in rows], dtype=np.int64),
                four_g=np.array([is_4g(r.hub_region) for r in rows], dtype=np.bool_),
            ),
            image_id=dist.firmware_hash,
        )

    # -- one step ------------------------------------------------------------------------------------------
    def tick(self) -> int:
        """Submit new work, record what happened up to now, send it to the DSP; returns events recorded."""
        with self._lock:
            try:
                recorded = self._advance()
            except Exception:
                self.engine = None  # its state may be ahead of the store: rebuild from the store next time
                raise
            self.send_batches()
            return recorded

    def _advance(self) -> int:
        if self.engine is None:
            self.engine = self._rebuild()
        engine = self.engine
        assert self.epoch is not None  # set by _rebuild
        now = self.gateway.clock.now()
        with self.gateway.engine.begin() as conn:
            state = self._state(conn)
            new = conn.execute(
                select(CSPDistribution.id)
                .where(CSPDistribution.region == self.region, CSPDistribution.engine_seq.is_(None))
                .order_by(CSPDistribution.id)
            ).scalars().all()  # fmt: skip
            t = max((utc(now) - self.epoch).total_seconds(), engine.now)
            events = engine.advance_to(t)
            generation = state.generation
            if new:
                if self._idle(engine):
                    # everything it held is reported: start a new generation, so that memory and the replay
                    # after a restart cover only the work in progress, not the gateway's whole history
                    generation += 1
                    engine = self.engine = self._fresh_engine(state.seed, generation)
                top = conn.execute(
                    select(CSPDistribution.engine_seq)
                    .where(CSPDistribution.region == self.region, CSPDistribution.engine_seq.is_not(None))
                    .order_by(CSPDistribution.engine_seq.desc())
                    .limit(1)
                ).scalar()
                seq = (top or 0) + 1
                for pk in new:
                    engine.submit(self._network_distribution(conn, pk), t)
                    conn.execute(
                        update(CSPDistribution)
                        .where(CSPDistribution.id == pk)
                        .values(engine_seq=seq, engine_at_s=t, engine_generation=generation)
                    )
                    seq += 1
                events += engine.advance_to(t)
            next_seq = self._record(conn, events, state.next_batch_seq, now)
            conn.execute(
                update(CSPGatewayState)
                .where(CSPGatewayState.region == self.region)
                .values(reported_until_s=t, next_batch_seq=next_seq, generation=generation)
            )
        return len(events)

    def _record(self, conn: Connection, events: Sequence[Event], seq: int, now: datetime) -> int:
        """csp_targets states and numbered batches for `events`; returns the next batch number."""
        if not events:
            return seq
        assert self.epoch is not None
        pks = dict(
            conn.execute(
                select(CSPDistribution.distribution_id, CSPDistribution.id).where(
                    CSPDistribution.region == self.region,
                    CSPDistribution.distribution_id.in_({e.distribution_id for e in events}),
                )
            ).all()
        )
        conn.execute(
            text(
                "UPDATE csp_targets SET state = :state, reason = :reason, updated_at = :now "
                "WHERE distribution_pk = :pk AND device_id = :device"
            ).bindparams(bindparam("now", type_=CSPTarget.updated_at.type)),
            [
                {"state": e.kind.value, "reason": e.reason.value if e.reason else None, "now": now,
                 "pk": pks[e.distribution_id], "device": e.target_id}
                for e in events
            ],
        )  # fmt: skip
        for start in range(0, len(events), self.batch_events):
            chunk = events[start : start + self.batch_events]
            batch = EventBatch(region=self.region, seq=seq, events=[self._wire(e) for e in chunk])
            body = batch.model_dump_json().encode()
            conn.execute(
                insert(CSPEventBatch).values(
                    region=self.region, seq=seq, created_at=now, event_count=len(chunk), body=body, attempts=0
                )
            )
            seq += 1
        return seq

    def _wire(self, e: Event) -> TargetEvent:
        assert self.epoch is not None
        return TargetEvent(
            distribution_id=e.distribution_id,
            device_id=e.target_id,
            chf_id=e.hub_id,
            kind=e.kind,
            reason=e.reason,
            at=self.epoch + timedelta(seconds=e.time),
        )

    # -- delivery to the DSP -------------------------------------------------------------------------------
    def send_batches(self, limit: int = 20) -> int:
        """Send unsent batches in order until one fails; returns how many the DSP now holds.

        A failed send is tried again under the shared retry policy (`hanota.retry`: wall-clock backoff
        whatever the clock's speed, Retry-After honoured); a batch the DSP keeps refusing (a 4xx other than
        408/425/429, three times) or that fails past the cap is dead-lettered (``dead_at``): nothing after it
        is sent (the DSP applies batches in order) until an operator resends it (`resend_dead_batches`,
        ``hanota dead-letters retry``). One log line per change of state, not per attempt."""
        store = self.gateway.engine
        now = self.gateway.clock.now()
        with store.connect() as conn:
            pending = conn.execute(
                select(CSPEventBatch.seq, CSPEventBatch.body, CSPEventBatch.attempts, CSPEventBatch.next_attempt_at,
                       CSPEventBatch.failing_since, CSPEventBatch.dead_at)
                .where(CSPEventBatch.region == self.region, CSPEventBatch.sent_at.is_(None))
                .order_by(CSPEventBatch.seq)
                .limit(limit)
            ).all()  # fmt: skip
        done = 0
        for seq, body, attempts, next_at, since, dead_at in pending:
            if dead_at is not None or (next_at is not None and utc(next_at) > now):
                break  # dead-lettered, or backing off: later batches wait behind it
            error, status, retry_after = self._post(seq, bytes(body))
            now = self.gateway.clock.now()
            with store.begin() as conn:
                if error is None:
                    conn.execute(
                        update(CSPEventBatch)
                        .where(CSPEventBatch.region == self.region, CSPEventBatch.seq <= seq,
                               CSPEventBatch.sent_at.is_(None))
                        .values(sent_at=now, next_attempt_at=None, failing_since=None)
                    )  # fmt: skip
                    if since is not None:
                        log.info("event batches reach the DSP again", region=self.region, seq=seq)
                    done += 1
                    continue
                first = utc(since) if since is not None else now
                retry = Backoff(self.policy, self.gateway.clock, self.rng).after_failure(
                    attempts + 1, first, now, status=status, retry_after=retry_after
                )
                verdict = retry.verdict
                conn.execute(
                    update(CSPEventBatch)
                    .where(CSPEventBatch.region == self.region, CSPEventBatch.seq == seq)
                    .values(
                        attempts=CSPEventBatch.attempts + 1, failing_since=first,
                        last_error=(error if not verdict.dead else f"{error}; dead-lettered: {verdict.dead_reason}")[:1000],
                        next_attempt_at=retry.at,
                        dead_at=now if verdict.dead else None,
                    )
                )  # fmt: skip
            if verdict.dead:
                log.error("event batch dead-lettered: the DSP will not take it", region=self.region, seq=seq,
                          reason=verdict.dead_reason, error=error[:200])  # fmt: skip
            elif since is None:
                log.warning("event batch not delivered; retrying with backoff", region=self.region, seq=seq,
                            error=error[:200])  # fmt: skip
            break
        return done

    def _post(self, seq: int, body: bytes) -> tuple[str | None, int | None, float | None]:
        """(None, …) when the DSP holds batch `seq` (applied now or before), else (the error, the HTTP status
        or None when there was no answer, Retry-After seconds or None)."""
        headers = {"content-type": "application/json", SIGNATURE_HEADER: sign_body(self.gateway.key, body)}
        try:
            r = self.http.post(self.events_url, content=body, headers=headers)
        except httpx.HTTPError as e:
            return f"{type(e).__name__}: {e}", None, None
        retry_after = retry_after_seconds(r.headers.get("retry-after"))
        if r.status_code == 200:
            return None, 200, None
        if r.status_code == 409:
            try:
                answer = BatchAnswer.model_validate_json(r.content)
            except ValueError:
                return f"409 without a batch answer: {r.text[:200]}", 409, retry_after
            if answer.last_seq >= seq:
                return None, 409, None  # applied before: our earlier send's answer was lost
            # the DSP is behind (a gap it refuses): not permanent, the earlier batch may still arrive
            return f"409: DSP is at batch {answer.last_seq}, {answer.detail}", None, retry_after
        return f"HTTP {r.status_code}: {r.text[:200]}", r.status_code, retry_after

    def run_forever(self, stop: threading.Event, poll_seconds: float) -> None:
        """Tick every `poll_seconds` (each tick catches up with the clock, so more often gains nothing)."""

        def step() -> int:
            self.tick()
            return 0

        poll_until_stopped(step, stop, poll_seconds, what=f"CSP {self.region} gateway")

    def close(self) -> None:
        if self._own_http:
            self.http.close()


def resend_dead_batches(conn: Connection, now: datetime, region: str | None = None) -> int:
    """Send a gateway's dead-lettered event batches again (one region's, or every region's): due now, with a
    fresh attempt count; the batches behind them follow in order."""
    query = update(CSPEventBatch).where(CSPEventBatch.dead_at.is_not(None), CSPEventBatch.sent_at.is_(None))
    if region is not None:
        query = query.where(CSPEventBatch.region == region)
    n = conn.execute(query.values(dead_at=None, attempts=0, failing_since=None, next_attempt_at=now)).rowcount
    if n:
        log.info("dead-lettered event batches queued again by hand", count=n, region=region)
    return int(n)


def _hw(version: int | None, hw_range: tuple[int, int] | None) -> int:
    """The device's hardware version for the model; unknown counts as inside the image's range."""
    if version is not None:
        return int(version)
    return hw_range[0] if hw_range is not None else 0


__all__ = ["GatewayRunner", "epoch_for", "events_path", "resend_dead_batches"]
