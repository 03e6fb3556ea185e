"""Who is interested in a device (domain.md §6).

The suppliers interested in an IHD, PPMID (or any device on a hub other than a meter) are the import
supplier of the ESME and the gas supplier of the GSME on the same hub: one or two suppliers. The one
interested in an ESME is its import supplier; in a GSME, its gas supplier. Only registrations in force at
`now` count.

The SQL here is written as fragments so that set-based queries over 50,000 devices can embed them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import BindParameter, Connection, bindparam, text

from hanota.db.bulk import id_list_sql, id_list_value
from hanota.db.types import UTCDateTime

METER_TYPES = ("ESME", "GSME")

# Device `d` and the current registrations `r` (on meter `m`) that make a supplier interested in it: the
# FROM clause of any query over (device, interested supplier) pairs, to be followed by a WHERE.
INTERESTED_FROM = """
    FROM devices d
    JOIN devices m ON m.hub_id = d.hub_id AND m.device_type IN ('ESME', 'GSME')
                  AND (d.device_type NOT IN ('ESME', 'GSME') OR m.device_id = d.device_id)
    JOIN supplier_registrations r ON r.device_id = m.device_id
                  AND r.role = CASE m.device_type WHEN 'ESME' THEN 'IS' ELSE 'GS' END
                  AND r.effective_from <= :now AND (r.effective_to IS NULL OR r.effective_to > :now)
"""
_INTERESTED_SUPPLIERS = (
    "SELECT d.device_id, r.supplier_eui"  # noqa: S608 - constant fragments only
    + INTERESTED_FROM
    + "WHERE d.device_id IN (SELECT device_id FROM {ids} i)"
)


# The meters (and their hubs) whose current registration names the supplier bound to `:sender`. Driven by
# the sender's registrations once, so that a check over 50,000 devices costs one pass over them, not one
# per device (a correlated EXISTS here made SQLite scan a big supplier's registrations for every device).
SENDER_METERS_CTE = """
    sender_meters AS (
        SELECT m.device_id, m.hub_id
        FROM supplier_registrations r JOIN devices m ON m.device_id = r.device_id
        WHERE r.supplier_eui = :sender AND m.device_type IN ('ESME', 'GSME')
          AND r.role = CASE m.device_type WHEN 'ESME' THEN 'IS' ELSE 'GS' END
          AND r.effective_from <= :now AND (r.effective_to IS NULL OR r.effective_to > :now)
    )
"""


def interested_sql(device_alias: str = "d") -> str:
    """A boolean expression: the `:sender` is interested in `device_alias` (needs `SENDER_METERS_CTE`)."""
    d = device_alias
    # `d` is a table alias chosen by our own queries, never input
    meter = f"{d}.device_id IN (SELECT device_id FROM sender_meters)"  # noqa: S608
    hub = f"{d}.hub_id IN (SELECT hub_id FROM sender_meters)"  # noqa: S608
    return f"(CASE WHEN {d}.device_type IN ('ESME', 'GSME') THEN {meter} ELSE {hub} END)"


def interested_join_sql(device_types: Iterable[str], device_alias: str = "d") -> tuple[str, str]:
    """`interested_sql` as LEFT JOINs, for a query over many devices that only asks about devices of
    `device_types` (a rule earlier in the query has set the others aside): (the joins to add after
    `device_alias` is in scope, a boolean expression that holds when the `:sender` is interested).

    A meter is checked by itself and any other device by its hub, against the sender's meters, each list
    built once per statement (needs `SENDER_METERS_CTE`). Joins rather than `IN (subquery)`: a query that
    uses the expression twice (e.g. in two CASEs) does not build the lists twice."""
    d = device_alias
    types = set(device_types)
    meters, others = bool(types & set(METER_TYPES)), not types <= set(METER_TYPES)
    joins: list[str] = []
    if meters:
        sub = "(SELECT DISTINCT device_id FROM sender_meters)"
        joins.append(f"LEFT JOIN {sub} sm_dev ON sm_dev.device_id = {d}.device_id")
    if others:
        sub = "(SELECT DISTINCT hub_id FROM sender_meters)"
        joins.append(f"LEFT JOIN {sub} sm_hub ON sm_hub.hub_id = {d}.hub_id")
    if meters and others:
        meter_types = ", ".join(f"'{t}'" for t in METER_TYPES)
        expr = (
            f"(CASE WHEN {d}.device_type IN ({meter_types}) THEN sm_dev.device_id IS NOT NULL "
            "ELSE sm_hub.hub_id IS NOT NULL END)"
        )
    else:
        expr = "(sm_dev.device_id IS NOT NULL)" if meters else "(sm_hub.hub_id IS NOT NULL)"
    return "\n".join(joins), expr


def interested_exists_sql(device_types: Iterable[str], device_alias: str = "d") -> str:
    """`interested_sql` driven by the device instead of by the sender: an EXISTS that looks at the device's
    own registrations (a meter) or at the meters on its hub (any other device), for a query over many
    devices that visits them in storage order, where the meters of a home and their registrations sit
    next to the device (no `SENDER_METERS_CTE` needed; binds `:sender` and `:now`). Only devices of
    `device_types` are asked about (a rule earlier in the query has set the others aside)."""
    d = device_alias
    types = set(device_types)
    current = "r.effective_from <= :now AND (r.effective_to IS NULL OR r.effective_to > :now)"
    # a meter: its own current registration naming the sender in the role of its type
    meter = (
        f"EXISTS (SELECT 1 FROM supplier_registrations r WHERE r.device_id = {d}.device_id "  # noqa: S608
        f"AND r.supplier_eui = :sender AND r.role = CASE {d}.device_type WHEN 'ESME' THEN 'IS' ELSE 'GS' END "
        f"AND {current})"
    )
    # any other device: a meter on its hub with such a registration
    hub = (
        "EXISTS (SELECT 1 FROM devices m JOIN supplier_registrations r ON r.device_id = m.device_id "  # noqa: S608
        f"WHERE m.hub_id = {d}.hub_id AND m.device_type IN ('ESME', 'GSME') AND r.supplier_eui = :sender "
        f"AND r.role = CASE m.device_type WHEN 'ESME' THEN 'IS' ELSE 'GS' END AND {current})"
    )
    if types and types <= set(METER_TYPES):
        return f"({meter})"
    if types and not types & set(METER_TYPES):
        return f"({hub})"
    return f"(CASE WHEN {d}.device_type IN ('ESME', 'GSME') THEN {meter} ELSE {hub} END)"


def now_param() -> BindParameter[datetime]:
    return bindparam("now", type_=UTCDateTime())


def interested_suppliers(conn: Connection, device_ids: Sequence[str], now: datetime) -> dict[str, list[str]]:
    """Device ID → its interested suppliers (sorted), for a batch of devices in one query."""
    if not device_ids:
        return {}
    stmt = text(_INTERESTED_SUPPLIERS.format(ids=id_list_sql(conn))).bindparams(now_param())
    out: dict[str, set[str]] = defaultdict(set)
    for did, eui in conn.execute(stmt, {"now": now, "ids": id_list_value(conn, device_ids)}):
        out[did].add(eui)
    return {k: sorted(v) for k, v in out.items()}


def is_interested(conn: Connection, device_id: str, supplier_eui: str, now: datetime) -> bool:
    """One device: driven by the device's hub (a handful of rows), not by the supplier's registrations."""
    interested = interested_suppliers(conn, [device_id], now).get(device_id, [])
    return supplier_eui in interested
