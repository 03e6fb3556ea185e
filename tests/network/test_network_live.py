"""Driving an engine from an injected clock, as a live CSP gateway does."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from network_testkit import dist, table

from hanota.clock import ManualClock, ScaledClock
from hanota.network import ClockDriver, Distribution, Event, NetworkEngine, Region, default_profile

EPOCH = datetime(2026, 3, 2, tzinfo=UTC)


def _key(events: list[Event]) -> list[tuple[float, str, str]]:
    return [(e.time, e.kind.value, e.target_id) for e in events]


def test_virtual_time_maps_to_aware_datetimes() -> None:
    """The clock driver maps virtual seconds to timezone-aware datetimes from its epoch and back, and refuses a
    naive epoch."""
    driver = ClockDriver(NetworkEngine(default_profile(), Region.SOUTH, seed=1), ManualClock(EPOCH), EPOCH)
    assert driver.to_virtual(EPOCH + timedelta(hours=5)) == 5 * 3600.0
    when = driver.to_datetime(90.5)
    assert when == EPOCH + timedelta(seconds=90.5)
    assert when.tzinfo is not None
    with pytest.raises(ValueError, match="aware"):
        ClockDriver(driver.engine, driver.clock, datetime(2026, 1, 1))  # noqa: DTZ001 - the point of the test


def test_manual_clock_stepping_delivers_each_event_once_in_order() -> None:
    """Stepping a manual clock hour by hour, the driver hands over each target's events once, in time order,
    never ahead of the engine's time, and every target is reported."""
    clock = ManualClock(EPOCH)
    driver = ClockDriver(NetworkEngine(default_profile(), Region.SOUTH, seed=3), clock, EPOCH)
    assert driver.submit(dist("d", table(200))) == 0.0
    events: list[Event] = []
    for _ in range(24 * 4):  # four days in hourly steps
        clock.advance(3_600.0)
        batch = driver.poll()
        assert all(e.time <= driver.engine.now for e in batch)
        events += batch
    assert len({(e.target_id, e.kind) for e in events}) == len(events)
    assert [e.time for e in events] == sorted(e.time for e in events)
    assert {e.target_id for e in events} == {f"t{i}" for i in range(200)}


def test_scaled_clock_live_run_equals_its_replay() -> None:
    """A gateway on a ScaledClock (here 200,000× wall speed) submits requests as its clock passes
    them and polls in a loop; the events equal those of replaying the recorded submissions in one go,
    whatever the wall-clock jitter of the polls."""
    speed = 200_000.0
    clock = ScaledClock(EPOCH, speed)
    driver = ClockDriver(NetworkEngine(default_profile(), Region.NORTH, seed=8), clock, EPOCH)
    batches = [dist(f"d{k}", table(150, prefix=f"b{k}-", hub=f"h{k}-{{}}".format)) for k in range(3)]
    due = [0.0, 600.0, 1_200.0]
    recorded: list[tuple[float, Distribution]] = []
    events: list[Event] = []
    horizon = 4 * 86_400.0
    deadline = time.monotonic() + 60.0
    while driver.virtual_now() < horizon and time.monotonic() < deadline:
        while batches and driver.virtual_now() >= due[0]:
            due.pop(0)
            d = batches.pop(0)
            recorded.append((driver.submit(d), d))
        events += driver.poll()
        time.sleep(0.002)
    assert len(recorded) == 3
    events += driver.engine.run_until_idle()

    replay = NetworkEngine(default_profile(), Region.NORTH, seed=8)
    for at, d in recorded:
        replay.submit(d, at)
    assert _key(events) == _key(replay.run_until_idle())
    assert len({e.target_id for e in events}) == 450
