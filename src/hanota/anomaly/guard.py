"""The threshold check the DSP runs on every request, inside the request's transaction, after access
control and the RequestID counter and before the SR handler.

Checks, in order (the first that fails names the breach):

1. attribute limits of the SRV (11.4 / 11.1: image size, distinct devices in the request)
   → ``ADAttributeLimitsBreach``;
2. the User's threshold (its own, else the DCC default): requests counted in its window + 1, devices
   counted + this request's distinct devices → ``ADUserThresholdBreach``;
3. the DCC-wide threshold of the SRV, the same sums over all Users → ``ADDCCThresholdBreach``.

What is counted is what was asked for: one request and its distinct Device IDs as listed (before the
handler validates them), whatever the handler then answers — a flood of refused requests is an anomaly too.
A request that passes is counted (for the User always, so a threshold set later sees recent history; for
the DCC only where a DCC-wide threshold exists, so an unguarded SRV such as 8.2 has no DCC-wide hot row).
A request that would breach is **quarantined**: not processed and not counted; its signed bytes are kept in
``quarantined_requests`` (the row's id is the QuarantineEventRef), a ``service_requests`` row records it as
``quarantined`` with code E43, and a signed ``QuarantinedRequest`` DCC Alert (AD1, stable ID
``ad1:<event ref>``) goes into the alert outbox — all in the request's transaction, before the DSP answers
E43. See `hanota.anomaly.quarantine` for release and delete.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, insert

from hanota.alerts.outbox import AlertWriter, PendingAlert
from hanota.anomaly import counting
from hanota.anomaly.thresholds import DCCPolicy, dcc_policy, user_threshold
from hanota.db.models import QuarantinedRequestRow, ServiceRequest
from hanota.duis import Request, codes
from hanota.duis.alerts import QuarantinedRequest
from hanota.duis.requests import UpdateFirmware, UpdatePPMIDFirmware
from hanota.duis.values import QuarantineKind
from hanota.lifecycle import QuarantineStatus, RequestStatus


@dataclass(frozen=True)
class Measure:
    """What a request weighs for the thresholds: distinct Device IDs and image octets (0 for other SRVs)."""

    devices: int
    image_bytes: int


def measure(request: Request) -> Measure:
    body = request.body
    if isinstance(body, UpdatePPMIDFirmware | UpdateFirmware):
        return Measure(len(set(body.device_ids)), len(body.image))
    return Measure(0, 0)


@dataclass(frozen=True)
class Breach:
    kind: QuarantineKind
    reason: str


@dataclass(frozen=True)
class Held:
    """A request the guard quarantined: answer it E43."""

    event_ref: int
    kind: QuarantineKind
    reason: str


def attribute_breach(policy: DCCPolicy, m: Measure) -> Breach | None:
    """The attribute limit `m` breaks, if any."""
    kind = QuarantineKind.ATTRIBUTE_LIMITS
    if policy.max_image_bytes is not None and m.image_bytes > policy.max_image_bytes:
        return Breach(kind, f"SRV {policy.srv} attribute limit: the image is {m.image_bytes:,} octets, over "
                            f"{policy.max_image_bytes:,}")  # fmt: skip
    if policy.max_devices_per_request is not None and m.devices > policy.max_devices_per_request:
        return Breach(kind, f"SRV {policy.srv} attribute limit: {m.devices:,} devices in one request, over "
                            f"{policy.max_devices_per_request:,}")  # fmt: skip
    return None


def volume_breach(
    conn: Connection,
    *,
    kind: QuarantineKind,
    label: str,
    subject: str,
    srv: str,
    max_requests: int | None,
    max_devices: int | None,
    window_hours: int,
    m: Measure,
    now: datetime,
) -> Breach | None:
    """Whether one more request of `m` would take (subject, SRV) over its threshold (meter locked)."""
    if max_requests is None and max_devices is None:
        return None
    used = counting.window_usage(conn, subject, srv, window_hours, now)
    if max_requests is not None and used.requests + 1 > max_requests:
        return Breach(kind, f"{label} for SRV {srv}: at most {_count(max_requests, 'request')} per {window_hours} h; "
                            f"{used.requests:,} already counted")  # fmt: skip
    if max_devices is not None and used.devices + m.devices > max_devices:
        return Breach(kind, f"{label} for SRV {srv}: at most {_count(max_devices, 'device')} per {window_hours} h; "
                            f"{used.devices:,} already counted + {m.devices:,} in this request")  # fmt: skip
    return None


def count(conn: Connection, *, originator: str, srv: str, devices: int, now: datetime,
          policy: DCCPolicy | None = None) -> None:  # fmt: skip
    """Lock and count one request of `devices` for its User and (where guarded) the DCC, without a check:
    used for a request released from quarantine (the operator's decision overrides the thresholds)."""
    p = policy if policy is not None else dcc_policy(conn, srv)
    counting.lock_meter(conn, originator, srv, now)
    if p.dcc_guarded:
        counting.lock_meter(conn, counting.DCC_SUBJECT, srv, now)
    counting.add(conn, originator, srv, requests=1, devices=devices, now=now)
    if p.dcc_guarded:
        counting.add(conn, counting.DCC_SUBJECT, srv, requests=1, devices=devices, now=now)


class AnomalyGuard:
    """The DSP's anomaly check; writes the AD1 alert with `alerts` (the DSP's signer)."""

    def __init__(self, alerts: AlertWriter) -> None:
        self.alerts = alerts

    def admit(self, conn: Connection, request: Request, signed: bytes, now: datetime) -> Held | None:
        """None: the request passed and is counted; go on to the handler. Held: it is quarantined (recorded,
        alerted, not counted); answer E43. `signed` is the request exactly as received."""
        rid = request.request_id
        srv = request.srv
        m = measure(request)
        policy = dcc_policy(conn, srv)
        breach = attribute_breach(policy, m)
        if breach is None:
            threshold = user_threshold(conn, rid.originator, srv, policy)
            counting.lock_meter(conn, rid.originator, srv, now)
            if policy.dcc_guarded:
                counting.lock_meter(conn, counting.DCC_SUBJECT, srv, now)
            breach = volume_breach(
                conn, kind=QuarantineKind.USER_THRESHOLD, label=f"threshold of {rid.originator}",
                subject=rid.originator, srv=srv, max_requests=threshold.max_requests,
                max_devices=threshold.max_devices, window_hours=threshold.window_hours, m=m, now=now,
            )  # fmt: skip
            if breach is None and policy.dcc_guarded:
                breach = volume_breach(
                    conn, kind=QuarantineKind.DCC_THRESHOLD, label="DCC-wide threshold",
                    subject=counting.DCC_SUBJECT, srv=srv, max_requests=policy.dcc_max_requests,
                    max_devices=policy.dcc_max_devices, window_hours=policy.window_hours, m=m, now=now,
                )  # fmt: skip
        if breach is not None:
            return self.quarantine(conn, request, signed, m, breach, now)
        counting.add(conn, rid.originator, srv, requests=1, devices=m.devices, now=now)
        if policy.dcc_guarded:
            counting.add(conn, counting.DCC_SUBJECT, srv, requests=1, devices=m.devices, now=now)
        return None

    def quarantine(
        self, conn: Connection, request: Request, signed: bytes, m: Measure, breach: Breach, now: datetime
    ) -> Held:
        """Record `request` as quarantined and write its QuarantinedRequest alert (caller's transaction)."""
        rid = request.request_id
        body = request.body
        version = body.firmware_version if isinstance(body, UpdatePPMIDFirmware | UpdateFirmware) else None
        ref = int(
            conn.execute(
                insert(QuarantinedRequestRow)
                .values(
                    request_id=str(rid), originator_eui=rid.originator, srv=request.srv, kind=breach.kind.value,
                    reason=breach.reason, received_at=now, device_count=m.devices, image_size=m.image_bytes,
                    body=signed, status=QuarantineStatus.QUARANTINED,
                )
                .returning(QuarantinedRequestRow.id)
            ).scalar_one()
        )  # fmt: skip
        conn.execute(
            insert(ServiceRequest).values(
                request_id=str(rid), originator_eui=rid.originator, srv=request.srv, received_at=now,
                status=RequestStatus.QUARANTINED, response_code=codes.REQUEST_QUARANTINED, firmware_version=version,
                device_count=m.devices, accepted_count=0, detail=f"quarantine event {ref}: {breach.reason}"[:1000],
            )
        )  # fmt: skip
        self.alerts.write(
            conn,
            [
                PendingAlert(
                    alert_id=f"ad1:{ref}",
                    recipient=rid.originator,
                    alert=QuarantinedRequest(breach.kind, rid, ref),
                    request_id=rid,
                )
            ],
            now,
        )
        return Held(ref, breach.kind, breach.reason)


def _count(n: int, noun: str) -> str:
    """'1 request', '2 requests', '250,000 devices'."""
    return f"{n:,} {noun}{'' if n == 1 else 's'}"
