"""The DSP's intake of CSP delivery events: state per device, the inventory, and the DCC Alerts.

A CSP gateway posts numbered batches (`hanota.csp.interface.EventBatch`) to
`POST /api/v1/csp/{region}/events`, signed with the region's HMAC key. A batch is applied only when it is
the next one for its region (`csp_event_cursors`), in ONE transaction with everything it causes:

- each device of the request moves on: `sent` → `transferred` | `transfer_failed`, `transferred` →
  `activated` | `activation_failed`, with its timestamps and failure reason (no retries, A-006);
- on activation the inventory records the new firmware version and a `firmware_history` row;
- the DCC Alerts go into the outbox, signed, one per event per interested supplier of the device (A-009),
  each with a stable ID `<kind>:<job>:<device>:<supplier>` so that a re-run can never make a second one.

Alert mapping (codes in `hanota.duis.codes`):

| event | alert | code |
|---|---|---|
| transferred | CommsHubAlert 0x8F8A, FirmwareTransferAlert `FileTransferSuccess` | N62 |
| transfer_failed (HardwareVersionMismatch, FirmwareImageDiscarded, FileTransferFailure) | CommsHubAlert 0x8F89 | N62 |
| transfer_failed: DeviceUnreachable (the hub never transferred) | CSPFirmwareDeliveryStatus `Failure` | N61 |
| activated (PPMID, IHD) | PPMIDAlert 0x8F8B, PPMIDFirmwareUpgradeAlert `ActivationSuccess` | N63 |
| activation_failed (PPMID, IHD) | PPMIDAlert 0x8F8B, `ActivationFailure` | N63 |
| activated (ESME, GSME: SR 11.1) | CSPFirmwareDeliveryStatus `Success` | N60 |
| activation_failed (ESME, GSME) | CSPFirmwareDeliveryStatus `Failure` | N61 |

So a device that takes the image gives each interested supplier two alerts, one that fails in transfer one.

A replayed batch (seq already applied) is refused with 409 and changes nothing; a batch out of order (a
gap) is refused with 409 too, so the gateway resends from where the DSP is; a forged one (bad HMAC) is
refused with 401. Events for devices not in the expected state are counted and logged, never applied.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection, Engine, bindparam, select, text, update

from hanota.alerts.outbox import AlertWriter, PendingAlert
from hanota.clock import Clock, utc
from hanota.csp.interface import BatchAnswer, EventBatch, EventKind, FailureReason, TargetEvent
from hanota.db.bulk import id_list_sql, id_list_value, insert_or_ignore
from hanota.db.models import CSPEventCursor, DistributionJob, ServiceRequest
from hanota.db.types import UTCDateTime
from hanota.duis import RequestID
from hanota.duis.alerts import (
    CommsHubAlert,
    CSPFirmwareDeliveryStatus,
    DCCAlert,
    FirmwareTransferAlert,
    PPMIDAlert,
    PPMIDFirmwareUpgradeAlert,
)
from hanota.duis.values import ActivationResult, TransferResponseCode, TransferStatus
from hanota.errors import HTTPRefusal
from hanota.inventory.firmware import Activation, record_activated_firmware
from hanota.inventory.interest import interested_suppliers
from hanota.lifecycle import DeviceState, job_of
from hanota.logs import get_logger

log = get_logger("hanota.dsp.events")

HUB_TRANSFER_SUCCESS = 0x8F8A
HUB_TRANSFER_FAILURE = 0x8F89
PPMID_FIRMWARE_UPGRADE = 0x8F8B

# event kind → (state it needs, state it gives, timestamp column it sets): moves of `lifecycle.DEVICE_TRANSITIONS`
TRANSITIONS: dict[EventKind, tuple[DeviceState, DeviceState, str]] = {
    EventKind.TRANSFERRED: (DeviceState.SENT, DeviceState.TRANSFERRED, "transferred_at"),
    EventKind.TRANSFER_FAILED: (DeviceState.SENT, DeviceState.TRANSFER_FAILED, "finished_at"),
    EventKind.ACTIVATED: (DeviceState.TRANSFERRED, DeviceState.ACTIVATED, "finished_at"),
    EventKind.ACTIVATION_FAILED: (DeviceState.TRANSFERRED, DeviceState.ACTIVATION_FAILED, "finished_at"),
}
KIND_TAG = {
    EventKind.TRANSFERRED: "t",
    EventKind.TRANSFER_FAILED: "tf",
    EventKind.ACTIVATED: "a",
    EventKind.ACTIVATION_FAILED: "af",
}
HUB_CODES = {
    FailureReason.HARDWARE_VERSION_MISMATCH: TransferResponseCode.HARDWARE_VERSION_MISMATCH,
    FailureReason.FIRMWARE_IMAGE_DISCARDED: TransferResponseCode.FIRMWARE_IMAGE_DISCARDED,
    FailureReason.FILE_TRANSFER_FAILURE: TransferResponseCode.FILE_TRANSFER_FAILURE,
}


class BatchRefused(HTTPRefusal):
    """The batch is not the region's next one; `answer` says where the DSP is (answered HTTP 409)."""

    http_status = 409

    def __init__(self, answer: BatchAnswer) -> None:
        super().__init__(answer.detail)
        self.answer = answer


