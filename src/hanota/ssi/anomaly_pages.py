"""The SSI's anomaly-detection pages: a User's own thresholds, and the quarantine queue where the DCC
operator releases or deletes held requests. The rules live in `hanota.anomaly`; these pages only translate
forms into its calls (each in one transaction) and its refusals into 4xx pages."""

from __future__ import annotations

import re
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import text

from hanota.anomaly import quarantine, thresholds
from hanota.anomaly.errors import AnomalyError
from hanota.lifecycle import QuarantineStatus
from hanota.ssi.auth import normalise_eui
from hanota.ssi.pages import PREFIX, SSI, Ctx, Problem, _choice, _param, _size

ALL = "all"
QUARANTINE_STATUSES = (*QuarantineStatus, ALL)
"""The quarantine page's status filter: one status, or every entry."""
_INT = re.compile(r"^\d{1,12}$")


def _int_field(name: str, value: str) -> int | None:
    v = value.strip().replace(",", "").replace("_", "")
    if not v:
        return None
    if not _INT.match(v):
        raise Problem(422, f"{name} must be a whole number")
    return int(v)


def add_anomaly_routes(r: APIRouter, ssi: SSI, processor: quarantine.QuarantineProcessor) -> None:
    def _whose(c: Ctx, value: str) -> str:
        """Whose thresholds a page is about: the User's own, or (operator) any User's."""
        if not value or not c.who.is_operator:
            return c.who.eui
        eui = normalise_eui(value)
        if eui is None:
            raise Problem(400, "user must be a User ID (EUI-64)")
        return eui

    def _thresholds_page(c: Ctx, request: Request, user: str, *, status: int = 200, error: str | None = None,
                         saved: str | None = None) -> Response:  # fmt: skip
        with ssi.reader.connect() as conn:
            try:
                rows = thresholds.effective_thresholds(conn, user)
            except AnomalyError as e:
                raise Problem(e.http_status, e.message) from e
            users: list[Any] = []
            if c.who.is_operator:
                users = list(conn.execute(text("SELECT eui, name, roles FROM users ORDER BY name")))
        return ssi.render("thresholds.html", c, request, http_status=status, rows=rows, user=user, users=users,
                          error=error, saved=saved, device_srvs=thresholds.DEVICE_SRVS,
                          min_window=thresholds.MIN_WINDOW_HOURS, max_window=thresholds.MAX_WINDOW_HOURS)  # fmt: skip

    @r.get(PREFIX + "/thresholds")
    def thresholds_get(request: Request) -> Response:
        def page(c: Ctx) -> Response:
            user = _whose(c, _param(request, "user", 30))
            saved = _param(request, "saved", 10) or None
            if saved is not None and not re.fullmatch(r"[0-9.]{1,6}", saved):
                saved = None
            return _thresholds_page(c, request, user, saved=saved)

        return ssi.guard(request, page)

    @r.post(PREFIX + "/thresholds")
    def thresholds_post(
        request: Request,
        srv: Annotated[str, Form(max_length=10)] = "",
        max_requests: Annotated[str, Form(max_length=20)] = "",
        max_devices: Annotated[str, Form(max_length=20)] = "",
        window_hours: Annotated[str, Form(max_length=10)] = "",
        user: Annotated[str, Form(max_length=30)] = "",
        action: Annotated[str, Form(max_length=10)] = "set",
        csrf: Annotated[str, Form(max_length=200)] = "",
    ) -> Response:
        def page(c: Ctx) -> Response:
            whose = _whose(c, user)
            if action not in ("set", "clear"):
                raise Problem(400, "action must be set or clear")
            try:
                req = _int_field("max_requests", max_requests)
                dev = _int_field("max_devices", max_devices)
                window = _int_field("window_hours", window_hours) or thresholds.DEFAULT_WINDOW_HOURS
                with ssi.writer.begin() as conn:
                    if action == "clear":
                        thresholds.clear_user_threshold(conn, user_eui=whose, srv=srv, actor_eui=c.who.eui,
                                                        reason="cleared in the SSI", now=c.now)  # fmt: skip
                    else:
                        thresholds.set_user_threshold(
                            conn, user_eui=whose, srv=srv, max_requests=req, max_devices=dev, window_hours=window,
                            actor_eui=c.who.eui, reason="set in the SSI", now=c.now,
                        )  # fmt: skip
            except (AnomalyError, Problem) as e:
                code = e.http_status if isinstance(e, AnomalyError) else e.status
                return _thresholds_page(c, request, whose, status=code, error=e.message)
            query = {"saved": srv} | ({"user": whose} if whose != c.who.eui else {})
            return RedirectResponse(f"{PREFIX}/thresholds?{urlencode(query)}", status_code=303)

        return ssi.guard(request, page, post=True, csrf=csrf)

    @r.get(PREFIX + "/quarantine")
    def quarantine_get(request: Request) -> Response:
        def page(c: Ctx) -> Response:
            status = _choice(request, "status", QUARANTINE_STATUSES) or QuarantineStatus.QUARANTINED
            size = _size(request)
            offset_s = _param(request, "offset", 9)
            if offset_s and not (offset_s.isascii() and offset_s.isdigit()):
                raise Problem(400, "offset must be a row number")
            offset = int(offset_s or 0)
            done = _param(request, "done", 40) or None
            if done is not None and not re.fullmatch(r"(released|deleted) \d{1,12} \(\w{1,10}\)", done):
                done = None
            with ssi.reader.connect() as conn:
                entries = quarantine.list_quarantined(
                    conn, user_eui=None if c.who.is_operator else c.who.eui,
                    status=None if status == ALL else status, limit=size + 1, offset=offset,
                )  # fmt: skip
            more = len(entries) > size
            return ssi.render("quarantine.html", c, request, entries=entries[:size], status=status, size=size,
                              offset=offset, next_offset=offset + size if more else None,
                              statuses=QUARANTINE_STATUSES, done=done)  # fmt: skip

        return ssi.guard(request, page)

    def _decide(request: Request, ref: str, reason: str, csrf: str, verb: str) -> Response:
        def page(c: Ctx) -> Response:
            if not (ref.isascii() and ref.isdigit()) or len(ref) > 12:
                raise Problem(404, "no such quarantine event")
            fn = quarantine.release if verb == "release" else quarantine.delete
            try:
                with ssi.writer.begin() as conn:
                    d = fn(
                        conn, processor, event_ref=int(ref), operator_eui=c.who.eui, reason=reason, now=c.now
                    )
            except AnomalyError as e:
                raise Problem(e.http_status, e.message) from e
            decided = QuarantineStatus.RELEASED if verb == "release" else QuarantineStatus.DELETED
            done = f"{decided} {ref} ({d.response_code})"
            return RedirectResponse(f"{PREFIX}/quarantine?{urlencode({'done': done})}", status_code=303)

        return ssi.guard(request, page, post=True, csrf=csrf, operator=True)

    @r.post(PREFIX + "/quarantine/{ref}/release")
    def release(request: Request, ref: str, reason: Annotated[str, Form(max_length=2000)] = "",
                csrf: Annotated[str, Form(max_length=200)] = "") -> Response:  # fmt: skip
        return _decide(request, ref, reason, csrf, "release")

    @r.post(PREFIX + "/quarantine/{ref}/delete")
    def delete(request: Request, ref: str, reason: Annotated[str, Form(max_length=2000)] = "",
               csrf: Annotated[str, Form(max_length=200)] = "") -> Response:  # fmt: skip
        return _decide(request, ref, reason, csrf, "delete")
