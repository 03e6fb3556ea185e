"""Driving an engine from an injected clock, as a live CSP gateway does.

The engine counts virtual seconds from a scenario **epoch** (an aware datetime whose midnight anchors the
night window; use a midnight for the window to mean local-to-the-epoch hours). `ClockDriver` maps the
clock's datetimes to those seconds and back, submits distributions at "now" and polls for the events
that have happened since the last poll. With a `ScaledClock` the network runs `speed` times faster than
wall time; with a `ManualClock` a test steps it by hand. The engine's answers do not depend on how often
`poll` is called (see `hanota.network.engine`, "Determinism and replay").
"""

from __future__ import annotations

from datetime import datetime, timedelta

from hanota.clock import Clock, utc
from hanota.network.distribution import Distribution
from hanota.network.engine import NetworkEngine
from hanota.network.events import Event


class ClockDriver:
    """One engine on one clock: `submit(distribution)` now, `poll()` for what has happened since."""

    def __init__(self, engine: NetworkEngine, clock: Clock, epoch: datetime) -> None:
        if epoch.tzinfo is None:
            raise ValueError("the epoch must be a timezone-aware datetime")
        self.engine = engine
        self.clock = clock
        self.epoch = utc(epoch)

    def to_virtual(self, when: datetime) -> float:
        """Virtual seconds since the epoch at `when`."""
        return (utc(when) - self.epoch).total_seconds()

    def to_datetime(self, t: float) -> datetime:
        """The aware UTC datetime of virtual second `t`."""
        return self.epoch + timedelta(seconds=t)

    def virtual_now(self) -> float:
        """The clock's now in virtual seconds, never before the engine's time."""
        return max(self.to_virtual(self.clock.now()), self.engine.now)

    def submit(self, distribution: Distribution) -> float:
        """Submit `distribution` at the clock's now; return the virtual time it was submitted at.

        Persist (distribution, returned time) in order to rebuild the engine by replay after a crash.
        """
        at = self.virtual_now()
        self.engine.submit(distribution, at)
        return at

    def poll(self) -> list[Event]:
        """Advance the engine to the clock's now and return the events since the last poll."""
        return self.engine.advance_to(self.virtual_now())