@dataclass
class _Target:
    request_pk: int
    request_id: str
    firmware_version: str
    device_type: str
    state: str
    srv: str


@dataclass
class Applied:
    applied: int = 0
    ignored: int = 0
    alerts: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)


def alert_for(event: TargetEvent, target: _Target, at: datetime) -> DCCAlert:
    """The DCC Alert an event gives (see the table in the module docstring)."""
    rid = RequestID.parse(target.request_id)
    version = target.firmware_version
    meter = target.device_type in ("ESME", "GSME")
    kind = event.kind
    if kind is EventKind.TRANSFER_FAILED and event.reason not in HUB_CODES:
        return CSPFirmwareDeliveryStatus(
            rid, event.chf_id, event.device_id, version, at, TransferStatus.FAILURE
        )
    if kind in (EventKind.TRANSFERRED, EventKind.TRANSFER_FAILED):
        ok = kind is EventKind.TRANSFERRED
        code = (
            TransferResponseCode.FILE_TRANSFER_SUCCESS if ok else HUB_CODES[FailureReason(event.reason or "")]
        )
        return CommsHubAlert(
            event.chf_id, HUB_TRANSFER_SUCCESS if ok else HUB_TRANSFER_FAILURE, at,
            FirmwareTransferAlert(event.device_id, version, code, rid),
        )  # fmt: skip
    ok = kind is EventKind.ACTIVATED
    if meter:
        status = TransferStatus.SUCCESS if ok else TransferStatus.FAILURE
        return CSPFirmwareDeliveryStatus(rid, event.chf_id, event.device_id, version, at, status)
    result = ActivationResult.SUCCESS if ok else ActivationResult.FAILURE
    return PPMIDAlert(event.device_id, PPMID_FIRMWARE_UPGRADE, at, PPMIDFirmwareUpgradeAlert(version, result))


