"""The DUIS RequestID counter rule in the store: each originator's counter must strictly increase.

Used by every door that takes signed requests (DUIS at serviceD, the alert mailbox), so a counter spent on
one is spent on all."""

from __future__ import annotations

from sqlalchemy import Connection, select, update

from hanota.db.bulk import insert_or_ignore
from hanota.db.models import RequestCounter
from hanota.db.types import counter_key


def advance_counter(conn: Connection, originator: str, counter: int) -> int | None:
    """Move `originator`'s counter to `counter`; None when it moved, else the last accepted counter (a replay).

    The row is created first if missing (insert-or-ignore), so two first-ever requests racing cannot collide
    on the primary key: the conditional update then lets exactly one of them through per counter value."""
    key = counter_key(counter)
    conn.execute(
        insert_or_ignore(conn, RequestCounter, key="originator_eui").values(
            originator_eui=originator, last_counter=counter_key(0)
        )
    )
    moved = conn.execute(
        update(RequestCounter)
        .where(RequestCounter.originator_eui == originator, RequestCounter.last_counter < key)
        .values(last_counter=key)
    ).rowcount
    if moved:
        return None
    last = conn.execute(
        select(RequestCounter.last_counter).where(RequestCounter.originator_eui == originator)
    ).scalar_one()
    return int(last)
