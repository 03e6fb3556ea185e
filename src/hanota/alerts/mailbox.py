"""The alert mailbox: a User without an alert endpoint reads its undelivered alerts and acknowledges them.

Authentication is a signed request, DUIS style. The User signs a small XML document with its own
XML-signing key (role 135, the key it signs DUIS requests with), with the DUIS signature profile::

    <mb:MailboxRequest xmlns:mb="urn:hanota:alert-mailbox:1" action="pull">
      <mb:RequestID>90-B3-D5-1F-30-01-00-00:90-B3-D5-1F-30-00-00-02:1767225600000</mb:RequestID>
      <mb:Created>2026-01-01T00:00:00.000Z</mb:Created>
      <mb:Limit>100</mb:Limit>                      (pull: at most this many, 1..1000, default 100)
      <mb:AlertID>…</mb:AlertID> …                  (ack: 1..1000 alert IDs)
      <ds:Signature>…</ds:Signature>
    </mb:MailboxRequest>

The DSP checks, in order: the hardened parse (400); the signature over the bytes received, against the
store's trust table, by a role-135 certificate whose EUI is the RequestID's originator (401: a forged
request, or one User signing for another); the document's shape, read from the signed content only (400);
the action is the one of the URL (400: a signed pull is no ack); the RequestID's target is the DCC (400);
``Created`` within ``FRESHNESS_SECONDS`` of the DSP's clock (401: a stale or post-dated request). Then, in
one transaction: the originator is a known, Active User (403) and the RequestID counter is greater than
the last one accepted from that User (409: a replay) — the very counter DUIS requests advance, so a
mailbox request and a DUIS request can never reuse each other's counter. Only then does the User see its
own mailbox alerts, and an ack can only acknowledge the User's own alerts (others' IDs are reported
``unknown``, exactly like IDs that do not exist).

A pull does not change the alerts: it returns the oldest undelivered mailbox alerts (the exact signed
bytes, base64) with their IDs; an ack marks the named ones delivered. So a User that crashes between
pull and ack pulls the same alerts, with the same IDs, again.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal

from lxml import etree
from sqlalchemy import Connection, Engine, func, select, update

from hanota.clock import Clock
from hanota.db.counters import advance_counter
from hanota.db.models import AlertOutbox, User, UserStatus
from hanota.duis import RequestID, Signer, Verifier, codes, parse_document
from hanota.duis.values import render_datetime
from hanota.errors import AccessError, InputError, ReplayError, SignatureError

NS: Final = "urn:hanota:alert-mailbox:1"
_MB: Final = "{" + NS + "}"
Action = Literal["pull", "ack"]
ACTIONS: Final = ("pull", "ack")
DEFAULT_PULL: Final = 100
MAX_PULL: Final = 1000
MAX_ACK: Final = 1000
FRESHNESS_SECONDS: Final = 300
MAX_MAILBOX_REQUEST_BYTES: Final = 256 * 1024
_MAX_ALERT_ID: Final = 80  # alert_outbox.alert_id is String(80)


class StaleRequest(SignatureError):
    """`Created` is too far from the DSP's clock: the request may be a recording."""


@dataclass(frozen=True)
class MailboxRequest:
    action: Action
    request_id: RequestID
    created: datetime
    limit: int = DEFAULT_PULL
    alert_ids: tuple[str, ...] = ()


@dataclass(frozen=True)
class MailboxAlert:
    alert_id: str
    code: str
    kind: str
    created_at: datetime
    body: bytes

    def as_json(self) -> dict[str, str]:
        return {
            "alert_id": self.alert_id,
            "code": self.code,
            "kind": self.kind,
            "created_at": self.created_at.isoformat(),
            "body": base64.b64encode(self.body).decode("ascii"),
        }


@dataclass(frozen=True)
class PullResult:
    user: str
    alerts: tuple[MailboxAlert, ...]
    remaining: int  # undelivered mailbox alerts after these

    def as_json(self) -> dict[str, object]:
        return {"user": self.user, "alerts": [a.as_json() for a in self.alerts], "remaining": self.remaining}


@dataclass(frozen=True)
class AckResult:
    user: str
    acknowledged: tuple[str, ...]
    already: tuple[str, ...]
    unknown: tuple[str, ...]

    def as_json(self) -> dict[str, object]:
        return {"user": self.user, "acknowledged": list(self.acknowledged), "already": list(self.already),
                "unknown": list(self.unknown)}  # fmt: skip


