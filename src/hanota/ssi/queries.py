"""What the SSI's pages and CSV exports read: one function per table, each scoped to the viewer.

A supplier sees the devices it is interested in (`hanota.inventory.interest`), its own requests and the
alerts addressed to it; the DCC operator sees everything. Lists page by keyset on an indexed key (device
ID, row id) so that page 1,000 of a 50,000-device request costs what page 1 does; a CSV export runs the
same statement without the limit and streams it.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, text

from hanota.db.types import UTCDateTime
from hanota.inventory.interest import (
    SENDER_METERS_CTE,
    interested_exists_sql,
    interested_sql,
    interested_suppliers,
    is_interested,
)
from hanota.lifecycle import HUB_REGIONS
from hanota.ssi.store import as_date, as_datetime, db_timestamp

DEFAULT_PAGE = 50
PAGE_SIZES = (25, 50, 100, 200, 500)
HAN_TYPES = ("PPMID", "IHD")
DEVICE_TYPES = ("ESME", "GSME", "CHF", "GPF", "PPMID", "IHD", "HCALCS", "CAD")
STATES = (
    "rejected", "accepted", "sent", "csp_rejected", "transferred", "transfer_failed", "activated",
    "activation_failed",
)  # fmt: skip
IN_FLIGHT = ("accepted", "sent", "transferred")
FAILED = ("csp_rejected", "transfer_failed", "activation_failed")
TRANSFERRED = ("transferred", "activated", "activation_failed")
OUTCOMES = (
    "Accepted", "InvalidDeviceIDList", "NotCommissionedDeviceIDList", "NotApplicableFirmwareDeviceIDList",
    "OtherRequestInProgressList", "InvalidGBCSVersionList",
)  # fmt: skip
REGIONS = HUB_REGIONS  # a 4G hub's devices are in "4G <region>": a region of their own here
CPL_STATUSES = ("Active", "Cancelled", "Expired", "Withdrawn")
REQUEST_STATUSES = ("accepted", "rejected", "quarantined", "deleted", "released")
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


def _page(rows: list[dict[str, Any]], size: int, key: str) -> Page:
    if len(rows) > size:
        rows = rows[:size]
        return Page(rows, str(rows[-1][key]))
    return Page(rows, None)


def _scope_cte(scope: Scope) -> str:
    return "" if scope.operator else f"WITH {SENDER_METERS_CTE}"


def _scope_filter(scope: Scope, alias: str = "d", *, hub_hint: bool = False) -> str:
    """The viewer's devices. `hub_hint` adds a predicate implied by `interested_sql` that lets the planner
    start from the User's hubs: right for aggregates over all of them, wrong for a page in ID order (there
    a scan in ID order that stops after one page is cheaper)."""
    if scope.operator:
        return "1 = 1"
    if hub_hint:
        return f"{interested_sql(alias)} AND {alias}.hub_id IN (SELECT hub_id FROM sender_meters)"  # noqa: S608
    return interested_sql(alias)


def _scope_params(scope: Scope) -> dict[str, Any]:
    return {} if scope.operator else {"sender": scope.eui, "now": scope.now}


def _bind_now(sql: str, scope: Scope) -> Any:
    stmt = text(sql)
    if not scope.operator:
        stmt = stmt.bindparams(bindparam("now", type_=UTCDateTime()))
    return stmt


def _finish(
    select: str, where: Sequence[str], order_by: str, params: dict[str, Any], limit: int | None
) -> str:
    """`select` WHERE all of `where` ORDER BY `order_by`, LIMIT `limit` when given (bound in `params`)."""
    sql = f"{select} WHERE {' AND '.join(where or ['1 = 1'])} ORDER BY {order_by}"
    if limit is not None:
        sql += " LIMIT :limit"
        params["limit"] = limit
    return sql


def _stream(conn: Connection, stmt: Any, params: dict[str, Any]) -> Iterator[Any]:
    result = conn.execution_options(stream_results=True, yield_per=2000).execute(stmt, params)
    yield from result


# --- the CPL, as a small lookup ---------------------------------------------------------------------


@dataclass(frozen=True)
class CPLView:
    """The CPL in memory (tens to hundreds of rows): version → (status, upgradeable); model → status."""

    versions: dict[str, tuple[str, bool]]
    models: dict[tuple[str, str], str]
    latest: dict[tuple[str, str], str] = field(default_factory=dict)

    def version_status(self, version: str | None) -> str | None:
        v = self.versions.get(version or "")
        return v[0] if v else None

    def upgradeable(self, version: str | None) -> tuple[bool, str]:
        """Whether a device on `version` accepts an OTA update, and why not (seed A-001)."""
        if version is None:
            return False, "no recorded firmware version (A-001)"
        v = self.versions.get(version)
        if v is None:
            return False, "version not on the CPL"
        return (True, "") if v[1] else (False, "version not upgradeable")

    def model_status(self, manufacturer: str, model: str) -> str | None:
        return self.models.get((manufacturer.upper(), model.upper()))


def load_cpl(conn: Connection) -> CPLView:
    versions: dict[str, tuple[str, bool]] = {}
    by_model: dict[tuple[str, str], list[tuple[str, str]]] = defaultdict(list)
    for r in conn.execute(
        text("SELECT manufacturer, model, firmware_version, status, upgradeable FROM cpl_entries ORDER BY id")
    ):
        versions[r.firmware_version] = (r.status, bool(r.upgradeable))
        by_model[(r.manufacturer.upper(), r.model.upper())].append((r.firmware_version, r.status))
    models: dict[tuple[str, str], str] = {}
    latest: dict[tuple[str, str], str] = {}
    for key, entries in by_model.items():
        statuses = {s for _, s in entries}
        # as SR 8.2 answers: Active if any version of the model is Active
        models[key] = "Active" if "Active" in statuses else max(statuses)
        active = [v for v, s in entries if s == "Active"]
        if active:
            latest[key] = max(active)
    return CPLView(versions, models, latest)


# --- inventory --------------------------------------------------------------------------------------

_DEVICE_SELECT = """
    SELECT d.device_id, d.device_type, d.smi_status, d.manufacturer, d.model, d.hardware_version,
           d.firmware_version, d.hub_id, h.region, p.uprn, p.postcode, d.date_commissioned
    FROM devices d
    LEFT JOIN comms_hubs h ON h.chf_id = d.hub_id
    LEFT JOIN premises p ON p.id = d.premises_id
