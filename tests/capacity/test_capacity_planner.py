"""The planner: closed forms through the whole pipeline, monotonicity, determinism, bookkeeping."""

from __future__ import annotations

import dataclasses
import itertools
import math

import numpy as np
import pytest
from capacity_testkit import small_scenario
from hypothesis import given, settings
from hypothesis import strategies as st

from hanota.capacity import PlanResult, run_scenario
from hanota.capacity.fleet import build_fleet
from hanota.capacity.planner import PERCENTILES, STAGES, occupancy, run_region
from hanota.capacity.report import bottleneck_rows, completion_rows, failure_rows, hourly_rows, stage_rows
from hanota.network import EventKind, FailureReason, NetworkEngine, Region
from hanota.network.outcomes import SUCCESS

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
    """A single mains device with no randomness completes in exactly one WAN transfer, one HAN download and the
    activation delay."""
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
    """With one WAN session and 30 devices on 30 hubs, the last device completes after 30 back-to-back WAN
    transfers plus one download and activation."""
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


def test_unlimited_wan_makespan_is_the_han_time() -> None:
    """WAN of infinite rate with a session per hub: every image is at its hub at submission, so the
    fastest device finishes after one mains download and the makespan is one sleepy download (each plus
    the activation delay). Three devices per hub stay under the hub's five download slots."""
    network = {
        **QUIET_NETWORK,
        "wan": {"session_setup_s": 0.0, "central": {"sessions": 1_000, "bitrate_bps": math.inf}},
    }
    s = small_scenario(
        {
            "scenario": {"submit_at_h": 1.0},
            "fleet": {"region_shares": {"central": 1}, "devices_per_hub": 3, "sleepy_share": 0.2},
            "network": network,
        },
        devices=900,
    )
    (central,) = run_scenario(s).regions
    han, act = s.profile.han, s.profile.han.activation_delay_s
    assert central.han.updated == 900 and central.hubs == 300
    assert central.stats.busy_waits == 0 and central.stats.hub_transfers == 300
    assert central.han.completion_h[0] * 3600.0 == pytest.approx(
        han.download_time(250_000, sleepy=False) + act, rel=1e-12
    )
    assert central.han.completion_h[-1] * 3600.0 == pytest.approx(
        han.download_time(250_000, sleepy=True) + act, rel=1e-12
    )
    assert central.stage_mean_h["wan_queue"] == central.stage_mean_h["wan_transfer"] == 0.0


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


def _answer(result: PlanResult) -> str:
    """Everything a run reports but its wall time: every CSV row, the hourly series, the engine counters."""
    rows = [f(result) for f in (completion_rows, stage_rows, bottleneck_rows, failure_rows, hourly_rows)]
    series = {
        f.name: getattr(result.series, f.name).tolist()
        if f.name == "hours"
        else {str(k): v.tolist() for k, v in getattr(result.series, f.name).items()}
        for f in dataclasses.fields(result.series)
    }
    completions = [
        (r.han.completion_h.tolist(), r.competing and r.competing.completion_h.tolist())
        for r in result.regions
    ]
    return repr(
        (
            rows,
            series,
            [r.stats for r in result.regions],
            completions,
            result.heap_events,
            result.target_events,
        )
    )


@settings(max_examples=8, deadline=None)
@given(
    sizes=st.lists(st.integers(1_000, 1_500_000), min_size=2, max_size=3).map(sorted),
    seed=st.integers(0, 2**32 - 1),
)
def test_percentiles_are_monotone_in_image_size_for_any_sizes_and_seed(sizes: list[int], seed: int) -> None:
    """Bigger images never finish sooner, whatever the sizes and the seed (a WAN tight enough to queue)."""
    base = small_scenario(
        {
            "scenario": {"seed": seed},
            "network": {
                "wan": {"south": {"sessions": 5}, "central": {"sessions": 5}, "north": {"sessions": 15}}
            },
        },
        devices=300,
    )
    runs = [run_scenario(base.with_value(("image", "size_bytes"), size)) for size in sizes]
    for k in range(len(runs[0].regions)):
        assert len({run.regions[k].han.updated for run in runs}) == 1  # the same devices are updated
        for p in PERCENTILES:
            values = [run.regions[k].han.percentiles_h[p] for run in runs]
            assert values == sorted(values), (runs[0].regions[k].region, p, sizes, values)
    overall = [run.overall.percentiles_h[90] for run in runs]
    assert overall == sorted(overall)


