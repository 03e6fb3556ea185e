"""Who sees what: a supplier sees only the devices it is interested in, its own requests and its own
alerts — in pages, in searches and in every CSV — and the DCC operator sees everything."""

from __future__ import annotations

import csv
import io
import re

import pytest
from sqlalchemy import insert

import crafted as c
from hanota.db.models import AlertOutbox
from ssi.conftest import OPERATOR, SSILive, fake_request, submit_11_4

# The crafted estate: S1 imports on H1 and H2, S2 is gas supplier on H1, S3 imports on H3.
H1_DISPLAYS = {c.P_OK, c.P_PENDING, c.P_HW, c.P_MODEL, c.P_OLDFW, c.I_OK, c.I_NOFW, c.P_GAS, c.I_OFFHDR}
VISIBLE = {
    c.S1: H1_DISPLAYS | {c.E1, c.E2, c.P_NOOTA},
    c.S2: H1_DISPLAYS | {c.G1},
    c.S3: {c.E3, c.P_NOTMINE},
    c.OTHER: set(),
    OPERATOR: H1_DISPLAYS | {c.E1, c.G1, c.E2, c.P_NOOTA, c.E3, c.P_NOTMINE},
}
ALL = VISIBLE[OPERATOR]


def csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


@pytest.mark.parametrize("user", list(VISIBLE))
def test_inventory_lists_exactly_the_devices_a_user_may_see(ssi: SSILive, user: str) -> None:
    """The inventory (all pages), its CSV and the ESI extract hold the User's devices and no other."""
    with ssi.sign_in(user) as client:
        page = client.get("/ssi/inventory?size=500")
        assert page.status_code == 200
        shown = {d for d in ALL if f"/ssi/devices/{d}" in page.text}
        assert shown == VISIBLE[user]
        inv = csv_rows(client.get("/ssi/inventory.csv").text)
        assert {r["device_id"] for r in inv} == VISIBLE[user]
        esi = client.get("/ssi/extract.csv")
        assert esi.status_code == 200 and "attachment" in esi.headers["content-disposition"]
        assert {r["device_id"] for r in csv_rows(esi.text)} == VISIBLE[user]


def test_a_supplier_cannot_open_another_suppliers_device(ssi: SSILive) -> None:
    """S1 gets 404 for S3's PPMID — the same answer as for a device that does not exist — while S3 and the
    operator see it; its firmware-history CSV is refused the same way."""
    with ssi.sign_in(c.S1) as s1, ssi.sign_in(c.S3) as s3, ssi.sign_in(OPERATOR) as op:
        mine = s1.get(f"/ssi/devices/{c.P_NOTMINE}")
        missing = s1.get(f"/ssi/devices/{c.UNKNOWN}")
        assert mine.status_code == 404 and missing.status_code == 404
        assert c.P_NOTMINE not in mine.text.replace(f"/ssi/devices/{c.P_NOTMINE}", "")
        assert s1.get(f"/ssi/devices/{c.P_NOTMINE}/history.csv").status_code == 404
        for client in (s3, op):
            r = client.get(f"/ssi/devices/{c.P_NOTMINE}")
            assert r.status_code == 200 and c.P_NOTMINE in r.text and c.H3 in r.text
        assert s1.get(f"/ssi/devices/{c.P_OK}").status_code == 200


def test_searches_never_reveal_other_suppliers_devices(ssi: SSILive) -> None:
    """Searching S3's device ID, its hub, its home's UPRN or its postcode finds nothing for S1."""
    with ssi.sign_in(c.S1) as s1, ssi.sign_in(c.S3) as s3:
        prefix = s1.get("/ssi/inventory.csv", params={"q": c.P_NOTMINE[:8]}).text
        assert c.P_OK in prefix and c.P_NOTMINE not in prefix
        for q in (c.P_NOTMINE, c.H3, "3", "T3 1AA"):
            page = s1.get("/ssi/inventory", params={"q": q})
            assert page.status_code == 200, q
            assert f"/ssi/devices/{c.P_NOTMINE}" not in page.text and "No devices found" in page.text, q
            assert csv_rows(s1.get("/ssi/inventory.csv", params={"q": q}).text) == [], q
            assert f"/ssi/devices/{c.P_NOTMINE}" in s3.get("/ssi/inventory", params={"q": q}).text, q


