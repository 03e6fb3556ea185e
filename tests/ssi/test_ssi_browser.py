"""The SSI in a real browser: Playwright driving Debian's chromium against a live server.

Sign in, find a device, open both reports, export CSV, watch a campaign's chart update while its devices
progress, release a quarantined request, and a supplier cannot reach another supplier's device.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

import crafted as c
from hanota.db.models import RequestDevice
from ssi.conftest import OPERATOR, PASSWORDS, SSILive, fake_request
from ssi.test_ssi_anomaly import quarantine_one
from support import need

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]  # fmt: skip

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    need(os.path.exists(CHROMIUM), f"needs Debian's chromium at {CHROMIUM} (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        need(False, "needs the playwright Python package (pip install -e '.[dev]')")
        raise
    with sync_playwright() as p:  # Playwright gives the browser a fresh temporary profile itself
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield b
        b.close()


def signed_in(browser: Any, ssi: SSILive, eui: str, width: int = 1280) -> Any:
    page = browser.new_page(viewport={"width": width, "height": 900}, accept_downloads=True)
    page.set_default_timeout(15_000)
    page.goto(f"{ssi.url}/ssi/")
    assert "/ssi/login" in page.url
    page.get_by_label("User ID").fill(eui)
    page.get_by_label("Password").fill(PASSWORDS[eui])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{ssi.url}/ssi/")
    return page


def test_supplier_finds_a_device_opens_reports_and_exports_csv(browser: Any, ssi: SSILive) -> None:
    """S1 signs in, searches its PPMID (results arrive by htmx as it types), opens it, reads its firmware,
    opens the firmware version report and a request's distribution status report, and downloads CSV."""
    from playwright.sync_api import expect

    pk = fake_request(ssi.engine, c.S1, [{"device_id": c.P_OK, "state": "sent", "sent_at": c.NOW},
                                         {"device_id": c.I_NOFW, "outcome": "NotApplicableFirmwareDeviceIDList",
                                          "reason": "no recorded firmware version", "state": "rejected"}])  # fmt: skip
    page = signed_in(browser, ssi, c.S1)
    expect(page.get_by_role("heading", level=1)).to_contain_text("Hello, S1")
    page.get_by_role("link", name="Inventory").click()
    page.get_by_label("Device ID, hub (CHF or GPF ID), UPRN or postcode").fill(c.P_OK)
    expect(page.locator("#results")).to_contain_text("and the devices on its hub")  # htmx swapped the results
    page.get_by_role("link", name=c.P_OK).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(c.P_OK)
    expect(page.locator("dl.facts").first).to_contain_text(c.OLD_VERSION)
    page.get_by_role("link", name="Firmware report").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Firmware version report")
    expect(page.locator("svg.chart")).to_be_visible()
    with page.expect_download() as dl:
        page.get_by_role("link", name="Export CSV").click()
    rows = list(csv.DictReader(io.StringIO(Path(dl.value.path()).read_text(encoding="utf-8"))))
    assert sum(int(r["devices"]) for r in rows) == 10
    page.get_by_role("link", name="Requests").click()
    page.get_by_role("link", name="devices").first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Distribution status report")
    expect(page.locator("table")).to_contain_text("NotApplicableFirmwareDeviceIDList")
    expect(page.locator("table")).to_contain_text("no recorded firmware version")
    with page.expect_download() as dl:
        page.get_by_role("link", name="Export CSV").click()
    rows = list(csv.DictReader(io.StringIO(Path(dl.value.path()).read_text(encoding="utf-8"))))
    assert {r["device_id"] for r in rows} == {c.P_OK, c.I_NOFW} and str(pk) in dl.value.suggested_filename
    page.close()


