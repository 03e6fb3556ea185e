"""`hanota users set-endpoint EUI URL --reason …` / `--clear`: one line out, the error rule, audited, and the
old endpoint's failing state dropped (issue 13: "a User's receiving address is set with a command")."""

from __future__ import annotations

import json

from sqlalchemy import Engine, insert, select

import crafted as c
from cli.conftest import Hanota
from hanota.db.engine import make_engine
from hanota.db.migrate import upgrade
from hanota.db.models import AlertOutbox, AlertRecipient, AnomalyAudit, User
from hanota.estate.catalogue import DCC_OPERATOR_EUI

URL = "http://127.0.0.1:8090/smartdcc/duis"


def _store(h: Hanota) -> Engine:
    h.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(h.database_url)
    engine = make_engine(h.database_url)
    c.build(engine)
    with engine.begin() as conn:
        conn.execute(
            insert(User).values(eui=DCC_OPERATOR_EUI, name="DCC Service Desk", roles="DCC", status="Active")
        )
        conn.execute(insert(AlertRecipient).values(recipient_eui=c.S1, failures=4, paused_until=c.NOW,
                     failing_since=c.NOW, last_error="HTTP 503", updated_at=c.NOW))  # fmt: skip
        conn.execute(insert(AlertOutbox).values(
            alert_id="m1", recipient_eui=c.S1, code="N61", kind="PPMIDAlert", created_at=c.NOW, body=b"<x/>",
            attempts=0, next_attempt_at=c.NOW, mailbox=True))  # fmt: skip
    return engine


def _endpoint(engine: Engine, eui: str = c.S1) -> str | None:
    with engine.connect() as conn:
        return conn.execute(select(User.alert_endpoint).where(User.eui == eui)).scalar_one()


def test_set_endpoint_sets_it_in_one_line_audited_and_drops_the_failing_state(hanota: Hanota) -> None:
    """`users set-endpoint` says what changed in one line, is audited with its reason, drops the old
    endpoint's failing state; the same URL again changes nothing, and `--clear` sends alerts to the mailbox."""
    engine = _store(hanota)
    r = hanota.ok("users", "set-endpoint", c.S1.lower(), URL, "--reason", "S1 moved to DCC Boxed's receiver")
    assert r.stdout.splitlines() == [
        f"{c.S1}: alert endpoint {URL} (was none); the old endpoint's failing state is dropped; "
        "1 alert stays in its mailbox"
    ]
    assert _endpoint(engine) == URL
    with engine.connect() as conn:
        assert conn.execute(select(AlertRecipient)).first() is None
        (entry,) = conn.execute(select(AnomalyAudit)).all()
    assert entry.actor_eui == DCC_OPERATOR_EUI and entry.target == f"user:{c.S1}"
    assert entry.reason == "S1 moved to DCC Boxed's receiver"
    assert json.loads(entry.detail) == {"before": None, "after": URL, "failing_reset": True}
    again = hanota.ok("users", "set-endpoint", c.S1, URL, "--reason", "again")
    assert again.stdout.strip() == f"{c.S1}: alert endpoint already {URL}; nothing changed"
    cleared = hanota.ok("users", "set-endpoint", c.S1, "--clear", "--reason", "back to the mailbox")
    assert cleared.stdout.strip() == f"{c.S1}: alert endpoint none (alerts go to its mailbox) (was {URL})"
    assert _endpoint(engine) is None
    with engine.connect() as conn:
        assert len(conn.execute(select(AnomalyAudit)).all()) == 2
    engine.dispose()


def test_set_endpoint_refuses_in_one_line_and_changes_nothing(hanota: Hanota) -> None:
    """A bad URL, a missing reason or choice, an unknown User (exit 2) or a non-operator (exit 1) is
    refused in one line, and neither the endpoint, the audit trail nor the failing state changes."""
    engine = _store(hanota)
    cases = [
        (2, ("ftp://example.org/x", "--reason", "r"), "is not an http(s) URL"),
        (2, ("https://" + "a" * 500, "--reason", "r"), "at most 500 characters"),
        (2, ("https://u:p@example.org/", "--reason", "r"), "user name or password"),
        (2, (URL,), "give a --reason"),
        (2, ("--reason", "r"), "give either a URL or --clear"),
        (2, (URL, "--clear", "--reason", "r"), "give either a URL or --clear"),
    ]
    for code, args, why in cases:
        line = hanota.fails(code, "users", "set-endpoint", c.S1, *args)
        assert why in line, (args, line)
    assert "is not a User ID" in hanota.fails(2, "users", "set-endpoint", "nobody", URL, "--reason", "r")
    assert "is not a DCC User" in hanota.fails(2, "users", "set-endpoint", "00-00-00-00-00-00-00-09", URL,
                                               "--reason", "r")  # fmt: skip
    refused = hanota.fails(1, "users", "set-endpoint", c.S1, URL, "--reason", "r", "--operator", c.S2)
    assert refused.startswith("refused:") and "only a DCC operator" in refused
    assert _endpoint(engine) is None
    with engine.connect() as conn:
        assert conn.execute(select(AnomalyAudit)).first() is None
        assert conn.execute(select(AlertRecipient.failures)).scalar_one() == 4
    engine.dispose()
