"""The SSI's alert inbox: DCC alerts as sent and delivered, one alert's XML, and the operator's
redelivery of dead-lettered alerts (audited)."""

from __future__ import annotations

import re
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from markupsafe import Markup

from hanota.alerts.delivery import redeliver
from hanota.anomaly import audit
from hanota.ssi import alert_queries as q
from hanota.ssi.pages import (
    PREFIX,
    SSI,
    Ctx,
    Problem,
    _alert_kind,
    _choice,
    _int_cursor,
    _int_path,
    _is_printable_id,
    _param,
    _size,
)


def add_alert_routes(r: APIRouter, ssi: SSI) -> None:
    """The alert inbox, its CSV, one alert, and the operator's redelivery."""

    @r.get(PREFIX + "/alerts")
    def alerts(request: Request) -> Response:
        def page(c: Ctx) -> Response:
            kind = _alert_kind(request)
            delivery = _choice(request, "delivery", q.ALERT_DELIVERY)
            size, before = _size(request), _int_cursor(request, "before")
            done = _param(request, "done", 80) or None
            if done is not None and not re.fullmatch(r"[0-9,]{1,12} alerts? queued again", done):
                done = None
            with ssi.reader.connect() as conn:
                result = q.alerts_page(conn, c.scope, kind, before, size, delivery)
                kinds = q.alert_kinds(conn)
                failing = q.failing_endpoints(conn, c.scope)
                dead = q.dead_letter_count(conn, c.scope)
            return ssi.render("alerts.html", c, request, page=result, kind=kind, kinds=kinds, size=size,
                              before=before, delivery=delivery, deliveries=list(q.ALERT_DELIVERY),
                              failing=failing, dead=dead, done=done)  # fmt: skip

        return ssi.guard(request, page)

    @r.get(PREFIX + "/alerts.csv")
    def alerts_csv(request: Request) -> Response:
        def page(c: Ctx) -> Response:
            kind = _alert_kind(request)
            delivery = _choice(request, "delivery", q.ALERT_DELIVERY)
            return ssi.csv("alerts", q.ALERT_CSV, ssi.streamed(q.alerts_csv, c.scope, kind, delivery))

        return ssi.guard(request, page)

    @r.post(PREFIX + "/alerts/redeliver")
    def alerts_redeliver(
        request: Request,
        reason: Annotated[str, Form(max_length=2000)] = "",
        alert: Annotated[str, Form(max_length=80)] = "",
        recipient: Annotated[str, Form(max_length=23)] = "",
        csrf: Annotated[str, Form(max_length=200)] = "",
    ) -> Response:
        """Operator: send dead-lettered alerts again (one by ID, a recipient's, or all), audited."""

        def page(c: Ctx) -> Response:
            why = reason.strip()
            if not why:
                raise Problem(400, "give a reason: it goes into the audit trail")
            if alert and not _is_printable_id(alert):
                raise Problem(400, "alert must be an alert ID")
            if recipient and not re.fullmatch(r"[0-9A-F]{2}(-[0-9A-F]{2}){7}", recipient):
                raise Problem(400, "recipient must be a User EUI")
            target = f"alert:{alert}" if alert else f"recipient:{recipient}" if recipient else "alerts:all"
            with ssi.writer.begin() as conn:
                n = redeliver(conn, c.now, alert_ids=[alert] if alert else (), recipient=recipient or None)
                audit.record(conn, actor=c.who.eui, action="alerts.redeliver", target=target, reason=why,
                             detail={"queued": n}, now=c.now)  # fmt: skip
            done = f"{n:,} alert{'s' if n != 1 else ''} queued again"
            return RedirectResponse(f"{PREFIX}/alerts?{urlencode({'done': done})}", status_code=303)

        return ssi.guard(request, page, post=True, csrf=csrf, operator=True)

    @r.get(PREFIX + "/alerts/{pk}")
    def alert(request: Request, pk: str) -> Response:
        def page(c: Ctx) -> Response:
            n = _int_path(pk)
            with ssi.reader.connect() as conn:
                found = q.get_alert(conn, c.scope, n)
            if found is None:
                raise Problem(404, "No alert with that number in your inbox.")
            a, body = found
            return ssi.render("alert.html", c, request, a=a, xml=_pretty_xml(body))

        return ssi.guard(request, page)


def _pretty_xml(body: bytes) -> Markup | str:
    """The alert as sent, indented for reading (the signed bytes themselves are in the CSV/DB)."""
    from lxml import etree

    try:
        parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
        root = etree.fromstring(body, parser)
        return etree.tostring(root, pretty_print=True, encoding="unicode")
    except etree.XMLSyntaxError:
        return body.decode("utf-8", "replace")
