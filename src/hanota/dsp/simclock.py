"""The shared virtual clock of a simulated deployment (`HANOTA_CLOCK_SPEED` > 0).

The first process to start records (virtual start, wall anchor, speed) in `dsp_settings`; every later or
restarted process reads it back, so the DSP, the gateways' network engines and the workers agree on one
virtual time, and a crash does not rewind it.
"""

from __future__ import annotations

import json
import time
from datetime import datetime

from sqlalchemy import Engine, select, update

from hanota.clock import ScaledClock, SystemClock
from hanota.db.bulk import insert_or_ignore
from hanota.db.models import Setting

SIM_CLOCK_SETTING = "sim_clock"


def shared_scaled_clock(engine: Engine, speed: float) -> ScaledClock:
    """The store's virtual clock, created at the system's now with `speed` if there is none yet.

    A recorded clock keeps its anchor; a different `speed` re-anchors it at its current virtual time, so
    virtual time never jumps."""
    fresh = {"start": SystemClock().now().isoformat(), "wall_anchor": time.time(), "speed": speed}
    with engine.begin() as conn:
        conn.execute(
            insert_or_ignore(conn, Setting, key="key").values(key=SIM_CLOCK_SETTING, value=json.dumps(fresh))
        )
        stored = json.loads(
            conn.execute(select(Setting.value).where(Setting.key == SIM_CLOCK_SETTING)).scalar_one()
        )
        clock = _clock(stored)
        if stored["speed"] != speed:
            stored = {"start": clock.now().isoformat(), "wall_anchor": time.time(), "speed": speed}
            conn.execute(
                update(Setting).where(Setting.key == SIM_CLOCK_SETTING).values(value=json.dumps(stored))
            )
            clock = _clock(stored)
    return clock


def _clock(stored: dict[str, object]) -> ScaledClock:
    return ScaledClock(
        datetime.fromisoformat(str(stored["start"])), float(str(stored["speed"])),
        wall_anchor=float(str(stored["wall_anchor"])),
    )  # fmt: skip
