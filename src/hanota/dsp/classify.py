"""SR 11.4 / 11.1: every requested device's outcome, set-based.

Per-device checks are set-based: ONE query classifies the whole list (`classify_all`). For each requested
ID it looks up the device, its hub and region, the CPL entry of its current firmware, whether the sender is
an interested supplier and whether the sender already has this image in flight for it, and applies the
rules below in the database, returning only the outcome and the reason. `classify` is the same table
written in Python over the facts of `fetch_facts`: the specification the SQL is tested against (it is not
on the request path, where 50,000 Python-level classifications cost more than the query). Every device
lands in exactly one place, the first rule that matches:

| rule | list |
|---|---|
| not in the inventory | InvalidDeviceIDList |
| type not a target of this SR (11.4: PPMID, IHD; 11.1: ESME, GSME) | InvalidDeviceIDList |
| the sender is not an interested supplier | InvalidDeviceIDList |
| not Commissioned (devices with an SMI status; IHDs have none) | NotCommissionedDeviceIDList |
| manufacturer or model not the CPL entry's | NotApplicableFirmwareDeviceIDList |
| hardware version outside the CPL entry's range or the header's range | NotApplicableFirmwareDeviceIDList |
| no recorded firmware version (A-001) | NotApplicableFirmwareDeviceIDList |
| already running the request's firmware version (our rule: see below) | NotApplicableFirmwareDeviceIDList |
| current firmware not on the CPL, or not upgradeable | NotApplicableFirmwareDeviceIDList |
| (11.4) hub without HAN-device OTA support | InvalidGBCSVersionList |
| the same sender has this image in flight for the device | OtherRequestInProgressList |
| otherwise | accepted |

A device already running the request's firmware version is excluded, not updated again (our rule, also in
`hanota.duis.codes.EXCLUSIONS`): a same-version "upgrade" costs WAN, hub and HAN capacity for nothing and
would be reported as a success although nothing changed (fleet managers do the same: Mender reports such a
device as "already-installed" instead of updating it). DUIS has no list of its own for it, so it goes where
the other "this firmware is not for this device now" exclusions go, NotApplicableFirmwareDeviceIDList, with
its own reason. The comparison is exact, like the CPL lookup (a version recorded in another letter case is
not on the CPL, so it is excluded by the next rule).

Duplicate IDs are answered once (the first occurrence). Requests of different suppliers for the same device
are both forwarded (A-008). A combined PPMID/IHD is registered, and so handled, as a PPMID (A-003).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from functools import partial
from typing import NamedTuple

from sqlalchemy import Connection, bindparam, text

from hanota.db.bulk import id_list_sql, id_list_value, ts
from hanota.db.models import CPLEntry
from hanota.db.types import UTCDateTime
from hanota.dsp.firmware_sr import (
    ACCEPTED,
    ALREADY_ON_VERSION,
    IN_FLIGHT_REASON,
    IN_PROGRESS,
    INVALID,
    INVALID_GBCS,
    NOT_APPLICABLE,
    NOT_COMMISSIONED,
    DeviceOutcome,
    FirmwareSR,
)
from hanota.firmware import FirmwareImage
from hanota.inventory.interest import (
    SENDER_METERS_CTE,
    interested_exists_sql,
    interested_join_sql,
    interested_sql,
)
from hanota.lifecycle import IN_FLIGHT, sql_list


class DeviceFacts(NamedTuple):
    """Everything the per-device rules look at, for one requested ID (a row of `fetch_facts`)."""

    device_id: str
    device_type: str | None  # None: not in the inventory
    smi_status: str | None
    manufacturer: str | None
    model: str | None
    hardware_version: int | None
    firmware_version: str | None
    hub_id: str | None
    region: str | None
    han_ota: int | None
    current_upgradeable: int | None  # None: current version not on the CPL
    interested: int
    in_flight: int


def fetch_facts(
    conn: Connection, device_ids: Sequence[str], *, sender: str, firmware_hash: str, now: datetime
) -> list[DeviceFacts]:
    """The facts of every requested device, in request order, with ONE query (no per-device round trip).
    With `classify`, the rules written out in Python: the reference `classify_all` is tested against."""
    states = sql_list(IN_FLIGHT)
    sql = f"""
        WITH {SENDER_METERS_CTE},
        sender_in_flight AS (
            SELECT rd.device_id FROM service_requests sr JOIN request_devices rd ON rd.request_pk = sr.id
            WHERE sr.originator_eui = :sender AND sr.firmware_hash = :hash AND rd.state IN ({states})
        )
        SELECT i.device_id, d.device_type, d.smi_status, d.manufacturer, d.model, d.hardware_version,
               d.firmware_version, d.hub_id, h.region, h.han_ota, c.upgradeable,
               CASE WHEN d.device_id IS NOT NULL AND {interested_sql("d")} THEN 1 ELSE 0 END,
               CASE WHEN i.device_id IN (SELECT device_id FROM sender_in_flight) THEN 1 ELSE 0 END
        FROM {id_list_sql(conn)} i
        LEFT JOIN devices d ON d.device_id = i.device_id
        LEFT JOIN comms_hubs h ON h.chf_id = d.hub_id
        LEFT JOIN cpl_entries c
            ON c.firmware_version = d.firmware_version AND c.manufacturer = d.manufacturer AND c.model = d.model
        ORDER BY i.pos
    """  # noqa: S608 - only our constants are formatted in; all input is bound
    stmt = text(sql).bindparams(bindparam("now", type_=UTCDateTime()))
    rows = conn.execute(
        stmt, {"ids": id_list_value(conn, device_ids), "sender": sender, "hash": firmware_hash, "now": now}
    )
    make = DeviceFacts._make
    return [make(r) for r in rows]


def classify(sr: FirmwareSR, f: DeviceFacts, cpl: CPLEntry, image: FirmwareImage) -> tuple[str, str | None]:
    """The list a device goes to and why (first matching rule of the module docstring's table), in Python:
    the specification of `classify_all`'s SQL, which must give every device the same list and reason."""
    if f.device_type is None:
        return INVALID, "not in the inventory"
    if f.device_type not in sr.target_types:
        return INVALID, f"a {f.device_type} is not a target of SR {sr.srv}"
    if not f.interested:
        return INVALID, "the sender is not an interested supplier of this device"
    if f.smi_status is not None and f.smi_status != "Commissioned":
        return NOT_COMMISSIONED, f"SMI status {f.smi_status}"
    if (f.manufacturer or "").upper() != cpl.manufacturer.upper() or (
        f.model or ""
    ).upper() != cpl.model.upper():
        return NOT_APPLICABLE, f"model {f.manufacturer}/{f.model}{_model_why(cpl)}"
    hw = f.hardware_version if f.hardware_version is not None else -1
    hw_text = "unknown" if f.hardware_version is None else f"0x{hw:04X}"
    if not cpl.hw_version_min <= hw <= cpl.hw_version_max:
        return NOT_APPLICABLE, f"hardware version {hw_text} outside the CPL entry's {_cpl_range(cpl)}"
    if not image.applies_to_hardware(hw):
        return NOT_APPLICABLE, f"hardware version {hw_text} outside the image header's {_header_range(image)}"
    if f.firmware_version is None:
        return NOT_APPLICABLE, "no recorded firmware version: not upgradeable (A-001)"
    if f.firmware_version == cpl.firmware_version:
        return NOT_APPLICABLE, f"current firmware {f.firmware_version} {ALREADY_ON_VERSION}"
    if not f.current_upgradeable:
        why = "is not on the CPL" if f.current_upgradeable is None else "is not upgradeable"
        return NOT_APPLICABLE, f"current firmware {f.firmware_version} {why}"
    if sr.needs_han_ota and not f.han_ota:
        return INVALID_GBCS, f"hub {f.hub_id or '(none)'} does not support HAN-device OTA"
    if f.in_flight:
        return IN_PROGRESS, IN_FLIGHT_REASON
    return ACCEPTED, None


def _cpl_range(cpl: CPLEntry) -> str:
    return f"0x{cpl.hw_version_min:04X}–0x{cpl.hw_version_max:04X}"


def _header_range(image: FirmwareImage) -> str:
    lo, hi = image.hardware_version_range or (0, 0)
    return f"0x{lo:04X}–0x{hi:04X}"


def _model_why(cpl: CPLEntry) -> str:
    return f" is not the CPL entry's {cpl.manufacturer}/{cpl.model}"


def _classify_sql(sr: FirmwareSR, image: FirmwareImage, dialect: str) -> str:
    """The statement behind `classify_all`: the rules of the module docstring as one CASE, in the driver's
    own parameter style (it runs on the DBAPI cursor: 50,000 result rows through SQLAlchemy's result
    machinery cost more than the rules themselves).

    Parameters: ids, sender, now, hash, version (the CPL entry's), mfr, model (upper case), cpl_lo, cpl_hi,
    hdr_lo, hdr_hi, model_why, cpl_range, hdr_range. Only constants of this module are formatted in; every input is bound."""
    sqlite = dialect == "sqlite"

    def p(name: str) -> str:
        return f":{name}" if sqlite else f"%({name})s"

    def hex4(expr: str) -> str:
        if sqlite:
            return f"printf('%04X', {expr})"
        return f"lpad(upper(to_hex({expr})), greatest(4, length(to_hex({expr}))), '0')"

    states = sql_list(IN_FLIGHT)
    ctes = [
        f"""sender_in_flight AS (
            SELECT DISTINCT rd.device_id FROM service_requests sr JOIN request_devices rd ON rd.request_pk = sr.id
            WHERE sr.originator_eui = {p("sender")} AND sr.firmware_hash = {p("hash")} AND rd.state IN ({states})
        )"""  # noqa: S608 - our constants and bind names
    ]
    if sqlite:
        # Visit the devices in storage (rowid) order, not request order: the rows of a home (its devices,
        # hub and meters) were written together, so each page is read once instead of once per device.
        # The rowid comes from the primary-key index alone; the sort is a small in-memory one. (LIMIT -1
        # keeps the sorted list a subquery of its own: SQLite does not flatten a LIMIT subquery into a join.
        # Were it flattened, only the speed would change: the answer is ordered by `pos` at the end.)
        rid = "(SELECT rowid FROM devices WHERE device_id = value) AS rid"
        ids = f"(SELECT key AS pos, value AS device_id, {rid} FROM json_each({p('ids')}) ORDER BY 3 LIMIT -1)"  # noqa: S608
        device_join = "LEFT JOIN devices d ON d.rowid = i.rid"
        interest_joins, interested = "", interested_exists_sql(sr.target_types, "d")
        # probed only for the devices that reach that rule
        in_flight_join, in_flight = "", "i.device_id IN (SELECT device_id FROM sender_in_flight)"
    else:
        # PostgreSQL hashes the sender's meters once and joins (a correlated EXISTS would be a sub-plan per row)
        unnest = f"unnest(CAST({p('ids')} AS text[])) WITH ORDINALITY AS u(device_id, pos)"
        ids = f"(SELECT device_id, pos FROM {unnest})"  # noqa: S608 - a bind name
        device_join = "LEFT JOIN devices d ON d.device_id = i.device_id"
        interest_joins, interested = interested_join_sql(sr.target_types, "d")
        in_flight_join = "LEFT JOIN sender_in_flight f ON f.device_id = i.device_id"
        in_flight = "f.device_id IS NOT NULL"
        ctes.insert(0, SENDER_METERS_CTE.strip())
    hw = "coalesce(d.hardware_version, -1)"
    hw_text = (
        f"CASE WHEN d.hardware_version IS NULL THEN 'unknown' ELSE '0x' || {hex4('d.hardware_version')} END"
    )
    types = ", ".join(f"'{t}'" for t in sorted(sr.target_types))
    already = ALREADY_ON_VERSION.replace("'", "''")  # a constant, as an SQL literal
    # (list, condition, reason): the first that holds decides; reasons as in `classify`
    rules: list[tuple[str, str, str]] = [
        (INVALID, "d.device_id IS NULL", "'not in the inventory'"),
        (
            INVALID,
            f"d.device_type NOT IN ({types})",
            f"'a ' || d.device_type || ' is not a target of SR {sr.srv}'",
        ),
        (
            INVALID,
            f"NOT {interested}",
            "'the sender is not an interested supplier of this device'",
        ),
        (
            NOT_COMMISSIONED,
            "d.smi_status IS NOT NULL AND d.smi_status <> 'Commissioned'",
            "'SMI status ' || d.smi_status",
        ),
        (
            NOT_APPLICABLE,
            f"coalesce(upper(d.manufacturer), '') <> {p('mfr')} OR coalesce(upper(d.model), '') <> {p('model')}",
            f"'model ' || coalesce(d.manufacturer, 'None') || '/' || coalesce(d.model, 'None') || {p('model_why')}",
        ),
        (
            NOT_APPLICABLE,
            f"{hw} NOT BETWEEN {p('cpl_lo')} AND {p('cpl_hi')}",
            f"'hardware version ' || {hw_text} || ' outside the CPL entry''s ' || {p('cpl_range')}",
        ),
    ]
    if image.hardware_version_range is not None:
        rules.append(
            (
                NOT_APPLICABLE,
                f"{hw} NOT BETWEEN {p('hdr_lo')} AND {p('hdr_hi')}",
                f"'hardware version ' || {hw_text} || ' outside the image header''s ' || {p('hdr_range')}",
            )
        )
    rules += [
        (
            NOT_APPLICABLE,
            "d.firmware_version IS NULL",
            "'no recorded firmware version: not upgradeable (A-001)'",
        ),
        (
            NOT_APPLICABLE,
            f"d.firmware_version = {p('version')}",
            f"'current firmware ' || d.firmware_version || ' {already}'",
        ),
        (NOT_APPLICABLE, "c.id IS NULL", "'current firmware ' || d.firmware_version || ' is not on the CPL'"),
        (
            NOT_APPLICABLE,
            "c.upgradeable IS NOT TRUE",
            "'current firmware ' || d.firmware_version || ' is not upgradeable'",
        ),
    ]
    if sr.needs_han_ota:
        rules.append(
            (
                INVALID_GBCS,
                "h.han_ota IS NOT TRUE",
                "'hub ' || coalesce(d.hub_id, '(none)') || ' does not support HAN-device OTA'",
            )
        )
    rules.append(
        (
            IN_PROGRESS,
            in_flight,
            "'" + IN_FLIGHT_REASON.replace("'", "''") + "'",
        )
    )
    # `rule` is computed once per device: on SQLite, `k` is materialised (else the two CASEs below would
    # each evaluate it, EXISTS and all); on PostgreSQL its parts are plain columns of the joins.
    rule = (
        "CASE " + " ".join(f"WHEN {cond} THEN {n}" for n, (_, cond, _) in enumerate(rules, 1)) + " ELSE 0 END"
    )
    outcome = (
        "CASE d.rule "
        + " ".join(f"WHEN {n} THEN '{lst}'" for n, (lst, _, _) in enumerate(rules, 1))
        + f" ELSE '{ACCEPTED}' END"
    )
    reason = (
        "CASE d.rule " + " ".join(f"WHEN {n} THEN {why}" for n, (_, _, why) in enumerate(rules, 1)) + " END"
    )
    sql = f"""
        WITH {", ".join(ctes)},
        k AS {"MATERIALIZED" if sqlite else ""} (
            SELECT i.pos, i.device_id, d.device_type, d.hub_id, h.region, d.manufacturer, d.model,
                   d.hardware_version, d.smi_status, d.firmware_version, {rule} AS rule
            FROM {ids} i
            {device_join}
            LEFT JOIN comms_hubs h ON h.chf_id = d.hub_id
            LEFT JOIN cpl_entries c
                ON c.firmware_version = d.firmware_version AND c.manufacturer = d.manufacturer AND c.model = d.model
            {interest_joins}
            {in_flight_join}
        )
        SELECT d.device_id, d.device_type, d.hub_id, d.region, {outcome}, {reason}
        FROM k AS d
        ORDER BY d.pos
    """  # noqa: S608 - only this module's constants are formatted in; all input is bound
    return sql if sqlite else sql.replace(":sender", p("sender")).replace(":now", p("now"))


def classify_all(
    sr: FirmwareSR,
    conn: Connection,
    device_ids: Sequence[str],
    *,
    sender: str,
    cpl: CPLEntry,
    image: FirmwareImage,
    now: datetime,
) -> list[DeviceOutcome]:
    """Every requested device's outcome, in request order, from ONE statement (IDs must be unique)."""
    if not device_ids:
        return []
    sqlite = conn.dialect.name == "sqlite"
    hdr_lo, hdr_hi = image.hardware_version_range or (0, 0)
    params = {
        "ids": json.dumps(list(device_ids)) if sqlite else list(device_ids),
        "sender": sender,
        "now": ts(now) if sqlite else now,
        "hash": image.firmware_hash,
        "version": cpl.firmware_version,
        "mfr": cpl.manufacturer.upper(),
        "model": cpl.model.upper(),
        "cpl_lo": cpl.hw_version_min,
        "cpl_hi": cpl.hw_version_max,
        "hdr_lo": hdr_lo,
        "hdr_hi": hdr_hi,
        "model_why": _model_why(cpl),
        "cpl_range": _cpl_range(cpl),
        "hdr_range": _header_range(image),
    }
    dbapi = conn.connection.driver_connection
    if dbapi is None:
        raise RuntimeError("no DBAPI connection")
    cur = dbapi.cursor()
    try:
        sql = _classify_sql(sr, image, conn.dialect.name)
        if sqlite:
            cur.execute(sql, params)
        else:
            # the sorts and hashes of 50,000 rows spill to disk at the default 4 MB (for this transaction only)
            cur.execute("SET LOCAL work_mem = '64MB'")
            # never a server-side prepared statement (psycopg prepares from the 5th execution): a generic
            # plan, blind to the list's length and the sender, can be far slower than the plan for the
            # actual values (seen here: 37 s instead of 0.6 s, with parallel workers off)
            cur.execute(sql, params, prepare=False)
        rows = cur.fetchall()
    finally:
        cur.close()
    # the rows are (device_id, device_type, hub_id, region, outcome, reason): made DeviceOutcomes in C
    return list(map(partial(tuple.__new__, DeviceOutcome), rows))
