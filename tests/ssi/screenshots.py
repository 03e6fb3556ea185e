"""Take the SSI's screenshots (docs/screenshots/) with headless Debian chromium at 1280 and 390 px.

Not a test: `python tests/ssi/screenshots.py [OUT_DIR]`. It builds a 3,000-home synthetic estate with a
campaign half-way through delivery, a finished one, alerts and a quarantined request, then visits every
page as the largest supplier and as the DCC operator.
"""

from __future__ import annotations

import random
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import insert, select, text

from hanota.api.app import create_app
from hanota.bootstrap import build_context
from hanota.clock import ManualClock
from hanota.db.engine import make_engine
from hanota.db.migrate import upgrade
from hanota.db.models import (
    AlertOutbox,
    FirmwareHistory,
    QuarantinedRequestRow,
    RequestDevice,
    ServiceRequest,
)
from hanota.estate.catalogue import DCC_OPERATOR_EUI
from hanota.estate.generate import generate
from hanota.estate.pki import init_pki
from hanota.settings import Settings
from hanota.ssi.auth import set_password
from liveserver import LiveServer

T0 = datetime(2026, 6, 1, 8, tzinfo=UTC)
PASSWORD = "screenshot-password"
SUPPLIER = "90-B3-D5-1F-40-01-00-00"  # Aurora Energy, the largest supplier


def build(url: str, data: Path) -> tuple[ManualClock, str]:
    upgrade(url)
    engine = make_engine(url)
    generate(engine, homes=3000, seed=3, dccboxed=True)
    init_pki(engine, data / "pki", now=T0)
    rng = random.Random(5)
    with engine.begin() as conn:
        for eui in (SUPPLIER, DCC_OPERATOR_EUI):
            set_password(conn, eui, PASSWORD, T0)
        mine = conn.execute(
            text(
                "SELECT d.device_id, d.hub_id, h.region FROM supplier_registrations r "
                "JOIN devices m ON m.device_id = r.device_id JOIN devices d ON d.hub_id = m.hub_id "
                "JOIN comms_hubs h ON h.chf_id = d.hub_id WHERE r.supplier_eui = :s AND r.effective_to IS NULL "
                "AND d.device_type IN ('PPMID', 'IHD') ORDER BY d.device_id"
            ),
            {"s": SUPPLIER},
        ).all()
        ids = list(dict.fromkeys(mine))
        for n, (name, start, progress) in enumerate(
            (("done", T0 - timedelta(days=20), 1.0), ("live", T0, 0.55))
        ):
            devs = ids[: 900 if name == "live" else 400]
            pk = conn.execute(
                insert(ServiceRequest)
                .values(request_id=f"{SUPPLIER}:90-B3-D5-1F-30-00-00-02:{1000 + n}", originator_eui=SUPPLIER,
                        srv="11.4", received_at=start, status="accepted", response_code="W110401",
                        firmware_version="20000002", device_count=len(devs) + 12, accepted_count=len(devs))
                .returning(ServiceRequest.id)
            ).scalar_one()  # fmt: skip
            rows = []
            for i, (did, hub, region) in enumerate(devs):
                at = start + timedelta(seconds=120 + rng.uniform(0, 8 * 3600) * (i / len(devs)) ** 0.7)
                done_by = start + timedelta(hours=5 * progress)
                state, failure, tr, fin = "sent", None, None, None
                if at < done_by:
                    roll = rng.random()
                    tr = at
                    if roll < 0.06:
                        state, failure, fin, tr = (
                            "transfer_failed",
                            rng.choice(
                                ["HardwareVersionMismatch", "FileTransferFailure", "FirmwareImageDiscarded"]
                            ),
                            at,
                            None,
                        )
                    elif roll < 0.08:
                        state, failure, fin = (
                            "activation_failed",
                            "ActivationFailure",
                            at + timedelta(minutes=4),
                        )
                    elif roll < 0.93:
                        state, fin = "activated", at + timedelta(minutes=rng.uniform(2, 15))
                    else:
                        state = "transferred"
                elif progress == 1.0:
                    state, tr, fin = "activated", done_by, done_by + timedelta(minutes=5)
                rows.append({"request_pk": pk, "device_id": did, "device_type": "PPMID", "hub_id": hub, "region": region,
                             "outcome": "Accepted", "reason": None, "state": state, "failure": failure,
                             "updated_at": fin or tr or start, "sent_at": start + timedelta(seconds=60),
                             "transferred_at": tr, "finished_at": fin})  # fmt: skip
            for j in range(12):
                rows.append({"request_pk": pk, "device_id": f"FF-00-00-00-00-00-{n:02X}-{j:02X}", "device_type": None,
                             "hub_id": None, "region": None, "outcome": "InvalidDeviceIDList", "reason": "not in the inventory",
                             "state": "rejected", "failure": None, "updated_at": start, "sent_at": None,
                             "transferred_at": None, "finished_at": None})  # fmt: skip
            conn.execute(insert(RequestDevice), rows)
        for k in range(8):
            did = ids[k][0]
            conn.execute(insert(AlertOutbox).values(
                alert_id=f"demo:{k}", recipient_eui=SUPPLIER, code="N60" if k % 2 else "N61",
                kind="CSPFirmwareDeliveryStatus", request_pk=pk, device_id=did, created_at=T0 + timedelta(minutes=10 * k),
                body=(f'<sr:Response xmlns:sr="http://www.dccinterface.co.uk/ServiceUserGateway" schemaVersion="5.4">'
                      f"<sr:Header><sr:RequestID>{SUPPLIER}:90-B3-D5-1F-30-00-00-02:1001</sr:RequestID>"
                      f"<sr:ResponseCode>I0</sr:ResponseCode></sr:Header><sr:Body><sr:DCCAlertMessage>"
                      f"<sr:DCCAlertCode>N60</sr:DCCAlertCode></sr:DCCAlertMessage></sr:Body></sr:Response>").encode(),
                attempts=1, mailbox=False, delivered_at=T0 + timedelta(minutes=10 * k, seconds=2)))  # fmt: skip
            conn.execute(insert(FirmwareHistory).values(device_id=did, firmware_version="20000002", previous_version="20000001",
                                                        recorded_at=T0 - timedelta(days=19), source="SR 11.4 demo"))  # fmt: skip
        conn.execute(insert(QuarantinedRequestRow).values(
            request_id=f"{SUPPLIER}:90-B3-D5-1F-30-00-00-02:1002", originator_eui=SUPPLIER, srv="11.4",
            kind="ADUserThresholdBreach", reason="52,000 devices in 24 h over the User threshold of 50,000",
            received_at=T0 + timedelta(hours=2), device_count=2000, image_size=250_000, body=b"<sr:Request/>",
            status="quarantined"))  # fmt: skip
        conn.execute(insert(ServiceRequest).values(
            request_id=f"{SUPPLIER}:90-B3-D5-1F-30-00-00-02:999", originator_eui=SUPPLIER, srv="8.2", received_at=T0 - timedelta(days=3),
            status="rejected", response_code="E19", device_count=0, accepted_count=0, detail="no device in the SMI matches the search"))  # fmt: skip
        device = conn.execute(select(FirmwareHistory.device_id).limit(1)).scalar_one()
    engine.dispose()
    return ManualClock(T0 + timedelta(hours=3)), device


