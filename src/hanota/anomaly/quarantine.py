"""Quarantined requests: list them, and a DCC operator's decision — release or delete — with the User told.

Every function takes a `Connection` in an open transaction (``with engine.begin() as conn: …``); the caller
commits. Decisions are race-free: the request's row moves from ``quarantined`` to ``released`` / ``deleted``
with one conditional UPDATE, so of two operators deciding at once exactly one wins (the other gets
AlreadyDecided) and a request is never processed twice.

**Release** processes the request exactly as if just received, in the same transaction: the stored signed
bytes are verified again (at the time they were received), access control runs again (a User suspended
meanwhile gets E3, as a new request would), the RequestID counter is not checked again (it was advanced on
arrival, so this is no replay), the request is counted for its User and the DCC (without a threshold check:
the operator's decision overrides it), then the SR handler runs and records its usual rows.

**How the User is told.** On release, the request's normal answer (the signed ``sr:Response`` the DSP would
have returned, e.g. I0 or W110401 with its warning lists, or a handler refusal) is written to the alert
outbox for the User (kind ``QuarantineReleased``, stable ID ``adr:<event ref>``), to be delivered to its
endpoint or held in its mailbox like any DCC alert. On delete, a signed ``sr:Response`` to the original
RequestID with code E43 is written the same way (kind ``QuarantineDeleted``, ID ``add:<event ref>``): the
final answer "held by anomaly detection and not processed". Both carry the original RequestID, so the User
matches them to its request; both are in the audit trail with who, when and why.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy import Connection, select, update
from sqlalchemy import delete as sql_delete

from hanota.alerts.outbox import AlertWriter
from hanota.anomaly import audit
from hanota.anomaly.access import require_operator
from hanota.anomaly.errors import AlreadyDecided, AnomalyError, NotFound, OutOfBounds
from hanota.anomaly.guard import count
from hanota.db.models import QuarantinedRequestRow, ServiceRequest
from hanota.duis import RequestID, Response, Signer, codes
from hanota.duis.responses import ResponseMessage
from hanota.errors import HanotaError
from hanota.lifecycle import QuarantineStatus, RequestStatus

STATUSES = tuple(QuarantineStatus)
RELEASED_KIND = "QuarantineReleased"
DELETED_KIND = "QuarantineDeleted"


class QuarantineProcessor(Protocol):
    """What release and delete need from the DSP (`hanota.dsp.service.DSPService` is one)."""

    @property
    def signer(self) -> Signer:
        """The DSP's signing identity, for the notices to the User."""
        ...

    def reprocess(
        self,
        conn: Connection,
        signed: bytes,
        *,
        received_at: datetime,
        now: datetime,
        before_handler: Callable[[Connection], None],
    ) -> tuple[Response, str | None]:
        """Process `signed` as if just received, inside `conn`'s transaction (see the module docstring);
        `before_handler` runs once access control has passed. Returns the answer and a refusal's reason."""
        ...


@dataclass(frozen=True)
class QuarantineEntry:
    """A quarantined request as the SSI and the API show it (without the stored bytes)."""

    event_ref: int
    request_id: str
    originator_eui: str
    srv: str
    kind: str
    reason: str
    received_at: datetime
    device_count: int
    image_size: int
    status: str
    decided_at: datetime | None
    decided_by: str | None
    decision_reason: str | None
    outcome_code: str | None


@dataclass(frozen=True)
class Decision:
    """The result of a release or delete: the entry after it, the code the User was told, the notice's ID."""

    entry: QuarantineEntry
    response_code: str
    notice_alert_id: str


_COLUMNS = (
    QuarantinedRequestRow.id.label("event_ref"), QuarantinedRequestRow.request_id, QuarantinedRequestRow.originator_eui,
    QuarantinedRequestRow.srv, QuarantinedRequestRow.kind, QuarantinedRequestRow.reason,
    QuarantinedRequestRow.received_at, QuarantinedRequestRow.device_count, QuarantinedRequestRow.image_size,
    QuarantinedRequestRow.status, QuarantinedRequestRow.decided_at, QuarantinedRequestRow.decided_by,
    QuarantinedRequestRow.decision_reason, QuarantinedRequestRow.outcome_code,
)  # fmt: skip


