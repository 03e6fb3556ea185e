"""The DSP's threshold check on every request: each breach type quarantines the request (E43 now, a signed
QuarantinedRequest AD1 alert in the outbox, recorded but not processed and not counted); the DCC default
guards 11.4; windows roll; counts survive a restart."""

from __future__ import annotations

from datetime import timedelta

import pytest
from anomaly_testkit import OPERATOR, Env, make_dsp
from sqlalchemy import func, select

import crafted as c
from hanota.anomaly.counting import DCC_SUBJECT, Usage, window_usage
from hanota.anomaly.thresholds import set_dcc_policy, set_user_threshold
from hanota.db.engine import make_engine
from hanota.db.models import AlertOutbox, QuarantinedRequestRow, RequestDevice, ServiceRequest
from hanota.duis.alerts import DCCAlertMessage, QuarantinedRequest
from hanota.duis.requests import UpdatePPMIDFirmware
from hanota.duis.values import QuarantineKind


def user_limit(env: Env, srv: str = "11.4", **kwargs: int) -> None:
    with env.engine.begin() as conn:
        set_user_threshold(conn, user_eui=c.S1, srv=srv, actor_eui=c.S1, now=env.clock.now(), **kwargs)  # type: ignore[arg-type]


def policy(env: Env, srv: str = "11.4", **changes: int | None) -> None:
    with env.engine.begin() as conn:
        set_dcc_policy(
            conn, srv=srv, changes=changes, operator_eui=OPERATOR, reason="test", now=env.clock.now()
        )


def usage(env: Env, subject: str = c.S1, srv: str = "11.4", window: int = 24) -> Usage:
    with env.engine.connect() as conn:
        return window_usage(conn, subject, srv, window, env.clock.now())


def held(env: Env) -> list[QuarantinedRequestRow]:
    with env.engine.connect() as conn:
        return list(conn.execute(select(QuarantinedRequestRow).order_by(QuarantinedRequestRow.id)).all())  # type: ignore[arg-type]


def assert_quarantined(env: Env, data: bytes, kind: QuarantineKind, reason: str) -> int:
    """The request is answered E43, kept with its exact bytes, recorded as quarantined without devices, and
    its User has a signed AD1 alert naming the breach, the RequestID and the event reference."""
    resp = env.send_bytes(data)
    assert resp.response_code == "E43"
    row = held(env)[-1]
    assert row.kind == kind.value and reason in row.reason and row.status == "quarantined"
    assert row.body == data and row.request_id == str(resp.request_id)
    with env.engine.connect() as conn:
        sr = conn.execute(select(ServiceRequest).where(ServiceRequest.request_id == row.request_id)).one()
        devices = conn.execute(
            select(func.count()).select_from(RequestDevice).where(RequestDevice.request_pk == sr.id)
        ).scalar_one()
    assert (sr.status, sr.response_code, devices) == ("quarantined", "E43", 0)
    outbox, alert = env.outbox(f"ad1:{row.id}")
    assert (outbox.recipient_eui, outbox.code, outbox.kind) == (c.S1, "AD1", "QuarantinedRequest")
    assert isinstance(alert.body, DCCAlertMessage) and alert.body.code == "AD1"
    assert alert.body.alert == QuarantinedRequest(kind, resp.request_id, row.id)  # type: ignore[arg-type]
    return int(row.id)


def test_a_user_threshold_breach_on_requests(env: Env) -> None:
    """A User's third 11.4 within 24 h, over its threshold of 2 requests, is quarantined with the reason and not
    counted; another User's request is not affected."""
    user_limit(env, max_requests=2)
    assert env.ppmid([c.P_OK]) == "I0"
    assert env.ppmid([c.I_OK]) == "I0"
    data = env.signed(c.S1, "11.4", UpdatePPMIDFirmware(c.NEW_IMAGE, c.NEW_VERSION, (c.P_GAS,)))
    assert_quarantined(
        env, data, QuarantineKind.USER_THRESHOLD, "at most 2 requests per 24 h; 2 already counted"
    )
    assert usage(env) == Usage(2, 2), "the quarantined request is not counted"
    assert env.ppmid([c.P_GAS], eui=c.S2) == "I0", "another User is not affected"


