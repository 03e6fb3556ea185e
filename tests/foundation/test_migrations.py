"""Migrations run forward and backward on SQLite and PostgreSQL, and match the models."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from hanota.db.engine import make_engine
from hanota.db.migrate import downgrade, upgrade
from hanota.db.models import Base


def test_upgrade_downgrade_upgrade(db_url: str) -> None:
    """The migrations build every table of the models and agree with them column for column; downgrading
    removes them all, and upgrading again builds them again."""
    upgrade(db_url)
    eng = make_engine(db_url)
    try:
        tables = set(inspect(eng).get_table_names())
        assert set(Base.metadata.tables) <= tables
        with eng.connect() as conn:
            diffs = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        assert diffs == [], f"models and migrations disagree: {diffs}"
        downgrade(db_url)
        assert set(inspect(eng).get_table_names()) <= {"alembic_version"}
        upgrade(db_url)
        assert set(Base.metadata.tables) <= set(inspect(eng).get_table_names())
    finally:
        eng.dispose()
