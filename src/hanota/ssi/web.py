"""The web Self Service Interface: server-rendered pages (Jinja2) with htmx, under `/ssi/`.

Every page needs a signed-in User (`auth.py`); every POST needs the session's CSRF token and, when the
browser sends one, a same-origin `Origin`. Input is parsed by hand into known values: anything else is an
HTTP 4xx page, never a 500. Handlers are plain functions (FastAPI runs them in its thread pool); reads go
through `hanota.db.engine.read_engine`, so no page or export holds the store's write lock.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup
from sqlalchemy import Engine, select

from hanota.alerts.delivery import redeliver
from hanota.alerts.endpoints import MAX_ENDPOINT, set_endpoint
from hanota.anomaly import audit
from hanota.clock import Clock
from hanota.db.engine import read_engine
from hanota.db.models import User
from hanota.errors import HanotaError, HTTPRefusal
from hanota.logs import get_logger
from hanota.settings import Settings
from hanota.ssi import billing as bill
from hanota.ssi import charts
from hanota.ssi import queries as q
from hanota.ssi.anomaly_pages import add_anomaly_routes
from hanota.ssi.auth import (
    ABSOLUTE_SESSION_SECONDS,
    LOCK_SECONDS,
    LOGIN_COOKIE,
    SESSION_COOKIE,
    Principal,
    Sessions,
    SignInFailed,
    authenticate,
    end_sessions,
    load_principal,
    normalise_eui,
    password_problem,
    set_password,
)
from hanota.ssi.csvout import csv_chunks
from hanota.ssi.esi import ESI_COLUMNS, extract_chunks

if TYPE_CHECKING:
    from hanota.bootstrap import AppContext

log = get_logger("hanota.ssi")
PREFIX = "/ssi"
_STATIC = {
    "htmx.min.js": "text/javascript; charset=utf-8",
    "ssi.css": "text/css; charset=utf-8",
    "htmx-LICENSE.txt": "text/plain; charset=utf-8",
}
_SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


class Problem(HTTPRefusal):
    """An HTTP 4xx answer with a message the User may read (`status`, its `http_status`)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message, http_status=status)
        self.status = status


class _SignIn(Exception):
    """No valid session: send the browser to the sign-in page."""


@dataclass(frozen=True)
class Ctx:
    """One request as a page sees it."""

    request: Request
    who: Principal
    now: datetime

    @property
    def scope(self) -> q.Scope:
        return q.Scope(self.who.eui, self.who.is_operator, self.now)


# --- parsing query parameters ------------------------------------------------------------------------


def _is_number(v: str) -> bool:
    """ASCII digits only: `str.isdigit` also accepts `²`, which `int` refuses."""
    return v.isascii() and v.isdigit()


def _is_printable_id(v: str) -> bool:
    """An alert ID as the outbox keeps them: printable ASCII without spaces."""
    return 0 < len(v) <= 80 and v.isascii() and v.isprintable() and " " not in v


def _alert_kind(request: Request) -> str | None:
    """The inbox's `kind` filter: a DCC alert kind name, or None for all."""
    kind = _param(request, "kind", 40) or None
    if kind is not None and not re.fullmatch(r"[A-Za-z]+", kind):
        raise Problem(400, "kind must be an alert kind")
    return kind


def _param(request: Request, name: str, max_len: int = 80) -> str:
    values = request.query_params.getlist(name)
    if len(values) > 1:
        raise Problem(400, f"give {name} once")
    v = values[0].strip() if values else ""
    if len(v) > max_len:
        raise Problem(400, f"{name} is too long")
    return v


def _choice(request: Request, name: str, allowed: Iterable[str]) -> str | None:
    v = _param(request, name)
    if not v:
        return None
    if v not in allowed:
        raise Problem(400, f"{name} must be one of {', '.join(allowed)}")
    return v


def _size(request: Request) -> int:
    v = _param(request, "size")
    if not v:
        return q.DEFAULT_PAGE
    if not _is_number(v) or int(v) not in q.PAGE_SIZES:
        raise Problem(400, f"size must be one of {', '.join(map(str, q.PAGE_SIZES))}")
    return int(v)


def _eui_cursor(request: Request, name: str = "after") -> str | None:
    v = _param(request, name)
    if not v:
        return None
    if not q.EUI_RE.match(v):
        raise Problem(400, f"{name} must be a device ID")
    return v