def test_campaign_chart_updates_while_devices_progress(browser: Any, ssi: SSILive) -> None:
    """The request page polls (htmx) while devices are in flight: counts and the chart follow the delivery
    states written meanwhile, and polling stops once every device has finished."""
    from playwright.sync_api import expect

    ids = [f"CE-00-00-00-00-00-00-{i:02X}" for i in range(12)]
    pk = fake_request(ssi.engine, c.S1, [{"device_id": d, "state": "sent", "sent_at": c.NOW} for d in ids])
    page = signed_in(browser, ssi, c.S1)
    page.goto(f"{ssi.url}/ssi/requests/{pk}")
    expect(page.locator("#count-activated")).to_have_text("0")
    before = page.locator("#progress svg").first.inner_html()
    with ssi.engine.begin() as conn:
        conn.execute(update(RequestDevice).where(RequestDevice.device_id.in_(ids[:5])).values(
            state="activated", transferred_at=c.NOW + timedelta(minutes=20), finished_at=c.NOW + timedelta(minutes=30)))  # fmt: skip
    ssi.clock.advance(600)  # ten virtual minutes (within the session's idle timeout)
    expect(page.locator("#count-activated")).to_have_text("5", timeout=10_000)
    assert page.locator("#progress svg").first.inner_html() != before, "the chart was redrawn"
    expect(page.locator("#progress")).to_have_attribute("data-running", "yes")
    with ssi.engine.begin() as conn:
        conn.execute(update(RequestDevice).where(RequestDevice.state == "sent").values(
            state="transfer_failed", failure="HardwareVersionMismatch", finished_at=c.NOW + timedelta(minutes=50)))  # fmt: skip
    expect(page.locator("#count-failed")).to_have_text("7", timeout=10_000)
    expect(page.locator("#progress")).to_have_attribute("data-running", "no")
    expect(page.locator("#progress")).to_contain_text("HardwareVersionMismatch")
    page.close()


def test_operator_releases_a_quarantined_request(browser: Any, ssi: SSILive) -> None:
    """The DCC operator opens the quarantine queue, gives a reason and releases the held request."""
    from playwright.sync_api import expect

    ref = quarantine_one(ssi)
    page = signed_in(browser, ssi, OPERATOR)
    page.get_by_role("link", name="Quarantine", exact=True).click()
    row = page.get_by_role("row").filter(has_text="ADUserThresholdBreach")
    row.get_by_label(f"Reason for event {ref}").fill("agreed with the supplier")
    row.get_by_role("button", name="Release").click()
    expect(page.get_by_role("status")).to_contain_text(f"released {ref} (I0)")
    page.get_by_label("Status").select_option("released")
    page.get_by_role("button", name="Show").click()
    expect(page.locator("table")).to_contain_text("agreed with the supplier")
    page.close()


def test_a_supplier_cannot_see_another_suppliers_device(browser: Any, ssi: SSILive) -> None:
    """S1 opening S3's PPMID gets the not-found page; searching it finds nothing. S3 sees it."""
    from playwright.sync_api import expect

    page = signed_in(browser, ssi, c.S1)
    resp = page.goto(f"{ssi.url}/ssi/devices/{c.P_NOTMINE}")
    assert resp is not None and resp.status == 404
    expect(page.get_by_role("alert")).to_contain_text("No device with that ID")
    page.goto(f"{ssi.url}/ssi/inventory?q={c.P_NOTMINE}")
    expect(page.locator("#results")).to_contain_text("No devices found")
    page.close()
    other = signed_in(browser, ssi, c.S3)
    other.goto(f"{ssi.url}/ssi/devices/{c.P_NOTMINE}")
    expect(other.get_by_role("heading", level=1)).to_contain_text(c.P_NOTMINE)
    other.close()


def test_keyboard_and_narrow_screen(browser: Any, ssi: SSILive) -> None:
    """The first Tab reaches the skip link, which moves focus to the content; on a 390 px screen the pages
    do not scroll sideways (wide tables scroll inside their own focusable region)."""
    page = signed_in(browser, ssi, c.S1, width=390)
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    for path in (
        "/ssi/",
        "/ssi/inventory",
        "/ssi/reports/firmware",
        "/ssi/requests",
        "/ssi/billing",
        "/ssi/thresholds",
    ):
        page.goto(f"{ssi.url}{path}")
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, (path, overflow)
    page.close()
