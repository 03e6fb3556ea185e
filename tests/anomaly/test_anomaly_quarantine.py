"""Release and delete of quarantined requests by a DCC operator: a released request is processed exactly
as if just received (and counted), a deleted one never; the User is told either way through the alert
outbox; every decision is audited and taken once."""

from __future__ import annotations

import threading

import pytest
from anomaly_testkit import OPERATOR, Env
from sqlalchemy import func, select

import crafted as c
from hanota.anomaly import audit
from hanota.anomaly.counting import Usage, window_usage
from hanota.anomaly.errors import AlreadyDecided, AnomalyError, NotFound, NotPermitted, OutOfBounds
from hanota.anomaly.quarantine import Decision, delete, get_quarantined, list_quarantined, release
from hanota.anomaly.thresholds import set_user_threshold
from hanota.db.models import DistributionJob, RequestDevice, ServiceRequest
from hanota.duis.requests import UpdatePPMIDFirmware
from hanota.duis.responses import DSPUpdatePPMIDFirmwareWarning, ResponseMessage

MIXED_IDS = tuple(e.device_id for e in c.MIXED)


def hold_one(env: Env, ids: tuple[str, ...] = MIXED_IDS) -> tuple[int, str]:
    """S1 may send one 11.4 a day; its second (with `ids`) is quarantined. Returns (event ref, RequestID)."""
    with env.engine.begin() as conn:
        set_user_threshold(
            conn, user_eui=c.S1, srv="11.4", max_requests=1, actor_eui=c.S1, now=env.clock.now()
        )
    assert env.ppmid([c.UNKNOWN]) == "E110405"
    resp = env.send(c.S1, "11.4", UpdatePPMIDFirmware(c.NEW_IMAGE, c.NEW_VERSION, ids))
    assert resp.response_code == "E43"
    with env.engine.connect() as conn:
        (entry,) = list_quarantined(conn)
    return entry.event_ref, str(resp.request_id)


def decide(
    env: Env, action: str, ref: int, who: str = OPERATOR, reason: str = "checked with the supplier"
) -> Decision:
    fn = release if action == "release" else delete
    with env.engine.begin() as conn:
        return fn(conn, env.dsp, event_ref=ref, operator_eui=who, reason=reason, now=env.clock.now())


def test_release_processes_the_request_as_if_just_received(env: Env) -> None:
    """Release processes the held 11.4 as if just received: every device classified as for a new request, its
    distribution job written, the request counted (the operator overrides the threshold); the User gets the
    answer it would have had (W110401 with its warning lists), signed, under its original RequestID (outbox
    kind QuarantineReleased), and the decision is audited with who, when and why."""
    ref, rid = hold_one(env)
    env.clock.advance(1800)
    d = decide(env, "release", ref)
    assert d.response_code == "W110401" and d.entry.status == "released" and d.entry.outcome_code == "W110401"
    assert (d.entry.decided_by, d.entry.decided_at, d.entry.decision_reason) == (
        OPERATOR, env.clock.now(), "checked with the supplier",
    )  # fmt: skip
    with env.engine.connect() as conn:
        sr = conn.execute(select(ServiceRequest).where(ServiceRequest.request_id == rid)).one()
        outcomes = dict(
            conn.execute(
                select(RequestDevice.device_id, RequestDevice.outcome).where(
                    RequestDevice.request_pk == sr.id
                )
            ).all()
        )
        jobs = (
            conn.execute(select(DistributionJob.region).where(DistributionJob.request_pk == sr.id))
            .scalars()
            .all()
        )
        used = window_usage(conn, c.S1, "11.4", 24, env.clock.now())
    assert (sr.status, sr.response_code, sr.received_at) == ("accepted", "W110401", env.clock.now())
    assert outcomes == {e.device_id: e.outcome for e in c.MIXED}, "every device checked as for a new request"
    assert jobs == ["Central"]
    assert used == Usage(2, 1 + len(MIXED_IDS)), "counted on release (the operator overrides the threshold)"
    # the User gets the answer it would have had, signed, under the original RequestID
    row, answer = env.outbox(f"adr:{ref}")
    assert (row.recipient_eui, row.kind, row.code, row.request_pk) == (
        c.S1,
        "QuarantineReleased",
        "W110401",
        sr.id,
    )
    assert str(answer.request_id) == rid and answer.response_code == "W110401"
    assert isinstance(answer.body, ResponseMessage)
    warning = answer.body.payload
    assert isinstance(warning, DSPUpdatePPMIDFirmwareWarning)
    assert {d for _, ds in warning.lists() for d in ds} == {
        e.device_id for e in c.MIXED if e.outcome != "Accepted"
    }
    with env.engine.connect() as conn:
        (entry,) = audit.list_audit(conn, target=f"quarantine:{ref}")
    assert (entry.actor_eui, entry.action, entry.reason) == (
        OPERATOR,
        "quarantine.release",
        "checked with the supplier",
    )
    assert entry.detail["response_code"] == "W110401"