def test_a_threshold_of_one_request_reads_in_the_singular(env: Env) -> None:
    """The quarantine reason says "at most 1 request", not "1 requests" (issue 12 item 12)."""
    user_limit(env, max_requests=1)
    assert env.ppmid([c.P_OK]) == "I0"
    data = env.signed(c.S1, "11.4", UpdatePPMIDFirmware(c.NEW_IMAGE, c.NEW_VERSION, (c.I_OK,)))
    assert_quarantined(
        env, data, QuarantineKind.USER_THRESHOLD, "at most 1 request per 24 h; 1 already counted"
    )


def test_a_user_threshold_breach_on_devices_counts_distinct_ids(env: Env) -> None:
    """A User's device threshold counts distinct device IDs (a duplicate once): a request that would take it over is
    quarantined, while one that still fits is served and counted."""
    user_limit(env, max_requests=10, max_devices=3)
    assert env.ppmid([c.P_OK, c.P_OK, c.I_OK]) == "I0", "two distinct devices (a duplicate counts once)"
    assert usage(env) == Usage(1, 2)
    data = env.signed(c.S1, "11.4", UpdatePPMIDFirmware(c.NEW_IMAGE, c.NEW_VERSION, (c.P_GAS, c.UNKNOWN)))
    assert_quarantined(env, data, QuarantineKind.USER_THRESHOLD, "2 already counted + 2 in this request")
    assert env.ppmid([c.P_GAS]) == "I0", "one more device still fits"
    assert usage(env) == Usage(2, 3)


def test_the_dcc_default_threshold_guards_11_4_without_any_setting(env: Env) -> None:
    """No threshold set anywhere: the 21st 11.4 of a User within 24 h is quarantined (default 20), while
    8.2, which has no default, is never held. Handler refusals count: they were requests all the same."""
    for i in range(20):
        assert env.ppmid([c.UNKNOWN]) == "E110405", i  # no device left: refused by the handler, but counted
    data = env.signed(c.S1, "11.4", UpdatePPMIDFirmware(c.NEW_IMAGE, c.NEW_VERSION, (c.P_OK,)))
    assert_quarantined(env, data, QuarantineKind.USER_THRESHOLD, "at most 20 requests per 24 h")
    assert all(env.read() == "I0" for _ in range(25))
    assert usage(env, srv="8.2") == Usage(25, 0), "unguarded SRVs are still counted per User"


def test_a_dcc_wide_breach_counts_every_user(env: Env) -> None:
    """The DCC-wide request threshold counts the requests of every User: once reached, the next 11.4 of any User is
    quarantined as a DCC threshold breach."""
    policy(env, dcc_max_requests=2)
    assert env.ppmid([c.P_OK]) == "I0"
    assert env.ppmid([c.P_GAS], eui=c.S2) == "I0"
    data = env.signed(c.S1, "11.4", UpdatePPMIDFirmware(c.NEW_IMAGE, c.NEW_VERSION, (c.I_OK,)))
    assert_quarantined(env, data, QuarantineKind.DCC_THRESHOLD, "DCC-wide threshold for SRV 11.4: at most 2")
    assert usage(env, DCC_SUBJECT) == Usage(2, 2)
    assert env.ppmid([c.P_OK], eui=c.S3) == "E43", "and S3 too"


def test_a_dcc_wide_device_threshold(env: Env) -> None:
    """The DCC-wide device threshold holds the 11.4 that would take the devices of all Users over it."""
    policy(env, dcc_max_devices=2)
    assert env.ppmid([c.P_OK, c.I_OK]) == "I0"
    data = env.signed(c.S1, "11.4", UpdatePPMIDFirmware(c.NEW_IMAGE, c.NEW_VERSION, (c.P_GAS,)))
    assert_quarantined(env, data, QuarantineKind.DCC_THRESHOLD, "at most 2 devices per 24 h")


@pytest.mark.parametrize(
    ("changes", "ids", "reason"),
    [
        ({"max_image_bytes": len(c.NEW_IMAGE) - 1}, (c.P_OK,), f"the image is {len(c.NEW_IMAGE):,} octets"),
        ({"max_devices_per_request": 2}, (c.P_OK, c.I_OK, c.P_GAS), "3 devices in one request, over 2"),
    ],
)
def test_an_attribute_limit_breach(
    env: Env, changes: dict[str, int], ids: tuple[str, ...], reason: str
) -> None:
    """A request over an attribute limit of the DCC policy (the image's size, the devices in one request) is
    quarantined with the limit in its reason, and nothing is counted."""
    policy(env, **changes)
    data = env.signed(c.S1, "11.4", UpdatePPMIDFirmware(c.NEW_IMAGE, c.NEW_VERSION, ids))
    assert_quarantined(env, data, QuarantineKind.ATTRIBUTE_LIMITS, reason)
    assert usage(env) == Usage(0, 0)


