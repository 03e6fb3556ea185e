"""The DSP's front door for DUIS requests (`POST /api/v1/serviceD`, `/serviceS`, `/serviceT`).

Every request that is XML, has a readable RequestID and an SRV of the DUIS 5.4 schema is answered in
signed DUIS, whatever the URL; HTTP 4xx only for what cannot be answered in DUIS (over the size limit, not
XML, no readable RequestID, or an error before verification in a request whose SRV is not in the schema).

Order of work for one request (nothing is trusted before step 3):

1. size (HTTP 413 over the limit);
2. hardened parse: not XML, a DOCTYPE, entities, a shape over the settings' limits (depth, elements,
   attributes or namespace declarations on one element: `hanota.duis.xmlparse.XmlLimits`, refused in
   milliseconds, before any canonicalisation) → HTTP 400 with the reason (a document that does not parse
   has no RequestID to address a DUIS answer to);
3. signature over the bytes received (DUIS profile, certificate by serial, chain or pin, role 135, signer =
   the RequestID's originator) → E40; from here on only the verified content is used;
4. schema validation of the signed content, header and body agreeing (ServiceReference, and the body
   element the SRV's, or ``sr:SignedPreCommand`` for command variants 5-7) → E100;
   *routing* (`hanota.duis.codes.routing_code`): unless the SRV is served by a handler at this URL
   (8.2, 8.4, 11.1, 11.4, 12.2 with command variant 8 at serviceD), the sender is checked on a read-only
   connection as in step 7 (E1, E3, E2 from the SRV's eligible roles), then the answer is E12 (command
   variant not the SRV's), E13 (the command variant's web service is another URL), E42 (a CV 8 request
   whose target is not the DCC), E46 (a non-device SRV not provided) or E45 (a device request: this DCC
   talks to no device). Such an answer records nothing and spends no counter;
5. (served SRVs) the typed parse → E100; the target is the DCC (E42);
6. (SQLite, SR 11.4/11.1 only) the devices are classified on a read-only connection BEFORE the write
   transaction, so that a 50,000-device classification never holds the store's one writer
   (`hanota.dsp.update_firmware.prevalidate`; what may change meanwhile is checked again in the handler);
7. in ONE transaction: the originator is a known User (E1) and Active (E3), one of its roles is eligible
   for the SRV (E2), the RequestID counter is greater than the last accepted (E41, persisted); the anomaly
   thresholds (`hanota.anomaly.guard`: a breach quarantines the request, answered E43, with an AD1 alert);
   then the SR handler runs in a savepoint. A handler's business refusal (an SR-specific code) rolls back the
   handler's work but keeps the counter and a record of the refused request; anything before the handler
   that fails leaves the store untouched.
8. the answer is signed with the DSP key over exactly the bytes returned.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from lxml import etree
from sqlalchemy import Connection, Engine, insert, select

from hanota.alerts.outbox import AlertWriter
from hanota.anomaly.guard import AnomalyGuard
from hanota.clock import Clock
from hanota.cpl.prenotify import prenotify
from hanota.db.counters import advance_counter
from hanota.db.engine import read_engine, single_writer
from hanota.db.models import ServiceRequest, User, UserStatus
from hanota.dsp.update_firmware import (
    FIRMWARE_SRS,
    Prevalidated,
    Validated,
    confirm,
    prevalidate,
    record,
    record_rejection,
    validate,
)
from hanota.duis import (
    Request,
    RequestID,
    Signer,
    TrustStore,
    Verifier,
    codes,
    parse_request,
    validate_schema,
)
from hanota.duis.requests import (
    DevicePrenotification,
    ReadInventory,
    UpdateFirmware,
    UpdateInventory,
    UpdatePPMIDFirmware,
)
from hanota.duis.responses import WARNING_LISTS, Payload, Response, ResponseMessage, render_response_element
from hanota.duis.xmlparse import DEFAULT_LIMITS, SR, XmlLimits, parse_document
from hanota.errors import AccessError, HanotaError, InputError, ReplayError, TooLarge
from hanota.inventory.read import read_inventory
from hanota.inventory.update import update_inventory
from hanota.lifecycle import RequestStatus
from hanota.logs import get_logger

log = get_logger("hanota.dsp")


@dataclass(frozen=True)
class Answer:
    """What the HTTP layer sends back."""

    status: int
    body: bytes
    media_type: str = "application/xml"
    code: str | None = None


def _routing_header(root: etree._Element) -> tuple[RequestID, int, codes.SrvRow]:
    """The RequestID, command variant and SRV row of a verified, schema-valid request; E100 if its header
    and body disagree (the typed parse checks the same again for the served SRVs)."""
    header, body = root.find(f"{SR}Header"), root.find(f"{SR}Body")
    if header is None or body is None:
        raise InputError("sr:Request needs an sr:Header and an sr:Body")
    try:
        rid = RequestID.parse(header.findtext(f"{SR}RequestID") or "")
        cv = int((header.findtext(f"{SR}CommandVariant") or "").strip())
    except ValueError as e:
        raise InputError(f"unreadable RequestID or CommandVariant: {e}") from e
    srv = header.findtext(f"{SR}ServiceReferenceVariant") or ""
    row = codes.srv_row(srv)
    if row is None:
        raise InputError(f"ServiceReferenceVariant {srv[:20]!r} is not in the DUIS 5.4 schema")
    service_reference = header.findtext(f"{SR}ServiceReference") or ""
    if service_reference != row.service_reference:
        raise InputError(f"ServiceReference {service_reference[:20]!r} does not match SRV {srv}")
    expected = "SignedPreCommand" if cv in codes.CV_SIGNED_PRE_COMMAND else row.body_element
    children = [child for child in body if isinstance(child.tag, str)]
    if len(children) != 1 or children[0].tag != SR + expected:
        found = etree.QName(children[0]).localname if children else "empty"
        raise InputError(
            f"SRV {srv} with command variant {cv} carries sr:{expected}, but the body is {found}"
        )
    return rid, cv, row


def _peek(root: etree._Element) -> tuple[RequestID | None, str | None]:
    """The RequestID and SRV as written, before verification: used ONLY to address an error answer."""
    rid: RequestID | None = None
    srv: str | None = None
    header = root.find(f"{SR}Header")
    if header is not None:
        text = header.findtext(f"{SR}RequestID")
        try:
            rid = RequestID.parse(text) if text else None
        except (InputError, ValueError):
            rid = None
        srv_text = (header.findtext(f"{SR}ServiceReferenceVariant") or "").strip()
        srv = srv_text if codes.srv_row(srv_text) is not None else None
    return rid, srv


def unread(status: int, reason: str, t0: float) -> Answer:
    """A DUIS request refused before it could be read (media type, size, not XML, no RequestID): its one log
    line (no RequestID to carry: its HTTP status instead), and the plain-text answer (there is nothing to sign
    an answer to). The HTTP layer's refusals come here too, so every DUIS request logs the same line."""
    log.info("request", request_id=None, originator=None, srv=None, code=None, status=status, reason=reason,
             ms=round((time.perf_counter() - t0) * 1000, 1))  # fmt: skip
    return Answer(status, f"{reason}\n".encode(), "text/plain")


