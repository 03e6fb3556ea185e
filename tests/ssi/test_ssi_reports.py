"""The reports: firmware versions, distribution status per request, request progress over virtual time,
the CPL browser — each paged on the server and exported whole as CSV."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

from sqlalchemy import update

import crafted as c
from hanota.db.engine import read_engine
from hanota.db.models import RequestDevice
from hanota.ssi.request_queries import HIDDEN_REASON, progress
from ssi.conftest import OPERATOR, SSILive, fake_request, submit_11_4


def csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def next_link(html: str) -> str | None:
    m = re.search(r'href="([^"]+)" rel="next"', html)
    return m.group(1).replace("&amp;", "&") if m else None


def test_distribution_report_shows_every_device_with_list_and_reason(ssi: SSILive) -> None:
    """After a real SR 11.4 with the mixed list, the report holds every listed device with the warning list
    and the reason it was given, and the accepted ones in state `accepted`."""
    assert submit_11_4(ssi, c.S1, tuple(e.device_id for e in c.MIXED)) == "W110401"
    with ssi.sign_in(c.S1) as s1:
        reqs = csv_rows(s1.get("/ssi/requests.csv").text)
        assert len(reqs) == 1 and reqs[0]["srv"] == "11.4" and reqs[0]["response_code"] == "W110401"
        pk = reqs[0]["id"]
        rows = {r["device_id"]: r for r in csv_rows(s1.get(f"/ssi/requests/{pk}/devices.csv").text)}
        assert {d: r["outcome"] for d, r in rows.items()} == {e.device_id: e.outcome for e in c.MIXED}
        assert rows[c.P_OK]["state"] == "accepted" and rows[c.P_OK]["reason"] == ""
        # another supplier's device reads like an unknown one (tests/ssi/test_ssi_review.py)
        assert rows[c.P_NOTMINE]["reason"] == rows[c.UNKNOWN]["reason"] == HIDDEN_REASON
        assert rows[c.I_NOFW]["reason"].startswith("no recorded firmware version")
        page = s1.get(f"/ssi/requests/{pk}/devices", params={"outcome": "NotApplicableFirmwareDeviceIDList"})
        assert page.status_code == 200
        shown = set(re.findall(r"BB-00-00-00-00-00-00-[0-9A-F]{2}", page.text))
        assert shown == {e.device_id for e in c.MIXED if e.outcome == "NotApplicableFirmwareDeviceIDList"}


def test_tables_page_by_key_and_csv_exports_everything(ssi: SSILive) -> None:
    """A 120-device request walked 25 at a time gives every device once, in ID order, and the CSV export of
    the same filter holds all of them; filters apply to both."""
    ids = [f"CC-00-00-00-00-00-{i // 256:02X}-{i % 256:02X}" for i in range(120)]
    devices = [{"device_id": d, "state": "activated" if i % 3 == 0 else "sent"} for i, d in enumerate(ids)]
    pk = fake_request(ssi.engine, c.S1, devices)
    with ssi.sign_in(c.S1) as s1:
        url: str | None = f"/ssi/requests/{pk}/devices?size=25"
        seen: list[str] = []
        pages = 0
        while url:
            html = s1.get(url).text
            seen += re.findall(r"<code>(CC-[0-9A-F-]{20})</code>", html)
            url = next_link(html)
            pages += 1
        assert seen == sorted(ids) and pages == 5
        all_rows = csv_rows(s1.get(f"/ssi/requests/{pk}/devices.csv").text)
        assert [r["device_id"] for r in all_rows] == sorted(ids)
        activated = csv_rows(s1.get(f"/ssi/requests/{pk}/devices.csv?state=activated").text)
        assert {r["device_id"] for r in activated} == {
            d["device_id"] for d in devices if d["state"] == "activated"
        }


def test_progress_counts_and_series_follow_the_delivery_states(ssi: SSILive) -> None:
    """Progress counts transferred / activated / failed (by reason) per region, and the cumulative series
    over virtual time end at those counts with each device in the bucket of its own timestamp."""
    t0 = c.NOW
    devices: list[dict[str, object]] = []
    for i in range(40):
        region = ("North", "Central", "South")[i % 3]
        d: dict[str, object] = {"device_id": f"CD-00-00-00-00-00-00-{i:02X}", "region": region, "sent_at": t0}
        if i < 20:  # activated between 1 h and 2 h
            d |= {"state": "activated", "transferred_at": t0 + timedelta(minutes=30 + i),
                  "finished_at": t0 + timedelta(minutes=60 + 3 * i)}  # fmt: skip
        elif i < 26:
            d |= {
                "state": "transfer_failed",
                "failure": "HardwareVersionMismatch",
                "finished_at": t0 + timedelta(minutes=90),
            }
        elif i < 28:
            d |= {
                "state": "csp_rejected",
                "failure": "DeviceNotOnCommsHubHAN",
                "finished_at": t0 + timedelta(minutes=1),
            }
        elif i < 30:
            d |= {"state": "activation_failed", "failure": "ActivationFailure",
                  "transferred_at": t0 + timedelta(minutes=40), "finished_at": t0 + timedelta(minutes=100)}  # fmt: skip
        else:
            d |= {"state": "sent"}
        devices.append(d)
    pk = fake_request(ssi.engine, c.S1, devices, received=t0)
    ssi.clock.set(t0 + timedelta(hours=4))
    reader = read_engine(ssi.engine)
    with reader.connect() as conn:
        req = {"id": pk, "received_at": t0, "status": "accepted", "request_id": "x"}
        p = progress(conn, req, ssi.clock.now(), buckets=48)
    assert p.total == 40 and p.running
    assert p.by_state == {
        "activated": 20,
        "transfer_failed": 6,
        "csp_rejected": 2,
        "activation_failed": 2,
        "sent": 10,
    }
    assert dict(p.failures) == {
        "HardwareVersionMismatch": 6,
        "DeviceNotOnCommsHubHAN": 2,
        "ActivationFailure": 2,
    }
    assert (
        p.series["activated"][-1] == 20 and p.series["transferred"][-1] == 22 and p.series["failed"][-1] == 10
    )
    assert p.span_seconds == 4 * 3600, "a running request's chart runs to now"
    bucket = p.bucket_seconds
    assert bucket == 300
    # activations happen at 60..117 min: none before bucket 12 (minute 60), all by bucket 23 (minute 120)
    assert p.series["activated"][11] == 0 and p.series["activated"][23] == 20
    assert p.series["failed"][0] == 2, "the two CSP rejections at minute 1"
    assert sum(p.region_series[r]["activated"][-1] for r in p.region_series) == 20
    assert p.by_region["North"]["activated"] == 7 and p.by_region["Central"]["activated"] == 7
    with ssi.engine.begin() as conn:
        conn.execute(update(RequestDevice).where(RequestDevice.state == "sent").values(
            state="activated", transferred_at=t0 + timedelta(hours=3), finished_at=t0 + timedelta(hours=3, minutes=5)))  # fmt: skip
    with reader.connect() as conn:
        done = progress(conn, req, ssi.clock.now())
    assert not done.running and done.series["activated"][-1] == 30
    assert done.span_seconds == 3 * 3600 + 300, "a finished request's chart ends at its last event"


def test_request_page_polls_while_running_and_stops_when_done(ssi: SSILive) -> None:
    """The progress fragment asks htmx to refresh every 2 s while devices are in flight, shows new counts
    on each poll, and drops the poll once every device has finished."""
    devices = [
        {"device_id": f"CE-00-00-00-00-00-00-{i:02X}", "state": "sent", "sent_at": c.NOW} for i in range(10)
    ]
    pk = fake_request(ssi.engine, c.S1, devices)
    with ssi.sign_in(c.S1) as s1:
        page = s1.get(f"/ssi/requests/{pk}")
        assert page.status_code == 200 and 'hx-trigger="every 2s"' in page.text and "<svg" in page.text
        assert re.search(r'id="count-activated">0<', page.text)
        with ssi.engine.begin() as conn:
            conn.execute(
                update(RequestDevice)
                .where(RequestDevice.device_id.in_([d["device_id"] for d in devices[:4]]))
                .values(
                    state="activated",
                    transferred_at=c.NOW + timedelta(minutes=5),
                    finished_at=c.NOW + timedelta(minutes=9),
                )
            )
        ssi.clock.advance(600)
        frag = s1.get(f"/ssi/requests/{pk}/progress", headers={"HX-Request": "true"})
        assert frag.status_code == 200 and not frag.text.lstrip().startswith("<!doctype")
        assert re.search(r'id="count-activated">4<', frag.text) and 'hx-trigger="every 2s"' in frag.text
        with ssi.engine.begin() as conn:
            conn.execute(
                update(RequestDevice).where(RequestDevice.state == "sent").values(
                    state="transfer_failed", failure="FileTransferFailure", finished_at=c.NOW + timedelta(minutes=10))
            )  # fmt: skip
        frag = s1.get(f"/ssi/requests/{pk}/progress").text
        assert (
            "hx-trigger" not in frag
            and re.search(r'id="count-failed">6<', frag)
            and "FileTransferFailure" in frag
        )


def test_each_accepted_device_is_in_one_segment_of_its_regions_bar(ssi: SSILive) -> None:
    """The request page's bar per CSP region splits the region's accepted devices into activated, transferred
    (the image on the device, not activated yet), failed (at any stage) and in flight, each device in one
    segment: a device whose activation failed counts as failed, not also as transferred, and the bar's
    total is the region's accepted devices."""
    states = ["activated", "transferred", "activation_failed", "transfer_failed", "csp_rejected", "sent",
              "accepted"]  # fmt: skip
    devices: list[dict[str, object]] = [
        {"device_id": f"CF-00-00-00-00-00-00-{i:02X}", "state": state, "region": "Central", "sent_at": c.NOW}
        for i, state in enumerate(states)
    ]
    pk = fake_request(ssi.engine, c.S1, devices)
    with ssi.sign_in(c.S1) as s1:
        page = s1.get(f"/ssi/requests/{pk}").text
    segments = dict(re.findall(r"<title>Central — ([a-z ]+): (\d+)</title></rect>", page))
    assert segments == {"activated": "1", "transferred": "1", "failed": "3", "in flight": "2"}
    total = re.search(r"<title>Central — in flight: 2</title></rect><text [^>]*>(\d+)</text>", page)
    assert total is not None and int(total.group(1)) == len(states)


