"""The injected clock and the settings object."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from hanota.clock import ManualClock, ScaledClock, SystemClock, next_at_hour, utc
from hanota.dsp.simclock import hold_shared_clock, save_shared_clock, shared_scaled_clock, stored_virtual_now
from hanota.settings import Settings


def test_system_clock_is_aware_utc() -> None:
    """The system clock gives timezone-aware UTC times."""
    now = SystemClock().now()
    assert now.tzinfo is not None
    assert now.utcoffset() is not None and now.utcoffset().total_seconds() == 0  # type: ignore[union-attr]


def test_manual_clock_moves_only_when_told() -> None:
    """A manual clock stands still until advanced or slept (sleep advances at once, never waits), and refuses
    a naive start."""
    c = ManualClock(datetime(2026, 3, 1, tzinfo=UTC))
    assert c.now() == datetime(2026, 3, 1, tzinfo=UTC)
    c.advance(90)
    assert c.now() == datetime(2026, 3, 1, 0, 1, 30, tzinfo=UTC)
    c.sleep(30)  # sleeping advances at once: tests never wait
    assert c.now() == datetime(2026, 3, 1, 0, 2, tzinfo=UTC)
    with pytest.raises(ValueError, match="timezone-aware"):
        ManualClock(datetime(2026, 1, 1))  # noqa: DTZ001 - the point of the test


def test_scaled_clock_runs_speed_times_faster() -> None:
    """A scaled clock at speed 3600 moves about an hour of virtual time per wall second, never backwards from
    its start; a speed of 0 is refused."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    c = ScaledClock(start, speed=3600.0)
    time.sleep(0.05)
    v = c.virtual_seconds()
    assert 150 <= v <= 3600 * 0.5  # 0.05 s wall is 180 s virtual; generous upper bound for a busy machine
    assert c.now() >= start
    with pytest.raises(ValueError, match="positive"):
        ScaledClock(start, speed=0)


def test_utc_treats_naive_as_utc() -> None:
    """A naive datetime (as SQLite returns them) is read as UTC."""
    naive = datetime(2026, 1, 1, 12)  # noqa: DTZ001 - what SQLite hands back
    assert utc(naive) == datetime(2026, 1, 1, 12, tzinfo=UTC)


def test_settings_read_hanota_env_and_default_into_data_dir(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Settings come from HANOTA_* variables; without a database URL the store is hanota.db in the data
    directory, and the PKI its pki folder."""
    monkeypatch.setenv("HANOTA_DATA_DIR", str(tmp_path / "d"))
    monkeypatch.delenv("HANOTA_DATABASE_URL", raising=False)
    s = Settings()
    assert s.database_url == f"sqlite:///{(tmp_path / 'd' / 'hanota.db').as_posix()}"
    assert s.pki_dir == tmp_path / "d" / "pki"
    monkeypatch.setenv("HANOTA_DATABASE_URL", "postgresql://x@y/z")
    assert Settings().database_url == "postgresql://x@y/z"


def test_settings_refuse_the_development_secret_in_production(monkeypatch: pytest.MonkeyPatch) -> None:
    """In production the settings refuse the development session secret, then the development CSP secret; with
    real secrets both set they load."""
    monkeypatch.setenv("HANOTA_ENVIRONMENT", "production")
    monkeypatch.delenv("HANOTA_SESSION_SECRET", raising=False)
    with pytest.raises(ValueError, match="SESSION_SECRET"):
        Settings()
    monkeypatch.setenv("HANOTA_SESSION_SECRET", "a-real-secret-from-the-vault")
    with pytest.raises(ValueError, match="CSP_SECRET"):
        Settings()
    monkeypatch.setenv("HANOTA_CSP_SECRET", "another-real-secret")
    assert Settings().environment == "production"


def test_a_held_scaled_clock_stands_until_released_and_hold_stops_it_where_it_is() -> None:
    """A held scaled clock stands at its start until released (release returns the wall anchor), then runs;
    hold stops it where it is."""
    start = datetime(2026, 1, 1, 10, tzinfo=UTC)
    c = ScaledClock(start, speed=3600.0, held=True)
    time.sleep(0.03)
    assert c.now() == start and c.held
    anchor = c.release()
    assert abs(anchor - time.time()) < 1.0 and not c.held
    time.sleep(0.03)
    moved = c.now()
    assert moved > start + timedelta(seconds=60)  # 0.03 s wall is 108 s virtual
    stopped = c.hold()
    time.sleep(0.03)
    assert c.now() == stopped >= moved


def test_next_at_hour_is_strictly_after() -> None:
    """The next time at a given hour is strictly after now (at that very hour: the next day, across a year's
    end); an hour over 23 is refused."""
    assert next_at_hour(datetime(2026, 3, 1, 9, 59, tzinfo=UTC), 10) == datetime(2026, 3, 1, 10, tzinfo=UTC)
    assert next_at_hour(datetime(2026, 3, 1, 10, tzinfo=UTC), 10) == datetime(2026, 3, 2, 10, tzinfo=UTC)
    assert next_at_hour(datetime(2026, 12, 31, 14, 20, tzinfo=UTC), 10) == datetime(
        2027, 1, 1, 10, tzinfo=UTC
    )
    with pytest.raises(ValueError, match=r"0\.\.23"):
        next_at_hour(datetime(2026, 3, 1, tzinfo=UTC), 24)


def test_the_store_s_clock_is_held_at_a_stated_start_never_goes_back_and_resumes_where_it_stopped(
    engine: Engine,
) -> None:
    """The demo's clock (issue 12): held at its stated start, saved running, stopped at exit; the next
    process resumes it where it stood, however long nothing ran."""
    assert stored_virtual_now(engine) is None
    start = datetime(2026, 12, 8, 10, tzinfo=UTC)
    clock = hold_shared_clock(engine, start, 20_000.0)
    time.sleep(0.03)
    assert clock.now() == start == stored_virtual_now(engine)
    clock.release()
    save_shared_clock(engine, clock)
    time.sleep(0.03)
    running = stored_virtual_now(engine)
    assert running is not None and running > start + timedelta(seconds=300)  # 0.03 s wall is 600 s virtual
    with pytest.raises(ValueError, match="backwards"):
        hold_shared_clock(engine, start, 20_000.0)
    stopped = clock.hold()
    save_shared_clock(engine, clock)
    time.sleep(0.03)
    assert stored_virtual_now(engine) == stopped  # nothing runs: virtual time stands still
    resumed = shared_scaled_clock(engine, 20_000.0)  # e.g. `hanota serve` on the demo's data folder
    assert not resumed.held and stopped <= resumed.now() < stopped + timedelta(hours=1)
    later = next_at_hour(stopped, 10)
    assert hold_shared_clock(engine, later, 3_000.0).now() == later
