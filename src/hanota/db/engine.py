"""Engines.

`make_engine` gives an engine that behaves the same on SQLite and PostgreSQL: on SQLite, WAL, foreign keys
on, a busy timeout and `BEGIN IMMEDIATE` for write transactions (so that two writers serialise instead of
failing half-way); on PostgreSQL, a normal pool. `read_engine` gives a second engine for reads that never
take SQLite's write lock.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url


def make_engine(url: str, *, echo: bool = False) -> Engine:
    """Create an engine for `url` (sqlite:///path or postgresql+psycopg://…)."""
    u = make_url(url)
    if u.drivername == "postgresql" or u.drivername == "postgres":
        u = u.set(drivername="postgresql+psycopg")
    if u.get_backend_name() == "sqlite":
        if u.database and u.database != ":memory:":
            Path(u.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(u, echo=echo, connect_args={"check_same_thread": False, "timeout": 30})
        _sqlite_pragmas(engine)
        return engine
    engine = create_engine(u, echo=echo, pool_size=10, max_overflow=20, pool_pre_ping=True)
    _pg_utc(engine)
    return engine


def _pg_utc(engine: Engine) -> None:
    """Every PostgreSQL session runs in UTC (bulk-loaded zone-less timestamps mean UTC, as on SQLite) and
    without JIT."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.autocommit = True
        dbapi_conn.execute("SET TIME ZONE 'UTC'")
        # JIT compilation costs ~0.3 s on the 50,000-device queries and never pays back at OLTP sizes
        dbapi_conn.execute("SET jit = off")
        dbapi_conn.autocommit = False


def _sqlite_pragmas(engine: Engine) -> None:
    """WAL, foreign keys, and one writer at a time across threads AND processes.

    SQLite's own busy handler polls with growing sleeps, which under contention between processes gives
    100 ms tails. Instead each transaction first takes an exclusive `flock` on `<db>.writelock` (the kernel
    wakes the next waiter as soon as it is released), then `BEGIN IMMEDIATE`; commit or rollback releases it.
    """
    database = engine.url.database
    lock_path = f"{database}.writelock" if database and database != ":memory:" else None

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, record: Any) -> None:
        if lock_path is not None:
            record.info["lock_fd"] = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        # 16 MiB per connection: the 50,000-device 11.4 query reads the devices in storage order and is no
        # faster with 64 MiB (nor is a 1,000,000-device estate load); each pooled connection's cache counts
        # towards the server's memory
        cur.execute("PRAGMA cache_size=-16384")
        cur.close()

    @event.listens_for(engine, "close")
    def _on_close(_dbapi_conn: Any, record: Any) -> None:
        fd = record.info.pop("lock_fd", None)
        if fd is not None:
            os.close(fd)

    def _lock_fd(conn: Any) -> int | None:
        fd = conn.connection._connection_record.info.get("lock_fd")
        return fd if isinstance(fd, int) else None

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        fd = _lock_fd(conn)
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            if fd is not None:
                fcntl.flock(fd, fcntl.LOCK_UN)
            raise

    def _release(conn: Any) -> None:
        fd = _lock_fd(conn)
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)

    event.listen(engine, "commit", _release)
    event.listen(engine, "rollback", _release)

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_conn: Any, record: Any) -> None:
        fd = record.info.get("lock_fd")
        if isinstance(fd, int):
            fcntl.flock(fd, fcntl.LOCK_UN)  # belt and braces: never keep the lock in the pool


def single_writer(engine: Engine) -> bool:
    """True when the store admits one writer at a time (SQLite): a long write transaction holds every
    other writer, so work that only reads belongs before it, on a `read_engine`."""
    return engine.dialect.name == "sqlite"


def read_engine(engine: Engine) -> Engine:
    """An engine for reads only, on the same store as `engine`.

    `make_engine` gives SQLite engines that take the store's exclusive write lock for every transaction,
    reads included. This one runs in autocommit mode with `query_only` on: each statement is its own WAL
    snapshot and never blocks a writer. On PostgreSQL readers never block writers: `engine` itself."""
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