def test_firmware_report_counts_my_devices_per_model_and_version(ssi: SSILive) -> None:
    """S1's report (IHDs and PPMIDs) counts its displays per model and version; an IHD with no recorded
    version and a version marked not upgradeable count as not upgradeable; the operator sees S3's too."""
    with ssi.sign_in(c.S1) as s1, ssi.sign_in(OPERATOR) as op:
        rows = csv_rows(s1.get("/ssi/reports/firmware.csv").text)
        got = {
            (r["device_type"], r["model"], r["firmware_version"]): (int(r["devices"]), r["upgradeable"])
            for r in rows
        }
        assert got == {
            ("IHD", c.MODEL, c.OLD_VERSION): (1, "true"),  # I_OK
            ("IHD", c.MODEL, ""): (1, "false"),  # I_NOFW
            ("PPMID", c.MODEL, c.OLD_VERSION): (6, "true"),  # P_OK P_PENDING P_HW P_GAS I_OFFHDR P_NOOTA
            ("PPMID", c.MODEL, c.STUCK_VERSION): (1, "false"),  # P_OLDFW
            ("PPMID", c.OTHER_MODEL, c.OLD_VERSION): (1, "true"),  # P_MODEL
        }
        page = s1.get("/ssi/reports/firmware")
        assert page.status_code == 200 and "<svg" in page.text and "<strong>10</strong> devices" in page.text
        op_rows = csv_rows(op.get("/ssi/reports/firmware.csv?types=PPMID").text)
        assert sum(int(r["devices"]) for r in op_rows) == 9
        esme = csv_rows(op.get("/ssi/reports/firmware.csv?types=ESME").text)
        assert sum(int(r["devices"]) for r in esme) == 3


