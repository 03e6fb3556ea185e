"""The SSI's door and a User's own pages: the static files, sign-in and sign-out, and the account page
(the alert endpoint, and for the DCC operator every User's; the password)."""

from __future__ import annotations

import secrets
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select

from hanota.alerts.endpoints import MAX_ENDPOINT, set_endpoint
from hanota.db.models import User
from hanota.errors import HanotaError
from hanota.ssi import queries as q
from hanota.ssi.alert_queries import failing_endpoints
from hanota.ssi.auth import (
    LOCK_SECONDS,
    LOGIN_COOKIE,
    SESSION_COOKIE,
    SignInFailed,
    authenticate,
    end_sessions,
    normalise_eui,
    password_problem,
    set_password,
)
from hanota.ssi.pages import (
    _SECURITY_HEADERS,
    _STATIC,
    PREFIX,
    SSI,
    Ctx,
    Problem,
    _param,
    _safe_next,
    _SignIn,
    log,
)


def add_account_routes(r: APIRouter, ssi: SSI) -> None:
    """The root redirect, static files, sign-in/out and the account page."""

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
            # only a User ID is logged: anything else may be a password typed into the wrong field
            shown = user.strip().upper() if q.EUI_RE.match(user.strip().upper()) else "(not a User ID)"
            log.info("ssi sign-in refused", user=shown)
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
            failing = [f for f in failing_endpoints(conn, c.scope) if f["recipient_eui"] == c.who.eui]
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


def _login_page(ssi: SSI, request: Request, *, next_: str, status: int = 200, error: str | None = None,
                user: str = "") -> Response:  # fmt: skip
    nonce = secrets.token_hex(16)
    resp = ssi.render("login.html", None, request, http_status=status, error=error, next=next_, user=user,
                      login_csrf=ssi.sessions.csrf_token("login:" + nonce))  # fmt: skip
    resp.set_cookie(LOGIN_COOKIE, nonce, max_age=3600, path=PREFIX, httponly=True, samesite="lax",
                    secure=ssi._secure(request))  # fmt: skip
    return resp
