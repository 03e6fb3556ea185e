"""The sample supplier endpoint never acknowledges an alert it has not durably stored, and answers a
same-ID POST with other bytes 409 even when it races another POST."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import httpx

import crafted
from alerts.alerts_testkit import Store, pending
from hanota.alerts.outbox import AlertWriter
from hanota.supplier.receiver import Receiver, Stored


class _FailingOnce:
    """A sqlite3 connection whose next INSERT fails (a full disk, an I/O error)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db
        self.armed = True

    def execute(self, sql: str, params: Any = ()) -> sqlite3.Cursor:
        if self.armed and sql.startswith("INSERT"):
            self.armed = False
            raise sqlite3.OperationalError("disk I/O error")
        return self.db.execute(sql, params)

    def close(self) -> None:
        self.db.close()


def test_the_receiver_does_not_acknowledge_an_alert_its_store_failed_to_keep(
    store: Store, tmp_path: Path
) -> None:
    """If writing the alert to the receiver's SQLite store fails, the POST is not a success and the alert is
    not remembered in memory either: the DSP's resend is stored (204), and it is in the file after a
    restart. (It used to be marked stored in memory first, so the resend got '200 duplicate' and the alert
    was lost at the next restart.)"""
    db = tmp_path / "received.db"
    a = pending(1, crafted.S1)
    body = AlertWriter(store.signer).render(a, store.clock.now())[1]
    headers = {"content-type": "application/xml", "X-DCC-Alert-ID": a.alert_id}
    r = Receiver(store.signer.certificate, store=db, clock=store.clock)
    assert r._db is not None
    r._db = _FailingOnce(r._db)  # type: ignore[assignment]
    with r.serve_in_thread() as running:
        url = running.endpoint_for(crafted.S1)
        first = httpx.post(url, content=body, headers=headers, timeout=10)
        assert not 200 <= first.status_code < 300
        assert r.unique == 0
        again = httpx.post(url, content=body, headers=headers, timeout=10)
        assert again.status_code == 204, again.text
    r.close()
    restarted = Receiver(store.signer.certificate, store=db, clock=store.clock)
    assert restarted.alert_ids() == {a.alert_id}
    restarted.close()


def test_a_concurrent_post_of_the_same_id_with_other_content_is_a_conflict(store: Store) -> None:
    """When another POST stores the same alert ID while this one is being verified, this one is answered
    409 if its bytes differ (a conflict), not '200 duplicate'."""
    a = pending(1, crafted.S1)
    body = AlertWriter(store.signer).render(a, store.clock.now())[1]
    r = Receiver(store.signer.certificate, clock=store.clock)
    real_code_of = r._code_of

    def racing_code_of(data: bytes) -> str:
        code = real_code_of(data)
        with r._lock:  # the other POST wins the race with different bytes
            r._stored[a.alert_id] = Stored(a.alert_id, crafted.S1, code, b"\x00" * 32)
        return code

    r._code_of = racing_code_of  # type: ignore[method-assign]
    with r.serve_in_thread() as running:
        resp = httpx.post(running.endpoint_for(crafted.S1), content=body, timeout=10,
                          headers={"content-type": "application/xml", "X-DCC-Alert-ID": a.alert_id})  # fmt: skip
    r.close()
    assert resp.status_code == 409, resp.text
    assert r.conflicts == 1 and r.duplicates == 0
