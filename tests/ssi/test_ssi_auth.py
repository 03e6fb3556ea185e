"""Sign-in, sessions that expire, CSRF on every form, throttled passwords (the SSI's auth)."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import update

import crafted as c
from hanota.db.models import User
from hanota.ssi.auth import (
    LOCK_SECONDS,
    MAX_FAILURES,
    SESSION_COOKIE,
    Sessions,
    check_password,
    hash_password,
    normalise_eui,
)
from ssi.conftest import OPERATOR, PASSWORDS, SSILive, csrf_of, sign_in


def test_password_hash_round_trips_and_salts() -> None:
    """A stored hash is scrypt with its parameters; it accepts the password only, and two hashes of the
    same password differ (random salt)."""
    h1, h2 = hash_password("correct horse battery"), hash_password("correct horse battery")
    assert h1.startswith("scrypt$16384$8$1$") and h1 != h2
    assert check_password("correct horse battery", h1) and check_password("correct horse battery", h2)
    assert not check_password("correct horse batterY", h1)
    assert not check_password("x", "not-a-hash") and not check_password("x", "md5$1$2$3$4$5")


def test_user_ids_are_read_in_the_usual_spellings() -> None:
    """The sign-in form takes an EUI with or without dashes, in either case; anything else is refused."""
    assert normalise_eui("90b3d51f30010000") == "90-B3-D5-1F-30-01-00-00"
    assert normalise_eui(" 90-b3-d5-1f-30-01-00-00 ") == "90-B3-D5-1F-30-01-00-00"
    assert normalise_eui("90-B3-D5-1F-30-01-00") is None and normalise_eui("' OR 1=1 --") is None


def test_session_cookie_is_signed_and_expires() -> None:
    """A session read back is the one issued; a changed byte, another secret, or time past the idle or the
    absolute expiry all give no session."""
    s = Sessions("secret-one", ttl_seconds=600, absolute_seconds=3600)
    cookie = s.issue(c.S1, "hash", c.NOW)
    got = s.read(cookie, c.NOW)
    assert got is not None and got.eui == c.S1
    body, sig = cookie.split(".")
    assert s.read(body[:-2] + ("A" if body[-2] != "A" else "B") + body[-1] + "." + sig, c.NOW) is None
    assert Sessions("secret-two", 600).read(cookie, c.NOW) is None
    from datetime import timedelta

    assert s.read(cookie, c.NOW + timedelta(seconds=599)) is not None
    assert s.read(cookie, c.NOW + timedelta(seconds=600)) is None
    renewed = s.issue(c.S1, "hash", c.NOW + timedelta(seconds=3000), absolute=got.absolute, nonce=got.nonce)
    assert s.read(renewed, c.NOW + timedelta(seconds=3500)) is not None
    assert s.read(renewed, c.NOW + timedelta(seconds=3600)) is None, (
        "renewal never passes the absolute expiry"
    )


def test_pages_need_a_session_and_sign_in_returns_to_the_page(ssi: SSILive) -> None:
    """Without a session a page redirects to sign-in with `next`; after signing in the browser goes back
    there; CSV and htmx requests get 401 instead of a redirect."""
    with ssi.client() as anon:
        r = anon.get(f"/ssi/devices/{c.P_OK}")
        assert r.status_code == 303 and r.headers["location"].startswith(
            "/ssi/login?next=%2Fssi%2Fdevices%2F"
        )
        assert anon.get("/ssi/inventory.csv").status_code == 401
        r = anon.get("/ssi/inventory", headers={"HX-Request": "true"})
        assert r.status_code == 401 and r.headers["hx-redirect"] == "/ssi/login"
        form = anon.get("/ssi/login?next=/ssi/devices/" + c.P_OK)
        r = anon.post(
            "/ssi/login",
            data={
                "user": c.S1,
                "password": PASSWORDS[c.S1],
                "csrf": csrf_of(form.text),
                "next": f"/ssi/devices/{c.P_OK}",
            },
        )
        assert r.status_code == 303 and r.headers["location"] == f"/ssi/devices/{c.P_OK}"
        cookie = anon.cookies.get(SESSION_COOKIE)
        assert cookie
        page = anon.get(f"/ssi/devices/{c.P_OK}")
        assert page.status_code == 200 and c.P_OK in page.text
        set_cookie = r.headers["set-cookie"].lower()
        assert "httponly" in set_cookie and "samesite=lax" in set_cookie and "path=/ssi" in set_cookie


def test_sign_in_refuses_wrong_passwords_and_never_redirects_off_site(ssi: SSILive) -> None:
    """A wrong password, an unknown User and a User without an SSI password get the same 401 page; `next`
    pointing at another site is ignored."""
    with ssi.client() as client:
        for user, pw in (
            (c.S1, "wrong-password-123"),
            ("90-B3-D5-1F-70-00-00-77", "whatever-long"),
            (c.GONE, "x" * 12),
        ):
            r = sign_in(client, user, pw)
            assert (
                r.status_code == 401 and "Sign-in failed" in r.text and SESSION_COOKIE not in client.cookies
            )
        form = client.get("/ssi/login")
        for evil in ("https://evil.example/", "//evil.example", "/ssi/../etc", "javascript:alert(1)"):
            r = client.post(
                "/ssi/login",
                data={"user": c.S2, "password": PASSWORDS[c.S2], "csrf": csrf_of(form.text), "next": evil},
            )
            assert r.status_code == 303 and r.headers["location"] == "/ssi/"
            client.cookies.clear()
            form = client.get("/ssi/login")


def test_repeated_failures_lock_the_account_for_a_while(ssi: SSILive) -> None:
    """After MAX_FAILURES wrong passwords even the right one is refused until LOCK_SECONDS have passed."""
    with ssi.client() as client:
        for _ in range(MAX_FAILURES):
            assert sign_in(client, c.S1, "not-the-password!").status_code == 401
        assert sign_in(client, c.S1, PASSWORDS[c.S1]).status_code == 401
        ssi.clock.advance(LOCK_SECONDS - 1)
        assert sign_in(client, c.S1, PASSWORDS[c.S1]).status_code == 401
        ssi.clock.advance(2)
        assert sign_in(client, c.S1, PASSWORDS[c.S1]).status_code == 303


def test_the_login_form_itself_needs_its_token(ssi: SSILive) -> None:
    """Posting credentials without the sign-in page's nonce cookie and token is refused (login CSRF)."""
    with ssi.client() as client:
        r = client.post("/ssi/login", data={"user": c.S1, "password": PASSWORDS[c.S1], "csrf": "forged"})
        assert r.status_code == 403 and SESSION_COOKIE not in client.cookies