# -- the request document ------------------------------------------------------------------------------


def render_request(req: MailboxRequest) -> bytes:
    """The unsigned document (sign it with the User's `Signer`)."""
    root = etree.Element(_MB + "MailboxRequest", nsmap={"mb": NS})
    root.set("action", req.action)
    etree.SubElement(root, _MB + "RequestID").text = str(req.request_id)
    etree.SubElement(root, _MB + "Created").text = render_datetime(req.created)
    if req.action == "pull":
        etree.SubElement(root, _MB + "Limit").text = str(req.limit)
    for alert_id in req.alert_ids:
        etree.SubElement(root, _MB + "AlertID").text = alert_id
    return b'<?xml version="1.0" encoding="UTF-8"?>' + etree.tostring(root, encoding="UTF-8")


def signed_request(signer: Signer, req: MailboxRequest) -> bytes:
    return signer.sign(render_request(req), max_bytes=MAX_MAILBOX_REQUEST_BYTES)


def _bad(message: str) -> InputError:
    return InputError(message, code=codes.MALFORMED_REQUEST)


def parse_request(root: etree._Element) -> MailboxRequest:
    """Read a (verified, signature-less) MailboxRequest strictly: exactly the elements above, in order."""
    if root.tag != _MB + "MailboxRequest":
        raise _bad(f"the root must be mb:MailboxRequest in {NS}")
    action = root.get("action")
    if action not in ACTIONS or set(root.attrib) != {"action"}:
        raise _bad("MailboxRequest needs action='pull' or action='ack' and no other attribute")
    children = [c for c in root if isinstance(c.tag, str)]
    if len(children) != len(root) or (root.text or "").strip():
        raise _bad("MailboxRequest holds elements only")
    names = [etree.QName(c).localname if c.tag.startswith(_MB) else c.tag for c in children]
    if names[:2] != ["RequestID", "Created"]:
        raise _bad("MailboxRequest starts with RequestID and Created")
    rest = names[2:]
    if action == "pull" and rest not in ([], ["Limit"]):
        raise _bad("a pull holds RequestID, Created and at most one Limit")
    if action == "ack" and (not rest or any(n != "AlertID" for n in rest)):
        raise _bad("an ack holds RequestID, Created and one or more AlertID")
    for c in children:
        if (c.tail or "").strip() or len(c):
            raise _bad("MailboxRequest elements hold text only")
    request_id = RequestID.parse((children[0].text or "").strip())
    created = _parse_created(children[1].text)
    limit = DEFAULT_PULL
    if action == "pull" and rest:
        text = (children[2].text or "").strip()
        # ASCII only: str.isdigit() also accepts e.g. '²', which int() refuses (a 500, not a 400)
        if not (text.isascii() and text.isdigit()) or len(text) > 6 or not 1 <= int(text) <= MAX_PULL:
            raise _bad(f"Limit must be a whole number from 1 to {MAX_PULL}")
        limit = int(text)
    ids: tuple[str, ...] = ()
    if action == "ack":
        if len(rest) > MAX_ACK:
            raise _bad(f"at most {MAX_ACK} AlertIDs per ack")
        ids = tuple((c.text or "").strip() for c in children[2:])
        if any(not i or len(i) > _MAX_ALERT_ID or not i.isprintable() for i in ids):
            raise _bad(f"an AlertID is 1 to {_MAX_ALERT_ID} printable characters")
    act: Action = "pull" if action == "pull" else "ack"
    return MailboxRequest(act, request_id, created, limit, ids)


def _parse_created(text: str | None) -> datetime:
    value = (text or "").strip()
    if len(value) > 40:
        raise _bad("Created is not a timestamp")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as e:
        raise _bad(f"Created {value!r} is not an ISO 8601 timestamp") from e
    if parsed.tzinfo is None:
        raise _bad("Created needs a time zone (e.g. Z)")
    return parsed


def _originator(root: etree._Element) -> str:
    """The RequestID's originator as written, before verification: only to pick the expected signer."""
    text = root.findtext(_MB + "RequestID")
    if not text:
        raise _bad("no RequestID")
    return RequestID.parse(text.strip()).originator


# -- the service ---------------------------------------------------------------------------------------


