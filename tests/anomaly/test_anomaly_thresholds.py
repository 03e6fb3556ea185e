"""Thresholds: the DCC defaults, a User's own threshold within the DCC bounds, who may set what, and the
DCC policy's rules (11.4 and 11.1 are never unguarded)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from anomaly_testkit import OPERATOR, Env
from sqlalchemy import select

import crafted as c
from hanota.anomaly import audit
from hanota.anomaly.errors import NotFound, NotPermitted, OutOfBounds
from hanota.anomaly.thresholds import (
    DEFAULT_POLICIES,
    bound,
    clear_user_threshold,
    dcc_policy,
    effective_thresholds,
    set_dcc_policy,
    set_user_threshold,
    user_threshold,
)
from hanota.db.models import AnomalyUserThreshold


def test_a_user_without_its_own_threshold_gets_the_dcc_default_for_11_4_and_11_1(env: Env) -> None:
    """11.4 is never unguarded: the code default (20 requests, 250,000 devices per 24 h) applies; SRVs
    without a default (8.2) are unguarded until someone sets one; SRVs the User cannot send are not listed."""
    with env.engine.connect() as conn:
        s1 = effective_thresholds(conn, c.S1)
        other = effective_thresholds(conn, c.OTHER)
    t = s1["11.4"]
    assert (t.source, t.max_requests, t.max_devices, t.window_hours) == ("dcc-default", 20, 250_000, 24)
    assert t.guarded and s1["11.1"].max_devices == 500_000 and s1["11.1"].source == "dcc-default"
    assert s1["8.2"].source == "none" and not s1["8.2"].guarded
    assert set(s1) == {"11.4", "11.1", "8.2", "8.4", "12.2"}
    assert "11.4" not in other and "8.2" in other  # an Other User may not send 11.4


def test_a_user_sets_its_own_threshold_and_it_is_audited(env: Env) -> None:
    """A User sets its own 11.4 threshold (requests, devices, window): it is stored for that User alone and audited
    with the actor, reason, time and the values before and after."""
    with env.engine.begin() as conn:
        t = set_user_threshold(conn, user_eui=c.S1, srv="11.4", max_requests=5, max_devices=1_000, window_hours=12,
                               actor_eui=c.S1, reason="campaign of May", now=c.NOW)  # fmt: skip
    assert (t.source, t.max_requests, t.max_devices, t.window_hours) == ("user", 5, 1_000, 12)
    with env.engine.connect() as conn:
        assert user_threshold(conn, c.S1, "11.4") == t
        assert user_threshold(conn, c.S2, "11.4").source == "dcc-default", "only S1 changed"
        (entry,) = audit.list_audit(conn, target=f"user:{c.S1}/srv:11.4")
    assert (entry.actor_eui, entry.action, entry.reason, entry.at) == (
        c.S1,
        "threshold.set",
        "campaign of May",
        c.NOW,
    )
    assert entry.detail["before"]["source"] == "dcc-default" and entry.detail["after"]["max_devices"] == 1_000


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_requests": 201}, "above the DCC bound of 200 per 24 h"),
        ({"max_requests": 5, "max_devices": 1_000_001}, "above the DCC bound of 1,000,000 per 24 h"),
        ({"max_requests": 5, "max_devices": 500_001, "window_hours": 12}, "DCC bound of 500,000 per 12 h"),
        ({"max_requests": 0}, "between 1 and"),
        ({"max_requests": -3}, "between 1 and"),
        ({"max_requests": 5, "window_hours": 0}, "window_hours must be 1–168"),
        ({"max_requests": 5, "window_hours": 169}, "window_hours must be 1–168"),
        ({"max_requests": True}, "whole number"),
        ({"max_requests": 2**40}, "between 1 and"),
    ],
)
def test_values_outside_the_dcc_bounds_are_refused_and_nothing_is_stored(
    env: Env, kwargs: dict[str, int], message: str
) -> None:
    """A threshold above the DCC bound (scaled to its window), below 1, with a window outside 1–168 h or of the
    wrong type is refused with the reason, and neither a threshold nor an audit row is stored."""
    with env.engine.begin() as conn, pytest.raises(OutOfBounds, match=message):
        set_user_threshold(conn, user_eui=c.S1, srv="11.4", actor_eui=c.S1, now=c.NOW, **kwargs)  # type: ignore[arg-type]
    with env.engine.connect() as conn:
        assert conn.execute(select(AnomalyUserThreshold)).first() is None
        assert audit.list_audit(conn) == []


def test_bounds_are_rates_so_no_window_loosens_them() -> None:
    """A cap of 1,000,000 per 24 h allows 500,000 per 12 h and still 1,000,000 per week."""
    assert bound(1_000_000, 12, 24) == 500_000
    assert bound(1_000_000, 168, 24) == 1_000_000
    assert bound(10, 1, 24) == 1, "never below 1"
    assert bound(None, 5, 24) is None


def test_exactly_the_bound_is_accepted_and_devices_do_not_apply_to_8_2(env: Env) -> None:
    """A threshold exactly at the bound is accepted; an SRV without a device list (8.2) takes no device limit, and
    with no DCC default needs a request limit."""
    with env.engine.begin() as conn:
        t = set_user_threshold(conn, user_eui=c.S1, srv="11.4", max_requests=100, max_devices=500_000,
                               window_hours=12, actor_eui=c.S1, now=c.NOW)  # fmt: skip
        assert (t.max_requests, t.max_devices) == (100, 500_000)
        with pytest.raises(OutOfBounds, match="no device list"):
            set_user_threshold(conn, user_eui=c.S1, srv="8.2", max_requests=10, max_devices=5, actor_eui=c.S1,
                               now=c.NOW)  # fmt: skip
        with pytest.raises(OutOfBounds, match="no DCC default: set max_requests"):
            set_user_threshold(conn, user_eui=c.S1, srv="8.2", max_requests=None, actor_eui=c.S1, now=c.NOW)
        t82 = set_user_threshold(conn, user_eui=c.S1, srv="8.2", max_requests=10, actor_eui=c.S1, now=c.NOW)
    assert (t82.source, t82.max_requests, t82.max_devices) == ("user", 10, None)


def test_a_field_left_unset_takes_the_default_scaled_to_the_window(env: Env) -> None:
    """A User who sets only a request limit for 11.4 keeps the default device limit (never unguarded)."""
    with env.engine.begin() as conn:
        t = set_user_threshold(conn, user_eui=c.S1, srv="11.4", max_requests=3, window_hours=6, actor_eui=c.S1,
                               now=c.NOW)  # fmt: skip
    assert (t.max_requests, t.max_devices, t.window_hours) == (3, 250_000 * 6 // 24, 6)


def test_only_the_user_itself_or_a_dcc_operator_may_set_its_threshold(env: Env) -> None:
    """Only the User itself, for an SRV it may send, or a DCC operator sets a User's threshold; another User, an SRV
    not served here and an EUI that is no DCC User are refused."""
    with env.engine.begin() as conn:
        with pytest.raises(NotPermitted, match="may not change the thresholds"):
            set_user_threshold(conn, user_eui=c.S1, srv="11.4", max_requests=5, actor_eui=c.S2, now=c.NOW)
        with pytest.raises(NotPermitted, match=r"may send SRV 11\.4"):
            set_user_threshold(
                conn, user_eui=c.OTHER, srv="11.4", max_requests=5, actor_eui=c.OTHER, now=c.NOW
            )
        with pytest.raises(NotFound, match="not served here"):
            set_user_threshold(conn, user_eui=c.S1, srv="11.3", max_requests=5, actor_eui=c.S1, now=c.NOW)
        with pytest.raises(NotFound, match="not a DCC User"):
            set_user_threshold(conn, user_eui="90-B3-D5-1F-00-00-00-99", srv="11.4", max_requests=5,
                               actor_eui=OPERATOR, now=c.NOW)  # fmt: skip
        t = set_user_threshold(conn, user_eui=c.S1, srv="11.4", max_requests=7, actor_eui=OPERATOR,
                               reason="asked by phone", now=c.NOW)  # fmt: skip
    assert t.max_requests == 7


def test_clearing_brings_back_the_default(env: Env) -> None:
    """Clearing a User's threshold gives it exactly what a User who never set one has (the DCC default), and both
    changes are audited."""
    with env.engine.begin() as conn:
        set_user_threshold(conn, user_eui=c.S1, srv="11.4", max_requests=7, actor_eui=c.S1, now=c.NOW)
        t = clear_user_threshold(conn, user_eui=c.S1, srv="11.4", actor_eui=c.S1, now=c.NOW)
        assert t == replace(user_threshold(conn, c.S2, "11.4"), user_eui=c.S1), (
            "the same as a User who never set one"
        )
        assert (t.source, t.max_requests) == ("dcc-default", 20)
        assert [e.action for e in audit.list_audit(conn)] == ["threshold.clear", "threshold.set"]


def test_the_dcc_policy_keeps_11_4_guarded_and_within_duis_limits(env: Env) -> None:
    """An operator's change to the DCC policy never leaves 11.4 unguarded, above its caps, beyond the DUIS limits or
    with unknown fields, applies only to fields the SRV has, needs an operator and a reason; every refusal
    leaves the default, and an accepted change keeps the other fields and is audited."""
    with env.engine.begin() as conn:
        for changes, message in (
            ({"default_max_devices": None}, "never unguarded"),
            ({"cap_max_requests": None}, "never unguarded"),
            ({"default_max_requests": 300}, "above cap_max_requests"),
            ({"max_image_bytes": 10_240_001}, "DUIS limit"),
            ({"max_devices_per_request": 50_001}, "DUIS limit"),
            ({"window_hours": 200}, "window_hours"),
            ({"colour": 3}, "unknown policy fields"),
        ):
            with pytest.raises(OutOfBounds, match=message):
                set_dcc_policy(
                    conn, srv="11.4", changes=changes, operator_eui=OPERATOR, reason="x", now=c.NOW
                )
        with pytest.raises(OutOfBounds, match="does not apply"):
            set_dcc_policy(conn, srv="8.2", changes={"dcc_max_devices": 5}, operator_eui=OPERATOR, reason="x",
                           now=c.NOW)  # fmt: skip
        with pytest.raises(NotPermitted, match="not a DCC operator"):
            set_dcc_policy(conn, srv="11.4", changes={"dcc_max_devices": 5}, operator_eui=c.S1, reason="x",
                           now=c.NOW)  # fmt: skip
        with pytest.raises(OutOfBounds, match="reason is required"):
            set_dcc_policy(conn, srv="11.4", changes={"dcc_max_devices": 5}, operator_eui=OPERATOR, reason=" ",
                           now=c.NOW)  # fmt: skip
        assert dcc_policy(conn, "11.4") == DEFAULT_POLICIES["11.4"], "every refusal left the default"
        p = set_dcc_policy(conn, srv="11.4", changes={"dcc_max_devices": 3_000_000}, operator_eui=OPERATOR,
                           reason="national campaign week", now=c.NOW)  # fmt: skip
    assert p.dcc_max_devices == 3_000_000 and p.source == "operator" and p.updated_by == OPERATOR
    assert p.default_max_devices == 250_000, "other fields keep their values"
    with env.engine.connect() as conn:
        assert dcc_policy(conn, "11.4") == p
        (entry,) = audit.list_audit(conn, target="srv:11.4")
    assert entry.detail["before"]["dcc_max_devices"] == 2_000_000 and entry.reason == "national campaign week"


def test_a_lowered_cap_clamps_a_stored_user_threshold(env: Env) -> None:
    """When the operator lowers a cap below a User's stored threshold, the User's threshold in force is the cap,
    marked as clamped."""
    with env.engine.begin() as conn:
        set_user_threshold(conn, user_eui=c.S1, srv="11.4", max_requests=5, max_devices=900_000, actor_eui=c.S1,
                           now=c.NOW)  # fmt: skip
        set_dcc_policy(conn, srv="11.4", changes={"cap_max_devices": 400_000, "default_max_devices": 100_000},
                       operator_eui=OPERATOR, reason="incident", now=c.NOW)  # fmt: skip
        t = user_threshold(conn, c.S1, "11.4")
    assert (t.max_devices, t.clamped, t.bound_max_devices) == (400_000, True, 400_000)


def test_every_served_srv_has_a_code_default_policy_that_obeys_the_rules() -> None:
    """Every SRV the DSP serves has a default policy in the code, and every default passes the policy rules."""
    from hanota.anomaly.thresholds import served_srvs, validate_policy

    assert set(DEFAULT_POLICIES) == set(served_srvs())
    for p in DEFAULT_POLICIES.values():
        assert validate_policy(p) is p
