"""How every retry loop in hanota waits, gives up and says so: one policy, in wall-clock seconds.

The loops that send something to a peer — the alert delivery worker (DSP → a supplier's endpoint), the
distribution worker (DSP → a CSP gateway) and each gateway's event sender (CSP → DSP) — share this module's
`RetryPolicy`:

- **backoff in wall seconds**: after the n-th failed attempt the next one waits a time drawn from the upper
  half of ``min(max, base · 2^(n-1))`` (jitter), or the peer's ``Retry-After`` if that is longer (capped at
  ``max``). The simulation's scaled clock never shortens it: a delay is converted to clock time with
  `to_clock_seconds`, so at ×3,000 a 10-minute backoff is still 10 wall minutes;
- **a cap**: after ``max_attempts`` attempts, or once the first failure is ``max_age_seconds`` (wall) old,
  the item is **dead-lettered**: kept, never lost, visible to the operator, redeliverable by hand;
- **permanent refusals give up sooner**: an HTTP 4xx other than 408 (timeout) and 429 (too many requests)
  means the peer understood and refused; it is tried ``permanent_attempts`` times, then dead-lettered.

`Verdict` is what a loop does after a failed attempt: retry at a time, or dead-letter with a reason;
`Backoff.after_failure` gives it together with the clock time of the next attempt.

The two workers that claim rows from the store — the distribution router (`distribution_jobs`) and the
alert delivery worker (`alert_outbox`) — claim the same way (`claimable`, `Lease`): a claim reads due rows
with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL (concurrent workers take disjoint rows; SQLite's single writer
serialises claims by itself) and holds them for a lease of wall seconds, after which another worker may
claim them again.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from sqlalchemy.sql.selectable import GenerativeSelect

from hanota.clock import Clock

_Query = TypeVar("_Query", bound=GenerativeSelect)

#: HTTP statuses of the 4xx class that say "try again later", not "never"
TRANSIENT_4XX = frozenset({408, 425, 429})


def is_permanent(status: int | None) -> bool:
    """True for an HTTP refusal that a retry will not change (a 4xx other than 408, 425 and 429)."""
    return status is not None and 400 <= status < 500 and status not in TRANSIENT_4XX


def clock_speed(clock: Clock) -> float:
    """Clock seconds per wall second (a `ScaledClock`'s speed; 1 for every other clock)."""
    speed = getattr(clock, "speed", 1.0)
    return float(speed) if isinstance(speed, int | float) and speed > 0 else 1.0


def to_clock_seconds(clock: Clock, wall_seconds: float) -> timedelta:
    """`wall_seconds` of wall time expressed in `clock`'s time (×speed under a `ScaledClock`)."""
    return timedelta(seconds=wall_seconds * clock_speed(clock))


def wall_seconds_between(clock: Clock, earlier: datetime, later: datetime) -> float:
    """How many wall seconds passed between two of `clock`'s times."""
    return (later - earlier).total_seconds() / clock_speed(clock)


def retry_after_seconds(value: str | None) -> float | None:
    """An HTTP ``Retry-After`` in seconds (the HTTP-date form is ignored); None if absent or unusable."""
    text = (value or "").strip()
    # ASCII only: str.isdigit() also accepts e.g. '²', which float() refuses
    if not (text.isascii() and text.isdigit()) or len(text) > 9:
        return None
    return float(text)


@dataclass(frozen=True)
class Verdict:
    """After a failed attempt: retry after `wait_seconds` (wall), or dead-letter because of `dead_reason`."""

    wait_seconds: float
    dead_reason: str | None = None

    @property
    def dead(self) -> bool:
        return self.dead_reason is not None


@dataclass(frozen=True)
class RetryPolicy:
    """Wall-clock backoff with jitter, an attempt cap, an age limit and a shorter cap for permanent refusals."""

    base_seconds: float = 2.0
    max_seconds: float = 1800.0
    max_attempts: int = 50
    max_age_seconds: float = 72 * 3600.0
    permanent_attempts: int = 3

    def __post_init__(self) -> None:
        if not (0 < self.base_seconds <= self.max_seconds):
            raise ValueError("a retry policy needs 0 < base_seconds <= max_seconds")
        if self.max_attempts < 1 or self.permanent_attempts < 1 or self.max_age_seconds <= 0:
            raise ValueError("a retry policy needs positive attempt caps and age limit")

    def ceiling(self, attempts: int) -> float:
        """The longest wait after the `attempts`-th failed attempt (1-based)."""
        return min(self.max_seconds, self.base_seconds * 2.0 ** min(max(attempts - 1, 0), 60))

    def delay(self, attempts: int, rng: random.Random, retry_after: float | None = None) -> float:
        """Wall seconds to wait after the `attempts`-th failure: jittered backoff, or a longer Retry-After."""
        ceiling = self.ceiling(attempts)
        drawn = ceiling / 2 + rng.uniform(0, ceiling / 2)
        if retry_after is not None and retry_after > drawn:
            return min(retry_after, self.max_seconds)
        return drawn

    def after_failure(
        self,
        attempts: int,
        age_seconds: float,
        rng: random.Random,
        *,
        status: int | None = None,
        permanent: bool = False,
        retry_after: float | None = None,
    ) -> Verdict:
        """What to do after the `attempts`-th failed attempt of an item first tried (or written) `age_seconds`
        (wall) ago, the last one answered `status` (None: no answer); `permanent` marks a refusal no retry
        changes even without a status (an unusable address)."""
        wait = self.delay(attempts, rng, retry_after)
        if (permanent or is_permanent(status)) and attempts >= self.permanent_attempts:
            how = f"HTTP {status}" if status is not None else "a permanent error"
            return Verdict(0.0, f"refused with {how} {attempts} times")
        if attempts >= self.max_attempts:
            return Verdict(0.0, f"{attempts} attempts failed (the cap)")
        if age_seconds + wait > self.max_age_seconds:
            return Verdict(0.0, f"still failing after {_duration(age_seconds)} (the age limit)")
        return Verdict(wait)


def claimable(query: _Query, dialect: str) -> _Query:
    """`query` (the due rows a worker is about to claim) locking what it reads and skipping rows another
    worker holds: ``FOR UPDATE SKIP LOCKED`` on PostgreSQL; on SQLite the store's single writer already
    keeps two claims apart, and the query is returned as it is."""
    return query.with_for_update(skip_locked=True) if dialect == "postgresql" else query


@dataclass(frozen=True)
class Lease:
    """A claim held for `wall_seconds` of wall time, whatever the clock's speed (stored in clock time)."""

    clock: Clock
    wall_seconds: float

    def until(self, now: datetime) -> datetime:
        """When a claim made at `now` ends (the clock's time)."""
        return now + to_clock_seconds(self.clock, self.wall_seconds)

    def stale_before(self, now: datetime) -> datetime:
        """A claim made before this moment has ended by `now`: another worker may take the row over."""
        return now - to_clock_seconds(self.clock, self.wall_seconds)


@dataclass(frozen=True)
class Retry:
    """After a failed attempt: the policy's `verdict`, and the clock time of the next attempt (`at`; `now`
    itself when the item is dead-lettered)."""

    verdict: Verdict
    at: datetime


@dataclass(frozen=True)
class Backoff:
    """A retry loop's policy on its clock, with its jitter source: the one way a failed item is retried later."""

    policy: RetryPolicy
    clock: Clock
    rng: random.Random

    def after_failure(
        self,
        attempts: int,
        first: datetime,
        now: datetime,
        *,
        status: int | None = None,
        permanent: bool = False,
        retry_after: float | None = None,
    ) -> Retry:
        """The `attempts`-th attempt of an item failing since `first` (or written then) failed at `now`:
        when to try again, in the clock's time, or the reason to dead-letter it (`RetryPolicy.after_failure`
        with the age in wall seconds)."""
        verdict = self.policy.after_failure(
            attempts, wall_seconds_between(self.clock, first, now), self.rng,
            status=status, permanent=permanent, retry_after=retry_after,
        )  # fmt: skip
        return Retry(verdict, now + to_clock_seconds(self.clock, verdict.wait_seconds))

    def pause(self, failures: int, now: datetime, retry_after: float | None = None) -> tuple[float, datetime]:
        """After the `failures`-th failure in a row of a peer (not of one item): the wait in wall seconds
        (`RetryPolicy.delay`, never dead), and the clock time it ends."""
        wait = self.policy.delay(failures, self.rng, retry_after)
        return wait, now + to_clock_seconds(self.clock, wait)


def _duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds:.0f} s"


__all__ = [
    "TRANSIENT_4XX",
    "Backoff",
    "Lease",
    "Retry",
    "RetryPolicy",
    "Verdict",
    "claimable",
    "clock_speed",
    "is_permanent",
    "retry_after_seconds",
    "to_clock_seconds",
    "wall_seconds_between",
]