class Mailbox:
    def __init__(self, engine: Engine, clock: Clock, verifier: Verifier) -> None:
        self.engine = engine
        self.clock = clock
        self.verifier = verifier

    def authenticate(self, body: bytes, action: Action) -> MailboxRequest:
        """Everything but the transaction: parse, verify, shape, action, target, freshness."""
        root = parse_document(body, max_bytes=MAX_MAILBOX_REQUEST_BYTES)
        now = self.clock.now()
        verified = self.verifier.verify(root, now=now, expected_signer_eui=_originator(root))
        req = parse_request(verified.root)
        if req.request_id.originator != verified.signer_eui:
            raise SignatureError(f"signed by {verified.signer_eui}, not by {req.request_id.originator}")
        if req.action != action:
            raise _bad(f"this is a signed {req.action} request, not {action}")
        if req.request_id.target != codes.DCC_EUI:
            raise _bad(f"the target of a mailbox request is the DCC ({codes.DCC_EUI})")
        if abs((now - req.created).total_seconds()) > FRESHNESS_SECONDS:
            raise StaleRequest(
                f"Created {req.created.isoformat()} is more than {FRESHNESS_SECONDS} s from the DSP's clock"
            )
        return req

    def _admit(self, conn: Connection, req: MailboxRequest) -> str:
        user = req.request_id.originator
        row = conn.execute(select(User.status, User.roles).where(User.eui == user)).first()
        if row is None:
            raise AccessError(f"{user} is not a DCC User", code=codes.INVALID_USER)
        if row.status != UserStatus.ACTIVE:
            raise AccessError(f"{user} is {row.status}", code=codes.INVALID_USER_STATUS)
        if advance_counter(conn, req.request_id.originator, req.request_id.counter) is not None:
            raise ReplayError(
                f"counter {req.request_id.counter} is not greater than the last accepted",
                code=codes.REPLAYED_COUNTER,
            )
        return user

    def pull(self, body: bytes) -> PullResult:
        req = self.authenticate(body, "pull")
        with self.engine.begin() as conn:
            user = self._admit(conn, req)
            pending = (
                AlertOutbox.recipient_eui == user,
                AlertOutbox.mailbox.is_(True),
                AlertOutbox.delivered_at.is_(None),
            )
            rows = conn.execute(
                select(AlertOutbox.alert_id, AlertOutbox.code, AlertOutbox.kind, AlertOutbox.created_at,
                       AlertOutbox.body)
                .where(*pending).order_by(AlertOutbox.id).limit(req.limit)
            ).all()  # fmt: skip
            total = conn.execute(select(func.count()).select_from(AlertOutbox).where(*pending)).scalar_one()
        alerts = tuple(MailboxAlert(r.alert_id, r.code, r.kind, r.created_at, bytes(r.body)) for r in rows)
        return PullResult(user, alerts, int(total) - len(alerts))

    def ack(self, body: bytes) -> AckResult:
        req = self.authenticate(body, "ack")
        now = self.clock.now()
        wanted = list(dict.fromkeys(req.alert_ids))
        with self.engine.begin() as conn:
            user = self._admit(conn, req)
            found = dict(
                conn.execute(
                    select(AlertOutbox.alert_id, AlertOutbox.delivered_at).where(
                        AlertOutbox.alert_id.in_(wanted),  # at most MAX_ACK
                        AlertOutbox.recipient_eui == user,
                        AlertOutbox.mailbox.is_(True),
                    )
                ).all()
            )
            fresh = [i for i in wanted if i in found and found[i] is None]
            if fresh:
                conn.execute(
                    update(AlertOutbox)
                    .where(AlertOutbox.alert_id.in_(fresh), AlertOutbox.delivered_at.is_(None))
                    .values(delivered_at=now, last_error=None)
                )
        return AckResult(
            user,
            tuple(fresh),
            tuple(i for i in wanted if i in found and found[i] is not None),
            tuple(i for i in wanted if i not in found),
        )


def new_request(
    action: Action,
    user: str,
    counter: int,
    now: datetime,
    *,
    limit: int = DEFAULT_PULL,
    alert_ids: tuple[str, ...] = (),
) -> MailboxRequest:
    return MailboxRequest(action, RequestID(user.upper(), codes.DCC_EUI, counter), now, limit, alert_ids)


__all__ = [
    "FRESHNESS_SECONDS",
    "MAX_ACK",
    "MAX_PULL",
    "AckResult",
    "Mailbox",
    "MailboxAlert",
    "MailboxRequest",
    "PullResult",
    "StaleRequest",
    "new_request",
    "parse_request",
    "render_request",
    "signed_request",
]
