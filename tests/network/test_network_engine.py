"""The engine's behaviour: priority, window, hub cache, outcomes, the incremental API and its checks."""

from __future__ import annotations

import math

import numpy as np
import pytest
from network_testkit import NO_FAILURES, by_target, dist, quiet_profile, table

from hanota.network import (
    ClassQueueState,
    EventKind,
    FailureReason,
    NetworkEngine,
    PriorityClass,
    Region,
    default_profile,
)

DAY = 86_400.0


# ---------------------------------------------------------------------------------------------- priority


def test_esme_gsme_targets_take_the_next_wan_session_before_earlier_han_targets() -> None:
    """Strict priority: HAN work submitted first still waits for every ESME/GSME transfer queued later."""
    profile = quiet_profile({"wan": {"south": {"sessions": 1}}})
    engine = NetworkEngine(profile, Region.SOUTH, seed=1)
    engine.submit(dist("han", table(4, prefix="p", hub=lambda i: f"hp{i}")), at=0.0)
    engine.submit(
        dist(
            "esme",
            table(3, prefix="e", hub=lambda i: f"he{i}"),
            priority=PriorityClass.ESME_GSME,
            size=300_000,
        ),
        at=1.0,
    )
    engine.run_until_idle()
    han = engine.results("han").wan_start
    esme = engine.results("esme").wan_start
    w_han = profile.wan_time(Region.SOUTH, 250_000)
    w_esme = profile.wan_time(Region.SOUTH, 300_000)

    assert han[0] == 0.0  # took the free session before the ESME request arrived
    assert esme.tolist() == pytest.approx([w_han, w_han + w_esme, w_han + 2 * w_esme])
    assert han[1:].tolist() == pytest.approx([w_han + 3 * w_esme + k * w_han for k in range(3)])


def test_a_queued_han_transfer_that_esme_gsme_also_needs_is_promoted() -> None:
    """When an ESME/GSME request needs the very image already queued for a hub at HAN priority, that hub
    transfer moves to the ESME/GSME queue (both classes' targets then get the image then)."""
    profile = quiet_profile({"wan": {"south": {"sessions": 1}}})
    engine = NetworkEngine(profile, Region.SOUTH, seed=1)
    engine.submit(dist("han", table(3, prefix="p"), image_id="img"), at=0.0)  # hubs h0, h1, h2
    engine.submit(
        dist(
            "esme", table(1, prefix="e", hub=lambda i: "h2"), priority=PriorityClass.ESME_GSME, image_id="img"
        ),
        at=1.0,
    )
    engine.run_until_idle()
    w = profile.wan_time(Region.SOUTH, 250_000)
    assert engine.results("han").wan_start.tolist() == pytest.approx([0.0, 2 * w, w])
    assert engine.results("esme").wan_start.tolist() == pytest.approx([w])
    assert engine.stats().hub_transfers == 3


# ---------------------------------------------------------------------------------------------- window


def test_wan_sessions_start_only_inside_the_night_window() -> None:
    """Submitted at 07:00, nothing starts before midnight; no session starts after 06:00, while one
    that started before 06:00 runs to its end."""
    profile = quiet_profile(
        {"window": {"start_h": 0.0, "end_h": 6.0}, "wan": {"session_setup_s": 7.0, "north": {"sessions": 3}}}
    )
    engine = NetworkEngine(profile, Region.NORTH, seed=1)
    engine.submit(dist("d", table(200)), at=7 * 3600.0)
    engine.run_until_idle()
    r = engine.results("d")
    w = profile.wan_time(Region.NORTH, 250_000)

    assert r.wan_start.min() == DAY
    tod_h = (r.wan_start % DAY) / 3600.0
    assert (tod_h < 6.0).all()
    assert r.ready.max() > r.wan_start.max()
    # 6 h of starts per night at 3 sessions: ceil(21,600 / w) transfers per session per night.
    per_night = 3 * math.ceil(6 * 3600.0 / w)
    first_night = (r.wan_start < 2 * DAY).sum()
    assert first_night == per_night
    assert (r.ready[r.wan_start < 2 * DAY] > DAY + 6 * 3600.0).any()  # a late start ran past 06:00


