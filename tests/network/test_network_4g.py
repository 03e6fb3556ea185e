"""A region's 4G Comms Hubs: their images cross the region's 4G link (`wan.lte`), a pool of sessions of its
own at its own bit rate, beside the region's WAN; everything else (window, priority, HAN) is the same."""

from __future__ import annotations

import numpy as np
import pytest
from network_testkit import by_target, dist, quiet_profile, table

from hanota.network import (
    DeviceClass,
    Distribution,
    NetworkEngine,
    PriorityClass,
    Region,
    Target,
    TargetTable,
)


def _mixed(n: int, four_g: set[int]) -> TargetTable:
    base = table(n)
    return TargetTable(
        base.target_ids,
        base.hub_ids,
        base.sleepy,
        base.hw_versions,
        np.array([i in four_g for i in range(n)]),
    )


def test_the_shipped_4g_link_is_faster_than_the_regions_wan() -> None:
    """In the shipped profile every region's 4G link carries an image to a hub sooner than its own WAN, and the
    link named 'lte' is the 4G one."""
    profile = quiet_profile()
    for region in Region:
        assert profile.wan_time(region, 250_000, four_g=True) < profile.wan_time(region, 250_000)
    assert profile.wan.link("lte") is profile.wan.lte


def test_4g_hubs_take_sessions_of_their_own_link_at_its_rate() -> None:
    """One session on each link: the 4G hubs' transfers queue behind each other on the 4G link only, and
    the region's WAN carries the other hubs' transfers at the same time."""
    profile = quiet_profile({"wan": {"central": {"sessions": 1}, "lte": {"sessions": 1}}})
    engine = NetworkEngine(profile, Region.CENTRAL, seed=3)
    engine.submit(dist("d", _mixed(4, four_g={1, 3})), at=0.0)
    engine.run_until_idle()
    r = engine.results("d")
    w, w4 = profile.wan_time(Region.CENTRAL, 250_000), profile.wan_time(Region.CENTRAL, 250_000, four_g=True)
    assert r.wan_start.tolist() == pytest.approx([0.0, 0.0, w, w4])
    assert r.ready.tolist() == pytest.approx([w, w4, 2 * w, 2 * w4])
    assert (r.outcome == 0).all()
    assert len(engine.wan_intervals()[0]) == 2 and len(engine.wan_intervals(four_g=True)[0]) == 2
    q = engine.queue_state()
    assert (q.sessions, q.sessions_4g) == (1, 1)


def test_a_4g_target_is_updated_end_to_end_and_reported() -> None:
    """A target behind a 4G hub is transferred and activated, and its image reaches the hub after exactly one
    4G-link transfer time."""
    profile = quiet_profile()
    engine = NetworkEngine(profile, Region.SOUTH, seed=5)
    target = Target("p1", "hub-4g", DeviceClass.MAINS, 0x1111, four_g=True)
    engine.submit(Distribution.of("d", PriorityClass.HAN, 250_000, [target]), at=0.0)
    events = by_target(engine.run_until_idle())
    assert {k.value for k in events["p1"]} == {"transferred", "activated"}
    assert engine.results("d").ready[0] == pytest.approx(profile.wan_time(Region.SOUTH, 250_000, four_g=True))


def test_mixed_distributions_replay_identically() -> None:
    """Distributions mixing 4G and non-4G targets, submitted at the same times with the same seed, give the same
    events on a second run."""
    profile = quiet_profile({"wan": {"north": {"sessions": 2}, "lte": {"sessions": 1}}})

    def run() -> list[tuple[float, str, str]]:
        engine = NetworkEngine(profile, Region.NORTH, seed=9)
        engine.submit(dist("a", _mixed(6, four_g={0, 2, 5})), at=0.0)
        out = engine.advance_to(5_000.0)
        engine.submit(dist("b", _mixed(3, four_g={1}), priority=PriorityClass.ESME_GSME), at=5_000.0)
        out += engine.run_until_idle()
        return [(e.time, e.target_id, e.kind.value) for e in out]

    assert run() == run()


def test_a_table_without_4g_targets_keeps_no_flags() -> None:
    """A target table with no 4G target stores no 4G column, one with some flags exactly those targets, and a
    4G column of the wrong length is refused."""
    assert _mixed(3, four_g=set()).four_g is None
    assert _mixed(3, four_g={2})[2].four_g and not _mixed(3, four_g={2})[1].four_g
    base = table(2)
    with pytest.raises(ValueError, match="4G flags"):
        TargetTable(base.target_ids, base.hub_ids, base.sleepy, base.hw_versions, np.array([True]))