def test_the_default_attribute_limit_holds_an_image_over_2_mib(env: Env) -> None:
    """DUIS allows 10,240,000 octets; the DCC default holds an 11.4 image over 2 MiB (not even parsed)."""
    big = c.ppmid_image(b"x" * 40_000)
    assert len(big) > 2 * 1024 * 1024
    data = env.signed(c.S1, "11.4", UpdatePPMIDFirmware(big, c.NEW_VERSION, (c.P_OK,)))
    assert_quarantined(env, data, QuarantineKind.ATTRIBUTE_LIMITS, "over 2,097,152")


def test_any_srv_can_be_guarded_by_the_user(env: Env) -> None:
    """A User may guard any SRV it sends, 8.2 included: its second 8.2 over a limit of one is quarantined (E43) with
    no device count."""
    user_limit(env, srv="8.2", max_requests=1)
    assert env.read() == "I0"
    assert env.read() == "E43"
    (row,) = held(env)
    assert (row.srv, row.kind, row.device_count) == ("8.2", "ADUserThresholdBreach", 0)


def test_the_window_rolls_by_clock_hour(env: Env) -> None:
    """A 1-hour window counts the current clock hour and the one before: a request at 00:00 still counts at
    01:59 and no longer at 02:00 (at least W, at most W + 1 hours)."""
    user_limit(env, srv="8.2", max_requests=1, window_hours=1)
    assert env.read() == "I0"  # at 00:00
    env.clock.advance(3600 + 59 * 60)
    assert env.read() == "E43"  # 01:59
    env.clock.advance(60)
    assert env.read() == "I0"  # 02:00
    assert usage(env, srv="8.2", window=1) == Usage(1, 0)
    assert usage(env, srv="8.2", window=168) == Usage(2, 0)


def test_old_buckets_are_pruned_after_the_longest_window(env: Env) -> None:
    """Usage buckets older than the longest window (168 h) are deleted: 200 hours later only the current hour's
    bucket is left."""
    assert env.read() == "I0"
    env.clock.advance(timedelta(hours=200).total_seconds())
    assert env.read() == "I0"
    from hanota.db.models import AnomalyUsage

    with env.engine.connect() as conn:
        hours = conn.execute(select(AnomalyUsage.hour).where(AnomalyUsage.subject == c.S1)).scalars().all()
    assert hours == [env.clock.now().replace(minute=0, second=0, microsecond=0)]


def test_counts_survive_a_restart(env: Env, db_url: str) -> None:
    """A new engine and a new DSP over the same store (a restarted process) see the counts."""
    user_limit(env, max_requests=2)
    assert env.ppmid([c.P_OK]) == "I0"
    assert env.ppmid([c.I_OK]) == "I0"
    env.engine.dispose()
    engine = make_engine(db_url)
    try:
        restarted = make_dsp(engine, env.clock)
        data = env.signed(c.S1, "11.4", UpdatePPMIDFirmware(c.NEW_IMAGE, c.NEW_VERSION, (c.P_GAS,)))
        assert env.send_bytes(data, restarted).response_code == "E43"
        with engine.connect() as conn:
            assert window_usage(conn, c.S1, "11.4", 24, env.clock.now()) == Usage(2, 2)
            assert conn.execute(select(func.count()).select_from(AlertOutbox)).scalar_one() == 1
    finally:
        engine.dispose()


def test_refusals_before_the_check_are_not_counted(env: Env) -> None:
    """A replayed counter (E41) or a suspended User (E3) never reaches the threshold check."""
    user_limit(env, max_requests=1)
    data = env.signed(c.S1, "11.4", UpdatePPMIDFirmware(c.NEW_IMAGE, c.NEW_VERSION, (c.P_OK,)))
    assert env.send_bytes(data).response_code == "I0"
    assert env.send_bytes(data).response_code == "E41"
    assert usage(env) == Usage(1, 1) and held(env) == []
