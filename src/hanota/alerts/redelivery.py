"""Dead-lettered alerts sent again by hand (`hanota dead-letters retry alerts`, `hanota alerts redeliver`,
the SSI's outbox page): same ID and bytes, a fresh try count, their recipients' pauses lifted."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, Connection, select, update

from hanota.db.models import AlertOutbox, AlertRecipient
from hanota.logs import get_logger

log = get_logger("hanota.alerts.delivery")


def redeliver(
    conn: Connection, now: datetime, *, alert_ids: Sequence[str] = (), recipient: str | None = None
) -> int:
    """Send dead-lettered alerts again (by ID, or all of a recipient's, or all): they become due now with a
    fresh try count, the same ID and bytes; their recipients' pauses are lifted. Returns how many."""
    dead: list[ColumnElement[bool]] = [AlertOutbox.dead_at.is_not(None), AlertOutbox.delivered_at.is_(None)]
    if alert_ids:
        dead.append(AlertOutbox.alert_id.in_(list(alert_ids)))
    if recipient is not None:
        dead.append(AlertOutbox.recipient_eui == recipient)
    recipients = select(AlertOutbox.recipient_eui).where(*dead).distinct()
    conn.execute(
        update(AlertRecipient)
        .where(AlertRecipient.recipient_eui.in_(recipients))
        .values(paused_until=None, updated_at=now)
    )
    n = conn.execute(
        update(AlertOutbox).where(*dead).values(dead_at=None, tries=0, next_attempt_at=now)
    ).rowcount
    if n:
        log.info("dead-lettered alerts queued again by hand", count=n, recipient=recipient)
    return int(n)


__all__ = ["redeliver"]
