"""Fast bulk loading for large inserts (estates of a million devices): executemany on SQLite, COPY on
PostgreSQL, all in one transaction that commits only at the end.

Rows are tuples of plain values: str, int (booleans as 0/1), None, ISO dates `YYYY-MM-DD` and UTC
timestamps `YYYY-MM-DD HH:MM:SS.ffffff` (the session time zone is UTC on PostgreSQL).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.dialects import postgresql, sqlite


def ts(dt: datetime) -> str:
    """An aware datetime as the UTC text both databases read back identically."""
    return dt.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


class BulkLoader:
    """Use as a context manager: `with BulkLoader(engine) as load: load.rows("devices", cols, rows)`."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._conn: Any = None
        self._sqlite = engine.dialect.name == "sqlite"
        self.counts: dict[str, int] = {}

    def __enter__(self) -> BulkLoader:
        self._conn = self._engine.raw_connection()
        cur = self._conn.cursor()
        if self._sqlite:
            cur.execute("BEGIN IMMEDIATE")
        else:
            cur.execute("SET TIME ZONE 'UTC'")
        cur.close()
        return self

    def rows(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
        """Insert `rows` into `table` (trusted identifiers only: table and column names are ours)."""
        cols = ", ".join(columns)
        n = 0
        cur = self._conn.cursor()
        try:
            if self._sqlite:
                batch = list(rows)
                marks = ", ".join("?" for _ in columns)
                cur.executemany(f"INSERT INTO {table} ({cols}) VALUES ({marks})", batch)  # noqa: S608 - our names
                n = len(batch)
            else:
                with cur.copy(f"COPY {table} ({cols}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
                        n += 1
        finally:
            cur.close()
        self.counts[table] = self.counts.get(table, 0) + n
        return n

    def execute(self, sql: str) -> None:
        cur = self._conn.cursor()
        try:
            cur.execute(sql)
        finally:
            cur.close()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if exc_type is None:
                if self._sqlite:
                    self.execute("COMMIT")
                    self.execute("ANALYZE")  # planner statistics: without them SQLite picks poor indexes
                else:
                    self._conn.commit()
                    self._conn.autocommit = True
                    self.execute("ANALYZE")  # autovacuum may take minutes to notice a million new rows
                    self._conn.autocommit = False
            elif self._sqlite:
                self.execute("ROLLBACK")
            else:
                self._conn.rollback()
        finally:
            self._conn.close()


@dataclass(frozen=True)
class Case:
    """A column `insert_rows` computes from another column of each row: `then` where that column (`of`)
    holds `when`, else `otherwise`. Our own words only: on SQLite they are written into the statement."""

    of: str
    when: str
    then: str
    otherwise: str


def _literal(value: int | str | datetime) -> str:
    """A constant as SQLite literal text (a datetime as `ts` text, as the rows hold it)."""
    if isinstance(value, datetime):
        value = ts(value)
    if isinstance(value, int):
        return str(int(value))
    return "'" + str(value).replace("'", "''") + "'"


def insert_rows(
    conn: Connection,
    table: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    constants: Mapping[str, int | str | datetime] | None = None,
    cases: Mapping[str, Case] | None = None,
) -> None:
    """Insert many rows inside `conn`'s open transaction, by the driver's fastest path.

    SQLite: one `executemany`; PostgreSQL: `COPY … FROM STDIN`. Row values as for `BulkLoader` (a
    datetime also goes as is). `constants` are columns with one value for every row, and `cases` columns
    computed from another of the row's (`Case`): neither is in the rows, so a caller's tuples (named tuples
    straight from a cursor, say) are inserted without building a new row in Python for each. On SQLite
    both are written into the statement; on PostgreSQL they are added to each row as it is copied.
    """
    if not rows:
        return
    dbapi = conn.connection.driver_connection
    if dbapi is None:
        raise RuntimeError("no DBAPI connection")
    fixed = dict(constants or {})
    computed = dict(cases or {})
    cols = ", ".join((*columns, *computed, *fixed))
    cur = dbapi.cursor()
    try:
        if conn.dialect.name == "sqlite":
            marks = [f"?{i}" for i in range(1, len(columns) + 1)]
            for c in computed.values():
                of = marks[columns.index(c.of)]
                marks.append(
                    f"CASE WHEN {of} = {_literal(c.when)} THEN {_literal(c.then)} ELSE {_literal(c.otherwise)} END"
                )
            marks += [_literal(v) for v in fixed.values()]
            cur.executemany(f"INSERT INTO {table} ({cols}) VALUES ({', '.join(marks)})", rows)  # noqa: S608 - our names
        else:
            tails = [(columns.index(c.of), c.when, c.then, c.otherwise) for c in computed.values()]
            tail = tuple(fixed.values())
            with cur.copy(f"COPY {table} ({cols}) FROM STDIN") as copy:
                if not tails and not tail:
                    for row in rows:
                        copy.write_row(row)
                elif len(tails) == 1:  # the common shape, without a generator per row
                    ((i, w, t, o),) = tails
                    for row in rows:
                        copy.write_row((*row, t if row[i] == w else o, *tail))
                else:
                    for row in rows:
                        copy.write_row((*row, *(t if row[i] == w else o for i, w, t, o in tails), *tail))
    finally:
        cur.close()


def dialect_insert(conn: Connection, model: Any) -> Any:
    """An INSERT of `model` in the connection's dialect (for its ON CONFLICT clauses)."""
    return postgresql.insert(model) if conn.dialect.name == "postgresql" else sqlite.insert(model)


def insert_or_ignore(conn: Connection, model: Any, *, key: str) -> Any:
    """`INSERT … ON CONFLICT (key) DO NOTHING` for `model`, in the connection's dialect."""
    return dialect_insert(conn, model).on_conflict_do_nothing(index_elements=[key])


def upsert(conn: Connection, model: Any, keys: Sequence[str], values: Mapping[str, Any]) -> None:
    """INSERT `values`, or on a conflict over `keys` UPDATE every other given column: one statement, so two
    concurrent writers of the same key never collide on it."""
    stmt = dialect_insert(conn, model).values(**values)
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=list(keys), set_={k: stmt.excluded[k] for k in values if k not in keys}
        )
    )


def id_list_sql(conn: Connection, param: str = "ids") -> str:
    """A FROM item `(device_id, pos)` over a list bound to `:param` — one statement for any length
    (an expanded IN of 50,000 parameters is over SQLite's variable limit)."""
    if conn.dialect.name == "sqlite":
        return f"(SELECT value AS device_id, key AS pos FROM json_each(:{param}))"  # noqa: S608 - a bind name
    unnest = "unnest(CAST(:{p} AS text[])) WITH ORDINALITY AS u(device_id, pos)".replace("{p}", param)
    return "(SELECT device_id, pos FROM " + unnest + ")"  # noqa: S608 - a bind name, no input


def id_list_value(conn: Connection, ids: Sequence[str]) -> Any:
    """The value to bind for `id_list_sql`: a JSON array on SQLite, a list on PostgreSQL."""
    return json.dumps(list(ids)) if conn.dialect.name == "sqlite" else list(ids)