"""
DEVICE_CSV = (
    "device_id", "device_type", "smi_status", "manufacturer", "model", "hardware_version", "firmware_version",
    "firmware_version_status", "model_cpl_status", "upgradeable", "hub_id", "csp_region", "uprn", "postcode",
    "date_commissioned",
)  # fmt: skip


@dataclass(frozen=True)
class Search:
    """A parsed inventory search: what kind of key and its normalised value."""

    kind: str  # all | device | prefix | hub | uprn | postcode
    value: str = ""


_POSTCODE = re.compile(r"^[A-Z]{1,2}[0-9][0-9A-Z]? ?[0-9][A-Z]{2}$")


def parse_search(q: str) -> Search | None:
    """Understand a search box entry; None when it cannot be any of the keys."""
    v = " ".join(q.strip().upper().split())
    if not v:
        return Search("all")
    if len(v) > 64:
        return None
    compact = v.replace("-", "").replace(":", "").replace(" ", "")
    if re.fullmatch(r"[0-9A-F]{16}", compact) and not v.isdigit():
        return Search("device", "-".join(compact[i : i + 2] for i in range(0, 16, 2)))
    if v.isascii() and v.isdigit() and len(v) <= 12:
        return Search("uprn", f"{int(v):012d}")
    if _POSTCODE.match(v):
        if " " not in v:
            v = f"{v[:-3]} {v[-3:]}"
        return Search("postcode", v)
    if re.fullmatch(r"[0-9A-F]{2}([-:]?[0-9A-F]{1,2}){0,7}-?", v) and len(compact) >= 2:
        pairs = "-".join(compact[i : i + 2] for i in range(0, len(compact), 2))
        return Search("prefix", pairs)
    return None


def device_row(r: Any, cpl: CPLView) -> dict[str, Any]:
    ok, why = cpl.upgradeable(r.firmware_version)
    return {
        "device_id": r.device_id,
        "device_type": r.device_type,
        "smi_status": r.smi_status,
        "manufacturer": r.manufacturer,
        "model": r.model,
        "hardware_version": f"{r.hardware_version:04X}" if r.hardware_version is not None else None,
        "firmware_version": r.firmware_version,
        "firmware_version_status": cpl.version_status(r.firmware_version),
        "model_cpl_status": cpl.model_status(r.manufacturer, r.model),
        "upgradeable": ok,
        "not_upgradeable_because": why,
        "hub_id": r.hub_id,
        "csp_region": r.region,
        "uprn": r.uprn,
        "postcode": r.postcode,
        "date_commissioned": as_date(r.date_commissioned),
    }


NARROW = ("device", "uprn", "postcode")  # searches that find one hub or a few homes
MAX_NARROW = 5_000


def inventory_stmt(conn: Connection, scope: Scope, search: Search, after: str | None,
                   limit: int | None) -> tuple[Any, dict[str, Any]]:  # fmt: skip
    """The devices `search` finds, in ID order, scoped to the viewer in SQL (see `device_rows`)."""
    params = _scope_params(scope)
    where = [_scope_filter(scope)]
    if search.kind == "device":
        # the device itself and everything on its hub (as SR 8.2 answers), or a hub by its CHF/GPF ID
        where.append(
            "(d.device_id = :key OR d.hub_id = :key"
            " OR d.hub_id = (SELECT x.hub_id FROM devices x WHERE x.device_id = :key)"
            " OR d.hub_id = (SELECT c.chf_id FROM comms_hubs c WHERE c.gpf_id = :key))"
        )
        params["key"] = search.value
    elif search.kind == "prefix":
        where.append("d.device_id LIKE :pattern")
        params["pattern"] = search.value + "%"
    elif search.kind == "uprn":
        where.append("d.premises_id = (SELECT p2.id FROM premises p2 WHERE p2.uprn = :key)")
        params["key"] = search.value
    elif search.kind == "postcode":
        where.append("d.premises_id IN (SELECT p2.id FROM premises p2 WHERE p2.postcode = :key)")
        params["key"] = search.value
    if after is not None:
        where.append("d.device_id > :after")
        params["after"] = after
    sql = _finish(f"{_scope_cte(scope)} {_DEVICE_SELECT}", where, "d.device_id", params, limit)
    return _bind_now(sql, scope), params


def device_rows(conn: Connection, scope: Scope, search: Search, after: str | None,
                limit: int | None) -> Iterator[Any]:  # fmt: skip
    """The devices `search` finds that the viewer may see, in ID order.

    A narrow search (a device, hub or home) of a supplier finds its few candidates first and keeps those
    the supplier is interested in with one hub-driven lookup (`interested_suppliers`), instead of
    materialising the supplier's whole estate; listings of all devices are scoped in SQL."""
    if scope.operator or search.kind not in NARROW:
        stmt, params = inventory_stmt(conn, scope, search, after, limit)
        yield from _stream(conn, stmt, params)
        return
    stmt, params = inventory_stmt(conn, Scope(scope.eui, True, scope.now), search, after, MAX_NARROW)
    candidates = conn.execute(stmt, params).all()
    interested = interested_suppliers(conn, [r.device_id for r in candidates], scope.now)
    mine = [r for r in candidates if scope.eui in interested.get(r.device_id, ())]
    yield from mine[:limit] if limit is not None else mine


