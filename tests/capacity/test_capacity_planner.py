"""The planner: closed forms through the whole pipeline, monotonicity, determinism, bookkeeping."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from capacity_testkit import small_scenario
from hypothesis import given, settings
from hypothesis import strategies as st

from hanota.capacity import run_scenario
from hanota.capacity.planner import PERCENTILES, STAGES, occupancy
from hanota.network import FailureReason, Region

QUIET_NETWORK = {
    "window": {"start_h": 0.0, "end_h": 24.0},
    "wan": {"session_setup_s": 0.0},
    "han": {"query_interval_s": 0.0, "query_jitter_s": 0.0},
    "outcomes": {
        "device_unreachable": 0.0,
        "transfer_failure": 0.0,
        "image_discarded": 0.0,
        "activation_failure": 0.0,
    },
}


def test_one_hub_one_device_completes_in_exactly_wan_plus_han_plus_activation() -> None:
    s = small_scenario(
        {"fleet": {"region_shares": {"south": 1}, "sleepy_share": 0.0}, "network": QUIET_NETWORK}, devices=1
    )
    result = run_scenario(s)
    (south,) = result.regions
    expected = (
        s.profile.wan_time(Region.SOUTH, 250_000)
        + s.profile.han.download_time(250_000, sleepy=False)
        + s.profile.han.activation_delay_s
    ) / 3600.0
    assert south.han.updated == 1
    assert all(south.han.percentiles_h[p] == pytest.approx(expected, rel=1e-12) for p in PERCENTILES)


def test_one_session_per_region_makespan_is_the_sum_of_wan_times_plus_one_han() -> None:
    network = {**QUIET_NETWORK, "wan": {"session_setup_s": 0.0, "north": {"sessions": 1}}}
    s = small_scenario(
        {"fleet": {"region_shares": {"north": 1}, "sleepy_share": 0.0}, "network": network}, devices=30
    )
    (north,) = run_scenario(s).regions
    expected = (
        30 * s.profile.wan_time(Region.NORTH, 250_000)
        + s.profile.han.download_time(250_000, sleepy=False)
        + s.profile.han.activation_delay_s
    ) / 3600.0
    assert north.han.completion_h[-1] == pytest.approx(expected, rel=1e-12)


def test_percentiles_are_monotone_in_image_size() -> None:
    """Bigger images never finish sooner (same seed: same devices, same draws)."""
    base = small_scenario(
        {
            "network": {
                "wan": {"south": {"sessions": 20}, "central": {"sessions": 20}, "north": {"sessions": 60}}
            }
        }
    )
    runs = [
        run_scenario(base.with_value(("image", "size_bytes"), size)) for size in (250_000, 500_000, 1_000_000)
    ]
    for k in range(len(runs[0].regions)):
        for p in PERCENTILES:
            values = [run.regions[k].han.percentiles_h[p] for run in runs]
            assert values == sorted(values), (runs[0].regions[k].region, p, values)
    assert runs[-1].overall.percentiles_h[90] > runs[0].overall.percentiles_h[90]


def test_the_same_seed_gives_the_same_answer() -> None:
    a, b = run_scenario(small_scenario()), run_scenario(small_scenario())
    for ra, rb in zip(a.regions, b.regions, strict=True):
        np.testing.assert_array_equal(ra.han.completion_h, rb.han.completion_h)
        assert ra.failures == rb.failures
    c = run_scenario(small_scenario({"scenario": {"seed": 8}}))
    assert not np.array_equal(a.regions[0].han.completion_h, c.regions[0].han.completion_h)


def test_bookkeeping_adds_up() -> None:
    """Updated + failed = devices; hourly updates add up to the updated count; the stages add up to the
    completion time; utilisations stay within their capacity."""
    result = run_scenario(
        small_scenario({"fleet": {"hw_out_of_range_share": 0.05}, "competing": {"hub_share": 0.3}})
    )
    for r in result.regions:
        assert r.han.updated + sum(r.failures.values()) == r.devices
        assert r.failures[FailureReason.HARDWARE_VERSION_MISMATCH] > 0
        assert result.series.updated[r.region].sum() == r.han.updated
        assert sum(r.stage_mean_h.values()) == pytest.approx(float(r.han.completion_h.mean()), rel=1e-9)
        assert 0.0 < r.wan_busy_peak <= 1.0 + 1e-9
        assert (result.series.han_slot_use[r.region] <= 1.0 + 1e-9).all()
        assert 0.0 < r.cache_fill_peak <= 1.0
        assert r.competing is not None and r.competing.updated > 0
        assert set(r.stage_mean_h) == set(STAGES)
    assert result.overall.targets == 3_000
    assert result.events > 0 and result.wall_s > 0


def test_competing_esme_gsme_firmware_finishes_first_when_the_wan_binds() -> None:
    s = small_scenario(
        {
            "competing": {"hub_share": 0.3},
            "network": {
                "wan": {"south": {"sessions": 1}, "central": {"sessions": 1}, "north": {"sessions": 4}}
            },
        }
    )
    for r in run_scenario(s).regions:
        assert r.competing is not None
        assert r.competing.percentiles_h[50] < r.han.percentiles_h[50]
        assert r.binding == "wan_queue"


def test_the_binding_bottleneck_follows_the_slowest_stage() -> None:
    """Default network, small fleet: the 24 h client query period dominates (H11)."""
    for r in run_scenario(small_scenario()).regions:
        assert r.binding == "query_wait"
        assert r.binding_label == "HAN client query interval"


@settings(max_examples=30, deadline=None)
@given(
    st.lists(
        st.tuples(st.floats(0, 100), st.floats(0, 50)).map(lambda p: (p[0], p[0] + p[1])),
        min_size=0,
        max_size=20,
    )
)
def test_occupancy_is_the_mean_number_of_intervals_in_progress(intervals: list[tuple[float, float]]) -> None:
    edges = np.arange(0.0, 161.0, 10.0)
    starts = np.array([a for a, _ in intervals])
    ends = np.array([b for _, b in intervals])
    got = occupancy(starts, ends, edges)
    expected = [
        sum(max(0.0, min(b, hi) - max(a, lo)) for a, b in intervals) / (hi - lo)
        for lo, hi in itertools.pairwise(edges)
    ]
    assert got == pytest.approx(expected, abs=1e-9)
    assert not any(math.isnan(v) for v in got)
