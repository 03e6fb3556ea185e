"""How the SSI reads the store without getting in the DSP's way.

A page view or a 1,000,000-row extract must not hold SQLite's write lock, so the SSI reads through
`hanota.db.engine.read_engine` (autocommit, `query_only`: each statement its own WAL snapshot). On
PostgreSQL readers never block writers anyway and the main engine is used (with server-side cursors for
streams). Here: turning what raw SQL returns into dates and times.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any


def as_datetime(value: Any) -> datetime | None:
    """A timestamp column read through raw SQL: aware UTC whichever database it came from."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if not isinstance(value, datetime):
        raise TypeError(f"expected a timestamp, got {type(value).__name__}")
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def as_date(value: Any) -> date | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


def db_timestamp(engine_or_dialect: str, when: datetime) -> Any:
    """A bind value comparable with stored timestamps in raw SQL (SQLite stores zone-less UTC text)."""
    if engine_or_dialect == "sqlite":
        return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    return when.astimezone(UTC)