def inventory_page(conn: Connection, scope: Scope, search: Search, after: str | None, size: int) -> Page:
    cpl = load_cpl(conn)
    rows = [device_row(r, cpl) for r in device_rows(conn, scope, search, after, size + 1)]
    return _page(rows, size, "device_id")


def inventory_csv(conn: Connection, scope: Scope, search: Search) -> Iterator[Sequence[Any]]:
    cpl = load_cpl(conn)
    for r in device_rows(conn, scope, search, None, None):
        d = device_row(r, cpl)
        yield [d[c] for c in DEVICE_CSV]


def can_see_device(conn: Connection, scope: Scope, device_id: str) -> bool:
    if scope.operator:
        found = conn.execute(text("SELECT 1 FROM devices WHERE device_id = :d"), {"d": device_id}).first()
        return found is not None
    return is_interested(conn, device_id, scope.eui, scope.now)


@dataclass(frozen=True)
class DeviceDetail:
    device: dict[str, Any]
    hub: dict[str, Any] | None
    history: list[dict[str, Any]]
    neighbours: list[dict[str, Any]]
    suppliers: list[tuple[str, str]]


def device_detail(conn: Connection, scope: Scope, device_id: str) -> DeviceDetail | None:
    """A device the viewer may see, with its hub, firmware history, hub mates and interested suppliers."""
    if not can_see_device(conn, scope, device_id):
        return None
    cpl = load_cpl(conn)
    r = conn.execute(text(_DEVICE_SELECT + " WHERE d.device_id = :d"), {"d": device_id}).one()
    device = device_row(r, cpl)
    hub = None
    if r.hub_id:
        h = conn.execute(
            text("SELECT chf_id, gpf_id, region, firmware_version, gbcs_version, han_ota FROM comms_hubs "
                 "WHERE chf_id = :h"), {"h": r.hub_id},
        ).first()  # fmt: skip
        if h is not None:
            hub = dict(h._mapping)
    history = [
        {**dict(x._mapping), "recorded_at": as_datetime(x.recorded_at)}
        for x in conn.execute(
            text(
                "SELECT firmware_version, previous_version, recorded_at, source FROM firmware_history "
                "WHERE device_id = :d ORDER BY recorded_at DESC, id DESC LIMIT 500"
            ),
            {"d": device_id},
        )
    ]
    neighbours: list[dict[str, Any]] = []
    if r.hub_id:
        found = device_rows(conn, scope, Search("device", device_id), None, 40)
        neighbours = [device_row(x, cpl) for x in found if x.device_id != device_id]
    euis = interested_suppliers(conn, [device_id], scope.now).get(device_id, [])
    stmt = text("SELECT eui, name FROM users WHERE eui IN :e").bindparams(bindparam("e", expanding=True))
    names: dict[str, str] = {r.eui: r.name for r in conn.execute(stmt, {"e": euis or [""]})}
    return DeviceDetail(device, hub, history, neighbours, [(e, names.get(e, "")) for e in euis])


