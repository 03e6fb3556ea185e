"""What every query of the SSI shares: who is looking (`Scope`), a page of rows, and the SQL fragments that
scope a statement to the viewer and page it.

The queries themselves are one module per group of pages, as the routes are (`ssi/*_pages.py`):
`request_queries` (requests, a request's progress and distribution report), `inventory_queries` (devices,
a device's page, the firmware version report), `alert_queries` (the alert inbox) and `cpl_queries` (the
CPL, as a lookup and as a list). A supplier sees the devices it is interested in
(`hanota.inventory.interest`), its own requests and the alerts addressed to it; the DCC operator sees
everything. Lists page by keyset on an indexed key (device ID, row id) so that page 1,000 of a
50,000-device request costs what page 1 does; a CSV export runs the same statement without the limit and
streams it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy import Connection, bindparam, text

from hanota.db.models import DeviceType
from hanota.db.types import UTCDateTime
from hanota.inventory.interest import SENDER_METERS_CTE, interested_sql

DEFAULT_PAGE = 50
PAGE_SIZES = (25, 50, 100, 200, 500)
DEVICE_TYPES: Final = tuple(DeviceType)
"""Every device type, in the order the pages' filters list them."""
EUI_RE = re.compile(r"^[0-9A-F]{2}(-[0-9A-F]{2}){7}$")


@dataclass(frozen=True)
class Scope:
    """Who is looking, and when (registrations in force at `now` decide interest)."""

    eui: str
    operator: bool
    now: datetime


@dataclass(frozen=True)
class Page:
    rows: list[dict[str, Any]]
    next_after: str | None  # the cursor of the next page, None on the last


def page_of(rows: list[dict[str, Any]], size: int, key: str) -> Page:
    """A page of `size` from `rows` fetched with one more (`size + 1`): the extra says there is a next."""
    if len(rows) > size:
        rows = rows[:size]
        return Page(rows, str(rows[-1][key]))
    return Page(rows, None)


def scope_cte(scope: Scope) -> str:
    """The WITH clause `scope_filter` needs (a supplier's meters), or nothing for the DCC operator."""
    return "" if scope.operator else f"WITH {SENDER_METERS_CTE}"


def scope_filter(scope: Scope, alias: str = "d", *, hub_hint: bool = False) -> str:
    """The viewer's devices. `hub_hint` adds a predicate implied by `interested_sql` that lets the planner
    start from the User's hubs: right for aggregates over all of them, wrong for a page in ID order (there
    a scan in ID order that stops after one page is cheaper)."""
    if scope.operator:
        return "1 = 1"
    if hub_hint:
        return f"{interested_sql(alias)} AND {alias}.hub_id IN (SELECT hub_id FROM sender_meters)"  # noqa: S608
    return interested_sql(alias)


def scope_params(scope: Scope) -> dict[str, Any]:
    """The parameters `scope_filter` binds."""
    return {} if scope.operator else {"sender": scope.eui, "now": scope.now}


def bind_now(sql: str, scope: Scope) -> Any:
    """`sql` as a statement, with `:now` typed as a UTC timestamp when the scope binds it."""
    stmt = text(sql)
    if not scope.operator:
        stmt = stmt.bindparams(bindparam("now", type_=UTCDateTime()))
    return stmt


def finish(
    select: str, where: Sequence[str], order_by: str, params: dict[str, Any], limit: int | None
) -> str:
    """`select` WHERE all of `where` ORDER BY `order_by`, LIMIT `limit` when given (bound in `params`)."""
    sql = f"{select} WHERE {' AND '.join(where or ['1 = 1'])} ORDER BY {order_by}"
    if limit is not None:
        sql += " LIMIT :limit"
        params["limit"] = limit
    return sql


def stream(conn: Connection, stmt: Any, params: dict[str, Any]) -> Iterator[Any]:
    """The rows of `stmt`, fetched in batches (a server-side cursor on PostgreSQL): for CSV exports."""
    result = conn.execution_options(stream_results=True, yield_per=2000).execute(stmt, params)
    yield from result
