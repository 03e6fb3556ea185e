"""DCC Alerts into the outbox: built, signed over the exact bytes that will be sent, and written in the
caller's transaction with a stable ID (a resend or a re-run of the cause never makes a second one).

The outbox's one writer: the DCC Alerts of delivery events (`AlertWriter.write`) and the notices that answer
a quarantined request once an operator decided (`AlertWriter.write_notice`) make their rows here alike."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import Connection, select

from hanota.db.bulk import insert_or_ignore
from hanota.db.models import AlertOutbox, User
from hanota.duis import RequestID, Signer, codes
from hanota.duis.alerts import DCCAlert, DCCAlertMessage
from hanota.duis.responses import Response, render_response_element


class _Row(NamedTuple):
    """One outbox row before its recipient's endpoint is known."""

    alert_id: str
    recipient: str
    code: str
    kind: str
    request_pk: int | None
    device_id: str | None
    body: bytes


def _insert(conn: Connection, rows: Sequence[_Row], now: datetime) -> int:
    """Insert the rows (skipping IDs already there), each for its recipient's endpoint or, without one, its
    mailbox; returns how many were new."""
    recipients = {r.recipient for r in rows}
    endpoints = dict(
        conn.execute(select(User.eui, User.alert_endpoint).where(User.eui.in_(recipients))).all()
    )
    values = [
        {
            "alert_id": r.alert_id, "recipient_eui": r.recipient, "code": r.code, "kind": r.kind,
            "request_pk": r.request_pk, "device_id": r.device_id, "created_at": now, "body": r.body,
            "attempts": 0, "next_attempt_at": now, "mailbox": endpoints.get(r.recipient) is None,
        }
        for r in rows
    ]  # fmt: skip
    result = conn.execute(insert_or_ignore(conn, AlertOutbox, key="alert_id"), values)
    return int(result.rowcount or 0)


@dataclass(frozen=True)
class PendingAlert:
    alert_id: str  # stable: derived from the cause, never random
    recipient: str
    alert: DCCAlert
    request_pk: int | None = None
    request_id: RequestID | None = None
    device_id: str | None = None


class AlertWriter:
    def __init__(self, signer: Signer) -> None:
        self.signer = signer

    def render(self, a: PendingAlert, now: datetime) -> tuple[str, bytes]:
        msg = DCCAlertMessage.of(a.alert)
        resp = Response(a.request_id, codes.SUCCESS, now, msg)
        return msg.code, self.signer.sign_element(render_response_element(resp))

    def write(
        self,
        conn: Connection,
        alerts: Sequence[PendingAlert],
        now: datetime,
        *,
        rendered: Sequence[tuple[str, bytes]] | None = None,
    ) -> int:
        """Insert the alerts (skipping IDs already there); returns how many were new. The same alert object
        for several recipients (A-009: every interested supplier) is rendered and signed once.

        `rendered`: the alerts' `render(a, now)` results made beforehand (e.g. signed in a process pool
        outside the transaction), one per alert in the same order.
        """
        if not alerts:
            return 0
        if rendered is not None and len(rendered) != len(alerts):
            raise ValueError("rendered must hold one (code, body) per alert")
        rows = []
        signed: dict[tuple[int, str], tuple[str, bytes]] = {}  # one alert to several suppliers: signed once
        for i, a in enumerate(alerts):
            if rendered is not None:
                code, body = rendered[i]
            else:
                key = (id(a.alert), str(a.request_id))
                if key not in signed:
                    signed[key] = self.render(a, now)
                code, body = signed[key]
            rows.append(
                _Row(a.alert_id, a.recipient, code, type(a.alert).__name__, a.request_pk, a.device_id, body)
            )
        return _insert(conn, rows, now)

    def write_notice(
        self,
        conn: Connection,
        *,
        alert_id: str,
        recipient: str,
        response: Response,
        kind: str,
        request_pk: int | None,
        now: datetime,
    ) -> int:
        """Insert a whole signed `sr:Response` for `recipient` as an alert of `kind` (a quarantine notice:
        `hanota.anomaly.quarantine`), skipped if `alert_id` is already there; returns 1 if it was new."""
        body = self.signer.sign_element(render_response_element(response))
        return _insert(
            conn, [_Row(alert_id, recipient, response.response_code, kind, request_pk, None, body)], now
        )
