"""What the SSI's request pages read: a User's service requests (and their CSV), one request's progress over
virtual time, and its distribution status report, per device (and its CSV)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy import Connection, bindparam, text

from hanota.db.types import UTCDateTime
from hanota.inventory.interest import interested_exists_sql
from hanota.lifecycle import (
    FAILED,
    IN_FLIGHT,
    REACHED,
    RUNNING_REQUESTS,
    WAITING,
    DeviceState,
    Outcome,
    RequestStatus,
    sql_list,
)
from hanota.ssi.queries import DEVICE_TYPES, Page, Scope, finish, page_of, stream
from hanota.ssi.store import as_datetime, db_timestamp

REQUEST_STATUSES: Final = (
    RequestStatus.ACCEPTED, RequestStatus.REJECTED, RequestStatus.QUARANTINED, RequestStatus.DELETED,
    RequestStatus.RELEASED,
)  # fmt: skip
"""The requests page's status filter, in the order it lists them."""

# --- requests ----------------------------------------------------------------------------------------

REQUEST_CSV = (
    "id", "request_id", "originator_eui", "srv", "received_at", "status", "response_code", "firmware_version",
    "device_count", "accepted_count", "detail",
)  # fmt: skip


_REQUESTS_SELECT = (
    "SELECT id, request_id, originator_eui, srv, received_at, status, response_code, firmware_version, "
    "device_count, accepted_count, detail FROM service_requests"
)


def _requests_stmt(scope: Scope, srv: str | None, status: str | None, before: int | None,
                   limit: int | None) -> tuple[Any, dict[str, Any]]:  # fmt: skip
    where: list[str] = []
    params: dict[str, Any] = {}
    if not scope.operator:
        where.append("originator_eui = :me")
        params["me"] = scope.eui
    if srv:
        where.append("srv = :srv")
        params["srv"] = srv
    if status:
        where.append("status = :status")
        params["status"] = status
    if before is not None:
        where.append("id < :before")
        params["before"] = before
    return text(finish(_REQUESTS_SELECT, where, "id DESC", params, limit)), params


def _request_row(r: Any) -> dict[str, Any]:
    d = dict(r._mapping)
    d["received_at"] = as_datetime(d["received_at"])
    return d


def requests_page(conn: Connection, scope: Scope, srv: str | None, status: str | None, before: int | None,
                  size: int) -> Page:  # fmt: skip
    stmt, params = _requests_stmt(scope, srv, status, before, size + 1)
    return page_of([_request_row(r) for r in conn.execute(stmt, params)], size, "id")


def requests_csv(
    conn: Connection, scope: Scope, srv: str | None, status: str | None
) -> Iterator[Sequence[Any]]:
    stmt, params = _requests_stmt(scope, srv, status, None, None)
    for r in stream(conn, stmt, params):
        d = _request_row(r)
        yield [d[c] for c in REQUEST_CSV]


def get_request(conn: Connection, scope: Scope, pk: int) -> dict[str, Any] | None:
    r = conn.execute(
        text(_REQUESTS_SELECT + " WHERE id = :pk"),
        {"pk": pk},
    ).first()
    if r is None or (not scope.operator and r.originator_eui != scope.eui):
        return None
    return _request_row(r)


# --- distribution status report ---------------------------------------------------------------------

DISTRIBUTION_CSV = (
    "device_id", "device_type", "hub_id", "region", "outcome", "reason", "state", "failure", "sent_at",
    "transferred_at", "finished_at", "transfer_seconds", "total_seconds",
)  # fmt: skip


@dataclass(frozen=True)
class DistFilter:
    state: str | None = None
    outcome: str | None = None
    region: str | None = None


HIDDEN_REASON = "not in the inventory, or not a device you are an interested supplier of"


def _hidden_sql(scope: Scope | None) -> str:
    """True for a row of `request_devices rd` the viewer may not see the details of: a device the DSP put
    on InvalidDeviceIDList that the (supplier) viewer is not interested in, or that is not in the inventory.
    Its type, hub and region are another supplier's business, and "not yours" must read like "no such
    device". The DCC operator (`scope` None or operator) sees every row whole."""
    if scope is None or scope.operator:
        return "(1 = 0)"
    interested = interested_exists_sql(DEVICE_TYPES, "d")
    return (
        f"(rd.outcome = '{Outcome.INVALID_DEVICE_ID}' AND NOT EXISTS (SELECT 1 FROM devices d "  # noqa: S608 - our constants
        f"WHERE d.device_id = rd.device_id AND {interested}))"
    )