def test_a_released_request_meets_todays_access_control(env: Env) -> None:
    """A User suspended while its request sat in quarantine gets E3 on release, as a new request would;
    nothing is processed or counted."""
    ref, rid = hold_one(env)
    env.suspend(c.S1)
    d = decide(env, "release", ref)
    assert (d.response_code, d.entry.status) == ("E3", "released")
    _, answer = env.outbox(f"adr:{ref}")
    assert answer.response_code == "E3" and str(answer.request_id) == rid
    with env.engine.connect() as conn:
        assert conn.execute(select(ServiceRequest).where(ServiceRequest.request_id == rid)).first() is None
        assert window_usage(conn, c.S1, "11.4", 24, env.clock.now()) == Usage(1, 1)


def test_a_released_request_refused_by_its_handler_is_recorded_as_refused(env: Env) -> None:
    """A released request its handler refuses (no device left, E110405) is recorded as rejected with that code, like
    any refused request."""
    ref, rid = hold_one(env, (c.UNKNOWN,))
    d = decide(env, "release", ref)
    assert d.response_code == "E110405"
    with env.engine.connect() as conn:
        sr = conn.execute(select(ServiceRequest).where(ServiceRequest.request_id == rid)).one()
    assert (sr.status, sr.response_code) == ("rejected", "E110405")


def test_delete_never_processes_and_tells_the_user(env: Env) -> None:
    """Delete never processes the request: it is recorded as deleted (E43, with the operator's reason), has no
    devices and is not counted; the User gets a signed E43 under its RequestID (outbox kind
    QuarantineDeleted), and the decision is audited."""
    ref, rid = hold_one(env)
    d = decide(env, "delete", ref, reason="supplier confirms the key was misused")
    assert (d.response_code, d.entry.status, d.notice_alert_id) == ("E43", "deleted", f"add:{ref}")
    with env.engine.connect() as conn:
        sr = conn.execute(select(ServiceRequest).where(ServiceRequest.request_id == rid)).one()
        n_devices = conn.execute(
            select(func.count()).select_from(RequestDevice).where(RequestDevice.request_pk == sr.id)
        ).scalar_one()
        used = window_usage(conn, c.S1, "11.4", 24, env.clock.now())
        (entry,) = audit.list_audit(conn, target=f"quarantine:{ref}")
    assert (sr.status, sr.response_code, n_devices) == ("deleted", "E43", 0)
    assert "supplier confirms" in (sr.detail or "")
    assert used == Usage(1, 1), "a deleted request is never counted"
    row, answer = env.outbox(f"add:{ref}")
    assert (row.kind, row.recipient_eui, row.code) == ("QuarantineDeleted", c.S1, "E43")
    assert str(answer.request_id) == rid and answer.response_code == "E43"
    assert (entry.action, entry.reason) == ("quarantine.delete", "supplier confirms the key was misused")


