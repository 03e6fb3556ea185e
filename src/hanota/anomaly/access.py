"""Who may act: a User on its own thresholds, a DCC operator on everything; and the bearer tokens of the
anomaly JSON API.

A DCC operator is a User whose roles include ``DCC`` and whose status is Active (the estate's operator is
``90-B3-D5-1F-60-00-00-01``, "DCC Service Desk"). Tokens are random (256 bits), shown once when issued, and
kept only as their SHA-256; a token acts as the User it was issued to, with that User's rights.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, insert, select, update

from hanota.anomaly import audit
from hanota.anomaly.errors import NotFound, NotPermitted
from hanota.db.models import AnomalyApiToken, Role, User, UserStatus


@dataclass(frozen=True)
class Actor:
    """An authenticated party: a User, and whether it is a DCC operator."""

    eui: str
    roles: frozenset[str]
    operator: bool


def actor(conn: Connection, eui: str) -> Actor:
    """The Active User `eui` (NotFound if unknown, NotPermitted if not Active)."""
    row = conn.execute(select(User.roles, User.status).where(User.eui == eui)).first()
    if row is None:
        raise NotFound(f"{eui} is not a DCC User")
    if row.status != UserStatus.ACTIVE:
        raise NotPermitted(f"{eui} is {row.status}")
    roles = frozenset(row.roles.split())
    return Actor(eui, roles, Role.DCC.value in roles)


def require_operator(conn: Connection, eui: str) -> Actor:
    """The Active DCC operator `eui`, or NotPermitted."""
    who = actor(conn, eui)
    if not who.operator:
        raise NotPermitted(f"{eui} is not a DCC operator (role DCC)")
    return who


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(conn: Connection, *, user_eui: str, issued_by: str, reason: str, now: datetime) -> str:
    """A new API token for `user_eui` (an Active User); the token itself is returned once and not stored."""
    actor(conn, user_eui)
    token = secrets.token_urlsafe(32)
    conn.execute(
        insert(AnomalyApiToken).values(
            token_sha256=_digest(token), user_eui=user_eui, created_at=now, created_by=issued_by[:80]
        )
    )
    audit.record(conn, actor=issued_by[:23], action="token.issue", target=f"user:{user_eui}", reason=reason,
                 detail={"token_sha256_prefix": _digest(token)[:12]}, now=now)  # fmt: skip
    return token


def revoke_tokens(conn: Connection, *, user_eui: str, revoked_by: str, reason: str, now: datetime) -> int:
    """Revoke every live token of `user_eui`; returns how many."""
    n = conn.execute(
        update(AnomalyApiToken)
        .where(AnomalyApiToken.user_eui == user_eui, AnomalyApiToken.revoked_at.is_(None))
        .values(revoked_at=now)
    ).rowcount
    audit.record(conn, actor=revoked_by[:23], action="token.revoke", target=f"user:{user_eui}", reason=reason,
                 detail={"revoked": n}, now=now)  # fmt: skip
    return int(n or 0)


def authenticate(conn: Connection, token: str) -> Actor | None:
    """The Actor a bearer token stands for, or None (unknown, revoked, or its User no longer Active)."""
    if not token or len(token) > 200:
        return None
    eui = conn.execute(
        select(AnomalyApiToken.user_eui).where(
            AnomalyApiToken.token_sha256 == _digest(token), AnomalyApiToken.revoked_at.is_(None)
        )
    ).scalar_one_or_none()
    if eui is None:
        return None
    try:
        return actor(conn, eui)
    except (NotFound, NotPermitted):
        return None
