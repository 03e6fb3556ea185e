"""Small SQL helpers shared by the anomaly package (the same statement on SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.dialects import postgresql, sqlite


def dialect_insert(conn: Connection, model: Any) -> Any:
    """An INSERT of `model` in the connection's dialect (for ON CONFLICT clauses)."""
    return postgresql.insert(model) if conn.dialect.name == "postgresql" else sqlite.insert(model)


def upsert(conn: Connection, model: Any, keys: Sequence[str], values: Mapping[str, Any]) -> None:
    """INSERT `values`, or on a conflict over `keys` UPDATE every other given column: one statement, so two
    concurrent writers of the same key never collide on it."""
    stmt = dialect_insert(conn, model).values(**values)
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=list(keys), set_={k: stmt.excluded[k] for k in values if k not in keys}
        )
    )