def _int_cursor(request: Request, name: str) -> int | None:
    v = _param(request, name)
    if not v:
        return None
    if not _is_number(v) or len(v) > 18:
        raise Problem(400, f"{name} must be a row number")
    return int(v)


def _int_path(value: str) -> int:
    if not _is_number(value) or len(value) > 18:
        raise Problem(404, "no such page")
    return int(value)


def _safe_next(value: str | None) -> str:
    """Where to go after signing in: only a path of this SSI, never another site."""
    if (
        value
        and re.fullmatch(r"/ssi/[A-Za-z0-9/_.\-?=&%]*", value)
        and "//" not in value
        and ".." not in value
    ):
        return value
    return f"{PREFIX}/"


# --- the application -----------------------------------------------------------------------------------


class SSI:
    def __init__(self, settings: Settings, engine: Engine, clock: Clock) -> None:
        self.settings = settings
        self.writer = engine
        self.reader = read_engine(engine)
        self.clock = clock
        # session and lock durations are wall time; a scaled (simulation) clock runs `speed` times faster
        self.speed = max(float(getattr(clock, "speed", 1.0)), 1.0)
        self.sessions = Sessions(
            settings.session_secret,
            settings.session_ttl_seconds * self.speed,
            ABSOLUTE_SESSION_SECONDS * self.speed,
        )
        self.env = Environment(
            loader=PackageLoader("hanota", "ssi/templates"),
            autoescape=select_autoescape(["html"]),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters.update(n=_n, dt=_dt, dur=_dur, yesno=_yesno, dash=_dash)
        self.static: dict[str, tuple[bytes, str]] = {}
        for name in _STATIC:
            data = resources.files("hanota.ssi").joinpath("static", name).read_bytes()
            self.static[name] = (data, hashlib.sha256(data).hexdigest()[:16])

    # rendering

    def render(
        self, template: str, c: Ctx | None, request: Request, http_status: int = 200, **values: Any
    ) -> Response:
        tpl = self.env.get_template(template)
        html = tpl.render(
            who=c.who if c else None,
            csrf=self.sessions.csrf_token(c.who.nonce) if c else "",
            path=request.url.path,
            url_with=lambda **kw: _url_with(request, **kw),
            csv_url=lambda: _csv_url(request),
            static=lambda name: f"{PREFIX}/static/{name}?v={self.static[name][1]}",
            prefix=PREFIX,
            **values,
        )
        return self.harden(HTMLResponse(html, status_code=http_status))

    def harden(self, resp: Response) -> Response:
        for k, v in _SECURITY_HEADERS.items():
            resp.headers.setdefault(k, v)
        resp.headers.setdefault("Cache-Control", "no-store")
        return resp

    def _secure(self, request: Request) -> bool:
        return request.url.scheme == "https" or self.settings.environment == "production"

    def set_session(self, resp: Response, request: Request, cookie: str) -> None:
        resp.set_cookie(SESSION_COOKIE, cookie, max_age=self.settings.session_ttl_seconds, path=PREFIX, httponly=True,
                        samesite="lax", secure=self._secure(request))  # fmt: skip

    # the guard every page goes through

    def principal(self, request: Request) -> tuple[Principal, str | None]:
        """The signed-in User, and a renewed cookie when the session is past half its life."""
        now = self.clock.now()
        s = self.sessions.read(request.cookies.get(SESSION_COOKIE), now)
        if s is None:
            raise _SignIn
        found = load_principal(self.reader, self.sessions, s)
        if found is None:
            raise _SignIn
        who, pw_hash = found
        renewed = None
        if self.sessions.needs_renewal(s, now):
            renewed = self.sessions.issue(s.eui, pw_hash, now, absolute=s.absolute, nonce=s.nonce)
        return who, renewed

    def guard(self, request: Request, page: Callable[[Ctx], Response], *, post: bool = False,
              csrf: str | None = None, operator: bool = False) -> Response:  # fmt: skip
        try:
            who, renewed = self.principal(request)
        except _SignIn:
            return self._to_sign_in(request)
        c = Ctx(request, who, self.clock.now())
        try:
            if post:
                self.check_post(request, who.nonce, csrf)
            if operator and not who.is_operator:
                raise Problem(403, "only the DCC operator may do this")
            resp = page(c)
        except Problem as p:
            resp = self.render("error.html", c, request, http_status=p.status, message=p.message)
        if renewed:
            self.set_session(resp, request, renewed)
        return self.harden(resp)

    def check_post(self, request: Request, nonce: str, form_token: str | None) -> None:
        origin = request.headers.get("origin")
        if origin and origin.rstrip("/") != str(request.base_url).rstrip("/"):
            raise Problem(403, "the form came from another site")
        token = form_token or request.headers.get("x-csrf-token")
        if not self.sessions.check_csrf(nonce, token):
            raise Problem(403, "the form's security token is missing or stale: reload the page and try again")

    def _to_sign_in(self, request: Request) -> Response:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        if request.headers.get("hx-request") or request.method != "GET" or request.url.path.endswith(".csv"):
            resp = Response("sign in first\n", status_code=401, media_type="text/plain")
            resp.headers["HX-Redirect"] = f"{PREFIX}/login"
            return self.harden(resp)
        login = f"{PREFIX}/login?{urlencode({'next': _safe_next(target)})}"
        return self.harden(RedirectResponse(login, status_code=303))

    def csv(self, name: str, header: Sequence[str], rows: Callable[[], Iterator[Sequence[Any]]]) -> Response:
        stamp = self.clock.now().strftime("%Y%m%dT%H%M%SZ")

        def body() -> Iterator[bytes]:
            yield from csv_chunks(header, rows())

        resp = StreamingResponse(body(), media_type="text/csv; charset=utf-8")
        resp.headers["Content-Disposition"] = f'attachment; filename="hanota-{name}-{stamp}.csv"'
        return resp

    def streamed(
        self, fn: Callable[..., Iterator[Sequence[Any]]], *args: Any
    ) -> Callable[[], Iterator[Sequence[Any]]]:
        """Rows of `fn(conn, *args)` on a read connection held only while the download runs."""

        def rows() -> Iterator[Sequence[Any]]:
            with self.reader.connect() as conn:
                yield from fn(conn, *args)

        return rows


def _url_with(request: Request, **changes: Any) -> str:
    params = dict(request.query_params)
    for k, v in changes.items():
        if v is None or v == "":
            params.pop(k, None)
        else:
            params[k] = str(v)
    path = request.url.path
    return path + (f"?{urlencode(params)}" if params else "")


def _csv_url(request: Request) -> str:
    """This table's CSV export: the same path with `.csv` and the same filters, without the paging."""
    params = {k: v for k, v in request.query_params.items() if k not in ("after", "before", "offset", "size")}
    return request.url.path.rstrip("/") + ".csv" + (f"?{urlencode(params)}" if params else "")


def _n(v: Any) -> str:
    return "–" if v is None else f"{v:,}"


def _dt(v: datetime | None) -> str:
    return "–" if v is None else v.strftime("%Y-%m-%d %H:%M:%S")


def _dur(v: float | None) -> str:
    return "–" if v is None else charts.duration_label(v)


def _yesno(v: Any) -> str:
    return "yes" if v else "no"


def _dash(v: Any) -> Any:
    return "–" if v is None or v == "" else v


# --- routes ----------------------------------------------------------------------------------------------


def ssi_router(ctx: AppContext) -> APIRouter:
    """The SSI's routes for the app of `ctx` (mounted by `hanota.api.app.create_app`)."""
    ssi = SSI(ctx.settings, ctx.engine, ctx.clock)
    r = APIRouter(include_in_schema=False)

    @r.get("/")
    def root() -> Response:
        return RedirectResponse(f"{PREFIX}/", status_code=303)

    @r.get(PREFIX + "/static/{name}")
    def static(name: str) -> Response:
        if name not in ssi.static:
            return ssi.harden(Response("not found\n", status_code=404, media_type="text/plain"))
        data, etag = ssi.static[name]
        resp = Response(data, media_type=_STATIC[name])
        resp.headers["Cache-Control"] = "public, max-age=86400"
        resp.headers["ETag"] = f'"{etag}"'
        for k, v in _SECURITY_HEADERS.items():
            resp.headers.setdefault(k, v)
        return resp

    # --- sign-in ---

    @r.get(PREFIX + "/login")
    def login_form(request: Request) -> Response:
        try:
            ssi.principal(request)
            return ssi.harden(RedirectResponse(_safe_next(request.query_params.get("next")), status_code=303))
        except _SignIn:
            pass
        return _login_page(ssi, request, next_=_safe_next(request.query_params.get("next")))

    @r.post(PREFIX + "/login")
    def login(
        request: Request,
        user: Annotated[str, Form(max_length=64)] = "",
        password: Annotated[str, Form(max_length=1024)] = "",
        csrf: Annotated[str, Form(max_length=200)] = "",
        next: Annotated[str, Form(max_length=500)] = "",
    ) -> Response:
        nonce = request.cookies.get(LOGIN_COOKIE, "")
        if not nonce or not ssi.sessions.check_csrf("login:" + nonce, csrf):
            return _login_page(ssi, request, next_=_safe_next(next), status=403,
                               error="The sign-in form expired. Please try again.")  # fmt: skip
        now = ssi.clock.now()
        try:
            eui, pw_hash = authenticate(
                ssi.writer, user, password, now, lock_seconds=LOCK_SECONDS * ssi.speed
            )
        except SignInFailed:
            log.info("ssi sign-in refused", user=user[:30])
            return _login_page(ssi, request, next_=_safe_next(next), status=401, user=user,
                               error="Sign-in failed: wrong User ID or password, or too many attempts (wait "
                               "five minutes).")  # fmt: skip
        log.info("ssi sign-in", user=eui)
        resp = RedirectResponse(_safe_next(next), status_code=303)
        ssi.set_session(resp, request, ssi.sessions.issue(eui, pw_hash, now))
        resp.delete_cookie(LOGIN_COOKIE, path=PREFIX)
        return ssi.harden(resp)

    @r.post(PREFIX + "/logout")
    def logout(request: Request, csrf: Annotated[str, Form(max_length=200)] = "") -> Response:
        def page(c: Ctx) -> Response:
            with ssi.writer.begin() as conn:
                end_sessions(conn, c.who.eui, c.now)  # a copied cookie dies with the sign-out too
            resp = RedirectResponse(f"{PREFIX}/login", status_code=303)
            resp.delete_cookie(SESSION_COOKIE, path=PREFIX)
            return resp

        return ssi.guard(request, page, post=True, csrf=csrf)

    def _account(c: Ctx, request: Request, http_status: int = 200, **values: Any) -> Response:
        """The account page: the User's facts, its alert endpoint (and, for the operator, every User's),
        the password form; `values` fill the messages of the form that was just used."""
        with ssi.reader.connect() as conn:
            endpoint = conn.execute(
                select(User.alert_endpoint).where(User.eui == c.who.eui)
            ).scalar_one_or_none()
            failing = [f for f in q.failing_endpoints(conn, c.scope) if f["recipient_eui"] == c.who.eui]
            users = (
                list(
                    conn.execute(
                        select(User.eui, User.name, User.roles, User.alert_endpoint).order_by(User.name)
                    )
                )
                if c.who.is_operator
                else []
            )
        defaults: dict[str, Any] = {"message": None, "error": None, "endpoint_message": None,
                                    "endpoint_error": None, "message_other": False, "endpoint_value": endpoint or "",
                                    "form_user": "", "form_endpoint": "", "form_reason": ""}  # fmt: skip
        return ssi.render("account.html", c, request, http_status=http_status, endpoint=endpoint,
                          failing=failing[0] if failing else None, users=users, max_endpoint=MAX_ENDPOINT,
                          **{**defaults, **values})  # fmt: skip

    @r.get(PREFIX + "/account")
    def account(request: Request) -> Response:
        def page(c: Ctx) -> Response:
            done = _param(request, "done", 20)
            user = _param(request, "user", 30)
            if done not in ("", "set", "cleared", "unchanged") or (user and not q.EUI_RE.match(user)):
                done, user = "", ""
            message: tuple[str, str | None, str] | None = None
            other = bool(user) and user != c.who.eui
            if done:
                with ssi.reader.connect() as conn:
                    now_at = conn.execute(
                        select(User.alert_endpoint).where(User.eui == (user or c.who.eui))
                    ).scalar_one_or_none()
                whose = f"{user}'s alerts" if other else "Your alerts"
                if done == "set" and now_at is None:  # cleared since: say what is true now
                    done = "cleared"
                message = {
                    "set": (f"Saved. {whose} go to ", now_at, " from the next attempt."),
                    "cleared": (f"Saved. {whose} wait in the mailbox from now on.", None, ""),
                    "unchanged": ("Nothing changed: that is already the endpoint.", None, ""),
                }[done]
            return _account(c, request, endpoint_message=message, message_other=other)

        return ssi.guard(request, page)

    @r.post(PREFIX + "/account/endpoint")
    def account_endpoint(
        request: Request,
        endpoint: Annotated[str, Form(max_length=2000)] = "",
        action: Annotated[str, Form(max_length=10)] = "set",
        user: Annotated[str, Form(max_length=64)] = "",
        reason: Annotated[str, Form(max_length=2000)] = "",
        csrf: Annotated[str, Form(max_length=200)] = "",
    ) -> Response:
        """A User sets or clears its own alert endpoint; the DCC operator any User's (reason required).
        Audited (`hanota.alerts.endpoints`)."""

        def page(c: Ctx) -> Response:
            if action not in ("set", "clear"):
                raise Problem(400, "action must be set or clear")
            target = c.who.eui
            if user.strip():
                found = normalise_eui(user)
                if found is None:
                    raise Problem(400, "user must be a User ID (EUI-64)")
                target = found
            other = target != c.who.eui
            if other and not c.who.is_operator:
                raise Problem(403, "only the DCC operator may set another User's alert endpoint")
            why = reason.strip() or ("" if other else "set by the User on the SSI account page")
            form = {"form_user": target if other else "", "form_endpoint": endpoint, "form_reason": reason}
            if other and not why:
                return _account(c, request, 400, endpoint_error="give a reason: it goes into the audit trail",
                                **form)  # fmt: skip
            url = None if action == "clear" else endpoint.strip()
            if url == "":
                return _account(c, request, 400, endpoint_error="give an http:// or https:// URL, or use the mailbox",
                                **form, **({} if other else {"endpoint_value": endpoint}))  # fmt: skip
            try:
                with ssi.writer.begin() as conn:
                    change = set_endpoint(conn, user=target, url=url, actor=c.who.eui, reason=why, now=c.now)
            except HanotaError as e:  # a bad URL or an unknown User: nothing was written
                return _account(c, request, 400, endpoint_error=e.message,
                                **form, **({} if other else {"endpoint_value": endpoint}))  # fmt: skip
            if change.changed:
                log.info("alert endpoint changed", user=target, by=c.who.eui, endpoint=change.after)
            done = "unchanged" if not change.changed else "cleared" if change.after is None else "set"
            query = {"done": done, **({"user": target} if other else {})}
            return RedirectResponse(f"{PREFIX}/account?{urlencode(query)}#endpoint", status_code=303)

        return ssi.guard(request, page, post=True, csrf=csrf)

    @r.post(PREFIX + "/account")
    def change_password(
        request: Request,
        current: Annotated[str, Form(max_length=1024)] = "",
        new: Annotated[str, Form(max_length=1024)] = "",
        repeat: Annotated[str, Form(max_length=1024)] = "",
        csrf: Annotated[str, Form(max_length=200)] = "",
    ) -> Response:
        def page(c: Ctx) -> Response:
            try:
                authenticate(ssi.writer, c.who.eui, current, c.now)
            except SignInFailed:
                return _account(c, request, 400, error="The current password is not right.")
            problem = password_problem(new) or (None if new == repeat else "the two new passwords differ")
            if problem:
                return _account(c, request, 400, error=problem)
            with ssi.writer.begin() as conn:
                set_password(conn, c.who.eui, new, c.now)
            _, pw = authenticate(ssi.writer, c.who.eui, new, c.now)
            resp = _account(c, request, message="Password changed. Other sessions are signed out.")
            ssi.set_session(resp, request, ssi.sessions.issue(c.who.eui, pw, c.now, nonce=c.who.nonce))
            return resp

        return ssi.guard(request, page, post=True, csrf=csrf)

    # --- home and inventory ---

    @r.get(PREFIX + "/")
    def home(request: Request) -> Response:
        def page(c: Ctx) -> Response:
            reqs, alerts = q.recent(ssi.reader, c.scope)
            return ssi.render("home.html", c, request, requests=reqs, alerts=alerts)

        return ssi.guard(request, page)

    def _search(request: Request) -> tuple[str, q.Search]:
        text_ = _param(request, "q", 64)
        search = q.parse_search(text_)
        if search is None:
            raise Problem(
                400, "search by a device ID (or its first digits), a hub's CHF/GPF ID, a UPRN or a postcode"
            )
        return text_, search

    @r.get(PREFIX + "/inventory")
    def inventory(request: Request) -> Response:
        def page(c: Ctx) -> Response:
            text_, search = _search(request)
            size, after = _size(request), _eui_cursor(request)
            with ssi.reader.connect() as conn:
                result = q.inventory_page(conn, c.scope, search, after, size)
            return ssi.render("inventory.html", c, request, q=text_, search=search, page=result, size=size,
                              after=after)  # fmt: skip

        return ssi.guard(request, page)

    @r.get(PREFIX + "/inventory.csv")
    def inventory_csv(request: Request) -> Response:
        def page(c: Ctx) -> Response:
            _, search = _search(request)
            return ssi.csv("inventory", q.DEVICE_CSV, ssi.streamed(q.inventory_csv, c.scope, search))

        return ssi.guard(request, page)

    def _device(c: Ctx, device_id: str) -> q.DeviceDetail:
        eui = normalise_eui(device_id)
        detail = None
        if eui is not None:
            with ssi.reader.connect() as conn:
                detail = q.device_detail(conn, c.scope, eui)
        if detail is None:
            # the same answer for "no such device" and "not yours": nothing is learnt about others' devices
            raise Problem(404, "No device with that ID among the devices you may see.")
        return detail

    @r.get(PREFIX + "/devices/{device_id}")
    def device(request: Request, device_id: str) -> Response:
        def page(c: Ctx) -> Response:
            return ssi.render("device.html", c, request, d=_device(c, device_id))

        return ssi.guard(request, page)

    @r.get(PREFIX + "/devices/{device_id}/history.csv")
    def device_history_csv(request: Request, device_id: str) -> Response:
        def page(c: Ctx) -> Response:
            d = _device(c, device_id)
            cols = ("recorded_at", "firmware_version", "previous_version", "source")
            rows = [[h[k] for k in cols] for h in d.history]
            return ssi.csv(f"firmware-history-{d.device['device_id']}", cols, lambda: iter(rows))

        return ssi.guard(request, page)

    # --- firmware version report ---

    def _types(request: Request) -> tuple[str, list[str]]:
        which = _choice(request, "types", ("han", "all", *q.DEVICE_TYPES)) or "han"
        types = list(q.HAN_TYPES) if which == "han" else list(q.DEVICE_TYPES) if which == "all" else [which]
        return which, types

    @r.get(PREFIX + "/reports/firmware")
    def firmware_report(request: Request) -> Response:
        def page(c: Ctx) -> Response:
            which, types = _types(request)
            with ssi.reader.connect() as conn:
                rows = q.firmware_report(conn, c.scope, types)
            size = _size(request)
            offset = _int_cursor(request, "offset") or 0
            per_model: dict[str, dict[str, int]] = {}
            for x in rows:
                key = f"{x['device_type']} {x['manufacturer']}/{x['model']}"
                m = per_model.setdefault(key, {"upgradeable": 0, "not upgradeable": 0})
                m["upgradeable" if x["upgradeable"] else "not upgradeable"] += x["devices"]
            total = sum(x["devices"] for x in rows)
            ok = sum(x["devices"] for x in rows if x["upgradeable"])
            chart = charts.stacked_bars(
                list(per_model.items()), keys=("upgradeable", "not upgradeable"),
                title="Devices per model: upgradeable or not",
            )  # fmt: skip
            shown = rows[offset : offset + size]
            next_offset = offset + size if offset + size < len(rows) else None
            return ssi.render("firmware.html", c, request, rows=shown, which=which, total=total, upgradeable=ok,
                              chart=chart, size=size, offset=offset, next_offset=next_offset, count=len(rows))  # fmt: skip

        return ssi.guard(request, page)

    @r.get(PREFIX + "/reports/firmware.csv")
    def firmware_report_csv(request: Request) -> Response:
        def page(c: Ctx) -> Response:
            _, types = _types(request)
            with ssi.reader.connect() as conn:
                rows = q.firmware_report(conn, c.scope, types)
            data = [[x[k] for k in q.FIRMWARE_CSV] for x in rows]
            return ssi.csv("firmware-versions", q.FIRMWARE_CSV, lambda: iter(data))

        return ssi.guard(request, page)

    # --- requests, progress, distribution status report ---

    def _request_filters(request: Request) -> tuple[str | None, str | None]:
        srv = _choice(request, "srv", ("11.4", "11.1", "8.2", "8.4", "12.2"))
        status = _choice(request, "status", q.REQUEST_STATUSES)
        return srv, status

    @r.get(PREFIX + "/requests")
    def requests(request: Request) -> Response:
        def page(c: Ctx) -> Response:
            srv, status = _request_filters(request)
            size, before = _size(request), _int_cursor(request, "before")
            with ssi.reader.connect() as conn:
                result = q.requests_page(conn, c.scope, srv, status, before, size)
            return ssi.render("requests.html", c, request, page=result, srv=srv, status=status, size=size,
                              before=before, statuses=q.REQUEST_STATUSES)  # fmt: skip

        return ssi.guard(request, page)

    @r.get(PREFIX + "/requests.csv")
    def requests_csv(request: Request) -> Response:
        def page(c: Ctx) -> Response:
            srv, status = _request_filters(request)
            return ssi.csv("requests", q.REQUEST_CSV, ssi.streamed(q.requests_csv, c.scope, srv, status))

        return ssi.guard(request, page)

    def _request(c: Ctx, pk: str) -> dict[str, Any]:
        n = _int_path(pk)
        with ssi.reader.connect() as conn:
            req = q.get_request(conn, c.scope, n)
        if req is None:
            raise Problem(404, "No request with that number among the requests you may see.")
        return req

    def _progress_values(c: Ctx, req: dict[str, Any]) -> dict[str, Any]:
        with ssi.reader.connect() as conn:
            p = q.progress(conn, req, c.now, scope=c.scope)
        chart = charts.line_chart(p.series, bucket_seconds=p.bucket_seconds,
                                  title=f"Request {req['request_id']}: devices over virtual time")  # fmt: skip
        regions = [
            (
                region,
                {
                    "activated": counts.get("activated", 0),
                    "transferred": counts.get("transferred", 0) + counts.get("activation_failed", 0),
                    "failed": sum(counts.get(s, 0) for s in q.FAILED),
                    "in flight": counts.get("accepted", 0) + counts.get("sent", 0),
                },
            )
            for region, counts in p.by_region.items()
            if region != "-" or any(k != "rejected" for k in counts)
        ]
        region_chart = charts.stacked_bars(
            regions, keys=("activated", "transferred", "failed", "in flight"), title="Devices per CSP region"
        )
        return {"p": p, "chart": chart, "region_chart": region_chart, "states": q.STATES, "req": req}

    @r.get(PREFIX + "/requests/{pk}")
    def request_page(request: Request, pk: str) -> Response:
        def page(c: Ctx) -> Response:
            req = _request(c, pk)
            return ssi.render("request.html", c, request, **_progress_values(c, req))

        return ssi.guard(request, page)

    @r.get(PREFIX + "/requests/{pk}/progress")
    def request_progress(request: Request, pk: str) -> Response:
        def page(c: Ctx) -> Response:
            req = _request(c, pk)
            return ssi.render("_progress.html", c, request, **_progress_values(c, req))

        return ssi.guard(request, page)

    def _dist_filter(request: Request) -> q.DistFilter:
        return q.DistFilter(
            state=_choice(request, "state", q.STATES),
            outcome=_choice(request, "outcome", q.OUTCOMES),
            region=_choice(request, "region", q.REGIONS),
        )

    @r.get(PREFIX + "/requests/{pk}/devices")
    def distribution(request: Request, pk: str) -> Response:
        def page(c: Ctx) -> Response:
            req = _request(c, pk)
            f = _dist_filter(request)
            size, after = _size(request), _eui_cursor(request)
            with ssi.reader.connect() as conn:
                result = q.distribution_page(conn, req, f, after, size, c.scope)
            return ssi.render("distribution.html", c, request, req=req, page=result, f=f, size=size, after=after,
                              states=q.STATES, outcomes=q.OUTCOMES, regions=q.REGIONS)  # fmt: skip

        return ssi.guard(request, page)

    @r.get(PREFIX + "/requests/{pk}/devices.csv")
    def distribution_csv(request: Request, pk: str) -> Response:
        def page(c: Ctx) -> Response:
            req = _request(c, pk)
            f = _dist_filter(request)
            return ssi.csv(
                f"distribution-{req['id']}",
                q.DISTRIBUTION_CSV,
                ssi.streamed(q.distribution_csv, req, f, c.scope),
            )

        return ssi.guard(request, page)

    # --- alerts ---

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

    # --- CPL, billing, extract ---

    def _cpl_filters(request: Request) -> tuple[str | None, str | None]:
        return _choice(request, "device_type", q.DEVICE_TYPES), _choice(request, "status", q.CPL_STATUSES)

    @r.get(PREFIX + "/cpl")
    def cpl(request: Request) -> Response:
        def page(c: Ctx) -> Response:
            t, s = _cpl_filters(request)
            size, after = _size(request), _int_cursor(request, "after")
            with ssi.reader.connect() as conn:
                result = q.cpl_page(conn, t, s, after, size)
            return ssi.render("cpl.html", c, request, page=result, device_type=t, status=s, size=size, after=after,
                              types=q.DEVICE_TYPES, statuses=q.CPL_STATUSES)  # fmt: skip

        return ssi.guard(request, page)

    @r.get(PREFIX + "/cpl.csv")
    def cpl_csv(request: Request) -> Response:
        def page(c: Ctx) -> Response:
            t, s = _cpl_filters(request)
            return ssi.csv("cpl", q.CPL_CSV, ssi.streamed(q.cpl_csv, t, s))

        return ssi.guard(request, page)

    def _billing(request: Request, c: Ctx) -> tuple[list[bill.BillingRow], dict[str, Any]]:
        start_s, end_s = _param(request, "from", 7), _param(request, "to", 7)
        start = bill.parse_month(start_s) if start_s else None
        last = bill.parse_month(end_s) if end_s else None
        if (start_s and start is None) or (end_s and last is None):
            raise Problem(400, "months are written YYYY-MM")
        user = None
        if c.who.is_operator:
            u = _param(request, "user", 30)
            if u:
                user = normalise_eui(u)
                if user is None:
                    raise Problem(400, "user must be a User ID (EUI-64)")
        else:
            user = c.who.eui
        with ssi.reader.connect() as conn:
            rows = bill.billing_rows(
                conn, user=user, start=start, end=bill.next_month(last) if last else None
            )
        return rows, {"start": start_s, "end": end_s, "user": user if c.who.is_operator else None}

    @r.get(PREFIX + "/billing")
    def billing(request: Request) -> Response:
        def page(c: Ctx) -> Response:
            rows, f = _billing(request, c)
            size = _size(request)
            offset = _int_cursor(request, "offset") or 0
            totals = {
                "requests": sum(b.requests for b in rows),
                "devices": sum(b.devices or 0 for b in rows),
                "devices_accepted": sum(b.devices_accepted or 0 for b in rows),
            }
            shown = rows[offset : offset + size]
            next_offset = offset + size if offset + size < len(rows) else None
            return ssi.render("billing.html", c, request, rows=shown, f=f, totals=totals, size=size, offset=offset,
                              next_offset=next_offset, count=len(rows))  # fmt: skip

        return ssi.guard(request, page)

    @r.get(PREFIX + "/billing.csv")
    def billing_csv(request: Request) -> Response:
        def page(c: Ctx) -> Response:
            rows, _ = _billing(request, c)
            return ssi.csv("billing", bill.BILLING_CSV, lambda: bill.billing_csv(rows))

        return ssi.guard(request, page)

    @r.get(PREFIX + "/extract")
    def extract(request: Request) -> Response:
        return ssi.guard(request, lambda c: ssi.render("extract.html", c, request, columns=ESI_COLUMNS))

    @r.get(PREFIX + "/extract.csv")
    def extract_csv(request: Request) -> Response:
        def page(c: Ctx) -> Response:
            stamp = c.now.strftime("%Y%m%dT%H%M%SZ")
            resp = StreamingResponse(
                extract_chunks(ssi.reader, c.scope), media_type="text/csv; charset=utf-8"
            )
            resp.headers["Content-Disposition"] = f'attachment; filename="hanota-esi-extract-{stamp}.csv"'
            return resp

        return ssi.guard(request, page)

    add_anomaly_routes(r, ssi, ctx.dsp)
    return r


def _login_page(ssi: SSI, request: Request, *, next_: str, status: int = 200, error: str | None = None,
                user: str = "") -> Response:  # fmt: skip
    import secrets

    nonce = secrets.token_hex(16)
    resp = ssi.render("login.html", None, request, http_status=status, error=error, next=next_, user=user,
                      login_csrf=ssi.sessions.csrf_token("login:" + nonce))  # fmt: skip
    resp.set_cookie(LOGIN_COOKIE, nonce, max_age=3600, path=PREFIX, httponly=True, samesite="lax",
                    secure=ssi._secure(request))  # fmt: skip
    return resp


def _pretty_xml(body: bytes) -> Markup | str:
    """The alert as sent, indented for reading (the signed bytes themselves are in the CSV/DB)."""
    from lxml import etree

    try:
        parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
        root = etree.fromstring(body, parser)
        return etree.tostring(root, pretty_print=True, encoding="unicode")
    except etree.XMLSyntaxError:
        return body.decode("utf-8", "replace")
