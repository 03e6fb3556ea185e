"""The devices' firmware versions as the inventory learns them from delivery, and their history.

A device's `firmware_version` changes in two ways: an interested supplier records it with SR 8.4
(`hanota.inventory.update`), or the DSP learns that a firmware update activated (`record_activated_firmware`,
called by the DSP's event intake in the transaction that applies the CSP's event). Either way a
`firmware_history` row keeps the version it replaced, when and why.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, insert, text

from hanota.db.bulk import id_list_sql, id_list_value
from hanota.db.models import FirmwareHistory


@dataclass(frozen=True)
class Activation:
    """A firmware update that activated on a device: the version it now runs, when, and the cause
    (`source`, e.g. ``SR 11.4 <RequestID>``)."""

    device_id: str
    version: str
    at: datetime
    source: str


def record_activated_firmware(conn: Connection, activations: Sequence[Activation]) -> None:
    """The inventory learns the new versions; the history keeps the old ones. Set-based: one read, one
    update and one insert for the whole list, inside `conn`'s transaction. A device already on the version
    (two suppliers' requests both forwarded, A-008) has nothing to record; of two activations of one device
    in the list, each is judged against the version the one before it left."""
    if not activations:
        return
    ids = sorted({a.device_id for a in activations})
    previous: dict[str, str | None] = dict(
        conn.execute(
            text(
                "SELECT device_id, firmware_version FROM devices "  # noqa: S608 - constant fragment
                f"WHERE device_id IN (SELECT device_id FROM {id_list_sql(conn)} i)"
            ),
            {"ids": id_list_value(conn, ids)},
        ).all()
    )
    history = []
    changed = []
    for a in activations:
        if previous.get(a.device_id) == a.version:
            continue
        history.append({"device_id": a.device_id, "firmware_version": a.version,
                        "previous_version": previous.get(a.device_id), "recorded_at": a.at,
                        "source": a.source})  # fmt: skip
        changed.append({"version": a.version, "device": a.device_id})
        previous[a.device_id] = a.version
    if changed:
        conn.execute(
            text("UPDATE devices SET firmware_version = :version WHERE device_id = :device"), changed
        )
        conn.execute(insert(FirmwareHistory), history)