def test_queue_state_reports_the_window_and_sessions() -> None:
    """Outside the night window transfers wait (no session busy, all ten queued); once it opens, the region's two
    sessions are busy and the queue shrinks by two."""
    profile = quiet_profile({"window": {"start_h": 0.0, "end_h": 6.0}, "wan": {"south": {"sessions": 2}}})
    engine = NetworkEngine(profile, Region.SOUTH, seed=1)
    engine.submit(dist("d", table(10)), at=12 * 3600.0)
    engine.advance_to(12 * 3600.0)
    state = engine.queue_state()
    assert not state.window_open
    assert state.sessions_busy == 0
    assert state.transfers_queued == 10
    assert state.han.queued == 10
    engine.advance_to(DAY + 1.0)
    state = engine.queue_state()
    assert state.window_open
    assert state.sessions_busy == 2
    assert state.han.queued == 8
    assert state.han.in_flight == 2


# ---------------------------------------------------------------------------------------------- cache


def test_a_cached_image_does_not_cross_the_wan_again() -> None:
    """A second distribution of the same image to the same hub finds it in the hub's cache."""
    profile = quiet_profile()
    engine = NetworkEngine(profile, Region.SOUTH, seed=1)
    engine.submit(dist("first", table(1, prefix="a", hub=lambda i: "hub"), image_id="img"), at=0.0)
    engine.advance_to(DAY)
    engine.submit(dist("second", table(1, prefix="b", hub=lambda i: "hub"), image_id="img"), at=DAY)
    events = by_target(engine.run_until_idle())

    han = profile.han.download_time(250_000, sleepy=False)
    assert engine.stats().hub_transfers == 1
    assert engine.stats().cache_hits == 1
    assert events["b0"][EventKind.TRANSFERRED].time == DAY + han


def test_the_cache_evicts_the_least_recently_used_idle_image() -> None:
    """With room for one image, a second image evicts the first (idle), which then re-crosses the WAN."""
    profile = quiet_profile({"hub": {"cache_bytes": 300_000}})
    engine = NetworkEngine(profile, Region.SOUTH, seed=1)
    engine.submit(dist("a1", table(1, prefix="a", hub=lambda i: "hub"), image_id="A"), at=0.0)
    engine.submit(dist("b", table(1, prefix="b", hub=lambda i: "hub"), image_id="B"), at=DAY)
    engine.submit(dist("a2", table(1, prefix="c", hub=lambda i: "hub"), image_id="A"), at=2 * DAY)
    engine.run_until_idle()
    stats = engine.stats()
    assert stats.hub_transfers == 3
    assert stats.cache_evictions == 2
    assert stats.cache_hits == 0
    assert engine.results("a2").wan_start[0] == 2 * DAY


def test_the_cache_never_evicts_an_image_still_in_use() -> None:
    """An image with targets still downloading stays; the hub holds both images (an overflow)."""
    profile = quiet_profile({"hub": {"cache_bytes": 300_000}})
    engine = NetworkEngine(profile, Region.SOUTH, seed=1)
    engine.submit(dist("a", table(1, prefix="a", hub=lambda i: "hub"), image_id="A"), at=0.0)
    engine.submit(dist("b", table(1, prefix="b", hub=lambda i: "hub"), image_id="B"), at=100.0)
    engine.run_until_idle()
    stats = engine.stats()
    assert stats.cache_evictions == 0
    assert stats.cache_overflows == 1
    _, evicted, size = engine.cache_intervals()
    assert np.isinf(evicted).all()
    assert size.sum() == 500_000


# ---------------------------------------------------------------------------------------------- outcomes


def test_hardware_mismatch_comes_from_the_header_range_not_a_rate() -> None:
    """Targets outside the image's hardware range fail with HardwareVersionMismatch when the image
    reaches their hub, and are never activated; the others succeed."""
    profile = quiet_profile()
    engine = NetworkEngine(profile, Region.SOUTH, seed=1)
    inside = table(3, prefix="in", hub=lambda i: "hub", hw=0x1200)
    engine.submit(dist("in", inside, hw_range=(0x1111, 0x1211), image_id="img"), at=0.0)
    outside = table(2, prefix="out", hub=lambda i: "hub", hw=0x1300)
    engine.submit(dist("out", outside, hw_range=(0x1111, 0x1211), image_id="img"), at=0.0)
    events = by_target(engine.run_until_idle())
    w = profile.wan_time(Region.SOUTH, 250_000)

    for tid in ("out0", "out1"):
        failed = events[tid][EventKind.TRANSFER_FAILED]
        assert failed.reason is FailureReason.HARDWARE_VERSION_MISMATCH
        assert failed.time == w
        assert EventKind.ACTIVATED not in events[tid]
    for tid in ("in0", "in1", "in2"):
        assert EventKind.ACTIVATED in events[tid]


