"""Bad, hostile and unauthorised input to the SSI gets an HTTP 4xx — never a 500 — and changes nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

import crafted as c
from hanota.db.models import WebCredential
from ssi.conftest import OPERATOR, SSILive, csrf_of

SUPERSCRIPT_TWO = "\u00b2"  # "²".isdigit() is True, int("²") raises ValueError

BAD_GETS = [
    "/ssi/inventory?q=%27%20OR%201%3D1%20--",
    "/ssi/inventory?q=" + "A" * 65,
    "/ssi/inventory?q=%00%01",
    "/ssi/inventory?q=a&q=b",
    "/ssi/inventory?size=7",
    "/ssi/inventory?size=-1",
    "/ssi/inventory?size=99999999999999999999999",
    "/ssi/inventory?after=zzz",
    "/ssi/inventory?after=%27%20OR%20%271%27%3D%271",
    "/ssi/inventory.csv?q=%3Cscript%3E",
    "/ssi/requests?before=-1",
    "/ssi/requests?before=99999999999999999999999",
    "/ssi/requests?srv=99.9",
    "/ssi/requests?status=%27",
    "/ssi/requests/abc",
    "/ssi/requests/99999999",
    "/ssi/requests/1e9/devices",
    "/ssi/requests/-1/progress",
    "/ssi/requests/99999999999999999999999999/devices.csv",
    "/ssi/devices/..%2F..%2Fetc%2Fpasswd",
    "/ssi/devices/%27%3B%20DROP%20TABLE%20devices%3B--",
    "/ssi/devices/" + "F" * 500,
    "/ssi/alerts/0x10",
    "/ssi/alerts?kind=%27%20OR%201%3D1",
    "/ssi/alerts?before=abc",
    "/ssi/reports/firmware?types=TOASTER",
    "/ssi/reports/firmware?offset=x",
    "/ssi/cpl?status=Bogus",
    "/ssi/cpl?after=%2D1",
    "/ssi/billing?from=2026-13",
    "/ssi/billing?to=%27",
    "/ssi/static/..%2F..%2Fpyproject.toml",
]


@pytest.mark.parametrize("who", [c.S1, OPERATOR])
def test_malformed_queries_get_a_4xx_page(ssi: SSILive, who: str) -> None:
    """Every malformed or hostile query string or path gets a 4xx (the operator's wider view included)."""
    with ssi.sign_in(who) as client:
        for url in BAD_GETS:
            r = client.get(url)
            assert 400 <= r.status_code < 500, (url, r.status_code, r.text[:200])
        # the store is untouched
        assert client.get(f"/ssi/devices/{c.P_OK}").status_code == 200


def test_hostile_text_is_escaped_in_pages(ssi: SSILive) -> None:
    """Search text is shown back escaped, never as markup."""
    with ssi.sign_in(c.S1) as client:
        r = client.get("/ssi/inventory", params={"q": "BB-00"})
        assert r.status_code == 200
        r = client.get("/ssi/login", params={"next": '/ssi/"><script>alert(1)</script>'})
        assert "<script>alert" not in r.text


def test_forms_refuse_oversized_and_forged_posts(ssi: SSILive) -> None:
    """Oversized fields, wrong content types and missing tokens are refused; no credential is changed."""
    with ssi.sign_in(c.S1) as client:
        before = _credentials(ssi)
        token = csrf_of(client.get("/ssi/account").text)
        r = client.post(
            "/ssi/account", data={"current": "x" * 5000, "new": "y" * 20, "repeat": "y" * 20, "csrf": token}
        )
        assert 400 <= r.status_code < 500
        r = client.post(
            "/ssi/account", content=b"\xff\xfe garbage", headers={"content-type": "application/json"}
        )
        assert 400 <= r.status_code < 500
        r = client.post("/ssi/account", data={"current": "a", "new": "b" * 20, "repeat": "b" * 20})
        assert r.status_code == 403
        assert _credentials(ssi) == before
    with ssi.client() as anon:
        r = anon.post("/ssi/login", data={"user": "x" * 100, "password": "p", "csrf": "t"})
        assert 400 <= r.status_code < 500
        r = anon.post("/ssi/logout")
        assert r.status_code == 401


def _credentials(ssi: SSILive) -> tuple[int, list[str]]:
    with ssi.engine.connect() as conn:
        n = conn.execute(select(func.count()).select_from(WebCredential)).scalar_one()
        hashes = list(conn.execute(select(WebCredential.password_hash).order_by(WebCredential.eui)).scalars())
    return n, hashes


def test_csv_cells_cannot_become_spreadsheet_formulas() -> None:
    """A text cell that starts like a formula is quoted; numbers (also negative ones) are left alone."""
    from hanota.ssi.csvout import csv_chunks

    out = b"".join(
        csv_chunks(("a", "b", "c"), [("=HYPERLINK(1)", "-5", -5), ("@SUM(A1)", "+x", "ok")])
    ).decode()
    assert out.splitlines() == ["a,b,c", "'=HYPERLINK(1),-5,-5", "'@SUM(A1),'+x,ok"]


def test_unicode_digits_in_numbers_get_a_4xx(ssi: SSILive) -> None:
    """Paths and query parameters that must be numbers answer 4xx (never 500) for non-ASCII digits."""
    d = SUPERSCRIPT_TWO
    urls = [
        f"/ssi/requests/{d}",
        f"/ssi/requests/{d}/progress",
        f"/ssi/requests/{d}/devices.csv",
        f"/ssi/alerts/{d}",
        f"/ssi/requests?before={d}",
        f"/ssi/alerts?before={d}",
        f"/ssi/cpl?after={d}",
        f"/ssi/inventory?size={d}",
        f"/ssi/inventory?q={d}",
        f"/ssi/inventory.csv?q={d}{d}",
        f"/ssi/reports/firmware?offset={d}",
        f"/ssi/billing?offset={d}",
        f"/ssi/quarantine?offset={d}",
    ]
    for who in (c.S1, OPERATOR):
        with ssi.sign_in(who) as client:
            for url in urls:
                r = client.get(url)
                assert 400 <= r.status_code < 500, (who, url, r.status_code, r.text[:200])
    with ssi.sign_in(OPERATOR) as op:
        token = csrf_of(op.get("/ssi/quarantine").text)
        r = op.post(f"/ssi/quarantine/{d}/release", data={"csrf": token, "reason": "x"})
        assert r.status_code == 404, r.text[:200]


def test_non_ascii_tokens_and_cookies_get_a_4xx(ssi: SSILive) -> None:
    """A non-ASCII CSRF token (form field or header) or session cookie is refused with a 4xx, not a 500,
    and changes nothing."""
    with ssi.client() as anon:
        anon.get("/ssi/login")  # the sign-in nonce cookie
        r = anon.post("/ssi/login", data={"user": c.S1, "password": "x" * 20, "csrf": "\u00e9t\u00e9"})
        assert r.status_code == 403, r.text[:200]
        r = anon.get("/ssi/", headers={b"cookie": b"hanota_ssi=eyJ1IjoiIn0.\xe9\xe9"})
        assert r.status_code == 303 and "/ssi/login" in r.headers["location"]
        r = anon.get("/ssi/alerts.csv", headers={b"cookie": b"hanota_ssi=\xe9.\xe9"})
        assert r.status_code == 401
    with ssi.sign_in(c.S1) as s1:
        r = s1.post("/ssi/thresholds", data={"srv": "11.4", "max_requests": "3", "csrf": "\u00e9"})
        assert r.status_code == 403, r.text[:200]
        r = s1.post(
            "/ssi/thresholds",
            data={"srv": "11.4", "max_requests": "3"},
            headers={b"x-csrf-token": b"\xe9\xe9"},
        )
        assert r.status_code == 403, r.text[:200]
        assert "Saved" not in s1.get("/ssi/thresholds").text
        # the session still works
        assert s1.get("/ssi/").status_code == 200