def test_cpl_browser_filters_and_exports(ssi: SSILive) -> None:
    """The CPL browser lists entries with their status, filters by type and status, exports the filter."""
    with ssi.sign_in(c.S2) as s2:
        rows = csv_rows(s2.get("/ssi/cpl.csv").text)
        assert {r["firmware_version"] for r in rows} == {
            c.NEW_VERSION, c.OLD_VERSION, c.STUCK_VERSION, c.WITHDRAWN_VERSION, c.NARROW_VERSION, "B0000001"}  # fmt: skip
        withdrawn = csv_rows(s2.get("/ssi/cpl.csv?status=Withdrawn").text)
        assert [r["firmware_version"] for r in withdrawn] == [c.WITHDRAWN_VERSION]
        ihd = s2.get("/ssi/cpl?device_type=IHD")
        assert ihd.status_code == 200 and "B0000001" in ihd.text and c.NEW_VERSION not in ihd.text


def test_device_page_shows_firmware_status_and_history(ssi: SSILive) -> None:
    """A device's page shows its firmware version, the version's CPL status, the model's CPL status, its
    hub and home, its interested suppliers and its firmware history — IHDs included."""
    from sqlalchemy import insert

    from hanota.db.models import FirmwareHistory

    with ssi.engine.begin() as conn:
        conn.execute(insert(FirmwareHistory).values(device_id=c.I_OK, firmware_version=c.OLD_VERSION, previous_version="A0000000",
                                                    recorded_at=c.NOW - timedelta(days=3), source="SR 8.4 test"))  # fmt: skip
    with ssi.sign_in(c.S2) as s2:
        page = s2.get(f"/ssi/devices/{c.I_OK}")
        assert page.status_code == 200
        for text in (
            c.OLD_VERSION,
            "SR 8.4 test",
            c.H1,
            "T1 1AA",
            c.S1,
            c.S2,
            "Central",
            "none (Type 2 device)",
        ):
            assert text in page.text, text
        hist = csv_rows(s2.get(f"/ssi/devices/{c.I_OK}/history.csv").text)
        assert hist == [{"recorded_at": (c.NOW - timedelta(days=3)).isoformat(), "firmware_version": c.OLD_VERSION,
                         "previous_version": "A0000000", "source": "SR 8.4 test"}]  # fmt: skip
        nofw = s2.get(f"/ssi/devices/{c.I_NOFW}")
        assert "not recorded" in nofw.text and "no recorded firmware version (A-001)" in nofw.text
