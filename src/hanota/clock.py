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

    A clock can be held: it then reads `start` until `release()`, from which instant it runs again (the
    demo holds its clock at a stated virtual time while it starts the service and submits its requests, so
    that each run's requests carry the same virtual time of day). `hold()` stops a running clock where it is.
    """

    def __init__(
        self, start: datetime, speed: float, *, wall_anchor: float | None = None, held: bool = False
    ) -> None:
        if start.tzinfo is None:
            raise ValueError("ScaledClock needs a timezone-aware start")
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.speed = speed
        self._lock = threading.Lock()
        # (start, wall anchor or None, monotonic t0, held): replaced as a whole, read without the lock
        self._state = (start, wall_anchor, time.monotonic(), held)

    @property
    def start(self) -> datetime:
        """Virtual time at the anchor (where a held clock stands)."""
        return self._state[0]

    @property
    def wall_anchor(self) -> float | None:
        """The Unix time at which the clock read `start`, or None (counting from creation or release)."""
        return self._state[1]

    @property
    def held(self) -> bool:
        return self._state[3]

    @staticmethod
    def _elapsed(state: tuple[datetime, float | None, float, bool]) -> float:
        _start, anchor, t0, held = state
        if held:
            return 0.0
        if anchor is not None:
            return max(0.0, time.time() - anchor)
        return time.monotonic() - t0

    def now(self) -> datetime:
        state = self._state
        return state[0] + timedelta(seconds=self._elapsed(state) * self.speed)

    def virtual_seconds(self) -> float:
        """Virtual seconds elapsed since `start`."""
        return self._elapsed(self._state) * self.speed

    def hold(self) -> datetime:
        """Stop the clock where it is; returns the virtual time it now reads until `release()`."""
        with self._lock:
            if not self.held:
                now = self.now()
                self._state = (now, None, time.monotonic(), True)
            return self._state[0]

    def release(self) -> float:
        """Let a held clock run again from the time it reads; returns the new wall anchor (Unix time)."""
        with self._lock:
            start, anchor, t0, held = self._state
            if held:
                anchor = time.time()
                self._state = (start, anchor, time.monotonic(), False)
            elif anchor is None:  # running on the monotonic clock: give it the wall anchor it has
                anchor = time.time() - (time.monotonic() - t0)
                self._state = (start, anchor, t0, False)
            return anchor

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds / self.speed)


def next_at_hour(after: datetime, hour: int) -> datetime:
    """The first instant strictly after `after` at `hour`:00:00 UTC (`hour` in 0..23)."""
    if not 0 <= hour <= 23:
        raise ValueError(f"hour must be 0..23, got {hour}")
    candidate = utc(after).replace(hour=hour, minute=0, second=0, microsecond=0)
    return candidate if candidate > utc(after) else candidate + timedelta(days=1)


def utc(dt: datetime) -> datetime:
    """Return `dt` as aware UTC; naive values (as SQLite returns them) are taken to be UTC."""
    if dt.tzinfo is None:
        return dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)