def test_device_search_finds_the_hub_and_home(ssi: SSILive) -> None:
    """A device ID finds it and its hub mates; a hub's CHF finds the hub's devices; UPRN and postcode
    (any spacing or case) find the home; the first digits of an ID find the IDs that start so."""
    with ssi.sign_in(c.S1) as s1:

        def found(q: str) -> set[str]:
            return {r["device_id"] for r in csv_rows(s1.get("/ssi/inventory.csv", params={"q": q}).text)}

        h1 = H1_DISPLAYS | {c.E1}
        assert found(c.P_OK) == h1
        assert found(c.P_OK.replace("-", "").lower()) == h1
        assert found(c.H1) == h1
        assert found("1") == found("000000000001") == h1
        assert found("t1 1aa") == found("T11AA") == h1
        assert found(c.H2[:-3]) == set(), "a hub prefix is not a device prefix"
        assert found("BB-00-00-00-00-00-00-0") == {
            d for d in VISIBLE[c.S1] if d.startswith("BB-00-00-00-00-00-00-0")
        }


def test_requests_and_alerts_are_the_users_own(ssi: SSILive) -> None:
    """S1 lists and opens its own requests only (S2's is 404); each sees only the alerts addressed to it;
    the operator sees all of both."""
    mine = fake_request(ssi.engine, c.S1, [{"device_id": c.P_OK}])
    theirs = fake_request(ssi.engine, c.S2, [{"device_id": c.P_GAS}])
    with ssi.engine.begin() as conn:
        for recipient, n in ((c.S1, 3), (c.S2, 2)):
            for i in range(n):
                conn.execute(
                    insert(AlertOutbox).values(
                        alert_id=f"t:{recipient}:{i}", recipient_eui=recipient, code="N60", kind="CSPFirmwareDeliveryStatus",
                        request_pk=mine, device_id=c.P_OK, created_at=c.NOW, body=b"<sr:Response xmlns:sr='x'/>",
                        attempts=0, mailbox=True,
                    )
                )  # fmt: skip
    with ssi.sign_in(c.S1) as s1, ssi.sign_in(c.S2) as s2, ssi.sign_in(OPERATOR) as op:
        assert s1.get(f"/ssi/requests/{mine}").status_code == 200
        assert s1.get(f"/ssi/requests/{theirs}").status_code == 404
        assert s1.get(f"/ssi/requests/{theirs}/devices").status_code == 404
        assert s1.get(f"/ssi/requests/{theirs}/devices.csv").status_code == 404
        assert s1.get(f"/ssi/requests/{theirs}/progress").status_code == 404
        assert {int(r["id"]) for r in csv_rows(s1.get("/ssi/requests.csv").text)} == {mine}
        assert {int(r["id"]) for r in csv_rows(op.get("/ssi/requests.csv").text)} == {mine, theirs}
        a1 = csv_rows(s1.get("/ssi/alerts.csv").text)
        a2 = csv_rows(s2.get("/ssi/alerts.csv").text)
        assert len(a1) == 3 and {r["recipient_eui"] for r in a1} == {c.S1}
        assert len(a2) == 2 and {r["recipient_eui"] for r in a2} == {c.S2}
        assert len(csv_rows(op.get("/ssi/alerts.csv").text)) == 5
        s2_alert = a2[0]["id"]
        assert s1.get(f"/ssi/alerts/{s2_alert}").status_code == 404
        page = s2.get(f"/ssi/alerts/{s2_alert}")
        assert page.status_code == 200 and "sr:Response" in page.text
        # S2 got an alert about S1's request (A-009): it sees the request ID but no link into it
        inbox = s2.get("/ssi/alerts").text
        assert f'/ssi/requests/{mine}"' not in inbox


def test_distribution_report_hides_devices_the_supplier_is_not_interested_in(ssi: SSILive) -> None:
    """A supplier listing another supplier's device (or an unknown ID) sees only that it was refused:
    no type, hub or region, and the same reason for both, in the page, the CSV, the region filter and the
    progress table. Its own devices keep their details; the DCC operator sees everything."""
    assert submit_11_4(ssi, c.S1, tuple(e.device_id for e in c.MIXED)) == "W110401"
    with ssi.sign_in(c.S1) as s1:
        pk = csv_rows(s1.get("/ssi/requests.csv").text)[0]["id"]
        rows = {r["device_id"]: r for r in csv_rows(s1.get(f"/ssi/requests/{pk}/devices.csv").text)}
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
        rows = {r["device_id"]: r for r in csv_rows(op.get(f"/ssi/requests/{pk}/devices.csv").text)}
        assert rows[c.P_NOTMINE]["hub_id"] == c.H3 and rows[c.P_NOTMINE]["region"] == "South"
        assert rows[c.P_NOTMINE]["reason"] == "the sender is not an interested supplier of this device"
        assert '<th scope="row">South</th>' in op.get(f"/ssi/requests/{pk}").text
