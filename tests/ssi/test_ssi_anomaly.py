"""The anomaly pages: a User sets its own thresholds (within the DCC's bounds), and the DCC operator releases
or deletes quarantined requests from the queue; suppliers see only their own held requests."""

from __future__ import annotations

import csv
import io
import re

import crafted as c
from hanota.anomaly import thresholds
from ssi.conftest import OPERATOR, SSILive, csrf_of, submit_11_4


def quarantine_one(ssi: SSILive) -> int:
    """S1 allows itself one 11.4 a day; its second is held. Returns the quarantine event number."""
    with ssi.engine.begin() as conn:
        thresholds.set_user_threshold(
            conn, user_eui=c.S1, srv="11.4", max_requests=1, actor_eui=c.S1, now=c.NOW
        )
    assert submit_11_4(ssi, c.S1, (c.P_OK,)) == "I0"
    assert submit_11_4(ssi, c.S1, (c.I_OK,)) == "E43"
    with ssi.sign_in(OPERATOR) as op:
        page = op.get("/ssi/quarantine").text
    refs = sorted(set(re.findall(r"/ssi/quarantine/(\d+)/release", page)))
    assert len(refs) == 1
    return int(refs[0])


def test_a_user_sets_and_clears_its_own_threshold(ssi: SSILive) -> None:
    """S1 sets 11.4 to 3 requests / 10,000 devices per 12 h and sees it applied; a value over the DCC bound
    is refused with the bound named (422) and nothing changes; clearing brings the DCC default back."""
    with ssi.sign_in(c.S1) as s1:
        page = s1.get("/ssi/thresholds")
        assert page.status_code == 200 and "DCC default" in page.text
        token = csrf_of(page.text)
        r = s1.post("/ssi/thresholds", data={"srv": "11.4", "max_requests": "3", "max_devices": "10,000",
                                             "window_hours": "12", "csrf": token})  # fmt: skip
        assert r.status_code == 303
        with ssi.engine.connect() as conn:
            t = thresholds.user_threshold(conn, c.S1, "11.4")
        assert (t.max_requests, t.max_devices, t.window_hours, t.source) == (3, 10_000, 12, "user")
        r = s1.post(
            "/ssi/thresholds",
            data={"srv": "11.4", "max_devices": "999999999", "window_hours": "24", "csrf": token},
        )
        assert r.status_code == 422 and "above the DCC bound" in r.text
        r = s1.post("/ssi/thresholds", data={"srv": "11.4", "max_requests": "lots", "csrf": token})
        assert r.status_code == 422
        with ssi.engine.connect() as conn:
            assert thresholds.user_threshold(conn, c.S1, "11.4").max_devices == 10_000
        r = s1.post("/ssi/thresholds", data={"srv": "11.4", "action": "clear", "csrf": token})
        assert r.status_code == 303
        with ssi.engine.connect() as conn:
            assert thresholds.user_threshold(conn, c.S1, "11.4").source == "dcc-default"
        # a supplier cannot change another User's thresholds: `user` is ignored for it
        s1.post("/ssi/thresholds", data={"srv": "11.4", "max_requests": "2", "user": c.S2, "csrf": token})
        with ssi.engine.connect() as conn:
            assert thresholds.user_threshold(conn, c.S2, "11.4").source == "dcc-default"
            assert thresholds.user_threshold(conn, c.S1, "11.4").max_requests == 2


def test_operator_releases_a_quarantined_request(ssi: SSILive) -> None:
    """The held request is listed for the operator and for its User (without buttons); S1 cannot release it
    (403); the operator's release without a reason is refused; with one it is processed (I0), listed as
    released, appears in S1's requests, and S1 gets the answer in its alerts."""
    ref = quarantine_one(ssi)
    with ssi.sign_in(c.S1) as s1, ssi.sign_in(OPERATOR) as op:
        mine = s1.get("/ssi/quarantine").text
        assert "ADUserThresholdBreach" in mine and "/release" not in mine
        token1 = csrf_of(s1.get("/ssi/").text)
        assert (
            s1.post(f"/ssi/quarantine/{ref}/release", data={"reason": "mine", "csrf": token1}).status_code
            == 403
        )
        token = csrf_of(op.get("/ssi/quarantine").text)
        r = op.post(f"/ssi/quarantine/{ref}/release", data={"reason": "  ", "csrf": token})
        assert r.status_code == 422
        r = op.post(
            f"/ssi/quarantine/{ref}/release",
            data={"reason": "planned campaign, agreed by phone", "csrf": token},
        )
        assert r.status_code == 303 and "released" in r.headers["location"]
        done = op.get(r.headers["location"]).text
        assert f"Quarantine event released {ref} (I0)" in done
        again = op.post(f"/ssi/quarantine/{ref}/release", data={"reason": "twice", "csrf": token})
        assert again.status_code == 409
        released = op.get("/ssi/quarantine?status=released").text
        assert "planned campaign" in released
        reqs = list(csv.DictReader(io.StringIO(s1.get("/ssi/requests.csv").text)))
        assert sorted(r["status"] for r in reqs) == ["accepted", "accepted"]
        kinds = {r["kind"] for r in csv.DictReader(io.StringIO(s1.get("/ssi/alerts.csv").text))}
        assert "QuarantineReleased" in kinds


def test_operator_deletes_a_quarantined_request(ssi: SSILive) -> None:
    """Delete keeps the request unprocessed: its row says deleted and S1 is told E43."""
    ref = quarantine_one(ssi)
    with ssi.sign_in(OPERATOR) as op, ssi.sign_in(c.S1) as s1:
        token = csrf_of(op.get("/ssi/quarantine").text)
        r = op.post(f"/ssi/quarantine/{ref}/delete", data={"reason": "not ours", "csrf": token})
        assert r.status_code == 303
        reqs = list(csv.DictReader(io.StringIO(s1.get("/ssi/requests.csv").text)))
        assert sorted(r["status"] for r in reqs) == ["accepted", "deleted"]
        assert op.post("/ssi/quarantine/abc/delete", data={"reason": "x", "csrf": token}).status_code == 404
        assert op.post("/ssi/quarantine/99999/delete", data={"reason": "x", "csrf": token}).status_code == 404