class EventIntake:
    def __init__(self, engine: Engine, clock: Clock, alerts: AlertWriter) -> None:
        self.engine = engine
        self.clock = clock
        self.alerts = alerts

    def apply(self, region: str, batch: EventBatch) -> BatchAnswer:
        """Apply the batch if it is the region's next one (else `BatchRefused`), all in one transaction."""
        now = self.clock.now()
        with self.engine.begin() as conn:
            conn.execute(
                insert_or_ignore(conn, CSPEventCursor, key="region").values(
                    region=region, last_seq=0, updated_at=now
                )
            )  # the row exists from here on; the conditional update below is the lock and the check
            moved = conn.execute(
                update(CSPEventCursor)
                .where(CSPEventCursor.region == region, CSPEventCursor.last_seq == batch.seq - 1)
                .values(last_seq=batch.seq, updated_at=now)
            ).rowcount
            if not moved:
                last = conn.execute(
                    select(CSPEventCursor.last_seq).where(CSPEventCursor.region == region)
                ).scalar_one()
                what = "already applied" if batch.seq <= last else f"out of order (expected {last + 1})"
                raise BatchRefused(
                    BatchAnswer(region=region, last_seq=last, detail=f"batch {batch.seq} {what}")
                )
            result = self._apply_events(conn, region, batch.seq, batch.events, now)
        log.info("csp events applied", region=region, seq=batch.seq, events=len(batch.events),
                 applied=result.applied, ignored=result.ignored, alerts=result.alerts)  # fmt: skip
        return BatchAnswer(region=region, last_seq=batch.seq, applied=result.applied)

    def _apply_events(
        self, conn: Connection, region: str, seq: int, events: Sequence[TargetEvent], now: datetime
    ) -> Applied:
        jobs = self._jobs(conn, region, {e.distribution_id for e in events})
        targets = self._targets(conn, jobs, events)
        out = Applied()
        changes: dict[EventKind, list[dict[str, object]]] = defaultdict(list)
        activated: list[Activation] = []
        alerting: list[tuple[TargetEvent, _Target, datetime, int]] = []
        for e in events:
            job = jobs.get(e.distribution_id)
            t = targets.get((job[0], e.device_id)) if job else None
            need, gives, _ = TRANSITIONS[e.kind]
            if job is None or t is None or t.state != need:
                out.ignored += 1
                log.warning("event ignored", region=region, distribution=e.distribution_id, device=e.device_id,
                            kind=e.kind.value, state=t.state if t else None)  # fmt: skip
                continue
            at = utc(e.at)
            t.state = gives.value
            changes[e.kind].append(
                {"state": gives.value, "failure": e.reason.value if e.reason else None, "at": at, "now": now,
                 "pk": t.request_pk, "device": e.device_id, "need": need.value}
            )  # fmt: skip
            if e.kind is EventKind.ACTIVATED:
                activated.append(
                    Activation(e.device_id, t.firmware_version, at, f"SR {t.srv} {t.request_id}")
                )
            alerting.append((e, t, at, job[1]))
            out.applied += 1
            out.by_kind[e.kind.value] = out.by_kind.get(e.kind.value, 0) + 1
        # transfers before activations: a batch may hold both stages of one device
        for kind, (_, _, column) in TRANSITIONS.items():
            rows = changes.get(kind)
            if not rows:
                continue
            moved = conn.execute(
                text(
                    f"UPDATE request_devices SET state = :state, failure = :failure, {column} = :at, "  # noqa: S608 - column from TRANSITIONS
                    "updated_at = :now WHERE request_pk = :pk AND device_id = :device AND state = :need"
                ).bindparams(bindparam("at", type_=UTCDateTime()), bindparam("now", type_=UTCDateTime())),
                rows,
            ).rowcount
            if moved != len(rows):  # the store disagrees with what was just read: apply nothing, retry later
                raise BatchRefused(
                    BatchAnswer(region=region, last_seq=seq - 1,
                                detail=f"{kind.value}: {moved} of {len(rows)} devices moved; batch not applied")
                )  # fmt: skip
        record_activated_firmware(conn, activated)  # the inventory learns the new versions
        out.alerts = self._alert(conn, alerting, now)
        return out

    @staticmethod
    def _jobs(conn: Connection, region: str, distribution_ids: set[str]) -> dict[str, tuple[int, int]]:
        """distribution ID → (request pk, job id), only for this region's jobs."""
        # a distribution id that names no job of ours (`lifecycle.job_of`) has its events ignored
        ids = {job: d for d in distribution_ids if (job := job_of(d)) is not None}
        if not ids:
            return {}
        rows = conn.execute(
            select(DistributionJob.id, DistributionJob.request_pk).where(
                DistributionJob.id.in_(list(ids)), DistributionJob.region == region
            )
        ).all()
        return {ids[r.id]: (r.request_pk, r.id) for r in rows}

    @staticmethod
    def _targets(
        conn: Connection, jobs: dict[str, tuple[int, int]], events: Sequence[TargetEvent]
    ) -> dict[tuple[int, str], _Target]:
        out: dict[tuple[int, str], _Target] = {}
        by_request: dict[int, set[str]] = defaultdict(set)
        for e in events:
            if e.distribution_id in jobs:
                by_request[jobs[e.distribution_id][0]].add(e.device_id)
        for pk, devices in by_request.items():
            req = conn.execute(
                select(ServiceRequest.request_id, ServiceRequest.firmware_version, ServiceRequest.srv).where(
                    ServiceRequest.id == pk
                )
            ).one()
            rows = conn.execute(
                text(
                    "SELECT device_id, device_type, state FROM request_devices "  # noqa: S608 - constant fragment
                    f"WHERE request_pk = :pk AND device_id IN (SELECT device_id FROM {id_list_sql(conn)} i)"
                ),
                {"pk": pk, "ids": id_list_value(conn, sorted(devices))},
            ).all()
            for device_id, device_type, state in rows:
                out[(pk, device_id)] = _Target(pk, req.request_id, req.firmware_version or "", device_type or "",
                                               state, req.srv)  # fmt: skip
        return out

    def _alert(
        self, conn: Connection, alerting: list[tuple[TargetEvent, _Target, datetime, int]], now: datetime
    ) -> int:
        if not alerting:
            return 0
        interested = interested_suppliers(conn, sorted({e.device_id for e, _, _, _ in alerting}), now)
        pending: list[PendingAlert] = []
        for e, t, at, job in alerting:
            alert = alert_for(e, t, at)
            rid = RequestID.parse(t.request_id)
            for supplier in interested.get(e.device_id, []):
                pending.append(
                    PendingAlert(
                        alert_id=f"{KIND_TAG[e.kind]}:{job}:{e.device_id}:{supplier}",
                        recipient=supplier, alert=alert, request_pk=t.request_pk, request_id=rid,
                        device_id=e.device_id,
                    )
                )  # fmt: skip
        return self.alerts.write(conn, pending, now)
