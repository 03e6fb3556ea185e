"""Time, injected.

All time in hanota comes from a `Clock`: the system clock in production, a `ManualClock` in tests and a
`ScaledClock` for live simulation (virtual time = start + speed × elapsed wall time). Every datetime is
timezone-aware UTC.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """A source of aware UTC datetimes and of monotonic seconds on the same timeline."""

    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...

    def sleep(self, seconds: float) -> None:
        """Wait `seconds` of this clock's time (virtual seconds for a scaled clock)."""
        ...


class SystemClock:
    """Wall-clock time."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


class ManualClock:
    """A clock that moves only when told to; `sleep` advances it at once (tests never wait)."""

    def __init__(self, start: datetime | None = None) -> None:
        start = start or datetime(2026, 1, 1, tzinfo=UTC)
        if start.tzinfo is None:
            raise ValueError("ManualClock needs a timezone-aware start")
        self._now = start
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> datetime:
        with self._lock:
            self._now += timedelta(seconds=seconds)
            return self._now

    def set(self, when: datetime) -> None:
        if when.tzinfo is None:
            raise ValueError("ManualClock.set needs a timezone-aware datetime")
        with self._lock:
            self._now = when

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            self.advance(seconds)


class ScaledClock:
    """Virtual time = `start` + `speed` × (wall seconds elapsed since creation).

    With `wall_anchor` (a Unix time), elapsed wall time counts from that instant instead, on the system
    clock: processes that share (start, wall_anchor, speed) share one virtual time, also across restarts.
    """

    def __init__(self, start: datetime, speed: float, *, wall_anchor: float | None = None) -> None:
        if start.tzinfo is None:
            raise ValueError("ScaledClock needs a timezone-aware start")
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.start = start
        self.speed = speed
        self.wall_anchor = wall_anchor
        self._t0 = time.monotonic()

    def _elapsed(self) -> float:
        if self.wall_anchor is not None:
            return max(0.0, time.time() - self.wall_anchor)
        return time.monotonic() - self._t0

    def now(self) -> datetime:
        return self.start + timedelta(seconds=self._elapsed() * self.speed)

    def virtual_seconds(self) -> float:
        """Virtual seconds elapsed since `start`."""
        return self._elapsed() * self.speed

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds / self.speed)


def utc(dt: datetime) -> datetime:
    """Return `dt` as aware UTC; naive values (as SQLite returns them) are taken to be UTC."""
    if dt.tzinfo is None:
        return dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)
