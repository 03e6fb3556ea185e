"""The injected clock and the settings object."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hanota.clock import ManualClock, ScaledClock, SystemClock, utc
from hanota.settings import Settings


def test_system_clock_is_aware_utc() -> None:
    now = SystemClock().now()
    assert now.tzinfo is not None
    assert now.utcoffset() is not None and now.utcoffset().total_seconds() == 0  # type: ignore[union-attr]


def test_manual_clock_moves_only_when_told() -> None:
    c = ManualClock(datetime(2026, 3, 1, tzinfo=UTC))
    assert c.now() == datetime(2026, 3, 1, tzinfo=UTC)
    c.advance(90)
    assert c.now() == datetime(2026, 3, 1, 0, 1, 30, tzinfo=UTC)
    c.sleep(30)  # sleeping advances at once: tests never wait
    assert c.now() == datetime(2026, 3, 1, 0, 2, tzinfo=UTC)
    with pytest.raises(ValueError, match="timezone-aware"):
        ManualClock(datetime(2026, 1, 1))  # noqa: DTZ001 - the point of the test


def test_scaled_clock_runs_speed_times_faster() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    c = ScaledClock(start, speed=3600.0)
    time.sleep(0.05)
    v = c.virtual_seconds()
    assert 150 <= v <= 3600 * 0.5  # 0.05 s wall is 180 s virtual; generous upper bound for a busy machine
    assert c.now() >= start
    with pytest.raises(ValueError, match="positive"):
        ScaledClock(start, speed=0)


def test_utc_treats_naive_as_utc() -> None:
    naive = datetime(2026, 1, 1, 12)  # noqa: DTZ001 - what SQLite hands back
    assert utc(naive) == datetime(2026, 1, 1, 12, tzinfo=UTC)


def test_settings_read_hanota_env_and_default_into_data_dir(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HANOTA_DATA_DIR", str(tmp_path / "d"))
    monkeypatch.delenv("HANOTA_DATABASE_URL", raising=False)
    s = Settings()
    assert s.database_url == f"sqlite:///{(tmp_path / 'd' / 'hanota.db').as_posix()}"
    assert s.pki_dir == tmp_path / "d" / "pki"
    monkeypatch.setenv("HANOTA_DATABASE_URL", "postgresql://x@y/z")
    assert Settings().database_url == "postgresql://x@y/z"


def test_settings_refuse_the_development_secret_in_production(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HANOTA_ENVIRONMENT", "production")
    monkeypatch.delenv("HANOTA_SESSION_SECRET", raising=False)
    with pytest.raises(ValueError, match="SESSION_SECRET"):
        Settings()
    monkeypatch.setenv("HANOTA_SESSION_SECRET", "a-real-secret-from-the-vault")
    with pytest.raises(ValueError, match="CSP_SECRET"):
        Settings()
    monkeypatch.setenv("HANOTA_CSP_SECRET", "another-real-secret")
    assert Settings().environment == "production"