class DSPService:
    """Turns request bytes into signed answer bytes. Thread-safe; one per process."""

    def __init__(
        self,
        *,
        engine: Engine,
        clock: Clock,
        signer: Signer,
        trust: TrustStore,
        max_body_bytes: int,
        xml_limits: XmlLimits = DEFAULT_LIMITS,
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.signer = signer
        self.max_body_bytes = max_body_bytes
        self.xml_limits = xml_limits
        self.verifier = Verifier(trust, accepted_roles=(codes.ROLE_XML_SIGNING,), max_bytes=max_body_bytes)
        self.anomaly = AnomalyGuard(AlertWriter(signer))
        self._reader: Engine | None = None  # SQLite: classifications outside the write lock (step 6)
        self._reader_guard = threading.Lock()

    def close(self) -> None:
        """Release the read-only connections (SQLite); the service stays usable."""
        with self._reader_guard:
            reader, self._reader = self._reader, None
        if reader is not None:
            reader.dispose()

    def _read_engine(self) -> Engine:
        """Reads outside the write lock: SQLite's read-only engine (made on first use), PostgreSQL's own."""
        with self._reader_guard:
            if self._reader is None:
                self._reader = read_engine(self.engine)
            return self._reader

    # -- entry point ---------------------------------------------------------------------------------------
    def handle(self, body: bytes, service: codes.WebService = codes.WebService.NON_DEVICE) -> Answer:
        """The answer to the request `body` POSTed at `service`'s URL."""
        t0 = time.perf_counter()
        try:
            root = parse_document(body, max_bytes=self.max_body_bytes, limits=self.xml_limits)
        except TooLarge as e:
            return unread(413, e.message, t0)
        except InputError as e:
            return unread(400, f"not a DUIS request: {e.message}", t0)
        rid, srv = _peek(root)
        if rid is None:
            return unread(400, "not a DUIS request: no readable RequestID", t0)
        now = self.clock.now()
        reason: str | None = None
        try:
            verified = self.verifier.verify(root, now=now, expected_signer_eui=rid.originator)
            validate_schema(verified.root)
            routed = self._route(verified.root, service, now)
            if routed is not None:
                response, reason = routed
            else:
                request = parse_request(verified.root)
                response, reason = self._process(request, now, body)
        except HanotaError as e:
            code = e.code if codes.is_known_response_code(e.code) else codes.MALFORMED_REQUEST
            reason = e.message
            if srv is None:
                self._log(rid, srv, code, reason, t0)
                return Answer(400, f"{code}: {e.message}\n".encode(), "text/plain", code)
            response = Response(rid, code, now, ResponseMessage(srv))
        signed = self.signer.sign_element(render_response_element(response))
        self._log(rid, srv, response.response_code, reason, t0)
        return Answer(200, signed, code=response.response_code)

    @staticmethod
    def _log(rid: RequestID, srv: str | None, code: str, reason: str | None, t0: float) -> None:
        """The one log line per request: RequestID, originator, SRV, outcome, duration."""
        log.info("request", request_id=str(rid), originator=rid.originator, srv=srv, code=code, reason=reason,
                 ms=round((time.perf_counter() - t0) * 1000, 1))  # fmt: skip

    # -- routing: every SRV of the schema on every URL ------------------------------------------------------
    def _route(
        self, root: etree._Element, service: codes.WebService, now: datetime
    ) -> tuple[Response, str] | None:
        """The answer to a request no SR handler serves at `service` (step 4), or None: its handler answers.

        The sender is checked first (E1, E3, E2), on a read-only connection, as for a served SRV; then the
        routing code (E12, E13, E46, E45) or, for a non-device SRV not provided, E42 if the target is not
        the DCC. Nothing is recorded and no counter is spent: such a request changes nothing here."""
        rid, cv, row = _routing_header(root)
        code = codes.routing_code(service, row, cv)
        if code is None:
            return None
        with self._read_engine().connect() as conn:
            self._authorise_sender(conn, rid.originator, row)
        if code == codes.NON_DEVICE_SRV_NOT_PROVIDED and rid.target != codes.DCC_EUI:
            raise AccessError(
                f"the target of a CV 8 request is the DCC ({codes.DCC_EUI})", code=codes.TARGET_NOT_DCC
            )
        name = codes.response_code(code).name
        reason = f"SRV {row.srv} ({row.name}), command variant {cv}, at {service.path}: {name}"
        return Response(rid, code, now, ResponseMessage(row.srv)), reason

    # -- the checks and the transaction --------------------------------------------------------------------
    def _process(self, request: Request, now: datetime, signed: bytes) -> tuple[Response, str | None]:
        """The answer, and the reason when a handler refused the request (or anomaly detection held it)."""
        self._check_request(request)
        rid = request.request_id
        pre = self._prevalidate(request, now)
        with self.engine.begin() as conn:
            self._authorise(conn, request)
            self._advance_counter(conn, rid)
            held = self.anomaly.admit(conn, request, signed, now)
            if held is not None:
                answer = Response(rid, codes.REQUEST_QUARANTINED, now, ResponseMessage(request.srv))
                return answer, f"quarantine event {held.event_ref}: {held.reason}"
            return self._run_handler(conn, request, now, pre)

    def _prevalidate(self, request: Request, now: datetime) -> Prevalidated | None:
        """Step 6: on a single-writer store, an 11.4/11.1 of a User allowed to send it is classified before
        the write transaction. None: the transaction does all the work (PostgreSQL, other SRVs, or a sender
        the transaction will refuse anyway, which must not cost a classification)."""
        body = request.body
        if not single_writer(self.engine) or not isinstance(body, UpdatePPMIDFirmware | UpdateFirmware):
            return None
        with self._read_engine().connect() as conn:
            try:
                self._authorise(conn, request)
            except AccessError:
                return None
            return prevalidate(
                FIRMWARE_SRS[request.srv], conn, sender=request.request_id.originator, image_bytes=body.image,
                firmware_version=body.firmware_version, device_ids=body.device_ids, now=now,
            )  # fmt: skip

    def reprocess(
        self,
        conn: Connection,
        signed: bytes,
        *,
        received_at: datetime,
        now: datetime,
        before_handler: Callable[[Connection], None],
    ) -> tuple[Response, str | None]:
        """Process a request released from quarantine exactly as if just received, inside `conn`'s
        transaction (`hanota.anomaly.quarantine.release`): the stored bytes are verified again (at
        `received_at`, so a certificate that expired meanwhile does not refuse it), the request checks and
        access control run again, the counter is NOT checked (it was advanced on arrival), then
        `before_handler` (the anomaly counts) and the SR handler. Refusals before the handler change nothing
        and come back as an answer with their code, as they would for a new request."""
        root = parse_document(signed, max_bytes=self.max_body_bytes, limits=self.xml_limits)
        rid, srv = _peek(root)
        if rid is None or srv is None:
            raise InputError("the stored request has no readable RequestID or SRV")
        try:
            verified = self.verifier.verify(root, now=received_at, expected_signer_eui=rid.originator)
            validate_schema(verified.root)
            request = parse_request(verified.root)
            self._check_request(request)
            self._authorise(conn, request)
        except HanotaError as e:
            code = e.code if codes.is_known_response_code(e.code) else codes.MALFORMED_REQUEST
            return Response(rid, code, now, ResponseMessage(srv)), e.message
        before_handler(conn)
        return self._run_handler(conn, request, now)

    def _check_request(self, request: Request) -> None:
        """SRV served here (E13), command variant (E12), target the DCC (E42): no store needed."""
        row = codes.srv_row(request.srv)
        if row is None or not row.served:
            raise AccessError(
                f"SRV {request.srv} is not served here", code=codes.INVALID_REQUEST_TYPE_FOR_URL
            )
        rid = request.request_id
        if request.command_variant not in row.command_variants:
            raise AccessError(
                f"command variant {request.command_variant} is not valid for SRV {request.srv}",
                code=codes.INVALID_COMMAND_VARIANT,
            )
        if request.command_variant == codes.CV_NON_DEVICE and rid.target != codes.DCC_EUI:
            raise AccessError(
                f"the target of a CV 8 request is the DCC ({codes.DCC_EUI})", code=codes.TARGET_NOT_DCC
            )

    @classmethod
    def _authorise(cls, conn: Connection, request: Request) -> None:
        """The originator is a known User (E1), Active (E3), with a role eligible for the SRV (E2)."""
        row = codes.srv_row(request.srv)
        if row is None:  # pragma: no cover - a parsed Request has a served SRV
            raise AccessError(f"SRV {request.srv} is not in the schema", code=codes.ROLE_NOT_PERMITTED)
        cls._authorise_sender(conn, request.request_id.originator, row)

    @staticmethod
    def _authorise_sender(conn: Connection, originator: str, row: codes.SrvRow) -> None:
        """`originator` is a known User (E1), Active (E3), with a role eligible for `row`'s SRV (E2: the
        public matrix's roles; every role for an SRV the matrix names none for, see `codes`)."""
        user = conn.execute(select(User.roles, User.status).where(User.eui == originator)).first()
        if user is None:
            raise AccessError(f"{originator} is not a DCC User", code=codes.INVALID_USER)
        if user.status != UserStatus.ACTIVE:
            raise AccessError(f"{originator} is {user.status}", code=codes.INVALID_USER_STATUS)
        if not set(user.roles.split()) & row.roles:
            raise AccessError(
                f"none of the roles {user.roles} may send SRV {row.srv}", code=codes.ROLE_NOT_PERMITTED
            )

    def _run_handler(
        self, conn: Connection, request: Request, now: datetime, pre: Prevalidated | None = None
    ) -> tuple[Response, str | None]:
        """The SR handler in a savepoint: a business refusal rolls back its work and keeps a record."""
        rid = request.request_id
        savepoint = conn.begin_nested()
        try:
            payload, code = self._dispatch(conn, request, now, pre)
            savepoint.commit()
        except HanotaError as e:
            savepoint.rollback()
            if not codes.is_known_response_code(e.code):
                raise
            record_rejection(
                conn, request_id=str(rid), sender=rid.originator, srv=request.srv, error=e, now=now
            )
            return Response(rid, e.code, now, ResponseMessage(request.srv)), e.message
        if request.srv not in FIRMWARE_SRS:  # 11.4/11.1 record themselves, with their devices
            conn.execute(
                insert(ServiceRequest).values(
                    request_id=str(rid), originator_eui=rid.originator, srv=request.srv, received_at=now,
                    status=RequestStatus.ACCEPTED, response_code=code, device_count=0, accepted_count=0,
                )
            )  # fmt: skip  # every request served is on record: the SSI lists it, billing counts it
        return Response(rid, code, now, ResponseMessage(request.srv, payload)), None

    @staticmethod
    def _advance_counter(conn: Connection, rid: RequestID) -> None:
        """Move the originator's counter forward or refuse a replay (E41, `hanota.db.counters`)."""
        last = advance_counter(conn, rid.originator, rid.counter)
        if last is not None:
            raise ReplayError(
                f"counter {rid.counter} is not greater than the last accepted ({last})",
                code=codes.REPLAYED_COUNTER,
            )

    def _dispatch(
        self, conn: Connection, request: Request, now: datetime, pre: Prevalidated | None
    ) -> tuple[Payload | None, str]:
        handler = handler_for(type(request.body))
        if handler is None:
            raise AccessError(
                f"SRV {request.srv} is not served here", code=codes.INVALID_REQUEST_TYPE_FOR_URL
            )
        return handler(conn, request, now, pre)


#: An SR handler: runs inside the request's savepoint; returns the answer's payload and response code.
#: `pre` is the classification done before the write transaction (11.4/11.1 on SQLite), else None.
Handler = Callable[[Connection, Request, datetime, Prevalidated | None], tuple[Payload | None, str]]


def _read_inventory(
    conn: Connection, request: Request, now: datetime, pre: Prevalidated | None
) -> tuple[Payload | None, str]:
    return read_inventory(conn, cast(ReadInventory, request.body)), codes.SUCCESS


def _update_inventory(
    conn: Connection, request: Request, now: datetime, pre: Prevalidated | None
) -> tuple[Payload | None, str]:
    rid = request.request_id
    update_inventory(
        conn, cast(UpdateInventory, request.body), sender=rid.originator, request_id=str(rid), now=now
    )
    return None, codes.SUCCESS


def _prenotify(
    conn: Connection, request: Request, now: datetime, pre: Prevalidated | None
) -> tuple[Payload | None, str]:
    prenotify(conn, cast(DevicePrenotification, request.body), request_id=str(request.request_id), now=now)
    return None, codes.SUCCESS


def _update_firmware(
    conn: Connection, request: Request, now: datetime, pre: Prevalidated | None
) -> tuple[Payload | None, str]:
    """11.4 and 11.1: confirm the classification made before the transaction (`pre`), or classify now."""
    body = cast(UpdatePPMIDFirmware | UpdateFirmware, request.body)
    rid = request.request_id
    sr = FIRMWARE_SRS[request.srv]
    v: Validated
    if pre is not None:
        v = confirm(conn, pre, sender=rid.originator)
    else:
        v = validate(sr, conn, sender=rid.originator, image_bytes=body.image,
                     firmware_version=body.firmware_version, device_ids=body.device_ids, now=now)  # fmt: skip
    record(conn, v, request_id=str(rid), sender=rid.originator, image_bytes=body.image,
           firmware_version=body.firmware_version, now=now)  # fmt: skip
    return _warning(v), v.response_code


#: The SR handler of each served request body type (`hanota.duis.requests.BODY_TYPES` gives the SRVs').
HANDLERS: dict[type, Handler] = {
    ReadInventory: _read_inventory,
    UpdateInventory: _update_inventory,
    DevicePrenotification: _prenotify,
    UpdatePPMIDFirmware: _update_firmware,
    UpdateFirmware: _update_firmware,
}


def handler_for(body_type: type) -> Handler | None:
    """The handler of a body type, or of its nearest served base class (as an `isinstance` test would)."""
    for cls in body_type.__mro__:
        handler = HANDLERS.get(cls)
        if handler is not None:
            return handler
    return None


def _warning(v: Validated) -> Payload | None:
    lists = v.lists()
    if not lists:
        return None
    return v.sr.warning(**{name: tuple(lists.get(element, ())) for name, element in WARNING_LISTS})