def test_sessions_expire_when_idle_and_renew_while_used(ssi: SSILive) -> None:
    """A session is renewed past half its life while the User is active, and ends after the idle timeout."""
    ttl = ssi.ctx.settings.session_ttl_seconds
    with ssi.sign_in(c.S1) as client:
        ssi.clock.advance(ttl * 0.6)
        r = client.get("/ssi/requests")
        assert r.status_code == 200 and SESSION_COOKIE in r.headers.get("set-cookie", "")
        ssi.clock.advance(ttl * 0.6)
        assert client.get("/ssi/requests").status_code == 200, "the renewed session is still valid"
        ssi.clock.advance(ttl + 1)
        r = client.get("/ssi/requests")
        assert r.status_code == 303 and r.headers["location"].startswith("/ssi/login")


def test_every_post_needs_the_csrf_token_and_same_origin(ssi: SSILive) -> None:
    """Sign-out (a POST) without the token, with another session's token, or from another origin is refused
    with 403 and the session survives; with the token it ends the session."""
    with ssi.sign_in(c.S1) as client, ssi.sign_in(c.S2) as other:
        token = csrf_of(client.get("/ssi/").text)
        other_token = csrf_of(other.get("/ssi/").text)
        assert client.post("/ssi/logout", data={}).status_code == 403
        assert client.post("/ssi/logout", data={"csrf": other_token}).status_code == 403
        r = client.post("/ssi/logout", data={"csrf": token}, headers={"Origin": "https://evil.example"})
        assert r.status_code == 403
        assert client.get("/ssi/").status_code == 200
        r = client.post("/ssi/logout", headers={"X-CSRF-Token": token, "Origin": ssi.url})
        assert r.status_code == 303
        assert client.get("/ssi/").status_code == 303


