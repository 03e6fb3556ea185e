"""Billing counts: per User, per SRV, per calendar month (UTC) — requests and, for 11.4/11.1, devices.

Counted from `service_requests`: every request the DSP recorded after verifying its signature (SR 11.4 and
11.1 whether accepted or not, and every request refused by a request-level check). `devices` is the number
of distinct device IDs listed, `devices_accepted` those that passed validation and were sent on.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, bindparam, text

from hanota.db.types import UTCDateTime
from hanota.lifecycle import RUNNING_REQUESTS, sql_list

FIRMWARE_SRVS = ("11.4", "11.1")
BILLING_CSV = (
    "month", "user_eui", "user_name", "srv", "requests", "requests_accepted", "devices", "devices_accepted",
)  # fmt: skip
_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


@dataclass(frozen=True)
class BillingRow:
    month: str
    user_eui: str
    user_name: str
    srv: str
    requests: int
    requests_accepted: int
    devices: int | None
    devices_accepted: int | None

    def as_tuple(self) -> tuple[Any, ...]:
        return (self.month, self.user_eui, self.user_name, self.srv, self.requests, self.requests_accepted,
                self.devices, self.devices_accepted)  # fmt: skip


def parse_month(value: str) -> datetime | None:
    """`YYYY-MM` → the first instant of that month (UTC), or None if it is not one."""
    m = _MONTH.match(value.strip())
    if not m:
        return None
    year = int(m.group(1))
    if not 1970 <= year <= 9998:
        return None
    return datetime(year, int(m.group(2)), 1, tzinfo=UTC)


def next_month(start: datetime) -> datetime:
    return (
        start.replace(year=start.year + 1, month=1)
        if start.month == 12
        else start.replace(month=start.month + 1)
    )


def _month_expr(dialect: str) -> str:
    if dialect == "sqlite":
        return "substr(s.received_at, 1, 7)"
    return "to_char(s.received_at AT TIME ZONE 'UTC', 'YYYY-MM')"


def billing_rows(
    conn: Connection,
    *,
    user: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> list[BillingRow]:
    """Counts for `user` (all Users when None) for months in [start, end), newest month first."""
    where = ["1 = 1"]
    params: dict[str, Any] = {}
    if user is not None:
        where.append("s.originator_eui = :user")
        params["user"] = user
    if start is not None:
        where.append("s.received_at >= :start")
        params["start"] = start
    if end is not None:
        where.append("s.received_at < :end")
        params["end"] = end
    month = _month_expr(conn.dialect.name)
    sql = f"""
        SELECT {month} AS month, s.originator_eui, s.srv, count(*) AS requests,
               sum(CASE WHEN s.status IN ({sql_list(RUNNING_REQUESTS)}) THEN 1 ELSE 0 END) AS accepted,
               sum(s.device_count) AS devices, sum(s.accepted_count) AS devices_accepted
        FROM service_requests s WHERE {" AND ".join(where)}
        GROUP BY {month}, s.originator_eui, s.srv
    """  # noqa: S608 - only our fragments; values are bound
    stmt = text(sql)
    typed = [bindparam(k, type_=UTCDateTime()) for k in ("start", "end") if k in params]
    if typed:
        stmt = stmt.bindparams(*typed)
    names: dict[str, str] = {r.eui: r.name for r in conn.execute(text("SELECT eui, name FROM users"))}
    out = []
    for r in conn.execute(stmt, params):
        firmware = r.srv in FIRMWARE_SRVS
        out.append(
            BillingRow(
                month=str(r.month), user_eui=r.originator_eui, user_name=names.get(r.originator_eui, ""),
                srv=r.srv, requests=int(r.requests), requests_accepted=int(r.accepted or 0),
                devices=int(r.devices or 0) if firmware else None,
                devices_accepted=int(r.devices_accepted or 0) if firmware else None,
            )
        )  # fmt: skip
    out.sort(key=lambda b: (b.month, b.user_eui, _srv_key(b.srv)), reverse=False)
    out.sort(key=lambda b: b.month, reverse=True)
    return out


def _srv_key(srv: str) -> tuple[int, ...]:
    try:
        return tuple(int(x) for x in srv.split("."))
    except ValueError:
        return (999,)


def billing_csv(rows: Sequence[BillingRow]) -> Iterator[Sequence[Any]]:
    for b in rows:
        yield b.as_tuple()