# --- firmware version report -------------------------------------------------------------------------

FIRMWARE_CSV = (
    "device_type", "manufacturer", "model", "firmware_version", "firmware_version_status", "model_cpl_status",
    "upgradeable", "not_upgradeable_because", "devices",
)  # fmt: skip


def firmware_report(conn: Connection, scope: Scope, types: Sequence[str]) -> list[dict[str, Any]]:
    """Per device type, model and firmware version: how many of the viewer's devices, upgradeable or not."""
    cpl = load_cpl(conn)
    sql = f"""{_scope_cte(scope)}
        SELECT d.device_type, d.manufacturer, d.model, d.firmware_version, count(*) AS n
        FROM devices d
        WHERE d.device_type IN :types AND {_scope_filter(scope, hub_hint=True)}
        GROUP BY d.device_type, d.manufacturer, d.model, d.firmware_version
    """  # noqa: S608 - only our fragments
    stmt = _bind_now(sql, scope).bindparams(bindparam("types", expanding=True))
    out = []
    for r in conn.execute(stmt, {**_scope_params(scope), "types": list(types)}):
        ok, why = cpl.upgradeable(r.firmware_version)
        out.append(
            {
                "device_type": r.device_type, "manufacturer": r.manufacturer, "model": r.model,
                "firmware_version": r.firmware_version,
                "firmware_version_status": cpl.version_status(r.firmware_version),
                "model_cpl_status": cpl.model_status(r.manufacturer, r.model),
                "upgradeable": ok, "not_upgradeable_because": why, "devices": int(r.n),
                "latest_active": cpl.latest.get((r.manufacturer.upper(), r.model.upper())),
            }
        )  # fmt: skip
    out.sort(key=lambda x: (x["device_type"], x["manufacturer"], x["model"], x["firmware_version"] or ""))
    return out


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
    return text(_finish(_REQUESTS_SELECT, where, "id DESC", params, limit)), params


