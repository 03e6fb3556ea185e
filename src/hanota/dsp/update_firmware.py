"""SR 11.4 Update PPMID Firmware and SR 11.1 Update Firmware: validation, per-device outcomes, the record.

Request-level checks run in this fixed order; the first that fails answers the whole request:

1. the image is a valid ZigBee OTA file whose sizes agree          (11.4 E110401 / 11.1 E110101)
2. its firmware hash is on the CPL with status Active              (E110402 / E110102)
3. the request's FirmwareVersion is that CPL entry's version        (E110403 / E110103)
4. the image is for the request's device types: the CPL entry is
   for a PPMID/IHD (11.4) or an ESME/GSME (11.1), and the header's
   manufacturer code and image type are the CPL entry's             (E11 / E110106)
5. after the device checks, at least one device is left             (E110405 / E110105)

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

The SRs' definitions and result types are in `hanota.dsp.firmware_sr`, the per-device classification in
`hanota.dsp.classify`; this module re-exports what its callers use.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, insert, select
from sqlalchemy.orm import Session

from hanota.db.bulk import Case, insert_or_ignore, insert_rows
from hanota.db.models import CPLEntry, CPLStatus, DistributionJob, FirmwareImageBlob, ServiceRequest
from hanota.dsp.classify import DeviceFacts, classify, classify_all, fetch_facts
from hanota.dsp.firmware_sr import (
    ACCEPTED,
    ALREADY_ON_VERSION,
    FIRMWARE_SRS,
    IN_FLIGHT_REASON,
    IN_PROGRESS,
    INVALID,
    INVALID_GBCS,
    NOT_APPLICABLE,
    NOT_COMMISSIONED,
    SR_11_1,
    SR_11_4,
    DeviceOutcome,
    FirmwareSR,
    Validated,
)
from hanota.errors import HanotaError, InputError, ValidationError
from hanota.firmware import FirmwareImage, parse_image
from hanota.lifecycle import (
    IN_FLIGHT,
    DeviceState,
    JobStatus,
    Outcome,
    RequestStatus,
    gateway_region,
    sql_list,
)

__all__ = [
    "ACCEPTED",
    "ALREADY_ON_VERSION",
    "FIRMWARE_SRS",
    "INVALID",
    "INVALID_GBCS",
    "IN_FLIGHT_REASON",
    "IN_PROGRESS",
    "NOT_APPLICABLE",
    "NOT_COMMISSIONED",
    "SR_11_1",
    "SR_11_4",
    "DeviceFacts",
    "DeviceOutcome",
    "FirmwareSR",
    "Prevalidated",
    "Validated",
    "check_image",
    "classify",
    "classify_all",
    "confirm",
    "fetch_facts",
    "prevalidate",
    "record",
    "record_rejection",
    "validate",
]  # fmt: skip

#: request_devices' columns an outcome fills (`DeviceOutcome`'s fields)
OUTCOME_COLS = ("device_id", "device_type", "hub_id", "region", "outcome", "reason")
#: a device's first state: accepted, or rejected into a warning list (`lifecycle.DeviceState`)
FIRST_STATE = Case(
    "outcome", when=Outcome.ACCEPTED, then=DeviceState.ACCEPTED, otherwise=DeviceState.REJECTED
)


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
    states = sql_list(IN_FLIGHT)
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
    """One request_devices row per outcome, straight from the outcome tuples (`hanota.db.bulk.insert_rows`:
    the request key and time are constants of the statement and the state is computed from the outcome, so
    no row of 50,000 is rebuilt in Python)."""
    insert_rows(
        conn, "request_devices", OUTCOME_COLS, outcomes,
        constants={"request_pk": int(req_pk), "updated_at": now}, cases={"state": FIRST_STATE},
    )  # fmt: skip


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
            status=RequestStatus.ACCEPTED if accepted else RequestStatus.REJECTED, response_code=code,
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
                request_pk=req_pk, region=region, priority=v.sr.priority, target_count=n, status=JobStatus.PENDING,
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
            request_id=request_id, originator_eui=sender, srv=srv, received_at=now, status=RequestStatus.REJECTED,
            response_code=error.code, device_count=0, accepted_count=0, detail=error.message[:1000],
        )
    )  # fmt: skip
