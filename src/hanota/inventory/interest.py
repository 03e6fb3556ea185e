"""Who is interested in a device (domain.md §6).

The suppliers interested in an IHD, PPMID (or any device on a hub other than a meter) are the import
supplier of the ESME and the gas supplier of the GSME on the same hub: one or two suppliers. The one
interested in an ESME is its import supplier; in a GSME, its gas supplier. Only registrations in force at
`now` count.

The SQL here is written as fragments so that set-based queries over 50,000 devices can embed them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import BindParameter, Connection, bindparam, text

from hanota.db.bulk import id_list_sql, id_list_value
from hanota.db.types import UTCDateTime

METER_TYPES = ("ESME", "GSME")

# Device `d` and the current registrations `r` (on meter `m`) that make a supplier interested in it.
_INTERESTED_SUPPLIERS = """
    SELECT d.device_id, r.supplier_eui
    FROM devices d
    JOIN devices m ON m.hub_id = d.hub_id AND m.device_type IN ('ESME', 'GSME')
                  AND (d.device_type NOT IN ('ESME', 'GSME') OR m.device_id = d.device_id)
    JOIN supplier_registrations r ON r.device_id = m.device_id
                  AND r.role = CASE m.device_type WHEN 'ESME' THEN 'IS' ELSE 'GS' END
                  AND r.effective_from <= :now AND (r.effective_to IS NULL OR r.effective_to > :now)
    WHERE d.device_id IN (SELECT device_id FROM {ids} i)
"""


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