def test_the_same_seed_gives_the_same_answer() -> None:
    """The same scenario and seed give the same completion times, failures and answer; another seed gives other
    ones."""
    a, b = run_scenario(small_scenario()), run_scenario(small_scenario())
    for ra, rb in zip(a.regions, b.regions, strict=True):
        np.testing.assert_array_equal(ra.han.completion_h, rb.han.completion_h)
        assert ra.failures == rb.failures
    c = run_scenario(small_scenario({"scenario": {"seed": 8}}))
    assert not np.array_equal(a.regions[0].han.completion_h, c.regions[0].han.completion_h)
    assert _answer(a) == _answer(b)
    assert _answer(a) != _answer(c)


def test_the_same_seed_gives_the_same_answer_in_every_output() -> None:
    """With competing firmware, shared hubs, busy slots and cache evictions in play, two runs agree on
    every number they report (NaN included), not only on the HAN completion times."""
    extra = {
        "competing": {"hub_share": 0.3, "submit_at_h": 1.0},
        "fleet": {"devices_per_hub": 8, "hw_out_of_range_share": 0.05},
        "network": {
            "han": {"query_interval_s": 600.0},
            "hub": {"cache_bytes": 400_000},
            "wan": {"south": {"sessions": 3}, "central": {"sessions": 3}, "north": {"sessions": 9}},
        },
    }
    a, b = run_scenario(small_scenario(extra)), run_scenario(small_scenario(extra))
    assert sum(r.stats.busy_waits for r in a.regions) > 0
    assert sum(r.stats.cache_evictions for r in a.regions) > 0
    assert _answer(a) == _answer(b)


def test_the_incremental_engine_api_gives_the_one_shot_answer() -> None:
    """The planner's own fleet, driven as a gateway drives an engine (submit, then `advance_to` in uneven
    steps, emitting events), ends with exactly the per-target times of the planner's one-shot run."""
    s = small_scenario(
        {
            "scenario": {"submit_at_h": 2.5, "max_targets_per_request": 400},
            "competing": {"hub_share": 0.3},
            "fleet": {"devices_per_hub": 6},
            "network": {
                "han": {"query_interval_s": 900.0},
                "wan": {"south": {"sessions": 4}, "central": {"sessions": 4}, "north": {"sessions": 12}},
            },
        }
    )
    for fleet in build_fleet(s):
        one_shot = run_region(s, fleet)
        stepped = NetworkEngine(s.profile, fleet.region, seed=s.seed)
        for dist in fleet.competing:
            stepped.submit(dist, s.competing.submit_at_s)
        events = stepped.advance_to(1_234.5)
        for dist in fleet.han:
            stepped.submit(dist, s.submit_at_s)
        t = stepped.now
        while t < 12 * 3600.0:  # through the night window and past the last activation
            t += 1_000.0 + (t % 777.0)
            events += stepped.advance_to(t)
        events += stepped.run_until_idle()
        activated = 0
        for dist in [*fleet.competing, *fleet.han]:
            a, b = one_shot.results(dist.distribution_id), stepped.results(dist.distribution_id)
            activated += int((a.outcome == SUCCESS).sum())
            for field in (
                "outcome",
                "wan_start",
                "ready",
                "pickup",
                "download_start",
                "transfer_end",
                "activated",
            ):
                np.testing.assert_array_equal(getattr(a, field), getattr(b, field), err_msg=field)
        assert sum(e.kind is EventKind.ACTIVATED for e in events) == activated > 0
        assert one_shot.stats() == stepped.stats()
        for x, y in zip(one_shot.wan_intervals(), stepped.wan_intervals(), strict=True):
            np.testing.assert_array_equal(x, y)
        for x, y in zip(one_shot.cache_intervals(), stepped.cache_intervals(), strict=True):
            np.testing.assert_array_equal(x, y)


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
    """When WAN sessions are scarce, ESME/GSME firmware on the same hubs reaches its median before the HAN
    devices do, and the binding bottleneck is the WAN queue."""
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
    """Occupancy per bin is the total overlap of the intervals with that bin divided by its width."""
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