def _request_row(r: Any) -> dict[str, Any]:
    d = dict(r._mapping)
    d["received_at"] = as_datetime(d["received_at"])
    return d


def requests_page(conn: Connection, scope: Scope, srv: str | None, status: str | None, before: int | None,
                  size: int) -> Page:  # fmt: skip
    stmt, params = _requests_stmt(scope, srv, status, before, size + 1)
    return _page([_request_row(r) for r in conn.execute(stmt, params)], size, "id")


def requests_csv(
    conn: Connection, scope: Scope, srv: str | None, status: str | None
) -> Iterator[Sequence[Any]]:
    stmt, params = _requests_stmt(scope, srv, status, None, None)
    for r in _stream(conn, stmt, params):
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


INVALID = "InvalidDeviceIDList"
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
        f"(rd.outcome = '{INVALID}' AND NOT EXISTS (SELECT 1 FROM devices d "  # noqa: S608 - our constants
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
    stmt = text(_finish(_dist_select(hidden), where, "rd.device_id", params, limit))
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
    return _page(rows, size, "device_id")


def distribution_csv(conn: Connection, request: dict[str, Any], f: DistFilter,
                     scope: Scope | None = None) -> Iterator[Sequence[Any]]:  # fmt: skip
    stmt, params = _dist_stmt(request["id"], f, None, None, scope)
    for r in _stream(conn, stmt, params):
        d = _dist_row(r, request["received_at"])
        yield [d[c] for c in DISTRIBUTION_CSV]


# --- request progress over virtual time --------------------------------------------------------------


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
        return self.total - self.by_state.get("rejected", 0)


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


def _in(values: Sequence[str]) -> str:
    return ", ".join(f"'{v}'" for v in values)  # our own constants only


def progress(conn: Connection, request: dict[str, Any], now: datetime, buckets: int = 48,
             scope: Scope | None = None) -> Progress:  # fmt: skip
    """One scan of the request's rows (by its primary key range) gives the counts, the failures by reason
    and the per-bucket events; a running request's chart runs to `now`, a finished one's to its last event
    (one more query, only for requests no longer polled). A supplier `scope` is not told the region of a
    device it may not see (`_hidden_sql`): such rows count under no region."""
    pk = request["id"]
    received: datetime = request["received_at"]
    dialect = conn.dialect.name
    in_flight = conn.execute(
        text(f"SELECT 1 FROM request_devices WHERE request_pk = :pk AND state IN ({_in(IN_FLIGHT)}) LIMIT 1"),  # noqa: S608
        {"pk": pk},
    ).first()
    running = in_flight is not None and request.get("status") in ("accepted", "released")
    if running:
        end = max(now, received)
    else:
        last = conn.execute(
            text(
                "SELECT max(COALESCE(finished_at, transferred_at, sent_at, updated_at)) FROM request_devices "
                "WHERE request_pk = :pk AND state <> 'rejected'"
            ),
            {"pk": pk},
        ).scalar()
        end = max(as_datetime(last) or received, received)
    span = max((end - received).total_seconds(), 1.0)
    width = span / buckets
    t_bucket = _bucket_expr(dialect, "COALESCE(transferred_at, updated_at)")
    f_bucket = _bucket_expr(dialect, "COALESCE(finished_at, updated_at)")
    hidden = _hidden_sql(scope)
    sql = f"""
        SELECT state, CASE WHEN {hidden} THEN NULL ELSE rd.region END AS shown_region, failure,
               CASE WHEN state IN ({_in(TRANSFERRED)}) THEN {t_bucket} END AS bt,
               CASE WHEN state IN ('activated', {_in(FAILED)}) THEN {f_bucket} END AS bf,
               count(*) AS n
        FROM request_devices rd WHERE rd.request_pk = :pk
        GROUP BY state, shown_region, failure, bt, bf
    """  # noqa: S608 - only our constants
    names = ("transferred", "activated", "failed")
    by_state: dict[str, int] = {}
    by_region: dict[str, dict[str, int]] = defaultdict(dict)
    failures: dict[str, int] = defaultdict(int)
    per_bucket: dict[str, list[int]] = {s: [0] * buckets for s in names}
    per_region: dict[str, dict[str, list[int]]] = defaultdict(lambda: {s: [0] * buckets for s in names})
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
        events = []
        if r.bt is not None:
            events.append(("transferred", int(r.bt)))
        if r.bf is not None:
            events.append(("activated" if r.state == "activated" else "failed", int(r.bf)))
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