def test_decisions_need_an_active_operator_and_a_reason_and_change_nothing_otherwise(env: Env) -> None:
    """A release or delete by a User (NotPermitted), by an unknown EUI (NotFound), without a reason (OutOfBounds) or
    by a suspended operator (NotPermitted) is refused; the request stays quarantined and nothing is audited."""
    ref, _ = hold_one(env)
    cases: list[tuple[str, str, type[AnomalyError]]] = [
        (c.S1, "mine", NotPermitted),  # a User may not release its own request
        ("90-B3-D5-1F-00-00-00-99", "who?", NotFound),
        (OPERATOR, "  ", OutOfBounds),
    ]
    for who, reason, error in cases:
        for action in ("release", "delete"):
            with pytest.raises(error):
                decide(env, action, ref, who=who, reason=reason)
    env.suspend(OPERATOR)
    with pytest.raises(NotPermitted, match="Suspended"):
        decide(env, "release", ref)
    with env.engine.connect() as conn:
        assert get_quarantined(conn, ref).status == "quarantined"
        assert audit.list_audit(conn, target=f"quarantine:{ref}") == []


def test_a_request_is_decided_once(env: Env) -> None:
    """Once released, a request can be neither released nor deleted again (AlreadyDecided, naming who decided); an
    unknown event is NotFound."""
    ref, _ = hold_one(env)
    decide(env, "release", ref)
    for action in ("release", "delete"):
        with pytest.raises(AlreadyDecided, match=f"already released by {OPERATOR}"):
            decide(env, action, ref)
    with pytest.raises(NotFound):
        decide(env, "delete", ref + 100)


def test_two_operators_deciding_at_once_exactly_one_wins(env: Env) -> None:
    """Release and delete race on the same event (own connections, real concurrency on PostgreSQL): one
    succeeds, the other gets AlreadyDecided, and the request is processed at most once."""
    ref, rid = hold_one(env)
    barrier = threading.Barrier(2)
    results: dict[str, object] = {}

    def go(action: str) -> None:
        barrier.wait()
        try:
            results[action] = decide(env, action, ref)
        except AnomalyError as e:
            results[action] = e

    threads = [threading.Thread(target=go, args=(a,)) for a in ("release", "delete")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    kinds = sorted(type(r).__name__ for r in results.values())
    assert kinds == ["AlreadyDecided", "Decision"], results
    with env.engine.connect() as conn:
        n = conn.execute(
            select(func.count()).select_from(ServiceRequest).where(ServiceRequest.request_id == rid)
        )
        assert n.scalar_one() == 1
        assert len(audit.list_audit(conn, target=f"quarantine:{ref}")) == 1


def test_listing_filters_by_user_status_and_srv(env: Env) -> None:
    """The quarantine listing shows the awaiting requests oldest first and filters by User, SRV and status; a
    deleted one leaves the default listing and is found by status."""
    ref, _ = hold_one(env)
    with env.engine.begin() as conn:
        set_user_threshold(
            conn, user_eui=c.S2, srv="8.2", max_requests=1, actor_eui=c.S2, now=env.clock.now()
        )
    assert env.read(c.S2) == "I0" and env.read(c.S2) == "E43"
    with env.engine.connect() as conn:
        assert [e.originator_eui for e in list_quarantined(conn)] == [c.S1, c.S2]
        assert [e.srv for e in list_quarantined(conn, user_eui=c.S2)] == ["8.2"]
        assert [e.srv for e in list_quarantined(conn, srv="11.4")] == ["11.4"]
    decide(env, "delete", ref)
    with env.engine.connect() as conn:
        assert [e.srv for e in list_quarantined(conn)] == ["8.2"]
        assert [e.event_ref for e in list_quarantined(conn, status="deleted")] == [ref]
        assert len(list_quarantined(conn, status=None)) == 2
        with pytest.raises(OutOfBounds):
            list_quarantined(conn, status="lost")


def test_a_stored_request_that_no_longer_parses_stays_quarantined(env: Env) -> None:
    """If the DSP's size limit was lowered below a held request, release refuses and changes nothing."""
    ref, _ = hold_one(env)
    env.dsp.max_body_bytes = 100
    with pytest.raises(AnomalyError, match="cannot be processed"):
        decide(env, "release", ref)
    with env.engine.connect() as conn:
        assert get_quarantined(conn, ref).status == "quarantined"
        assert audit.list_audit(conn, target=f"quarantine:{ref}") == []