def main() -> None:
    from playwright.sync_api import sync_playwright

    out = (
        Path(sys.argv[1])
        if len(sys.argv) > 1
        else Path(__file__).resolve().parents[2] / "docs" / "screenshots"
    )
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        url = f"sqlite:///{data / 'h.db'}"
        clock, device = build(url, data)
        ctx = build_context(
            Settings(data_dir=data, database_url=url, environment="test"), clock=clock, migrate=False
        )
        with LiveServer(create_app(ctx)) as server, sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True,
                                        args=["--no-sandbox", "--disable-gpu", "--no-first-run"])  # fmt: skip
            with ctx.engine.connect() as conn:
                live = conn.execute(
                    select(ServiceRequest.id).where(ServiceRequest.request_id.like("%:1001"))
                ).scalar_one()
            pages = {
                SUPPLIER: [
                    ("01-login", "/ssi/login", True), ("02-home", "/ssi/", True),
                    ("03-inventory-search", f"/ssi/inventory?q={device}", True), ("04-device", f"/ssi/devices/{device}", True),
                    ("05-firmware-report", "/ssi/reports/firmware", True), ("06-requests", "/ssi/requests", False),
                    ("07-request-progress", f"/ssi/requests/{live}", True),
                    ("08-distribution-report", f"/ssi/requests/{live}/devices?size=25", True),
                    ("09-alerts", "/ssi/alerts", False), ("10-thresholds", "/ssi/thresholds", True),
                    ("12-cpl", "/ssi/cpl", False), ("13-billing", "/ssi/billing", False), ("14-extract", "/ssi/extract", False),
                ],
                DCC_OPERATOR_EUI: [("11-quarantine-operator", "/ssi/quarantine", True)],
            }  # fmt: skip
            for who, shots in pages.items():
                for width in (1280, 390):
                    page = browser.new_page(viewport={"width": width, "height": 900 if width > 400 else 844})
                    if shots[0][1] != "/ssi/login":
                        page.goto(f"{server.url}/ssi/login")
                    for name, path, narrow in shots:
                        if width < 400 and not narrow:
                            continue
                        if path == "/ssi/login":
                            page.goto(f"{server.url}{path}")
                            page.screenshot(path=str(out / f"{name}-{width}.png"), full_page=True)
                            continue
                        if "/ssi/login" in page.url:
                            page.get_by_label("User ID").fill(who)
                            page.get_by_label("Password").fill(PASSWORD)
                            page.get_by_role("button", name="Sign in").click()
                            page.wait_for_url(f"{server.url}/ssi/")
                        page.goto(f"{server.url}{path}")
                        page.screenshot(path=str(out / f"{name}-{width}.png"), full_page=True)
                    page.close()
            browser.close()
        ctx.engine.dispose()
    print(f"screenshots in {out}")


if __name__ == "__main__":
    main()
