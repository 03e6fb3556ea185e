"""How the SSI reads the store without getting in the DSP's way.

`make_engine` gives SQLite engines that take the store's exclusive write lock for every transaction, reads
included. A page view or a 1,000,000-row extract must not hold that lock, so the SSI reads SQLite through a
second engine in autocommit mode with `query_only` on: each statement is its own WAL snapshot and never
blocks a writer. On PostgreSQL, readers never block writers anyway and the main engine is used (with
server-side cursors for streams).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Engine, create_engine, event


def read_engine(engine: Engine) -> Engine:
    """An engine for reads only, on the same store as `engine`."""
    if engine.dialect.name != "sqlite":
        return engine
    reader = create_engine(
        engine.url,
        connect_args={"check_same_thread": False, "timeout": 30},
        isolation_level="AUTOCOMMIT",
        pool_size=8,
        max_overflow=16,
    )

    @event.listens_for(reader, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA cache_size=-32768")
        cur.execute("PRAGMA query_only=1")
        cur.close()

    return reader


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