def test_a_changed_password_ends_other_sessions(ssi: SSILive) -> None:
    """Changing the password keeps the session that changed it and signs out every other one."""
    with ssi.sign_in(c.S1) as a, ssi.sign_in(c.S1) as b:
        token = csrf_of(a.get("/ssi/account").text)
        r = a.post(
            "/ssi/account",
            data={"current": "wrong-password-x", "new": "n" * 12, "repeat": "n" * 12, "csrf": token},
        )
        assert r.status_code == 400
        r = a.post(
            "/ssi/account",
            data={"current": PASSWORDS[c.S1], "new": "short", "repeat": "short", "csrf": token},
        )
        assert r.status_code == 400 and "at least 12" in r.text
        new = "a-brand-new-password"
        r = a.post(
            "/ssi/account", data={"current": PASSWORDS[c.S1], "new": new, "repeat": new, "csrf": token}
        )
        assert r.status_code == 200 and "Password changed" in r.text
        assert a.get("/ssi/").status_code == 200
        assert b.get("/ssi/").status_code == 303
        with ssi.client() as fresh:
            assert sign_in(fresh, c.S1, PASSWORDS[c.S1]).status_code == 401
            assert sign_in(fresh, c.S1, new).status_code == 303


def test_a_suspended_user_is_signed_out(ssi: SSILive) -> None:
    """A session ends as soon as its User is no longer Active; a suspended User cannot sign in."""
    with ssi.sign_in(c.S2) as client:
        with ssi.engine.begin() as conn:
            conn.execute(update(User).where(User.eui == c.S2).values(status="Suspended"))
        assert client.get("/ssi/").status_code == 303
        assert sign_in(client, c.S2, PASSWORDS[c.S2]).status_code == 401


def test_pages_carry_security_headers(ssi: SSILive) -> None:
    """Pages forbid framing and inline script, and are not cached; static files are served with a hash."""
    with ssi.sign_in(OPERATOR) as client:
        r = client.get("/ssi/")
        csp = r.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert r.headers["x-frame-options"] == "DENY" and r.headers["cache-control"] == "no-store"
        js = client.get("/ssi/static/htmx.min.js")
        assert js.status_code == 200 and js.headers["content-type"].startswith("text/javascript")
        assert b"htmx" in js.content[:200]
        assert client.get("/ssi/static/../../etc/passwd").status_code == 404
        assert client.get("/ssi/static/nothing.js").status_code == 404


@pytest.mark.parametrize("path", ["/", "/ssi"])
def test_the_root_leads_to_the_ssi(ssi: SSILive, path: str) -> None:
    """`/` redirects to the SSI's start page (which asks for sign-in)."""
    with httpx.Client(base_url=ssi.url, follow_redirects=True) as client:
        r = client.get(path)
        assert r.status_code == 200 and "Sign in" in r.text


def test_sign_out_ends_the_session_even_for_a_copied_cookie(ssi: SSILive) -> None:
    """A session cookie copied before sign-out (a stolen one) no longer works after it; signing in again
    gives a fresh, working session."""
    with ssi.sign_in(c.S1) as client:
        cookie = client.cookies.get(SESSION_COOKIE)
        assert cookie and client.get("/ssi/").status_code == 200
        ssi.clock.advance(5)
        token = csrf_of(client.get("/ssi/").text)
        assert (
            client.post("/ssi/logout", data={"csrf": token}, headers={"Origin": ssi.url}).status_code == 303
        )
    with ssi.client() as thief:
        thief.cookies.set(SESSION_COOKIE, cookie, path="/ssi")
        r = thief.get("/ssi/")
        assert r.status_code in (302, 303) and "/ssi/login" in r.headers["location"]
    ssi.clock.advance(5)
    with ssi.sign_in(c.S1) as again:
        assert again.get("/ssi/").status_code == 200
