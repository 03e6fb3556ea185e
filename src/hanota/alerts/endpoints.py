"""A User's alert endpoint (``users.alert_endpoint``): where the DSP POSTs its DCC Alerts and asynchronous
DUIS responses; none means the User's mailbox (`hanota.alerts.mailbox`).

`set_endpoint` is the one way the product changes it (``hanota users set-endpoint`` and the SSI's account
page): it checks the URL (`endpoint_problem`), who may change it (the User itself, or an Active DCC
operator for any User), and in one transaction writes the new value, forgets the recipient's failing state
(``alert_recipients``: the pause and the failure count were earned by the old address, the new one starts
healthy) and appends an audit entry (``alerts.endpoint``, target ``user:<EUI>``, the values before and after).
Setting the value it already has changes nothing and is not audited.

What does not move: alerts already in the mailbox stay there when an endpoint is set (pull them with
``hanota alerts pull``); alerts waiting for a retry keep their own backoff (at most 30 minutes), then go to
the new address; alerts written while there is no endpoint go to the mailbox.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy import Connection, delete, func, select, update

from hanota.anomaly import audit
from hanota.db.models import AlertOutbox, AlertRecipient, Role, User, UserStatus
from hanota.errors import AccessError, InputError

MAX_ENDPOINT = 500  # users.alert_endpoint is String(500)
AUDIT_ACTION = "alerts.endpoint"
_FORBIDDEN = re.compile(r"[\x00-\x20\x7f]")


class UnknownUser(InputError):
    """No User with that EUI."""


def endpoint_problem(url: str) -> str | None:
    """Why `url` cannot be an alert endpoint (None: it can): an absolute http:// or https:// URL with a
    host, at most 500 characters, ASCII without spaces or control characters, no user:password@ part
    (the endpoint is shown on the SSI and in the audit trail) and no #fragment."""
    shown = url[:100]
    if not url.startswith(("http://", "https://")):
        return f"endpoint {shown!r} is not an http(s) URL"
    if len(url) > MAX_ENDPOINT:
        return f"an endpoint is at most {MAX_ENDPOINT} characters (this one has {len(url)})"
    if not url.isascii() or _FORBIDDEN.search(url):
        return (
            f"endpoint {shown!r} has spaces, control or non-ASCII characters "
            "(percent-encode them; an international host name in its xn-- form)"
        )
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as e:
        return f"endpoint {shown!r} is not a valid URL: {e}"
    if not parts.hostname:
        return f"endpoint {shown!r} has no host"
    if port == 0:
        return f"endpoint {shown!r} has port 0"
    if parts.username is not None or parts.password is not None:
        return "an endpoint may not carry a user name or password (it is shown on the SSI and in the audit trail)"
    if parts.fragment or url.endswith("#"):
        return f"endpoint {shown!r} has a #fragment, which HTTP never sends"
    return None


def check_endpoint(url: str) -> str:
    """`url` with surrounding spaces removed, or InputError saying why it cannot be an endpoint."""
    url = url.strip()
    problem = endpoint_problem(url)
    if problem is not None:
        raise InputError(problem)
    return url


@dataclass(frozen=True)
class EndpointChange:
    user: str
    before: str | None
    after: str | None
    reset_failing: bool  # the recipient was failing at the old address: that state was dropped
    in_mailbox: int  # the User's undelivered alerts in the mailbox (they stay there)

    @property
    def changed(self) -> bool:
        return self.before != self.after


def set_endpoint(
    conn: Connection, *, user: str, url: str | None, actor: str, reason: str, now: datetime
) -> EndpointChange:
    """Set (`url`) or clear (None: mailbox delivery) `user`'s alert endpoint as `actor`, in the caller's
    transaction. InputError for a bad URL or an unknown User; AccessError if `actor` is neither `user` nor an
    Active DCC operator. Nothing is written unless every check passed."""
    after = None if url is None else check_endpoint(url)
    row = conn.execute(select(User.alert_endpoint).where(User.eui == user)).first()
    if row is None:
        raise UnknownUser(f"{user} is not a DCC User")
    if actor != user:
        who = conn.execute(select(User.roles, User.status).where(User.eui == actor)).first()
        if who is None or who.status != UserStatus.ACTIVE or Role.DCC.value not in who.roles.split():
            raise AccessError(
                f"{actor} may not change another User's alert endpoint (only a DCC operator may)"
            )
    before: str | None = row.alert_endpoint
    in_mailbox = int(
        conn.execute(
            select(func.count())
            .select_from(AlertOutbox)
            .where(
                AlertOutbox.recipient_eui == user,
                AlertOutbox.mailbox.is_(True),
                AlertOutbox.delivered_at.is_(None),
            )
        ).scalar_one()
    )
    if before == after:
        return EndpointChange(user, before, after, False, in_mailbox)
    conn.execute(update(User).where(User.eui == user).values(alert_endpoint=after))
    failing = conn.execute(
        select(AlertRecipient.failures).where(AlertRecipient.recipient_eui == user)
    ).scalar_one_or_none()
    # the pause and failure count belong to the old address: the new one (or the mailbox) starts healthy
    conn.execute(delete(AlertRecipient).where(AlertRecipient.recipient_eui == user))
    detail = {"before": before, "after": after, "failing_reset": bool(failing)}
    audit.record(
        conn, actor=actor, action=AUDIT_ACTION, target=f"user:{user}", reason=reason, detail=detail, now=now
    )
    return EndpointChange(user, before, after, bool(failing), in_mailbox)
