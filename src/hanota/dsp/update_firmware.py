"""SR 11.4 Update PPMID Firmware and SR 11.1 Update Firmware: validation, per-device outcomes, the record.

Request-level checks run in this fixed order; the first that fails answers the whole request:

1. the image is a valid ZigBee OTA file whose sizes agree          (11.4 E110401 / 11.1 E110101)
2. its firmware hash is on the CPL with status Active              (E110402 / E110102)
3. the request's FirmwareVersion is that CPL entry's version        (E110403 / E110103)
4. the image is for the request's device types: the CPL entry is
   for a PPMID/IHD (11.4) or an ESME/GSME (11.1), and the header's
   manufacturer code and image type are the CPL entry's             (E11 / E110106)
5. after the device checks, at least one device is left             (E110405 / E110105)

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

Where the classification runs. On PostgreSQL, inside the request's transaction, after the sender's
RequestID counter was advanced (`hanota.db.counters`): that row stays locked until the transaction ends, so
two requests of one sender are classified one after the other and the second sees the first's devices in
flight. On SQLite, one writer at a time, a classification
inside the write transaction would hold every other writer (every 8.2 advances its sender's counter) for
its whole length, so `prevalidate` runs it BEFORE the write transaction, on a read-only connection (its own
WAL snapshot), and `confirm`, under the write lock, applies again the one rule another request can change
meanwhile: the devices this sender has put in flight with this image since (request_devices rows past the
rowid read before the classification). Everything else is judged on the store as it stood a moment before
the request was recorded, as PostgreSQL's READ COMMITTED statement snapshot does too.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property, partial
from typing import NamedTuple

from sqlalchemy import Connection, bindparam, insert, select, text
from sqlalchemy.orm import Session

from hanota.db.bulk import id_list_sql, id_list_value, insert_or_ignore, ts
from hanota.db.models import (
    CPLEntry,
    CPLStatus,
    DistributionJob,
    FirmwareImageBlob,
    ServiceRequest,
)
from hanota.db.types import UTCDateTime
from hanota.duis import codes
from hanota.duis.responses import DSPUpdateFirmwareWarning, DSPUpdatePPMIDFirmwareWarning
from hanota.errors import HanotaError, InputError, ValidationError
from hanota.firmware import FirmwareImage, parse_image
from hanota.inventory.interest import (
    SENDER_METERS_CTE,
    interested_exists_sql,
    interested_join_sql,
    interested_sql,
)
from hanota.lifecycle import gateway_region

ACCEPTED = "Accepted"
# the warning lists (which rule feeds which: the table above, and `codes.EXCLUSIONS`)
INVALID = codes.INVALID_DEVICE_ID_LIST
NOT_COMMISSIONED = codes.NOT_COMMISSIONED_LIST
NOT_APPLICABLE = codes.NOT_APPLICABLE_FIRMWARE_LIST
IN_PROGRESS = codes.OTHER_REQUEST_IN_PROGRESS_LIST
INVALID_GBCS = codes.INVALID_GBCS_VERSION_LIST
WARNING_LISTS = (INVALID, NOT_COMMISSIONED, NOT_APPLICABLE, IN_PROGRESS, INVALID_GBCS)
IN_FLIGHT_STATES = ("accepted", "sent", "transferred")
#: the reason's tail for a device already running the request's version (after "current firmware <version> ")
ALREADY_ON_VERSION = "is already the request's version: nothing to update"
IN_FLIGHT_REASON = "the sender already has this image in flight for this device"
REQUEST_DEVICE_COLS = (
    "request_pk", "device_id", "device_type", "hub_id", "region", "outcome", "reason", "state", "updated_at",
)  # fmt: skip


@dataclass(frozen=True)
class FirmwareSR:
    """What differs between 11.4 and 11.1."""

    srv: str
    target_types: frozenset[str]
    needs_han_ota: bool
    priority: int  # CSP queue class: 0 = ESME/GSME firmware, always ahead of 1 = HAN firmware
    signed_image: bool  # ESME/GSME images carry the GBCS supplier-signature trailer
    image_invalid: str
    hash_not_active: str
    version_mismatch: str
    not_for_types: str
    no_device_left: str
    devices_excluded: str
    warning: (
        type[DSPUpdatePPMIDFirmwareWarning] | type[DSPUpdateFirmwareWarning]
    )  # the excluded-devices payload


SR_11_4 = FirmwareSR(
    srv="11.4",
    target_types=frozenset({"PPMID", "IHD"}),
    needs_han_ota=True,
    priority=1,
    signed_image=False,
    image_invalid=codes.PPMID_IMAGE_INVALID,
    hash_not_active=codes.PPMID_HASH_NOT_ACTIVE,
    version_mismatch=codes.PPMID_VERSION_MISMATCH,
    not_for_types=codes.PPMID_IMAGE_NOT_FOR_DEVICE_TYPES,
    no_device_left=codes.PPMID_NO_DEVICE_LEFT,
    devices_excluded=codes.PPMID_DEVICES_EXCLUDED,
    warning=DSPUpdatePPMIDFirmwareWarning,
)
SR_11_1 = FirmwareSR(
    srv="11.1",
    target_types=frozenset({"ESME", "GSME"}),
    needs_han_ota=False,
    priority=0,
    signed_image=True,
    image_invalid=codes.FIRMWARE_IMAGE_INVALID,
    hash_not_active=codes.FIRMWARE_HASH_NOT_ACTIVE,
    version_mismatch=codes.FIRMWARE_VERSION_MISMATCH,
    not_for_types=codes.FIRMWARE_IMAGE_NOT_FOR_DEVICE_TYPES,
    no_device_left=codes.FIRMWARE_NO_DEVICE_LEFT,
    devices_excluded=codes.FIRMWARE_DEVICES_EXCLUDED,
    warning=DSPUpdateFirmwareWarning,
)
FIRMWARE_SRS = {"11.4": SR_11_4, "11.1": SR_11_1}


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


class DeviceOutcome(NamedTuple):
    device_id: str
    device_type: str | None
    hub_id: str | None
    region: str | None
    outcome: str  # ACCEPTED or one of WARNING_LISTS
    reason: str | None


@dataclass(frozen=True)
class Validated:
    """The result of validating an 11.4/11.1: the image, its CPL entry and every device's outcome."""

    sr: FirmwareSR
    image: FirmwareImage
    cpl: CPLEntry
    outcomes: tuple[DeviceOutcome, ...]

    @cached_property
    def accepted(self) -> list[DeviceOutcome]:
        return [o for o in self.outcomes if o.outcome == ACCEPTED]

    def lists(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {name: [] for name in (ACCEPTED, *WARNING_LISTS)}
        for device_id, _, _, _, outcome, _ in self.outcomes:
            out[outcome].append(device_id)
        return {k: v for k, v in out.items() if v and k != ACCEPTED}

    @property
    def response_code(self) -> str:
        if not self.accepted:
            return self.sr.no_device_left
        return self.sr.devices_excluded if len(self.accepted) < len(self.outcomes) else codes.SUCCESS


def check_image(
    sr: FirmwareSR, conn: Connection, image_bytes: bytes, firmware_version: str
) -> tuple[FirmwareImage, CPLEntry]:
    """Request-level checks 1–4 (see the module docstring). Raises `ValidationError` with the code."""
    try:
        image = parse_image(image_bytes, expect_signature=sr.signed_image)
    except InputError as e:
        raise ValidationError(f"the image is not a valid OTA file: {e.message}", code=sr.image_invalid) from e
    with Session(bind=conn) as session:
        entries = session.scalars(select(CPLEntry).where(CPLEntry.firmware_hash == image.firmware_hash)).all()
    active = [e for e in entries if e.status == CPLStatus.ACTIVE]
    if not active:
        why = f"on the CPL as {entries[0].status}" if entries else "not on the CPL"
        raise ValidationError(f"firmware hash {image.firmware_hash} is {why}", code=sr.hash_not_active)
    match = [e for e in active if e.firmware_version == firmware_version]
    if not match:
        raise ValidationError(
            f"FirmwareVersion {firmware_version} is not the CPL entry's version "
            f"({', '.join(e.firmware_version for e in active)})",
            code=sr.version_mismatch,
        )
    header = image.header
    # one image may be on the CPL for several models (A-005 per model): the entry this request is about is
    # the one for its SR's device types whose manufacturer and image type are the header's; if none is,
    # the refusals below name the first entry
    fits = [
        e for e in match
        if e.device_type in sr.target_types
        and e.manufacturer.upper() == f"{header.manufacturer_code:04X}"
        and (e.image_type is None or e.image_type == header.image_type)
    ]  # fmt: skip
    cpl = (fits or match)[0]
    if cpl.device_type not in sr.target_types:
        raise ValidationError(
            f"the image is for a {cpl.device_type}, not a target of SR {sr.srv}", code=sr.not_for_types
        )
    if f"{header.manufacturer_code:04X}" != cpl.manufacturer.upper() or (
        cpl.image_type is not None and header.image_type != cpl.image_type
    ):
        raise ValidationError(
            f"the image header (manufacturer {header.manufacturer_code:04X}, image type "
            f"0x{header.image_type:04X}) is not the CPL entry's ({cpl.manufacturer}, "
            f"0x{(cpl.image_type or 0):04X})",
            code=sr.not_for_types,
        )
    return image, cpl


def fetch_facts(
    conn: Connection, device_ids: Sequence[str], *, sender: str, firmware_hash: str, now: datetime
) -> list[DeviceFacts]:
    """The facts of every requested device, in request order, with ONE query (no per-device round trip).
    With `classify`, the rules written out in Python: the reference `classify_all` is tested against."""
    states = ", ".join(f"'{s}'" for s in IN_FLIGHT_STATES)
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

    states = ", ".join(f"'{s}'" for s in IN_FLIGHT_STATES)
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


def validate(
    sr: FirmwareSR,
    conn: Connection,
    *,
    sender: str,
    image_bytes: bytes,
    firmware_version: str,
    device_ids: Sequence[str],
    now: datetime,
) -> Validated:
    """Run every check; raise `ValidationError` for a request-level failure (checks 1–4)."""
    image, cpl = check_image(sr, conn, image_bytes, firmware_version)
    unique = list(dict.fromkeys(device_ids))
    outcomes = classify_all(sr, conn, unique, sender=sender, cpl=cpl, image=image, now=now)
    return Validated(sr, image, cpl, tuple(outcomes))


@dataclass(frozen=True)
class Prevalidated:
    """`validate`'s result (or its request-level refusal) computed outside the write transaction, and the
    last request_devices rowid before it (SQLite; module docstring)."""

    result: Validated | HanotaError
    mark: int


def prevalidate(
    sr: FirmwareSR,
    reader: Connection,
    *,
    sender: str,
    image_bytes: bytes,
    firmware_version: str,
    device_ids: Sequence[str],
    now: datetime,
) -> Prevalidated:
    """`validate` on a read-only SQLite connection, before the request's write transaction begins."""
    mark = int(reader.exec_driver_sql("SELECT coalesce(max(rowid), 0) FROM request_devices").scalar_one())
    try:
        result: Validated | HanotaError = validate(
            sr, reader, sender=sender, image_bytes=image_bytes, firmware_version=firmware_version,
            device_ids=device_ids, now=now,
        )  # fmt: skip
    except HanotaError as e:  # raised again under the write lock, where the refusal is recorded as ever
        result = e
    return Prevalidated(result, mark)


def confirm(conn: Connection, pre: Prevalidated, *, sender: str) -> Validated:
    """Under the write lock: `pre`'s result, its refusal raised again, or its outcomes with the devices this
    sender has put in flight with this image since `pre.mark` moved to OtherRequestInProgressList."""
    if isinstance(pre.result, HanotaError):
        raise pre.result
    v = pre.result
    if not v.accepted:
        return v
    states = ", ".join(f"'{s}'" for s in IN_FLIGHT_STATES)
    since = (
        "SELECT rd.device_id FROM request_devices rd JOIN service_requests sr ON sr.id = rd.request_pk "  # noqa: S608 - our constants
        f"WHERE rd.rowid > ? AND sr.originator_eui = ? AND sr.firmware_hash = ? AND rd.state IN ({states})"
    )
    taken = {row[0] for row in conn.exec_driver_sql(since, (pre.mark, sender, v.image.firmware_hash))}
    if not taken:
        return v
    outcomes = tuple(
        o._replace(outcome=IN_PROGRESS, reason=IN_FLIGHT_REASON)
        if o.outcome == ACCEPTED and o.device_id in taken
        else o
        for o in v.outcomes
    )
    return Validated(v.sr, v.image, v.cpl, outcomes)


def _store_image(conn: Connection, image_bytes: bytes, firmware_hash: str, now: datetime) -> int:
    file_hash = hashlib.sha256(image_bytes).hexdigest()
    values = {
        "file_hash": file_hash,
        "firmware_hash": firmware_hash,
        "size": len(image_bytes),
        "data": image_bytes,
    }
    conn.execute(insert_or_ignore(conn, FirmwareImageBlob, key="file_hash").values(**values, created_at=now))
    return int(
        conn.execute(
            select(FirmwareImageBlob.id).where(FirmwareImageBlob.file_hash == file_hash)
        ).scalar_one()
    )


def _insert_outcomes(conn: Connection, req_pk: int, outcomes: Sequence[DeviceOutcome], now: datetime) -> None:
    """One request_devices row per outcome. SQLite: one `executemany` straight from the outcome tuples (the
    request key and time are constants of the statement, the state a CASE), so no row is rebuilt in
    Python; PostgreSQL: `COPY … FROM STDIN` (its per-row cost is on the server: arrays through `unnest`
    were slower). Not `hanota.db.bulk.insert_rows` on purpose: that needs every row built whole in Python
    (50,000 new 9-tuples), measured slower on the 50,000-device 11.4 (bench medians 0.69 s vs 0.66 s and
    0.93 s vs 0.87 s in two paired runs, 6-17 MiB more peak RSS)."""
    if not outcomes:
        return
    dbapi = conn.connection.driver_connection
    if dbapi is None:
        raise RuntimeError("no DBAPI connection")
    cols = ", ".join(REQUEST_DEVICE_COLS)
    cur = dbapi.cursor()
    try:
        if conn.dialect.name == "sqlite":
            stamp = ts(now)  # digits and separators only, like the integer key: safe as literals
            state = f"CASE WHEN ?5 = '{ACCEPTED}' THEN 'accepted' ELSE 'rejected' END"
            values = f"{int(req_pk)}, ?1, ?2, ?3, ?4, ?5, ?6, {state}, '{stamp}'"
            cur.executemany(f"INSERT INTO request_devices ({cols}) VALUES ({values})", outcomes)  # noqa: S608
        else:
            with cur.copy(f"COPY request_devices ({cols}) FROM STDIN") as copy:
                for o in outcomes:
                    copy.write_row((req_pk, *o, "accepted" if o.outcome == ACCEPTED else "rejected", now))
    finally:
        cur.close()


def record(
    conn: Connection,
    v: Validated,
    *,
    request_id: str,
    sender: str,
    image_bytes: bytes,
    firmware_version: str,
    now: datetime,
) -> int:
    """Write the request, every device outcome and one distribution job per region, inside `conn`'s
    transaction (the caller commits before answering). Returns the service request's key."""
    accepted = v.accepted
    image_id = _store_image(conn, image_bytes, v.image.firmware_hash, now) if accepted else None
    code = v.response_code
    req_pk = conn.execute(
        insert(ServiceRequest)
        .values(
            request_id=request_id, originator_eui=sender, srv=v.sr.srv, received_at=now,
            status="accepted" if accepted else "rejected", response_code=code,
            firmware_version=firmware_version, firmware_hash=v.image.firmware_hash, image_id=image_id,
            device_count=len(v.outcomes), accepted_count=len(accepted),
        )
        .returning(ServiceRequest.id)
    ).scalar_one()  # fmt: skip
    _insert_outcomes(conn, int(req_pk), v.outcomes, now)
    # one job per CSP gateway: a 4G hub's devices ('4G Central') go with their geographic region's
    per_region = Counter(gateway_region(o.region) if o.region else o.region for o in accepted)
    for region, n in sorted(per_region.items(), key=lambda kv: str(kv[0])):
        conn.execute(
            insert(DistributionJob).values(
                request_pk=req_pk, region=region, priority=v.sr.priority, target_count=n, status="pending",
                attempts=0, next_attempt_at=now,
            )
        )  # fmt: skip
    return int(req_pk)


def record_rejection(
    conn: Connection, *, request_id: str, sender: str, srv: str, error: HanotaError, now: datetime
) -> None:
    """Keep a verified request that failed a request-level check (for the SSI and billing)."""
    conn.execute(
        insert(ServiceRequest).values(
            request_id=request_id, originator_eui=sender, srv=srv, received_at=now, status="rejected",
            response_code=error.code, device_count=0, accepted_count=0, detail=error.message[:1000],
        )
    )  # fmt: skip
