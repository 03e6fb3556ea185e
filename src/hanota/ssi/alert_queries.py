"""What the SSI's alert inbox reads: the alerts as sent and delivered (and their CSV), one alert's XML, the
recipients whose endpoint is failing and the dead letters waiting for an operator."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import Connection, text

from hanota.alerts.states import AlertDelivery
from hanota.ssi.queries import Page, Scope, finish, page_of, stream
from hanota.ssi.store import as_datetime

ALERT_CSV = (
    "id", "alert_id", "recipient_eui", "code", "kind", "request_id", "device_id", "created_at", "delivered_at",
    "mailbox", "tries", "last_attempt_at", "dead_at", "last_error",
)  # fmt: skip

#: the inbox's delivery filter: each name and its condition on alert_outbox `a`
ALERT_DELIVERY: dict[str, str] = {
    AlertDelivery.PENDING: "a.delivered_at IS NULL AND a.dead_at IS NULL AND a.mailbox = :false",
    AlertDelivery.DEAD: "a.dead_at IS NOT NULL AND a.delivered_at IS NULL",
    AlertDelivery.MAILBOX: "a.delivered_at IS NULL AND a.mailbox = :true",
    AlertDelivery.DELIVERED: "a.delivered_at IS NOT NULL",
}

_ALERTS_SELECT = (
    "SELECT a.id, a.alert_id, a.recipient_eui, a.code, a.kind, s.request_id, s.originator_eui, a.request_pk, "
    "a.device_id, a.created_at, a.delivered_at, a.mailbox, a.attempts, a.tries, a.last_attempt_at, a.dead_at, "
    "a.last_error FROM alert_outbox a LEFT JOIN service_requests s ON s.id = a.request_pk"
)


def _alerts_stmt(
    scope: Scope, kind: str | None, before: int | None, limit: int | None, delivery: str | None = None
) -> tuple[Any, dict[str, Any]]:
    where: list[str] = []
    params: dict[str, Any] = {}
    if not scope.operator:
        where.append("a.recipient_eui = :me")
        params["me"] = scope.eui
    if kind:
        where.append("a.kind = :kind")
        params["kind"] = kind
    if delivery:
        where.append(ALERT_DELIVERY[delivery])  # a constant fragment picked by name, never input
        params.update({"true": True, "false": False})
    if before is not None:
        where.append("a.id < :before")
        params["before"] = before
    return text(finish(_ALERTS_SELECT, where, "a.id DESC", params, limit)), params


def _alert_row(r: Any) -> dict[str, Any]:
    d = dict(r._mapping)
    d["created_at"] = as_datetime(d["created_at"])
    d["delivered_at"] = as_datetime(d["delivered_at"])
    d["last_attempt_at"] = as_datetime(d["last_attempt_at"])
    d["dead_at"] = as_datetime(d["dead_at"])
    d["mailbox"] = bool(d["mailbox"])
    return d


def alerts_page(
    conn: Connection,
    scope: Scope,
    kind: str | None,
    before: int | None,
    size: int,
    delivery: str | None = None,
) -> Page:
    stmt, params = _alerts_stmt(scope, kind, before, size + 1, delivery)
    return page_of([_alert_row(r) for r in conn.execute(stmt, params)], size, "id")


def alerts_csv(
    conn: Connection, scope: Scope, kind: str | None, delivery: str | None = None
) -> Iterator[Sequence[Any]]:
    stmt, params = _alerts_stmt(scope, kind, None, None, delivery)
    for r in stream(conn, stmt, params):
        d = _alert_row(r)
        yield [d[c] for c in ALERT_CSV]


def failing_endpoints(conn: Connection, scope: Scope) -> list[dict[str, Any]]:
    """Recipients whose endpoint is failing (paused or probed one alert at a time), with what waits for them
    and what was dead-lettered; a supplier sees only its own."""
    where = "r.failures > 0" + ("" if scope.operator else " AND r.recipient_eui = :me")
    rows = conn.execute(
        text(
            "SELECT r.recipient_eui, r.failures, r.failing_since, r.paused_until, r.last_error, u.alert_endpoint, "  # noqa: S608
            "(SELECT count(*) FROM alert_outbox a WHERE a.recipient_eui = r.recipient_eui "
            " AND a.delivered_at IS NULL AND a.dead_at IS NULL AND a.mailbox = :false) AS waiting "
            "FROM alert_recipients r LEFT JOIN users u ON u.eui = r.recipient_eui WHERE " + where + " "
            "ORDER BY r.failing_since"
        ),
        {"false": False, "me": scope.eui},
    )
    out = []
    for r in rows:
        d = dict(r._mapping)
        d["failing_since"] = as_datetime(d["failing_since"])
        d["paused_until"] = as_datetime(d["paused_until"])
        out.append(d)
    return out


def dead_letter_count(conn: Connection, scope: Scope) -> int:
    where = "" if scope.operator else " AND recipient_eui = :me"
    return int(
        conn.execute(
            text(
                "SELECT count(*) FROM alert_outbox WHERE dead_at IS NOT NULL AND delivered_at IS NULL" + where  # noqa: S608
            ),
            {"me": scope.eui},
        ).scalar_one()
    )


def alert_kinds(conn: Connection) -> list[str]:
    return [r[0] for r in conn.execute(text("SELECT DISTINCT kind FROM alert_outbox ORDER BY kind"))]


def get_alert(conn: Connection, scope: Scope, pk: int) -> tuple[dict[str, Any], bytes] | None:
    stmt, params = _alerts_stmt(scope, None, pk + 1, 1)
    r = conn.execute(stmt, params).first()
    if r is None or r.id != pk:
        return None
    body = conn.execute(text("SELECT body FROM alert_outbox WHERE id = :id"), {"id": pk}).scalar_one()
    return _alert_row(r), bytes(body)
