"""Alembic, driven from code: the migrations ship inside the package, no alembic.ini needed.

On SQLite, a migration that changes a table rebuilds it (Alembic's batch mode: create a copy, copy the
rows, drop the original, rename the copy). With foreign keys enforced, dropping a table that other rows
refer to fails (`FOREIGN KEY constraint failed [SQL: DROP TABLE devices]`) as soon as the store holds data,
so every migration run here turns enforcement off for its own connection (SQLite ignores that pragma inside
a transaction, hence before it begins) and instead checks the whole store (`PRAGMA foreign_key_check`)
just before it commits. A run (all the migrations between two revisions) is one transaction on both
databases: if any step fails, or the result would leave a dangling reference, nothing changes.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.ddl.sqlite import SQLiteImpl
from alembic.runtime.migration import MigrationContext
from alembic.script import Script, ScriptDirectory
from sqlalchemy import Connection, Engine, event
from sqlalchemy.engine import make_url

from hanota.db.engine import make_engine

MIGRATIONS = Path(__file__).parent / "migrations"
_LOCK = threading.Lock()


class MigrationError(Exception):
    """A migration cannot be run as asked (unknown revision, wrong direction, data it cannot keep)."""


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    cfg.attributes["configure_logger"] = False
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at `url` up to `revision` (default: the newest)."""
    with _sqlite_migration(url):
        command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str = "base") -> None:
    """Take the database at `url` down to `revision` (default: empty), in one transaction."""
    with _sqlite_migration(url):
        command.downgrade(alembic_config(url), revision)


@dataclass(frozen=True)
class Step:
    """One migration: its revision and the first line of its description."""

    revision: str
    title: str


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    if head is None:  # pragma: no cover - the package always ships migrations
        raise MigrationError("no migrations are installed")
    return head


def current_revision(url: str) -> str | None:
    """The store's schema revision (None: no schema yet). A missing SQLite file is not created."""
    u = make_url(url)
    on_disk = u.get_backend_name() == "sqlite" and u.database not in (None, "", ":memory:")
    if on_disk and not Path(str(u.database)).exists():
        return None
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


def downgrade_steps(url: str, target: str) -> tuple[str, list[Step]]:
    """The store's current revision and the migrations a downgrade to `target` undoes, newest first.

    `target` is a revision ID (e.g. `0009`) or `base` (an empty store). Raises `MigrationError` for an
    unknown revision, one above the store's, or a store without a schema."""
    current = current_revision(url)
    if current is None:
        raise MigrationError("the store has no schema yet: there is nothing to downgrade")
    script = ScriptDirectory.from_config(alembic_config(url))
    below = list(script.iterate_revisions(current, "base"))  # current first, down to the first migration
    if target == "base":
        return current, [_step(s) for s in below]
    known = {s.revision for s in script.walk_revisions()}
    if target not in known:
        raise MigrationError(f"unknown revision {target!r} (known: {', '.join(sorted(known))}, base)")
    ids = [s.revision for s in below]
    if target not in ids:
        raise MigrationError(
            f"revision {target} is above the store's revision {current}: use `hanota db upgrade`"
        )
    return current, [_step(s) for s in below[: ids.index(target)]]


def history() -> list[Step]:
    """Every migration, newest first."""
    return [_step(s) for s in ScriptDirectory.from_config(alembic_config("sqlite://")).walk_revisions()]


def _step(script: Script) -> Step:
    lines = (script.doc or "").strip().splitlines()
    return Step(script.revision, lines[0] if lines else "")


def _schema_version(dbapi: Any) -> tuple[str, ...] | None:
    try:
        return tuple(str(row[0]) for row in dbapi.execute("SELECT version_num FROM alembic_version"))
    except sqlite3.Error:  # no version table yet
        return None


@contextmanager
def _sqlite_migration(url: str) -> Iterator[None]:
    """On SQLite: foreign keys off for this run's connections, and checked in full before it commits.

    Only connections of this thread to this database are touched (a server thread of the same process keeps
    its enforcement), and the check runs only when a migration did run (the schema version changed), so the
    no-op upgrade every command starts with costs nothing on a large store."""
    u = make_url(url)
    if u.get_backend_name() != "sqlite":
        yield
        return
    database = u.database
    owner = threading.get_ident()

    def ours(conn: Connection) -> bool:
        return threading.get_ident() == owner and conn.engine.url.database == database

    def on_connect(conn: Connection) -> None:
        if ours(conn):
            dbapi: Any = conn.connection.driver_connection
            dbapi.execute("PRAGMA foreign_keys=OFF")
            conn.info["hanota_schema_before"] = _schema_version(dbapi)

    def on_commit(conn: Connection) -> None:
        if not ours(conn):
            return
        dbapi: Any = conn.connection.driver_connection
        if _schema_version(dbapi) == conn.info.get("hanota_schema_before"):
            return
        bad = dbapi.execute("PRAGMA foreign_key_check").fetchall()
        if bad:
            tables = sorted({str(row[0]) for row in bad})
            raise MigrationError(
                f"the migration would leave {len(bad)} rows referring to missing rows (in "
                f"{', '.join(tables)}); nothing was changed"
            )

    with _LOCK:
        event.listen(Engine, "engine_connect", on_connect)
        event.listen(Engine, "commit", on_commit)
        # Alembic assumes SQLite DDL is not transactional (pysqlite's legacy transaction handling) and
        # commits after each migration; hanota's engine issues BEGIN IMMEDIATE itself, so SQLite DDL is
        # transactional here and a run of several migrations is one transaction, all or nothing.
        transactional = SQLiteImpl.transactional_ddl
        SQLiteImpl.transactional_ddl = True
        try:
            yield
        finally:
            SQLiteImpl.transactional_ddl = transactional
            event.remove(Engine, "commit", on_commit)
            event.remove(Engine, "engine_connect", on_connect)