def list_quarantined(
    conn: Connection,
    *,
    user_eui: str | None = None,
    status: str | None = QuarantineStatus.QUARANTINED,
    srv: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[QuarantineEntry]:
    """Quarantined requests, oldest first: by default those still awaiting a decision. `user_eui` limits
    them to one User (what a User may see of its own), `status` to one of STATUSES (None: all), `srv` to
    one SRV. At most `limit` (1–1,000) from `offset`."""
    if status is not None and status not in STATUSES:
        raise OutOfBounds(f"status must be one of {', '.join(STATUSES)}")
    query = select(*_COLUMNS).order_by(QuarantinedRequestRow.received_at, QuarantinedRequestRow.id)
    if user_eui is not None:
        query = query.where(QuarantinedRequestRow.originator_eui == user_eui)
    if status is not None:
        query = query.where(QuarantinedRequestRow.status == status)
    if srv is not None:
        query = query.where(QuarantinedRequestRow.srv == srv)
    query = query.limit(max(1, min(limit, 1000))).offset(max(0, offset))
    return [QuarantineEntry(**row._mapping) for row in conn.execute(query)]


def get_quarantined(conn: Connection, event_ref: int) -> QuarantineEntry:
    """One quarantined request by its QuarantineEventRef (NotFound if there is none)."""
    row = conn.execute(select(*_COLUMNS).where(QuarantinedRequestRow.id == event_ref)).first()
    if row is None:
        raise NotFound(f"no quarantine event {event_ref}")
    return QuarantineEntry(**row._mapping)


def signed_request(conn: Connection, event_ref: int) -> bytes:
    """The quarantined request exactly as received (the signed sr:Request), for an operator to inspect."""
    body = conn.execute(
        select(QuarantinedRequestRow.body).where(QuarantinedRequestRow.id == event_ref)
    ).scalar_one_or_none()
    if body is None:
        raise NotFound(f"no quarantine event {event_ref}")
    return bytes(body)


def _require_reason(reason: str) -> str:
    if not reason or not reason.strip():
        raise OutOfBounds("a reason is required (it goes into the audit trail)")
    if len(reason) > 2000:
        raise OutOfBounds("the reason is over 2,000 characters")
    return reason.strip()


def _claim(
    conn: Connection, event_ref: int, status: str, operator_eui: str, reason: str, now: datetime
) -> QuarantineEntry:
    """Move the event from quarantined to `status`, or refuse (NotFound / AlreadyDecided)."""
    moved = conn.execute(
        update(QuarantinedRequestRow)
        .where(
            QuarantinedRequestRow.id == event_ref,
            QuarantinedRequestRow.status == QuarantineStatus.QUARANTINED,
        )
        .values(status=status, decided_at=now, decided_by=operator_eui, decision_reason=reason)
    ).rowcount
    entry = get_quarantined(conn, event_ref)
    if not moved:
        raise AlreadyDecided(
            f"quarantine event {event_ref} was already {entry.status} by {entry.decided_by} at {entry.decided_at}"
        )
    return entry


def _notify(
    conn: Connection, signer: Signer, *, alert_id: str, recipient: str, response: Response, kind: str,
    request_pk: int | None, now: datetime,
) -> None:  # fmt: skip
    """Write the signed answer to the User into the alert outbox (stable ID; a re-run never doubles it)."""
    AlertWriter(signer).write_notice(
        conn,
        alert_id=alert_id,
        recipient=recipient,
        response=response,
        kind=kind,
        request_pk=request_pk,
        now=now,
    )


def release(
    conn: Connection,
    processor: QuarantineProcessor,
    *,
    event_ref: int,
    operator_eui: str,
    reason: str,
    now: datetime,
) -> Decision:
    """Release quarantine event `event_ref`: process the request exactly as if just received, count it, and
    send the User its answer (module docstring). `operator_eui` must be an Active DCC operator; `reason`
    is required. Raises NotPermitted, NotFound, AlreadyDecided or OutOfBounds (no reason); on any error
    nothing changes. Audited as ``quarantine.release`` with the answer's code."""
    require_operator(conn, operator_eui)
    why = _require_reason(reason)
    entry = _claim(conn, event_ref, QuarantineStatus.RELEASED, operator_eui, why, now)
    signed = signed_request(conn, event_ref)
    conn.execute(
        sql_delete(ServiceRequest).where(
            ServiceRequest.request_id == entry.request_id, ServiceRequest.status == RequestStatus.QUARANTINED
        )
    )  # the handler records the request anew, as for any request just received

    def count_it(c: Connection) -> None:
        count(c, originator=entry.originator_eui, srv=entry.srv, devices=entry.device_count, now=now)

    try:
        response, refusal = processor.reprocess(
            conn, signed, received_at=entry.received_at, now=now, before_handler=count_it
        )
    except HanotaError as e:  # the stored bytes no longer parse (e.g. a lowered size limit): nothing changes
        raise AnomalyError(f"quarantine event {event_ref} cannot be processed: {e.message}") from e
    code = response.response_code
    conn.execute(
        update(QuarantinedRequestRow).where(QuarantinedRequestRow.id == event_ref).values(outcome_code=code)
    )
    request_pk = conn.execute(
        select(ServiceRequest.id).where(ServiceRequest.request_id == entry.request_id)
    ).scalar_one_or_none()
    alert_id = f"adr:{event_ref}"
    _notify(conn, processor.signer, alert_id=alert_id, recipient=entry.originator_eui, response=response,
            kind=RELEASED_KIND, request_pk=request_pk, now=now)  # fmt: skip
    audit.record(conn, actor=operator_eui, action="quarantine.release", target=f"quarantine:{event_ref}",
                 reason=why, now=now,
                 detail={"request_id": entry.request_id, "srv": entry.srv, "kind": entry.kind,
                         "response_code": code, "refusal": refusal, "notice": alert_id})  # fmt: skip
    return Decision(get_quarantined(conn, event_ref), code, alert_id)


def delete(
    conn: Connection,
    processor: QuarantineProcessor,
    *,
    event_ref: int,
    operator_eui: str,
    reason: str,
    now: datetime,
) -> Decision:
    """Delete quarantine event `event_ref`: the request is never processed; its service_requests row
    becomes ``deleted`` and the User gets a signed E43 answer to its RequestID (module docstring). Same
    rights, errors and audit as `release` (``quarantine.delete``). The stored bytes are kept as evidence."""
    require_operator(conn, operator_eui)
    why = _require_reason(reason)
    entry = _claim(conn, event_ref, QuarantineStatus.DELETED, operator_eui, why, now)
    code = codes.REQUEST_QUARANTINED
    conn.execute(
        update(QuarantinedRequestRow).where(QuarantinedRequestRow.id == event_ref).values(outcome_code=code)
    )
    conn.execute(
        update(ServiceRequest)
        .where(
            ServiceRequest.request_id == entry.request_id, ServiceRequest.status == RequestStatus.QUARANTINED
        )
        .values(
            status=RequestStatus.DELETED,
            detail=f"quarantine event {event_ref} deleted by {operator_eui}: {why}"[:1000],
        )
    )
    request_pk = conn.execute(
        select(ServiceRequest.id).where(ServiceRequest.request_id == entry.request_id)
    ).scalar_one_or_none()
    response = Response(RequestID.parse(entry.request_id), code, now, ResponseMessage(entry.srv))
    alert_id = f"add:{event_ref}"
    _notify(conn, processor.signer, alert_id=alert_id, recipient=entry.originator_eui, response=response,
            kind=DELETED_KIND, request_pk=request_pk, now=now)  # fmt: skip
    audit.record(conn, actor=operator_eui, action="quarantine.delete", target=f"quarantine:{event_ref}",
                 reason=why, now=now,
                 detail={"request_id": entry.request_id, "srv": entry.srv, "kind": entry.kind,
                         "response_code": code, "notice": alert_id})  # fmt: skip
    return Decision(get_quarantined(conn, event_ref), code, alert_id)
