"""Setting a User's alert endpoint: checked, audited, and a new address never inherits the old one's failures."""

from __future__ import annotations

import json
import re
import socket

import pytest
from sqlalchemy import insert, select, update

import crafted
from alerts.alerts_testkit import Store, pending
from hanota.alerts.endpoints import AUDIT_ACTION, EndpointChange, endpoint_problem, set_endpoint
from hanota.db.models import AlertRecipient, AnomalyAudit, User
from hanota.errors import AccessError, InputError
from hanota.estate.catalogue import DCC_OPERATOR_EUI
from hanota.supplier.receiver import RunningReceiver


@pytest.fixture(autouse=True)
def operator(store: Store) -> None:
    """The crafted estate has no DCC operator: add the estate's one."""
    with store.engine.begin() as conn:
        conn.execute(
            insert(User).values(eui=DCC_OPERATOR_EUI, name="DCC Service Desk", roles="DCC", status="Active")
        )


def _dead_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/smartdcc/duis"  # nothing listens once closed


def _set(store: Store, url: str | None, actor: str = crafted.S1, user: str = crafted.S1) -> EndpointChange:
    with store.engine.begin() as conn:
        return set_endpoint(conn, user=user, url=url, actor=actor, reason="test", now=store.clock.now())


def _endpoint(store: Store, user: str = crafted.S1) -> str | None:
    with store.engine.connect() as conn:
        return conn.execute(select(User.alert_endpoint).where(User.eui == user)).scalar_one()


def _audit(store: Store) -> list[AnomalyAudit]:
    with store.engine.connect() as conn:
        return list(conn.execute(select(AnomalyAudit).where(AnomalyAudit.action == AUDIT_ACTION)).all())  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("ftp://example.org/alerts", "not an http(s) URL"),
        ("example.org/alerts", "not an http(s) URL"),
        ("https://" + "a" * 493 + ".org", "at most 500 characters"),
        ("https://example.org/my alerts", "spaces"),
        ("https://exämple.org/", "non-ASCII"),
        ("https:///smartdcc/duis", "no host"),
        ("https://example.org:99999/", "not a valid URL"),
        ("https://user:secret@example.org/", "user name or password"),
        ("https://example.org/alerts#part", "fragment"),
    ],
)
def test_an_endpoint_must_be_a_plain_http_url(store: Store, url: str, why: str) -> None:
    """An alert endpoint must be a plain http(s) URL of at most 500 ASCII characters, with a host and valid
    port and no spaces, credentials or fragment; a refused one is named with its reason and nothing is written
    or audited."""
    problem = endpoint_problem(url)
    assert problem is not None and why in problem
    with pytest.raises(InputError, match=re.escape(why)):
        _set(store, url)
    assert _endpoint(store) is None and _audit(store) == []  # nothing written


def test_valid_endpoints_pass() -> None:
    """Loopback, query strings, IPv6 literals and punycode hosts with long paths are valid endpoints."""
    for url in ("http://127.0.0.1:8090/smartdcc/duis", "https://alerts.example.org/dcc?who=s1",
                "https://[::1]:8443/x", "https://xn--exmple-cua.org/" + "p" * 400):  # fmt: skip
        assert endpoint_problem(url) is None, url


def test_set_and_clear_are_audited_with_before_and_after(store: Store) -> None:
    """The User sets its own; the operator changes it; setting the same value is no change and no entry;
    clearing goes back to the mailbox. Each change is one audit entry: who, target, before, after."""
    first = _set(store, " http://127.0.0.1:8090/smartdcc/duis ")
    assert _endpoint(store) == "http://127.0.0.1:8090/smartdcc/duis"
    assert first.changed is True
    again = _set(store, "http://127.0.0.1:8090/smartdcc/duis")
    assert again.changed is False
    _set(store, "https://alerts.example.org/s1", actor=DCC_OPERATOR_EUI)
    _set(store, None, actor=DCC_OPERATOR_EUI)
    assert _endpoint(store) is None
    entries = _audit(store)
    assert [(e.actor_eui, e.target) for e in entries] == [
        (crafted.S1, f"user:{crafted.S1}"),
        (DCC_OPERATOR_EUI, f"user:{crafted.S1}"),
        (DCC_OPERATOR_EUI, f"user:{crafted.S1}"),
    ]
    assert [(json.loads(e.detail)["before"], json.loads(e.detail)["after"]) for e in entries] == [
        (None, "http://127.0.0.1:8090/smartdcc/duis"),
        ("http://127.0.0.1:8090/smartdcc/duis", "https://alerts.example.org/s1"),
        ("https://alerts.example.org/s1", None),
    ]


def test_only_the_user_or_a_dcc_operator_may_change_it(store: Store) -> None:
    """Only the User itself or an active DCC operator may change a User's endpoint: another User or a
    suspended operator is refused, an unknown User is refused, and nothing is written."""
    with pytest.raises(AccessError, match="only a DCC operator"):
        _set(store, "https://evil.example/", actor=crafted.S2)
    with store.engine.begin() as conn:  # a suspended operator is no operator
        conn.execute(update(User).where(User.eui == DCC_OPERATOR_EUI).values(status="Suspended"))
    with pytest.raises(AccessError, match="only a DCC operator"):
        _set(store, "https://example.org/", actor=DCC_OPERATOR_EUI)
    with pytest.raises(InputError, match="not a DCC User"):
        _set(store, "https://example.org/", user="00-00-00-00-00-00-00-09")
    assert _endpoint(store) is None and _audit(store) == []


def test_a_new_endpoint_does_not_inherit_the_old_ones_failing_state(
    store: Store, receiver: RunningReceiver
) -> None:
    """The old address is down: the recipient is paused. Once the User sets a new one its alerts go there at
    once — no pause, no one-at-a-time probing left over from the old address."""
    _set(store, _dead_url())
    store.write([pending(n, crafted.S1) for n in range(2)])
    worker = store.worker(timeout_seconds=2, lease_seconds=10)
    assert worker.run_once() == 2
    assert store.recipient(crafted.S1).failures == 1 and store.recipient(crafted.S1).paused_until is not None
    change = _set(store, receiver.dccboxed_endpoint)
    assert change.reset_failing is True
    with store.engine.connect() as conn:
        assert conn.execute(select(AlertRecipient)).first() is None
    store.write([pending(n, crafted.S1) for n in range(2, 7)])
    assert worker.run_once() == 5  # all five at once: the recipient is not paused nor probed
    assert receiver.receiver.unique == 5


def test_an_answer_from_the_old_address_in_flight_does_not_pause_the_new_one(
    store: Store, receiver: RunningReceiver
) -> None:
    """Alerts claimed for the old (dead) address fail after the User moved to a new one: the alerts are
    retried (at the new address), but the recipient is not paused for what the old address did."""
    _set(store, _dead_url())
    store.write([pending(n, crafted.S1) for n in range(3)])
    worker = store.worker(timeout_seconds=2, lease_seconds=10)
    claimed = worker.claim()
    assert len(claimed) == 3
    _set(store, receiver.dccboxed_endpoint)
    counts = worker.record(worker.send(claimed))
    assert counts.failed == 3
    with store.engine.connect() as conn:
        assert conn.execute(select(AlertRecipient)).first() is None
    store.clock.advance(3600)
    assert worker.run_once() == 3 and receiver.receiver.unique == 3
