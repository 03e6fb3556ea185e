"""Defects found in a security review of the SSI, each pinned by a test that failed before its fix.

- Numbers written with Unicode digits that `str.isdigit` accepts but `int` refuses (`²`) gave an HTTP 500.
- A CSRF token or session cookie holding non-ASCII text made `hmac.compare_digest` raise: an HTTP 500.
- The distribution status report showed a supplier the type, hub and CSP region of devices it listed but is
  not interested in (another supplier's devices), and told apart "exists, not yours" from "no such device".
- The ESI extract written to a file (`hanota ssi extract`) did not neutralise spreadsheet formulas.
"""

from __future__ import annotations

import csv
import io
import re

from sqlalchemy import update

import crafted as c
from hanota.db.engine import read_engine
from hanota.db.models import Device
from hanota.ssi.auth import SESSION_COOKIE
from hanota.ssi.esi import write_extract
from hanota.ssi.queries import Scope
from ssi.conftest import OPERATOR, SSILive, csrf_of, submit_11_4

SUPERSCRIPT_TWO = "\u00b2"  # "²".isdigit() is True, int("²") raises ValueError


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


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


def test_distribution_report_hides_devices_the_supplier_is_not_interested_in(ssi: SSILive) -> None:
    """A supplier listing another supplier's device (or an unknown ID) sees only that it was refused:
    no type, hub or region, and the same reason for both, in the page, the CSV, the region filter and the
    progress table. Its own devices keep their details; the DCC operator sees everything."""
    assert submit_11_4(ssi, c.S1, tuple(e.device_id for e in c.MIXED)) == "W110401"
    with ssi.sign_in(c.S1) as s1:
        pk = _rows(s1.get("/ssi/requests.csv").text)[0]["id"]
        rows = {r["device_id"]: r for r in _rows(s1.get(f"/ssi/requests/{pk}/devices.csv").text)}
        other, unknown, own_esme = rows[c.P_NOTMINE], rows[c.UNKNOWN], rows[c.E1]
        assert other["outcome"] == unknown["outcome"] == "InvalidDeviceIDList"
        assert (other["device_type"], other["hub_id"], other["region"]) == ("", "", "")
        assert other["reason"] == unknown["reason"]
        assert "interested" in other["reason"] and "inventory" in other["reason"]
        # a device of S1's own, refused for its type, keeps its details and reason
        assert own_esme["device_type"] == "ESME" and own_esme["hub_id"] == c.H1
        assert own_esme["reason"] == "a ESME is not a target of SR 11.4"
        html = s1.get(f"/ssi/requests/{pk}/devices").text
        row = re.search(rf"<tr>\s*<th scope=\"row\"><code>{c.P_NOTMINE}</code>.*?</tr>", html, re.S)
        assert row is not None and "PPMID" not in row.group(0) and "South" not in row.group(0)
        south = s1.get(f"/ssi/requests/{pk}/devices.csv", params={"region": "South"}).text
        assert c.P_NOTMINE not in south
        south_page = s1.get(f"/ssi/requests/{pk}/devices", params={"region": "South"}).text
        assert c.P_NOTMINE not in south_page
        progress = s1.get(f"/ssi/requests/{pk}").text
        assert '<th scope="row">South</th>' not in progress and '<th scope="row">Central</th>' in progress
    with ssi.sign_in(OPERATOR) as op:
        rows = {r["device_id"]: r for r in _rows(op.get(f"/ssi/requests/{pk}/devices.csv").text)}
        assert rows[c.P_NOTMINE]["hub_id"] == c.H3 and rows[c.P_NOTMINE]["region"] == "South"
        assert rows[c.P_NOTMINE]["reason"] == "the sender is not an interested supplier of this device"
        assert '<th scope="row">South</th>' in op.get(f"/ssi/requests/{pk}").text


def test_extract_file_neutralises_spreadsheet_formulas(ssi: SSILive) -> None:
    """`write_extract` (the CLI's ESI extract) writes a text value that a spreadsheet would run as a formula
    with a leading quote, as the HTTP exports do."""
    with ssi.engine.begin() as conn:
        conn.execute(update(Device).where(Device.device_id == c.P_OK).values(model="=1+2"))
    out = io.StringIO()
    reader = read_engine(ssi.engine)
    try:
        n = write_extract(reader, Scope(OPERATOR, True, c.NOW), out)
    finally:
        if reader is not ssi.engine:
            reader.dispose()
    rows = {r["device_id"]: r for r in _rows(out.getvalue())}
    assert n == len(rows)
    assert rows[c.P_OK]["model"] == "'=1+2"
    assert not any(re.match(r"^[=+@]", v) for r in rows.values() for v in r.values() if v)


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