def test_outcome_shares_follow_the_rates() -> None:
    """Each random outcome's share is within 4 standard deviations of its configured rate."""
    rates = {
        "device_unreachable": 0.05,
        "transfer_failure": 0.1,
        "image_discarded": 0.02,
        "activation_failure": 0.03,
    }
    profile = quiet_profile({"outcomes": rates, "wan": {"south": {"sessions": 100_000}}})
    engine = NetworkEngine(profile, Region.SOUTH, seed=11)
    n = 20_000
    engine.submit(dist("d", table(n)), at=0.0)
    events = engine.run_until_idle()
    reasons = [e.reason for e in events if e.reason is not None]
    expected = {
        FailureReason.DEVICE_UNREACHABLE: 0.05,
        FailureReason.FILE_TRANSFER_FAILURE: 0.1,
        FailureReason.FIRMWARE_IMAGE_DISCARDED: 0.02,
        FailureReason.ACTIVATION_FAILURE: 0.03,
    }
    for reason, rate in expected.items():
        share = reasons.count(reason) / n
        assert abs(share - rate) <= 4 * math.sqrt(rate * (1 - rate) / n), reason
    activated = sum(1 for e in events if e.kind is EventKind.ACTIVATED)
    assert abs(activated / n - 0.8) <= 4 * math.sqrt(0.8 * 0.2 / n)


def test_failure_timing_by_reason() -> None:
    """Unreachable: reported a timeout after the image reached the hub. File transfer failure: part-way
    through the download. Image discarded: at the end of the download. Activation failure: after a
    successful transfer, one activation delay later."""
    profile = quiet_profile(
        {
            "outcomes": {
                **NO_FAILURES,
                "device_unreachable": 0.25,
                "transfer_failure": 0.25,
                "image_discarded": 0.25,
                "activation_failure": 0.25,
            }
        }
    )
    engine = NetworkEngine(profile, Region.SOUTH, seed=3)
    engine.submit(dist("d", table(400)), at=0.0)
    events = by_target(engine.run_until_idle())
    r = engine.results("d")
    han = profile.han.download_time(250_000, sleepy=False)
    timeout = profile.han.unreachable_timeout_s
    seen = set()
    for i, tid in enumerate(r.target_ids):
        ev = events[tid]
        if EventKind.TRANSFER_FAILED in ev:
            failed = ev[EventKind.TRANSFER_FAILED]
            seen.add(failed.reason)
            if failed.reason is FailureReason.DEVICE_UNREACHABLE:
                assert failed.time == r.ready[i] + timeout
            elif failed.reason is FailureReason.FILE_TRANSFER_FAILURE:
                assert r.download_start[i] <= failed.time <= r.download_start[i] + han
            else:
                assert failed.reason is FailureReason.FIRMWARE_IMAGE_DISCARDED
                assert failed.time == r.download_start[i] + han
        else:
            done = ev.get(EventKind.ACTIVATION_FAILED)
            assert done is not None and done.reason is FailureReason.ACTIVATION_FAILURE
            assert done.time == ev[EventKind.TRANSFERRED].time + profile.han.activation_delay_s
            seen.add(done.reason)
    assert len(seen) == 4


# ---------------------------------------------------------------------------------------------- the API


def test_each_target_gets_one_terminal_sequence_in_time_order() -> None:
    """Every target ends in (transferred, activated | activation_failed) or (transfer_failed); events
    come in time order; an advance returns only events up to its time, each once."""
    engine = NetworkEngine(default_profile(), Region.CENTRAL, seed=5)
    engine.submit(dist("d", table(3_000, sleepy=lambda i: i % 4 == 0)), at=0.0)
    events = []
    t = 0.0
    while t < 10 * DAY:
        t += 3_333.0
        batch = engine.advance_to(t)
        assert all(e.time <= t for e in batch)
        events += batch
    times = [e.time for e in events]
    assert times == sorted(times)
    kinds: dict[str, list[EventKind]] = {}
    for e in events:
        kinds.setdefault(e.target_id, []).append(e.kind)
    assert len(kinds) == 3_000
    allowed = (
        [EventKind.TRANSFERRED, EventKind.ACTIVATED],
        [EventKind.TRANSFERRED, EventKind.ACTIVATION_FAILED],
        [EventKind.TRANSFER_FAILED],
    )
    assert all(k in allowed for k in kinds.values())
    assert engine.advance_to(20 * DAY) == []


