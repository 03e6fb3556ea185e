"""Engines and the unit of work.

`make_engine` gives an engine that behaves the same on SQLite and PostgreSQL: on SQLite, WAL, foreign keys
on, a busy timeout and `BEGIN IMMEDIATE` for write transactions (so that two writers serialise instead of
failing half-way); on PostgreSQL, a normal pool.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker


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
    """Every PostgreSQL session runs in UTC, so bulk-loaded zone-less timestamps mean UTC as on SQLite."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.autocommit = True
        dbapi_conn.execute("SET TIME ZONE 'UTC'")
        dbapi_conn.autocommit = False


def _sqlite_pragmas(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA cache_size=-65536")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


class UnitOfWork:
    """A session that rolls back unless `commit()` is called (cosmicpython's unit of work)."""

    def __init__(self, factory: sessionmaker[Session]) -> None:
        self._factory = factory

    @contextmanager
    def begin(self) -> Iterator[Session]:
        """Yield a session in a transaction; commit on normal exit, roll back on any exception."""
        session = self._factory()
        try:
            with session.begin():
                yield session
        finally:
            session.close()


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False)