# --- alerts ------------------------------------------------------------------------------------------

ALERT_CSV = (
    "id", "alert_id", "recipient_eui", "code", "kind", "request_id", "device_id", "created_at", "delivered_at",
    "mailbox", "tries", "last_attempt_at", "dead_at", "last_error",
)  # fmt: skip

#: the inbox's delivery filter: each name and its condition on alert_outbox `a`
ALERT_DELIVERY = {
    "pending": "a.delivered_at IS NULL AND a.dead_at IS NULL AND a.mailbox = :false",
    "dead": "a.dead_at IS NOT NULL AND a.delivered_at IS NULL",
    "mailbox": "a.delivered_at IS NULL AND a.mailbox = :true",
    "delivered": "a.delivered_at IS NOT NULL",
}

_ALERTS_SELECT = (
    "SELECT a.id, a.alert_id, a.recipient_eui, a.code, a.kind, s.request_id, s.originator_eui, a.request_pk, "
    "a.device_id, a.created_at, a.delivered_at, a.mailbox, a.attempts, a.tries, a.last_attempt_at, a.dead_at, "
    "a.last_error FROM alert_outbox a LEFT JOIN service_requests s ON s.id = a.request_pk"
)


def _alerts_stmt(
    scope: Scope, kind: str | None, before: int | None, limit: int | None, delivery: str | None = None
) -> tuple[Any, dict[str, Any]]:
    where: list[str] = []
    params: dict[str, Any] = {}
    if not scope.operator:
        where.append("a.recipient_eui = :me")
        params["me"] = scope.eui
    if kind:
        where.append("a.kind = :kind")
        params["kind"] = kind
    if delivery:
        where.append(ALERT_DELIVERY[delivery])  # a constant fragment picked by name, never input
        params.update({"true": True, "false": False})
    if before is not None:
        where.append("a.id < :before")
        params["before"] = before
    return text(_finish(_ALERTS_SELECT, where, "a.id DESC", params, limit)), params


def _alert_row(r: Any) -> dict[str, Any]:
    d = dict(r._mapping)
    d["created_at"] = as_datetime(d["created_at"])
    d["delivered_at"] = as_datetime(d["delivered_at"])
    d["last_attempt_at"] = as_datetime(d["last_attempt_at"])
    d["dead_at"] = as_datetime(d["dead_at"])
    d["mailbox"] = bool(d["mailbox"])
    return d


def alerts_page(
    conn: Connection,
    scope: Scope,
    kind: str | None,
    before: int | None,
    size: int,
    delivery: str | None = None,
) -> Page:
    stmt, params = _alerts_stmt(scope, kind, before, size + 1, delivery)
    return _page([_alert_row(r) for r in conn.execute(stmt, params)], size, "id")


def alerts_csv(
    conn: Connection, scope: Scope, kind: str | None, delivery: str | None = None
) -> Iterator[Sequence[Any]]:
    stmt, params = _alerts_stmt(scope, kind, None, None, delivery)
    for r in _stream(conn, stmt, params):
        d = _alert_row(r)
        yield [d[c] for c in ALERT_CSV]