def _dist_select(hidden: str) -> str:
    def masked(col: str) -> str:
        return f"CASE WHEN {hidden} THEN NULL ELSE rd.{col} END AS {col}"

    columns = (
        f"rd.device_id, {masked('device_type')}, {masked('hub_id')}, {masked('region')}, rd.outcome, "
        f"CASE WHEN {hidden} THEN '{HIDDEN_REASON}' ELSE rd.reason END AS reason, rd.state, rd.failure, "
        "rd.sent_at, rd.transferred_at, rd.finished_at"
    )
    return f"SELECT {columns} FROM request_devices rd"  # noqa: S608 - only our constants and fragments


def _dist_stmt(pk: int, f: DistFilter, after: str | None, limit: int | None,
               scope: Scope | None = None) -> tuple[Any, dict[str, Any]]:  # fmt: skip
    hidden = _hidden_sql(scope)
    where = ["rd.request_pk = :pk"]
    params: dict[str, Any] = {"pk": pk}
    for col, val in (("state", f.state), ("outcome", f.outcome), ("region", f.region)):
        if val:
            where.append(f"rd.{col} = :{col}")
            params[col] = val
    if f.region:
        where.append(f"NOT {hidden}")  # a hidden row's region must not be learnt by filtering on it
    if after is not None:
        where.append("rd.device_id > :after")
        params["after"] = after
    stmt = text(finish(_dist_select(hidden), where, "rd.device_id", params, limit))
    if scope is not None and not scope.operator:
        stmt = stmt.bindparams(bindparam("now", type_=UTCDateTime()))
        params |= {"sender": scope.eui, "now": scope.now}
    return stmt, params


def _dist_row(r: Any, received: datetime) -> dict[str, Any]:
    d = dict(r._mapping)
    for k in ("sent_at", "transferred_at", "finished_at"):
        d[k] = as_datetime(d[k])
    sent, transferred, finished = d["sent_at"], d["transferred_at"], d["finished_at"]
    d["transfer_seconds"] = round((transferred - sent).total_seconds(), 1) if sent and transferred else None
    d["total_seconds"] = round((finished - received).total_seconds(), 1) if finished else None
    return d


def distribution_page(conn: Connection, request: dict[str, Any], f: DistFilter, after: str | None,
                      size: int, scope: Scope | None = None) -> Page:  # fmt: skip
    """One page of the report of `request` as `scope` may see it (None: whole, as the DCC operator)."""
    stmt, params = _dist_stmt(request["id"], f, after, size + 1, scope)
    rows = [_dist_row(r, request["received_at"]) for r in conn.execute(stmt, params)]
    return page_of(rows, size, "device_id")


def distribution_csv(conn: Connection, request: dict[str, Any], f: DistFilter,
                     scope: Scope | None = None) -> Iterator[Sequence[Any]]:  # fmt: skip
    stmt, params = _dist_stmt(request["id"], f, None, None, scope)
    for r in stream(conn, stmt, params):
        d = _dist_row(r, request["received_at"])
        yield [d[c] for c in DISTRIBUTION_CSV]


# --- request progress over virtual time --------------------------------------------------------------


FAILED_SERIES: Final = "failed"
SERIES: Final = (DeviceState.TRANSFERRED, DeviceState.ACTIVATED, FAILED_SERIES)
"""The progress chart's lines: the devices the image reached (`REACHED`), those activated, and those whose
delivery failed (`FAILED`)."""


@dataclass(frozen=True)
class Counters:
    """The progress panel's counters of devices, each a group of the lifecycle's states."""

    transferred: int  # the image reached the device (`REACHED`)
    activated: int
    failed: int  # delivery failed for good (`FAILED`)
    waiting: int  # accepted and the image not yet on the device (`WAITING`)
    excluded: int  # rejected at validation (on a warning list)


@dataclass(frozen=True)
class Progress:
    """How far a request's delivery got: counts, per region, failures by reason, and cumulative series."""

    total: int
    by_state: dict[str, int]
    by_region: dict[str, dict[str, int]]
    failures: list[tuple[str, int]]
    bucket_seconds: float
    span_seconds: float
    series: dict[str, list[int]]  # transferred / activated / failed: cumulative count at each bucket's end
    region_series: dict[str, dict[str, list[int]]]  # region → series name → cumulative counts
    running: bool

    @property
    def accepted(self) -> int:
        return self.total - self.by_state.get(DeviceState.REJECTED, 0)

    def count(self, states: Iterable[DeviceState]) -> int:
        """The devices in any of `states`."""
        return sum(self.by_state.get(s, 0) for s in states)

    @property
    def counters(self) -> Counters:
        return Counters(
            transferred=self.count(REACHED),
            activated=self.count((DeviceState.ACTIVATED,)),
            failed=self.count(FAILED),
            waiting=self.count(WAITING),
            excluded=self.count((DeviceState.REJECTED,)),
        )


def _seconds_expr(dialect: str, col: str) -> str:
    if dialect == "sqlite":
        return f"((julianday({col}) - julianday(:t0)) * 86400.0)"
    return f"EXTRACT(EPOCH FROM ({col} - CAST(:t0 AS timestamptz)))"


