"""Dead-lettered alerts and failing endpoints in the SSI: the operator sees them with their last error and
sends them again (reason required, audited); a supplier sees only its own.

Issue 12 items 1 and 1b: dead letters must be visible to the operator in the SSI, redeliverable by hand,
and each alert's last error (stored, shown nowhere before) must be shown.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

import crafted as c
from alerts.alerts_testkit import pending
from hanota.alerts.delivery import DeliveryWorker
from hanota.alerts.outbox import AlertWriter
from hanota.db.models import AlertOutbox, AnomalyAudit, User
from hanota.supplier.receiver import Receiver
from ssi.conftest import OPERATOR, SSILive, csrf_of
from ssi.test_ssi_browser import browser, signed_in  # noqa: F401 - the module-scoped browser fixture

DEAD_ID = f"t0:1:{c.S1}"


@pytest.fixture
def dead(ssi: SSILive) -> SSILive:
    """S1's endpoint refuses with 400 (its alert is dead-lettered after three tries); S2's is down (paused)."""
    receiver = Receiver(ssi.ctx.dsp.signer.certificate, clock=ssi.clock)
    receiver.set_failing(True, status=400)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        down = f"http://127.0.0.1:{s.getsockname()[1]}/alerts"
    with receiver.serve_in_thread() as endpoint:
        with ssi.engine.begin() as conn:
            set_endpoint = User.__table__.update()
            conn.execute(
                set_endpoint.where(User.eui == c.S1).values(alert_endpoint=endpoint.endpoint_for(c.S1))
            )
            conn.execute(set_endpoint.where(User.eui == c.S2).values(alert_endpoint=down))
            alerts = [pending(1, c.S1, kind=0), pending(2, c.S2, kind=0)]
            AlertWriter(ssi.ctx.dsp.signer).write(conn, alerts, ssi.clock.now())
        worker = DeliveryWorker(ssi.engine, ssi.clock, name="t", timeout_seconds=2, lease_seconds=20)
        for _ in range(3):
            worker.run_once()
            ssi.clock.advance(3600)
        worker.close()
    receiver.close()
    return ssi


def _row(ssi: SSILive, alert_id: str) -> Any:
    with ssi.engine.connect() as conn:
        return conn.execute(select(AlertOutbox).where(AlertOutbox.alert_id == alert_id)).one()


def test_operator_sees_dead_letters_and_failing_endpoints_with_their_errors(dead: SSILive) -> None:
    """The alerts page counts the dead letters, lists them under the `dead` filter with their last error,
    lists S2's failing endpoint (connection refused) with what waits for it; the CSV carries the columns."""
    assert _row(dead, DEAD_ID).dead_at is not None
    with dead.sign_in(OPERATOR) as op:
        page = op.get("/ssi/alerts").text
        assert "1 dead-lettered alert" in page and "Endpoints failing" in page and c.S2 in page
        assert "ConnectionRefused" in page or "Connect" in page
        listed = op.get("/ssi/alerts", params={"delivery": "dead"}).text
        assert "dead-lettered" in listed and "refused with HTTP 400 3 times" in listed
        assert "Send again" in listed
        csv = op.get("/ssi/alerts.csv", params={"delivery": "dead"}).text.splitlines()
        assert csv[0].endswith("tries,last_attempt_at,dead_at,last_error") and len(csv) == 2
        detail_pk = _row(dead, DEAD_ID).id
        detail = op.get(f"/ssi/alerts/{detail_pk}").text
        assert "POSTs made" in detail and "HTTP 400; dead-lettered" in detail


def test_a_supplier_sees_only_its_own_dead_letters_and_cannot_redeliver(dead: SSILive) -> None:
    """A supplier sees its own dead-lettered alerts (and is told to ask the DCC), not another's, and its
    redelivery is refused (403): the alert stays dead-lettered."""
    with dead.sign_in(c.S1) as s1:
        page = s1.get("/ssi/alerts", params={"delivery": "dead"}).text
        assert "1 dead-lettered alert" in page and "ask the DCC" in page and "Send again" not in page
        assert c.S2 not in page
        r = s1.post("/ssi/alerts/redeliver", data={"alert": DEAD_ID, "reason": "mine", "csrf": csrf_of(page)})
        assert r.status_code == 403
    with dead.sign_in(c.S2) as s2:
        page = s2.get("/ssi/alerts").text
        assert "Endpoints failing" in page and "dead-lettered alert" not in page
    assert _row(dead, DEAD_ID).dead_at is not None


def test_operator_sends_a_dead_letter_again_with_a_reason_and_it_is_audited(dead: SSILive) -> None:
    """The operator's redelivery needs a reason; with one, the alert is pending again (tries reset), the
    page says so, and the audit trail records who, what and why."""
    with dead.sign_in(OPERATOR) as op:
        page = op.get("/ssi/alerts", params={"delivery": "dead"}).text
        token = csrf_of(page)
        no_reason = op.post("/ssi/alerts/redeliver", data={"alert": DEAD_ID, "reason": " ", "csrf": token})
        assert no_reason.status_code == 400 and _row(dead, DEAD_ID).dead_at is not None
        r = op.post(
            "/ssi/alerts/redeliver", data={"alert": DEAD_ID, "reason": "endpoint fixed", "csrf": token}
        )
        assert r.status_code == 303 and "queued+again" in r.headers["location"]
        assert "1 alert queued again" in op.get(r.headers["location"]).text
    row = _row(dead, DEAD_ID)
    assert row.dead_at is None and row.tries == 0 and row.delivered_at is None
    with dead.engine.connect() as conn:
        (entry,) = conn.execute(select(AnomalyAudit).where(AnomalyAudit.action == "alerts.redeliver")).all()
    assert (
        entry.actor_eui == OPERATOR
        and entry.target == f"alert:{DEAD_ID}"
        and entry.reason == "endpoint fixed"
    )


@pytest.mark.browser
def test_operator_redelivers_in_the_browser_at_both_widths(
    browser: Any,  # noqa: F811 - the fixture imported above
    dead: SSILive,
    tmp_path: Path,
) -> None:
    """In Chromium: the dead letter is one click from the alerts page; a reason and "Send again" queue it;
    the page reads at 1280 px and at 390 px (screenshots kept in the test's temporary folder)."""
    from playwright.sync_api import expect

    for width in (1280, 390):
        page = signed_in(browser, dead, OPERATOR, width=width)
        page.goto(f"{dead.url}/ssi/alerts")
        page.screenshot(path=str(tmp_path / f"alerts-{width}.png"), full_page=True)
        expect(page.get_by_role("heading", name="Endpoints failing")).to_be_visible()
        page.get_by_role("link", name="Show them").click()
        page.screenshot(path=str(tmp_path / f"dead-{width}.png"), full_page=True)
        page.close()
    page = signed_in(browser, dead, OPERATOR)
    page.goto(f"{dead.url}/ssi/alerts?delivery=dead")
    page.get_by_label(f"Reason for sending alert {DEAD_ID} again").fill("endpoint fixed")
    page.get_by_role("button", name="Send again").click()
    expect(page.get_by_role("status").first).to_contain_text("1 alert queued again")
    page.close()
    assert _row(dead, DEAD_ID).dead_at is None
