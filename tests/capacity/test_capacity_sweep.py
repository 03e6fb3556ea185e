"""Sweeps: `name=v1,v2,...` over one or two parameters."""

from __future__ import annotations

import pytest
from capacity_testkit import small_scenario

from hanota.capacity import ScenarioError, parse_sweep, run_sweep
from hanota.capacity.sweep import apply, parse_value
from hanota.network import Region


@pytest.mark.parametrize(
    ("text", "unit", "value"),
    [
        ("250kB", "bytes", 250_000),
        ("1MB", "bytes", 1_000_000),
        ("63", "bytes", 63),
        ("10%", "share", 0.1),
        ("0.25", "share", 0.25),
        ("5min", "seconds", 300.0),
        ("24h", "seconds", 86_400.0),
        ("50k", "count", 50_000),
        ("7", "number", 7),
        ("2.5", "number", 2.5),
    ],
)
def test_values_with_units(text: str, unit: str, value: float) -> None:
    """A sweep value is read with its unit's suffixes (kB, MB, %, min, h, k) as an int for bytes and counts and
    as a float otherwise."""
    parsed = parse_value(text, unit)
    assert parsed == value
    assert type(parsed) is type(value)


@pytest.mark.parametrize("text", ["abc", "10 parsecs", "1.5B", "inf"])
def test_bad_values_are_refused(text: str) -> None:
    """A value that is not a number, has an unknown unit, is not whole bytes, or is infinite is refused."""
    with pytest.raises(ScenarioError):
        parse_value(text, "bytes")


def test_named_and_dotted_parameters() -> None:
    """A named parameter sets every key it stands for (csp_concurrency: every region's sessions), a dotted one
    sets that scenario key, and labels keep the text as given."""
    p = parse_sweep("image_size=250kB,500kB,1MB")
    assert p.values == (250_000, 500_000, 1_000_000)
    assert p.labels == ("250kB", "500kB", "1MB")
    c = parse_sweep("csp_concurrency=10,1000")
    s = apply(small_scenario(), c, 10)
    assert {s.profile.wan.region(r).sessions for r in Region} == {10}
    d = parse_sweep("network.wan.north.bitrate_bps=2400,9600")
    assert apply(small_scenario(), d, 2400).profile.wan.north.bitrate_bps == 2400
    q = parse_sweep("sleepy_share=0,50%")
    assert apply(small_scenario(), q, q.values[1]).fleet.sleepy_share == 0.5


@pytest.mark.parametrize("spec", ["image_size", "=1,2", "image_size=", "nonsense=1,2"])
def test_bad_sweeps_are_refused(spec: str) -> None:
    """A sweep with no values, no name, an empty value list or an unknown name is refused."""
    with pytest.raises(ScenarioError):
        parse_sweep(spec)


def test_a_bad_value_for_the_key_is_refused_when_applied() -> None:
    """A value the scenario key does not accept (zero sessions) is refused when applied, naming the key."""
    with pytest.raises(ScenarioError, match="sessions"):
        apply(small_scenario(), parse_sweep("csp_concurrency=0"), 0)


def test_one_parameter_sweep_shows_the_sensitivity() -> None:
    """Completion grows with the image size (WAN ×4 and HAN ×4 from 250 kB to 1 MB)."""
    sweep = run_sweep(small_scenario(devices=1_500), [parse_sweep("image_size=250kB,1MB")])
    assert [pt.labels for pt in sweep.points] == [("250kB",), ("1MB",)]
    small, big = sweep.points
    assert big.overall.percentiles_h[50] > small.overall.percentiles_h[50]
    assert set(small.regions) == set(Region)


def test_two_parameter_sweep_runs_every_combination() -> None:
    """A two-parameter sweep runs every combination in order, and a shorter query interval finishes sooner."""
    sweep = run_sweep(
        small_scenario(devices=600), [parse_sweep("block_size=32,63"), parse_sweep("query_interval=5min,24h")]
    )
    assert [pt.labels for pt in sweep.points] == [
        ("32", "5min"),
        ("32", "24h"),
        ("63", "5min"),
        ("63", "24h"),
    ]
    fast, slow = sweep.points[0], sweep.points[1]
    assert fast.overall.percentiles_h[90] < slow.overall.percentiles_h[90]


def test_at_most_two_parameters() -> None:
    """A sweep of more than two parameters is refused."""
    p = parse_sweep("block_size=32")
    with pytest.raises(ScenarioError, match="one or two"):
        run_sweep(small_scenario(devices=10), [p, p, p])