def failing_endpoints(conn: Connection, scope: Scope) -> list[dict[str, Any]]:
    """Recipients whose endpoint is failing (paused or probed one alert at a time), with what waits for them
    and what was dead-lettered; a supplier sees only its own."""
    where = "r.failures > 0" + ("" if scope.operator else " AND r.recipient_eui = :me")
    rows = conn.execute(
        text(
            "SELECT r.recipient_eui, r.failures, r.failing_since, r.paused_until, r.last_error, u.alert_endpoint, "  # noqa: S608
            "(SELECT count(*) FROM alert_outbox a WHERE a.recipient_eui = r.recipient_eui "
            " AND a.delivered_at IS NULL AND a.dead_at IS NULL AND a.mailbox = :false) AS waiting "
            "FROM alert_recipients r LEFT JOIN users u ON u.eui = r.recipient_eui WHERE " + where + " "
            "ORDER BY r.failing_since"
        ),
        {"false": False, "me": scope.eui},
    )
    out = []
    for r in rows:
        d = dict(r._mapping)
        d["failing_since"] = as_datetime(d["failing_since"])
        d["paused_until"] = as_datetime(d["paused_until"])
        out.append(d)
    return out


def dead_letter_count(conn: Connection, scope: Scope) -> int:
    where = "" if scope.operator else " AND recipient_eui = :me"
    return int(
        conn.execute(
            text(
                "SELECT count(*) FROM alert_outbox WHERE dead_at IS NOT NULL AND delivered_at IS NULL" + where  # noqa: S608
            ),
            {"me": scope.eui},
        ).scalar_one()
    )


def alert_kinds(conn: Connection) -> list[str]:
    return [r[0] for r in conn.execute(text("SELECT DISTINCT kind FROM alert_outbox ORDER BY kind"))]


def get_alert(conn: Connection, scope: Scope, pk: int) -> tuple[dict[str, Any], bytes] | None:
    stmt, params = _alerts_stmt(scope, None, pk + 1, 1)
    r = conn.execute(stmt, params).first()
    if r is None or r.id != pk:
        return None
    body = conn.execute(text("SELECT body FROM alert_outbox WHERE id = :id"), {"id": pk}).scalar_one()
    return _alert_row(r), bytes(body)


# --- CPL browser -------------------------------------------------------------------------------------

CPL_CSV = (
    "id", "device_type", "manufacturer", "model", "hw_version_min", "hw_version_max", "firmware_version",
    "firmware_hash", "gbcs_version", "status", "upgradeable", "image_type",
)  # fmt: skip


def _cpl_stmt(device_type: str | None, status: str | None, after: int | None,
              limit: int | None) -> tuple[Any, dict[str, Any]]:  # fmt: skip
    where: list[str] = []
    params: dict[str, Any] = {}
    if device_type:
        where.append("device_type = :t")
        params["t"] = device_type
    if status:
        where.append("status = :s")
        params["s"] = status
    if after is not None:
        where.append("id > :after")
        params["after"] = after
    select = f"SELECT {', '.join(CPL_CSV)} FROM cpl_entries"  # noqa: S608 - our own column names
    return text(_finish(select, where, "id", params, limit)), params


def _cpl_row(r: Any) -> dict[str, Any]:
    d = dict(r._mapping)
    d["upgradeable"] = bool(d["upgradeable"])
    d["hw_version_min"] = f"{d['hw_version_min']:04X}"
    d["hw_version_max"] = f"{d['hw_version_max']:04X}"
    d["image_type"] = f"{d['image_type']:04X}" if d["image_type"] is not None else None
    return d


def cpl_page(
    conn: Connection, device_type: str | None, status: str | None, after: int | None, size: int
) -> Page:
    stmt, params = _cpl_stmt(device_type, status, after, size + 1)
    return _page([_cpl_row(r) for r in conn.execute(stmt, params)], size, "id")


def cpl_csv(conn: Connection, device_type: str | None, status: str | None) -> Iterator[Sequence[Any]]:
    stmt, params = _cpl_stmt(device_type, status, None, None)
    for r in _stream(conn, stmt, params):
        d = _cpl_row(r)
        yield [d[c] for c in CPL_CSV]


# --- small helpers for the pages ---------------------------------------------------------------------


def recent(engine: Engine, scope: Scope) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The viewer's five newest requests and alerts (the home page)."""
    with engine.connect() as conn:
        reqs = requests_page(conn, scope, None, None, None, 5).rows
        alerts = alerts_page(conn, scope, None, None, 5).rows
    return reqs, alerts
