"""What the SSI's inventory pages read: device search and listing (and its CSV), a device's page with its
hub, firmware history, hub mates and interested suppliers, and the firmware version report."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import Connection, bindparam, text

from hanota.db.models import DeviceType
from hanota.inventory.interest import interested_suppliers, is_interested
from hanota.ssi.cpl_queries import CPLView, load_cpl
from hanota.ssi.queries import (
    Page,
    Scope,
    bind_now,
    finish,
    page_of,
    scope_cte,
    scope_filter,
    scope_params,
    stream,
)
from hanota.ssi.store import as_date, as_datetime

HAN_TYPES: Final = (DeviceType.PPMID, DeviceType.IHD)
"""The firmware version report's default: the HAN devices an SR 11.4 updates."""

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
    params = scope_params(scope)
    where = [scope_filter(scope)]
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
    sql = finish(f"{scope_cte(scope)} {_DEVICE_SELECT}", where, "d.device_id", params, limit)
    return bind_now(sql, scope), params


def device_rows(conn: Connection, scope: Scope, search: Search, after: str | None,
                limit: int | None) -> Iterator[Any]:  # fmt: skip
    """The devices `search` finds that the viewer may see, in ID order.

    A narrow search (a device, hub or home) of a supplier finds its few candidates first and keeps those
    the supplier is interested in with one hub-driven lookup (`interested_suppliers`), instead of
    materialising the supplier's whole estate; listings of all devices are scoped in SQL."""
    if scope.operator or search.kind not in NARROW:
        stmt, params = inventory_stmt(conn, scope, search, after, limit)
        yield from stream(conn, stmt, params)
        return
    stmt, params = inventory_stmt(conn, Scope(scope.eui, True, scope.now), search, after, MAX_NARROW)
    candidates = conn.execute(stmt, params).all()
    interested = interested_suppliers(conn, [r.device_id for r in candidates], scope.now)
    mine = [r for r in candidates if scope.eui in interested.get(r.device_id, ())]
    yield from mine[:limit] if limit is not None else mine


def inventory_page(conn: Connection, scope: Scope, search: Search, after: str | None, size: int) -> Page:
    cpl = load_cpl(conn)
    rows = [device_row(r, cpl) for r in device_rows(conn, scope, search, after, size + 1)]
    return page_of(rows, size, "device_id")


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
    sql = f"""{scope_cte(scope)}
        SELECT d.device_type, d.manufacturer, d.model, d.firmware_version, count(*) AS n
        FROM devices d
        WHERE d.device_type IN :types AND {scope_filter(scope, hub_hint=True)}
        GROUP BY d.device_type, d.manufacturer, d.model, d.firmware_version
    """  # noqa: S608 - only our fragments
    stmt = bind_now(sql, scope).bindparams(bindparam("types", expanding=True))
    out = []
    for r in conn.execute(stmt, {**scope_params(scope), "types": list(types)}):
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
