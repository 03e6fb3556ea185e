"""The SSI's page machinery, shared by every page module: the application object `SSI` (templates,
static files, sessions, rendering, the guard every page goes through, CSRF and origin checks, CSV
downloads), the request as a page sees it (`Ctx`), the 4xx answer (`Problem`) and the parsers of query
parameters. The routes live in the `*_pages` modules; `web.ssi_router` registers them.

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
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from sqlalchemy import Engine

from hanota.clock import Clock
from hanota.db.engine import read_engine
from hanota.errors import HTTPRefusal
from hanota.logs import get_logger
from hanota.settings import Settings
from hanota.ssi import charts
from hanota.ssi import queries as q
from hanota.ssi.auth import ABSOLUTE_SESSION_SECONDS, SESSION_COOKIE, Principal, Sessions, load_principal
from hanota.ssi.csvout import csv_chunks

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