def _counted(engine: NetworkEngine, distributions: list[str], t: float) -> ClassQueueState:
    """A class's queue counts at `t`, from its targets' own times: pending if its distribution has not
    arrived, queued if arrived and no WAN transfer started for it, done if its last event is at or before
    `t`, in flight otherwise."""
    pending = queued = in_flight = done = 0
    for name in distributions:
        r = engine.results(name)
        if r.submitted > t:
            pending += len(r.target_ids)
            continue
        started = ~np.isnan(r.wan_start)
        finished = r.finished <= t  # NaN (not yet known) is not finished
        queued += int((~started).sum())
        done += int(finished.sum())
        in_flight += int((started & ~finished).sum())
    return ClassQueueState(pending, queued, in_flight, done)


def test_queue_state_counts_add_up() -> None:
    """At every moment each class's pending, queued, in-flight and done counts are exactly those the per-target
    results give (not yet arrived; arrived and no WAN start; started and not finished; finished by now), and
    every target ends done."""
    engine = NetworkEngine(default_profile(), Region.SOUTH, seed=2)
    engine.submit(
        dist("esme", table(500, prefix="e"), priority=PriorityClass.ESME_GSME, size=300_000), at=0.0
    )
    engine.submit(dist("han", table(2_000, prefix="p")), at=0.0)
    engine.submit(dist("later", table(100, prefix="l", hub=lambda i: f"x{i}")), at=5 * DAY)
    for t in (0.0, 3_600.0, DAY, 3 * DAY, 6 * DAY, 20 * DAY):
        engine.advance_to(t)
        s = engine.queue_state()
        assert s.esme_gsme.submitted == 500
        assert s.han.submitted == 2_100
        assert s.esme_gsme == _counted(engine, ["esme"], t)
        assert s.han == _counted(engine, ["han", "later"], t)
        if t == 3_600.0:
            assert s.esme_gsme.queued == 0  # ESME/GSME went first
            assert s.han.pending == 100
    assert s.han.done == 2_100 and s.esme_gsme.done == 500


def test_the_engine_refuses_the_past_and_duplicates() -> None:
    """The engine refuses to go back in time, a submission in its past, a distribution ID seen before, an image
    ID resubmitted with another size, and a negative seed."""
    engine = NetworkEngine(default_profile(), Region.SOUTH, seed=1)
    engine.submit(dist("d", table(1)), at=10.0)
    engine.advance_to(20.0)
    with pytest.raises(ValueError, match="already at"):
        engine.advance_to(19.0)
    with pytest.raises(ValueError, match="already at"):
        engine.submit(dist("e", table(1)), at=19.0)
    with pytest.raises(ValueError, match="already submitted"):
        engine.submit(dist("d", table(1)), at=30.0)
    with pytest.raises(ValueError, match="bytes"):
        engine.submit(dist("f", table(1), size=1_000, image_id="d"), at=30.0)
    with pytest.raises(ValueError, match="seed"):
        NetworkEngine(default_profile(), Region.SOUTH, seed=-1)


def test_planner_mode_emits_no_events_but_records_the_same_times() -> None:
    """`emit_events=False` changes only whether Event objects are built, not the model."""
    a = NetworkEngine(default_profile(), Region.NORTH, seed=9)
    b = NetworkEngine(default_profile(), Region.NORTH, seed=9, emit_events=False)
    for e in (a, b):
        e.submit(dist("d", table(2_000, sleepy=lambda i: i % 3 == 0)), at=0.0)
    events = a.run_until_idle()
    assert b.run_until_idle() == []
    ra, rb = a.results("d"), b.results("d")
    np.testing.assert_array_equal(ra.finished, rb.finished)
    last_kinds = (EventKind.ACTIVATED, EventKind.ACTIVATION_FAILED, EventKind.TRANSFER_FAILED)
    ends = {e.target_id: e.time for e in events if e.kind in last_kinds}
    assert [ends[t] for t in ra.target_ids] == ra.finished.tolist()


def test_same_seed_same_events_other_seed_other_events() -> None:
    """The same seed and submissions give the same events; another seed gives other events."""

    def run(seed: int) -> list[tuple[float, str, str]]:
        engine = NetworkEngine(default_profile(), Region.SOUTH, seed=seed)
        engine.submit(dist("d", table(1_000, sleepy=lambda i: i % 5 == 0)), at=0.0)
        return [(e.time, e.kind.value, e.target_id) for e in engine.run_until_idle()]

    assert run(4) == run(4)
    assert run(4) != run(5)
