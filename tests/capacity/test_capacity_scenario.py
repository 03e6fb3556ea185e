"""Scenario files: the bundled examples load, typos are refused, values are checked."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import pytest
from capacity_testkit import small_scenario

from hanota.capacity import ScenarioError, bundled_scenarios, load_scenario
from hanota.capacity.fleet import build_fleet, split_counts
from hanota.capacity.scenario import scenario_from_mapping
from hanota.network import PriorityClass, Region


def test_the_three_examples_ship_and_load() -> None:
    """The three bundled scenarios load by name (with or without .toml) with their documented fleet, image,
    region shares, window and competing load."""
    assert set(bundled_scenarios()) == {"default-50k", "national-1m", "north-long-range"}
    default = load_scenario("default-50k")
    assert default.fleet.devices == 50_000
    assert default.image.size_bytes == 250_000
    assert default.fleet.region_shares == pytest.approx(dict.fromkeys(Region, 1 / 3))
    assert (default.profile.window.start_h, default.profile.window.end_h) == (0.0, 6.0)
    national = load_scenario("national-1m.toml")
    assert national.fleet.devices == 1_000_000
    assert national.competing.hub_share > 0
    north = load_scenario("north-long-range")
    assert north.fleet.region_shares == {Region.NORTH: 1.0}


def test_load_from_a_path(tmp_path: Path) -> None:
    """A scenario file loads from a path, with its network overrides applied to the profile."""
    path = tmp_path / "s.toml"
    path.write_text(
        '[scenario]\nname = "mine"\n[fleet]\ndevices = 10\n[network.han]\nblock_size_bytes = 32\n'
    )
    s = load_scenario(path)
    assert s.name == "mine" and s.fleet.devices == 10 and s.profile.han.block_size_bytes == 32


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[scenario]\nname = "x"\n[fleet]\ndevice = 10\n', "unknown scenario key 'fleet.device'"),
        ('[scenario]\nname = "x"\n[fleet]\ndevices = 2000000\n', "fleet.devices"),
        ('[scenario]\nname = "x"\n[fleet]\nsleepy_share = 1.5\n', "fleet.sleepy_share"),
        ('[scenario]\nname = ""\n', "scenario.name"),
        ('[scenario]\nname = "x"\n[fleet]\nregion_shares = { west = 1 }\n', "unknown region 'west'"),
        ('[scenario]\nname = "x"\n[network.wan.north]\nsessions = 0\n', "[network]"),
        ('[scenario]\nname = "x"\n[image]\nhw_min = 5\nhw_max = 4\n', "empty"),
        ('[scenario]\nname = "x"\nmax_targets_per_request = 60000\n', "max_targets_per_request"),
        ("[scenario\n", "TOML"),
    ],
)
def test_bad_scenarios_are_refused(tmp_path: Path, text: str, message: str) -> None:
    """An unknown key, a value out of range, an empty name, an unknown region, a bad network override, an empty
    hardware range or bad TOML is refused with a ScenarioError naming it."""
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ScenarioError, match=re.escape(message)):
        load_scenario(path)


SCENARIO_NUMBERS = [
    ("scenario", "seed"),
    ("scenario", "submit_at_h"),
    ("scenario", "max_targets_per_request"),
    ("fleet", "devices"),
    ("fleet", "devices_per_hub"),
    ("fleet", "sleepy_share"),
    ("fleet", "hw_out_of_range_share"),
    ("fleet", "region_shares", "north"),
    ("image", "size_bytes"),
    ("image", "hw_min"),
    ("image", "hw_max"),
    ("competing", "hub_share"),
    ("competing", "image_size_bytes"),
    ("competing", "gsme_share"),
    ("competing", "submit_at_h"),
    ("network", "han", "query_interval_s"),
    ("network", "wan", "overhead"),
]


@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan])
@pytest.mark.parametrize("path", SCENARIO_NUMBERS, ids=".".join)
def test_non_finite_numbers_are_refused_in_every_table(path: tuple[str, ...], value: float) -> None:
    """inf (which TOML can spell) is refused for every number, naming the key, before anything runs."""
    data: dict[str, Any] = {"scenario": {"name": "x"}}
    node = data
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node[path[-1]] = value
    with pytest.raises(ScenarioError, match=re.escape(".".join(path[1:] if path[0] == "network" else path))):
        scenario_from_mapping(data)


# a seed and a relative region share have no upper bound: any value is a valid one
BOUNDED_NUMBERS = [p for p in SCENARIO_NUMBERS if p[-1] not in ("seed", "north")]


@pytest.mark.parametrize("path", BOUNDED_NUMBERS, ids=".".join)
def test_huge_finite_numbers_are_refused_in_every_table(path: tuple[str, ...]) -> None:
    """1e308 is finite but would overflow the engine's arithmetic: every number has a plausible upper
    bound (a year of scenario, the DUIS image limit, 30 days for a duration, ...), and says which key."""
    data: dict[str, Any] = {"scenario": {"name": "x"}}
    node = data
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node[path[-1]] = 1e308
    with pytest.raises(ScenarioError, match=re.escape(".".join(path[1:] if path[0] == "network" else path))):
        scenario_from_mapping(data)


def test_an_infinite_start_time_in_a_file_is_refused(tmp_path: Path) -> None:
    """An infinite submission time is refused with the key named."""
    path = tmp_path / "s.toml"
    path.write_text('[scenario]\nname = "x"\n[competing]\nhub_share = 0.1\nsubmit_at_h = inf\n')
    with pytest.raises(ScenarioError, match=re.escape("scenario key 'competing.submit_at_h' must be finite")):
        load_scenario(path)


def test_an_unknown_name_lists_the_examples() -> None:
    """An unknown scenario name is refused with the bundled examples listed."""
    with pytest.raises(ScenarioError, match="default-50k"):
        load_scenario("no-such-scenario")


def test_with_value_changes_one_key() -> None:
    """with_value changes the one key it names in a copy; the original and the other tables are unchanged."""
    s = small_scenario()
    t = s.with_value(("network", "wan", "south", "sessions"), 9)
    assert t.profile.wan.south.sessions == 9 and s.profile.wan.south.sessions != 9
    assert t.fleet == s.fleet


def test_split_counts_add_up() -> None:
    """Splitting 50,000 devices into thirds gives counts that add up exactly (16,666 + 16,667 + 16,667)."""
    shares = {Region.NORTH: 1 / 3, Region.CENTRAL: 1 / 3, Region.SOUTH: 1 / 3}
    counts = split_counts(50_000, shares)
    assert sum(counts.values()) == 50_000
    assert sorted(counts.values()) == [16_666, 16_667, 16_667]


def test_fleet_generation() -> None:
    """Devices split by region, behind hubs, cut into ≤ max_targets_per_request requests; competing
    ESME/GSME meters on a share of the same hubs; out-of-range hardware at the configured share."""
    s = small_scenario(
        {
            "scenario": {"max_targets_per_request": 1_000},
            "fleet": {"devices_per_hub": 3, "sleepy_share": 0.5, "hw_out_of_range_share": 0.1},
            "competing": {"hub_share": 0.5, "gsme_share": 1.0},
        },
        devices=9_000,
    )
    fleet = build_fleet(s)
    assert [f.region for f in fleet] == list(Region)
    for f in fleet:
        assert f.devices == 3_000 and f.hubs == 1_000
        assert [len(d.targets) for d in f.han] == [1_000, 1_000, 1_000]
        assert all(d.priority is PriorityClass.HAN and d.image_key == "han-image" for d in f.han)
        hubs = {h for d in f.han for h in d.targets.hub_ids}
        assert len(hubs) == 1_000
        sleepy = sum(int(d.targets.sleepy.sum()) for d in f.han) / 3_000
        assert 0.45 < sleepy < 0.55
        lo, hi = s.image.hw_range
        outside = sum(int(((d.targets.hw_versions < lo) | (d.targets.hw_versions > hi)).sum()) for d in f.han)
        assert 0.07 < outside / 3_000 < 0.13
        assert f.competing_devices == 500
        meters = {h for d in f.competing for h in d.targets.hub_ids}
        assert meters <= hubs and len(meters) == 500
        assert all(d.priority is PriorityClass.ESME_GSME and d.targets.sleepy.all() for d in f.competing)
