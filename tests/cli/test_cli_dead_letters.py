"""`hanota dead-letters` and `hanota alerts outbox`: what the retry loops gave up on, with its last error, and
sending it again by hand (issue 12 items 1, 2: dead letters visible to the operator and redeliverable)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update

import crafted as c
from alerts.alerts_testkit import pending
from cli.conftest import Hanota
from hanota.alerts.outbox import AlertWriter
from hanota.db.engine import make_engine
from hanota.db.migrate import upgrade
from hanota.db.models import AlertOutbox, AlertRecipient, CSPEventBatch
from hanota.dsp.trust import dsp_signer
from hanota.estate.pki import init_pki


def _store(h: Hanota) -> None:
    """One dead alert (S1), one failing endpoint (S2) and one dead event batch (Central)."""
    h.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(h.database_url)
    engine = make_engine(h.database_url)
    c.build(engine)
    init_pki(engine, h.data_dir / "pki", now=c.NOW)
    dead_at = c.NOW + timedelta(hours=1)
    signer = dsp_signer(engine)
    with engine.begin() as conn:
        AlertWriter(signer).write(conn, [pending(1, c.S1), pending(2, c.S2)], c.NOW)
        conn.execute(
            update(AlertOutbox)
            .where(AlertOutbox.recipient_eui == c.S1)
            .values(
                dead_at=dead_at, tries=3, last_error="HTTP 400; dead-lettered: refused with HTTP 400 3 times"
            )
        )
        conn.execute(
            AlertRecipient.__table__.insert().values(
                recipient_eui=c.S2, failures=4, paused_until=dead_at, failing_since=c.NOW,
                last_error="ClientConnectorError: Cannot connect to host", updated_at=dead_at,
            )
        )  # fmt: skip
        conn.execute(
            CSPEventBatch.__table__.insert().values(
                region="Central", seq=1, created_at=c.NOW, event_count=1, body=b"{}", attempts=3, dead_at=dead_at,
                last_error="HTTP 401: bad signature; dead-lettered: refused with HTTP 401 3 times",
            )
        )  # fmt: skip
    engine.dispose()


def test_dead_letters_list_shows_each_kind_with_its_last_error_and_retry_queues_it(
    sqlite_hanota: Hanota,
) -> None:
    """`dead-letters list` counts each kind and shows its last error and the failing endpoints;
    `dead-letters retry` queues a recipient's dead alerts again (tries reset) and the dead event batches."""
    h = sqlite_hanota
    _store(h)
    out = h.ok("dead-letters", "list").stdout
    assert "dead-lettered: 1 alerts, 0 distribution jobs, 1 event batches" in out
    assert f"t1:1:{c.S1}" in out and "refused with HTTP 400 3 times" in out
    assert "alert endpoints failing now" in out and c.S2 in out and "Cannot connect" in out
    outbox = h.ok("alerts", "outbox").stdout
    assert "dead-lettered" in outbox and "failing: ClientConnectorError" in outbox
    assert (
        "1 dead-lettered alerts queued again"
        in h.ok("dead-letters", "retry", "alerts", "--recipient", c.S1).stdout
    )
    engine = make_engine(h.database_url)
    with engine.connect() as conn:
        row = conn.execute(select(AlertOutbox).where(AlertOutbox.recipient_eui == c.S1)).one()
    engine.dispose()
    assert row.dead_at is None and row.tries == 0
    assert "dead-lettered: 0 alerts" in h.ok("dead-letters", "list").stdout
    assert "1 dead-lettered batches queued again" in h.ok("dead-letters", "retry", "batches").stdout


def test_dead_letters_retry_refuses_an_unknown_kind_in_one_line(sqlite_hanota: Hanota) -> None:
    """An unknown kind or region is a usage error (exit 2) in one line that names the allowed values."""
    _store(sqlite_hanota)
    line = sqlite_hanota.fails(2, "dead-letters", "retry", "everything")
    assert "KIND must be one of alerts, jobs, batches" in line
    line = sqlite_hanota.fails(2, "dead-letters", "retry", "batches", "--region", "Mars")
    assert "North, Central and South" in line
