"""The alert endpoint on the SSI's account page (issue 13): a User sees and sets its own, the DCC operator any
User's (reason required); CSRF and same-origin as every POST; audited; a bad URL changes nothing."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, select

import crafted as c
from hanota.alerts.endpoints import AUDIT_ACTION
from hanota.db.models import AlertRecipient, AnomalyAudit, User
from ssi.conftest import OPERATOR, SSILive, csrf_of
from ssi.test_ssi_browser import browser, signed_in  # noqa: F401 - the module-scoped browser fixture

URL = "https://alerts.s1.example/smartdcc/duis"


def _endpoint(ssi: SSILive, eui: str = c.S1) -> str | None:
    with ssi.engine.connect() as conn:
        return conn.execute(select(User.alert_endpoint).where(User.eui == eui)).scalar_one()


def _audit(ssi: SSILive) -> list[Any]:
    with ssi.engine.connect() as conn:
        return list(conn.execute(select(AnomalyAudit).where(AnomalyAudit.action == AUDIT_ACTION)).all())


def test_a_user_sets_and_clears_its_own_endpoint(ssi: SSILive) -> None:
    """The page says "mailbox" at first; a POST saves the URL (303 back to the page, which shows it); the
    failing state of the old address is dropped; "use the mailbox" clears it. Both changes audited as S1."""
    with ssi.engine.begin() as conn:
        conn.execute(insert(AlertRecipient).values(recipient_eui=c.S1, failures=2, paused_until=c.NOW,
                     failing_since=c.NOW, last_error="HTTP 503", updated_at=c.NOW))  # fmt: skip
    with ssi.sign_in(c.S1) as s1:
        page = s1.get("/ssi/account").text
        assert "No endpoint: your alerts wait in your mailbox" in page
        r = s1.post(
            "/ssi/account/endpoint", data={"endpoint": f" {URL} ", "action": "set", "csrf": csrf_of(page)}
        )
        assert r.status_code == 303 and r.headers["location"] == "/ssi/account?done=set#endpoint"
        shown = s1.get("/ssi/account?done=set").text
        assert (
            f'Saved. Your alerts go to <code class="wrap">{URL}</code>' in shown and f'value="{URL}"' in shown
        )
        assert _endpoint(ssi) == URL
        with ssi.engine.connect() as conn:
            assert conn.execute(select(AlertRecipient)).first() is None
        same = s1.post(
            "/ssi/account/endpoint", data={"endpoint": URL, "action": "set", "csrf": csrf_of(shown)}
        )
        assert same.headers["location"] == "/ssi/account?done=unchanged#endpoint"
        r = s1.post("/ssi/account/endpoint", data={"action": "clear", "csrf": csrf_of(shown)})
        assert r.headers["location"] == "/ssi/account?done=cleared#endpoint"
        assert "wait in the mailbox" in s1.get(r.headers["location"]).text
    assert _endpoint(ssi) is None
    entries = _audit(ssi)
    assert [(e.actor_eui, e.target, e.reason) for e in entries] == [
        (c.S1, f"user:{c.S1}", "set by the User on the SSI account page")
    ] * 2
    assert [json.loads(e.detail)["after"] for e in entries] == [URL, None]


@pytest.mark.parametrize(
    ("endpoint", "why"),
    [
        ("ftp://alerts.example/x", "is not an http(s) URL"),
        ("https://" + "a" * 500 + ".example", "at most 500 characters"),
        ("https://user:pw@alerts.example/", "user name or password"),
        ("", "give an http:// or https:// URL"),
    ],
)
def test_a_bad_endpoint_is_refused_on_the_page_and_nothing_changes(
    ssi: SSILive, endpoint: str, why: str
) -> None:
    """A bad endpoint URL is refused with a 400 page that says why, as an alert; the endpoint and the
    audit trail stay as they were."""
    with ssi.sign_in(c.S1) as s1:
        token = csrf_of(s1.get("/ssi/account").text)
        r = s1.post("/ssi/account/endpoint", data={"endpoint": endpoint, "action": "set", "csrf": token})
        assert r.status_code == 400 and why in r.text and 'role="alert"' in r.text
    assert _endpoint(ssi) is None and _audit(ssi) == []


def test_the_endpoint_form_needs_the_csrf_token_and_the_same_origin(ssi: SSILive) -> None:
    """The endpoint form is refused (403) without the CSRF token, with a wrong one or from another origin,
    and (401) when nobody is signed in; nothing changes."""
    with ssi.sign_in(c.S1) as s1:
        token = csrf_of(s1.get("/ssi/account").text)
        assert s1.post("/ssi/account/endpoint", data={"endpoint": URL}).status_code == 403
        assert (
            s1.post("/ssi/account/endpoint", data={"endpoint": URL, "csrf": "x" + token}).status_code == 403
        )
        cross = s1.post("/ssi/account/endpoint", data={"endpoint": URL, "csrf": token},
                        headers={"origin": "https://evil.example"})  # fmt: skip
        assert cross.status_code == 403
    with ssi.client() as anonymous:
        assert anonymous.post("/ssi/account/endpoint", data={"endpoint": URL}).status_code == 401
    assert _endpoint(ssi) is None and _audit(ssi) == []


def test_only_the_operator_sets_another_users_endpoint_with_a_reason(ssi: SSILive) -> None:
    """A supplier may not set another User's endpoint (403) nor see the Users' list; the DCC operator
    sees it and sets one, only with a reason, which is audited."""
    with ssi.sign_in(c.S1) as s1:
        token = csrf_of(s1.get("/ssi/account").text)
        assert "Users' alert endpoints" not in s1.get("/ssi/account").text
        r = s1.post("/ssi/account/endpoint", data={"endpoint": URL, "user": c.S2, "csrf": token})
        assert r.status_code == 403
    assert _endpoint(ssi, c.S2) is None
    with ssi.sign_in(OPERATOR) as op:
        page = op.get("/ssi/account").text
        assert "Users' alert endpoints" in page and c.S2 in page
        token = csrf_of(page)
        no_reason = op.post("/ssi/account/endpoint", data={"endpoint": URL, "user": c.S2, "csrf": token})
        assert no_reason.status_code == 400 and "give a reason" in no_reason.text
        assert _endpoint(ssi, c.S2) is None
        r = op.post("/ssi/account/endpoint",
                    data={"endpoint": URL, "user": c.S2.lower(), "reason": "ticket 42", "csrf": token})  # fmt: skip
        assert r.status_code == 303 and f"user={c.S2}" in r.headers["location"]
        assert (
            f'{c.S2}&#39;s alerts go to <code class="wrap">{URL}</code>' in op.get(r.headers["location"]).text
        )
        unknown = op.post("/ssi/account/endpoint", data={"endpoint": URL, "user": "00-00-00-00-00-00-00-09",
                                                          "reason": "x", "csrf": token})  # fmt: skip
        assert unknown.status_code == 400 and "is not a DCC User" in unknown.text
    assert _endpoint(ssi, c.S2) == URL
    (entry,) = _audit(ssi)
    assert (entry.actor_eui, entry.target, entry.reason) == (OPERATOR, f"user:{c.S2}", "ticket 42")


@pytest.mark.browser
def test_a_user_sets_its_endpoint_in_the_browser_at_both_widths(
    browser: Any,  # noqa: F811 - the fixture imported above
    ssi: SSILive,
    tmp_path: Path,
) -> None:
    """In Chromium, S1 types its endpoint and saves it; the page confirms and shows it; then it goes back to
    the mailbox. Screenshots at 1280 and 390 px are kept in the test's folder (docs/screenshots/16-* are
    these, copied)."""
    from playwright.sync_api import expect

    for width in (1280, 390):
        page = signed_in(browser, ssi, c.S1, width=width)
        page.get_by_role("link", name="S1").click()
        expect(page.get_by_role("heading", name="Where your alerts go")).to_be_visible()
        expect(page.get_by_text("No endpoint: your alerts wait in your mailbox")).to_be_visible()
        page.get_by_label("Alert endpoint (http:// or https:// URL)").fill(URL)
        page.get_by_role("button", name="Save endpoint").click()
        expect(page.get_by_role("status")).to_contain_text(f"Your alerts go to {URL}")
        assert _endpoint(ssi) == URL
        page.screenshot(path=str(tmp_path / f"16-account-endpoint-{width}.png"), full_page=True)
        page.get_by_role("button", name="Use the mailbox instead").click()
        expect(page.get_by_role("status")).to_contain_text("wait in the mailbox")
        assert _endpoint(ssi) is None
        page.close()
    assert len(_audit(ssi)) == 4
    out = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
    if out.is_dir() and os.environ.get("HANOTA_UPDATE_SCREENSHOTS") == "1":
        for width in (1280, 390):
            shutil.copy(tmp_path / f"16-account-endpoint-{width}.png", out)
