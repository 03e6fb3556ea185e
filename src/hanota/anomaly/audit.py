"""The audit trail of anomaly detection: every threshold change and every quarantine decision, with who
(the acting User or DCC operator), when (the injected clock), what (action, target, values before and
after) and why (a free-text reason, required for operator decisions)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select

from hanota.db.models import AnomalyAudit

#: The actions written, and what their `target` names.
ACTIONS = {
    "threshold.set": "user:<EUI>/srv:<SRV>",
    "threshold.clear": "user:<EUI>/srv:<SRV>",
    "policy.set": "srv:<SRV>",
    "policy.reset": "srv:<SRV>",
    "quarantine.release": "quarantine:<event ref>",
    "quarantine.delete": "quarantine:<event ref>",
    "token.issue": "user:<EUI>",
    "token.revoke": "user:<EUI>",
    "alerts.redeliver": "alert:<ID> | recipient:<EUI> | alerts:all",
    "alerts.endpoint": "user:<EUI>",
}


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: datetime
    actor_eui: str
    action: str
    target: str
    reason: str
    detail: dict[str, Any]


def record(
    conn: Connection,
    *,
    actor: str,
    action: str,
    target: str,
    reason: str,
    detail: dict[str, Any],
    now: datetime,
) -> None:
    """Append one entry, inside the caller's transaction (so it commits with the change it describes)."""
    if action not in ACTIONS:
        raise ValueError(f"unknown audit action {action!r}")
    conn.execute(
        insert(AnomalyAudit).values(
            at=now, actor_eui=actor, action=action, target=target, reason=reason,
            detail=json.dumps(detail, sort_keys=True, default=str),
        )
    )  # fmt: skip


def list_audit(
    conn: Connection, *, target: str | None = None, actor_eui: str | None = None, limit: int = 100
) -> list[AuditEntry]:
    """The newest entries first; optionally only one target (e.g. ``quarantine:7``) or one actor."""
    query = select(AnomalyAudit).order_by(AnomalyAudit.id.desc()).limit(max(1, min(limit, 10_000)))
    if target is not None:
        query = query.where(AnomalyAudit.target == target)
    if actor_eui is not None:
        query = query.where(AnomalyAudit.actor_eui == actor_eui)
    return [
        AuditEntry(r.id, r.at, r.actor_eui, r.action, r.target, r.reason, json.loads(r.detail))
        for r in conn.execute(query)
    ]