def _bucket_expr(dialect: str, col: str) -> str:
    secs = _seconds_expr(dialect, col)
    if dialect == "sqlite":
        # julianday is a double of ~50 µs resolution: round to ms so exact boundaries fall where they should
        return f"CAST(max(0, ROUND({secs}, 3)) / :w AS INTEGER)"
    return f"CAST(FLOOR(GREATEST(0, {secs}) / :w) AS INTEGER)"


def progress(conn: Connection, request: dict[str, Any], now: datetime, buckets: int = 48,
             scope: Scope | None = None) -> Progress:  # fmt: skip
    """One scan of the request's rows (by its primary key range) gives the counts, the failures by reason
    and the per-bucket events; a running request's chart runs to `now`, a finished one's to its last event
    (one more query, only for requests no longer polled). A supplier `scope` is not told the region of a
    device it may not see (`_hidden_sql`): such rows count under no region."""
    pk = request["id"]
    received: datetime = request["received_at"]
    dialect = conn.dialect.name
    in_flight_sql = (
        f"SELECT 1 FROM request_devices WHERE request_pk = :pk AND state IN ({sql_list(IN_FLIGHT)}) LIMIT 1"  # noqa: S608
    )
    in_flight = conn.execute(text(in_flight_sql), {"pk": pk}).first()
    running = in_flight is not None and request.get("status") in RUNNING_REQUESTS
    if running:
        end = max(now, received)
    else:
        last_sql = (
            "SELECT max(COALESCE(finished_at, transferred_at, sent_at, updated_at)) FROM request_devices "  # noqa: S608
            f"WHERE request_pk = :pk AND state <> '{DeviceState.REJECTED}'"
        )
        last = conn.execute(text(last_sql), {"pk": pk}).scalar()
        end = max(as_datetime(last) or received, received)
    span = max((end - received).total_seconds(), 1.0)
    width = span / buckets
    t_bucket = _bucket_expr(dialect, "COALESCE(transferred_at, updated_at)")
    f_bucket = _bucket_expr(dialect, "COALESCE(finished_at, updated_at)")
    hidden = _hidden_sql(scope)
    sql = f"""
        SELECT state, CASE WHEN {hidden} THEN NULL ELSE rd.region END AS shown_region, failure,
               CASE WHEN state IN ({sql_list(REACHED)}) THEN {t_bucket} END AS bt,
               CASE WHEN state IN ({sql_list((DeviceState.ACTIVATED, *FAILED))}) THEN {f_bucket} END AS bf,
               count(*) AS n
        FROM request_devices rd WHERE rd.request_pk = :pk
        GROUP BY state, shown_region, failure, bt, bf
    """  # noqa: S608 - only our constants
    by_state: dict[str, int] = {}
    by_region: dict[str, dict[str, int]] = defaultdict(dict)
    failures: dict[str, int] = defaultdict(int)
    per_bucket: dict[str, list[int]] = {s: [0] * buckets for s in SERIES}
    per_region: dict[str, dict[str, list[int]]] = defaultdict(lambda: {s: [0] * buckets for s in SERIES})
    params: dict[str, Any] = {"pk": pk, "t0": db_timestamp(dialect, received), "w": width}
    stmt = text(sql)
    if scope is not None and not scope.operator:
        stmt = stmt.bindparams(bindparam("now", type_=UTCDateTime()))
        params |= {"sender": scope.eui, "now": scope.now}
    for r in conn.execute(stmt, params):
        n = int(r.n)
        region = r.shown_region or "-"
        by_state[r.state] = by_state.get(r.state, 0) + n
        by_region[region][r.state] = by_region[region].get(r.state, 0) + n
        if r.state in FAILED:
            failures[r.failure or r.state] += n
        events: list[tuple[str, int]] = []
        if r.bt is not None:
            events.append((DeviceState.TRANSFERRED, int(r.bt)))
        if r.bf is not None:
            events.append(
                (DeviceState.ACTIVATED if r.state == DeviceState.ACTIVATED else FAILED_SERIES, int(r.bf))
            )
        for series, b in events:
            b = min(max(b, 0), buckets - 1)
            per_bucket[series][b] += n
            per_region[region][series][b] += n

    def cumulative(xs: list[int]) -> list[int]:
        out, acc = [], 0
        for x in xs:
            acc += x
            out.append(acc)
        return out

    return Progress(
        total=sum(by_state.values()),
        by_state=by_state,
        by_region={k: by_region[k] for k in sorted(by_region)},
        failures=sorted(failures.items(), key=lambda kv: (-kv[1], kv[0])),
        bucket_seconds=width,
        span_seconds=span,
        series={k: cumulative(v) for k, v in per_bucket.items()},
        region_series={k: {s: cumulative(v) for s, v in per_region[k].items()} for k in sorted(per_region)},
        running=running,
    )
