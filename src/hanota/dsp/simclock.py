"""The shared virtual clock of a simulated deployment (`HANOTA_CLOCK_SPEED` > 0).

The first process to start records (virtual start, wall anchor, speed) in `dsp_settings`; every later or
restarted process reads it back, so the DSP, the gateways' network engines and the workers agree on one
virtual time, and a crash does not rewind it.

A recorded clock can also be stopped (no wall anchor): it then stands at its virtual start until the next
process resumes it there. The demo stops it when it ends, so that virtual time does not run on while
nothing runs (at ×3,000 a day away would be eight virtual years), and sets it, held, to the stated virtual
start of each run (`hold_shared_clock`); virtual time never goes backwards.
"""

from __future__ import annotations

import json
import time
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, select, update

from hanota.clock import ScaledClock, SystemClock
from hanota.db.bulk import insert_or_ignore
from hanota.db.models import Setting

SIM_CLOCK_SETTING = "sim_clock"


def shared_scaled_clock(engine: Engine, speed: float) -> ScaledClock:
    """The store's virtual clock, created at the system's now with `speed` if there is none yet.

    A recorded clock keeps its anchor; a stopped one resumes, now, at the time it stands at; a different
    `speed` re-anchors it at its current virtual time, so virtual time never jumps."""
    fresh = {"start": SystemClock().now().isoformat(), "wall_anchor": time.time(), "speed": speed}
    with engine.begin() as conn:
        conn.execute(
            insert_or_ignore(conn, Setting, key="key").values(key=SIM_CLOCK_SETTING, value=json.dumps(fresh))
        )
        stored = _read(conn)
        assert stored is not None  # inserted above if missing
        clock = _clock(stored)
        if stored["wall_anchor"] is None or stored["speed"] != speed:
            clock = ScaledClock(clock.now(), speed, held=True)
            clock.release()
            _write(conn, clock)
    return clock


def stored_virtual_now(engine: Engine) -> datetime | None:
    """The virtual time the store's clock reads now, or None when the store has no virtual clock."""
    with engine.connect() as conn:
        stored = _read(conn)
    return None if stored is None else _clock(stored).now()


def hold_shared_clock(engine: Engine, start: datetime, speed: float) -> ScaledClock:
    """Set the store's virtual clock to stand at `start` (stopped), and return it held there.

    Release the returned clock when it is to run, then `save_shared_clock` it, so the store agrees again.
    Refuses a `start` before the time the store's clock reads: what is already recorded must never lie in
    the virtual future."""
    with engine.begin() as conn:
        stored = _read(conn)
        if stored is not None:
            current = _clock(stored).now()
            if start < current:
                raise ValueError(
                    f"virtual time would go backwards: the store's clock reads {current.isoformat()}, "
                    f"asked to start at {start.isoformat()}"
                )
        clock = ScaledClock(start, speed, held=True)
        _write(conn, clock)
    return clock


def save_shared_clock(engine: Engine, clock: ScaledClock) -> None:
    """Record `clock` as the store's virtual clock: running, with its wall anchor; held, stopped where it is.

    For the process that owns the simulation (the demo): after `release()` and after `hold()`."""
    with engine.begin() as conn:
        _write(conn, clock)


def _read(conn: Connection) -> dict[str, Any] | None:
    value = conn.execute(select(Setting.value).where(Setting.key == SIM_CLOCK_SETTING)).scalar()
    return None if value is None else dict(json.loads(value))


def _write(conn: Connection, clock: ScaledClock) -> None:
    if clock.held:
        anchor: float | None = None
        start = clock.start
    else:
        anchor = clock.release()  # a running clock: its wall anchor (nothing changes)
        start = clock.start
    value = json.dumps({"start": start.isoformat(), "wall_anchor": anchor, "speed": clock.speed})
    conn.execute(insert_or_ignore(conn, Setting, key="key").values(key=SIM_CLOCK_SETTING, value=value))
    conn.execute(update(Setting).where(Setting.key == SIM_CLOCK_SETTING).values(value=value))


def _clock(stored: dict[str, Any]) -> ScaledClock:
    start = datetime.fromisoformat(str(stored["start"]))
    speed = float(stored["speed"])
    if stored.get("wall_anchor") is None:
        return ScaledClock(start, speed, held=True)
    return ScaledClock(start, speed, wall_anchor=float(stored["wall_anchor"]))
