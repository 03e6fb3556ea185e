"""The profile: one TOML file, every value sourced, loaded strictly into frozen dataclasses."""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import pytest

from hanota.errors import ConfigError
from hanota.network import ProfileError, Region, default_profile, load_profile
from hanota.network.profile import profile_from_mapping

CITATION = re.compile(r"#.*(\b[WHFND]\d+\b|assumed)")


def test_every_value_in_the_profile_cites_a_row_or_says_assumed() -> None:
    """Every value in the shipped profile.toml cites a capacity-parameters.md row (W4, H5, ...) or says
    'assumed'."""
    text = resources.files("hanota.network").joinpath("profile.toml").read_text(encoding="utf-8")
    values = [line for line in text.splitlines() if re.match(r"^\s*[a-z_]+\s*=", line)]
    assert len(values) >= 25
    missing = [line for line in values if not CITATION.search(line)]
    assert missing == []


def test_the_shipped_profile_reproduces_the_documents_figures() -> None:
    """capacity-parameters.md: per-CH WAN time 60–120 s on 2G, 250–1,000 s on FlexNet; 250 kB at 50 B per
    block is ≈25 min with a 250 ms throttle and ≈80 min for a sleepy device polling at 1 s."""
    p = default_profile()
    assert 60 <= p.wan_time(Region.SOUTH, 250_000) <= 120
    assert 60 <= p.wan_time(Region.CENTRAL, 250_000) <= 120
    assert 250 <= p.wan_time(Region.NORTH, 250_000) <= 1_000
    assert p.han.download_time(250_000, sleepy=False) == pytest.approx(25 * 60)
    assert 80 * 60 <= p.han.download_time(250_000, sleepy=True) <= 85 * 60
    assert p.hub.max_concurrent_downloads == 5
    assert (p.window.start_h, p.window.end_h) == (0.0, 6.0)
    assert 1 - p.outcomes.failure_share == pytest.approx(0.95)


def test_profile_is_frozen() -> None:
    """A loaded profile cannot be changed in place."""
    p = default_profile()
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.hub = p.hub  # type: ignore[misc]


def test_overrides_replace_values_and_round_trip() -> None:
    """Overrides change exactly the keys they name and nothing else, and an empty override gives back an equal
    profile."""
    p = default_profile().with_overrides({"wan": {"north": {"sessions": 7}}, "han": {"block_size_bytes": 32}})
    assert p.wan.north.sessions == 7
    assert p.han.block_size_bytes == 32
    assert p.wan.south == default_profile().wan.south
    expected = default_profile().to_mapping()
    expected["wan"]["north"]["sessions"] = 7
    expected["han"]["block_size_bytes"] = 32
    assert p.to_mapping() == expected
    assert profile_from_mapping(p.to_mapping()) == p
    assert default_profile().with_overrides({}) == default_profile()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"wan": {"north": {"sesions": 7}}}, "unknown profile key 'wan.north.sesions'"),
        ({"han": {"block_size_bytes": 0}}, "at least 1"),
        ({"han": {"block_size_bytes": 50.5}}, "integer"),
        ({"hub": {"busy_retry_s": "60"}}, "number"),
        ({"wan": {"south": {"bitrate_bps": 0}}}, "out of range"),
        ({"outcomes": {"transfer_failure": 0.7, "device_unreachable": 0.7}}, "add up"),
        ({"window": {"start_h": 5.0, "end_h": 5.0}}, "empty"),
        ({"wan": 3}, "table"),
    ],
)
def test_bad_overrides_are_refused_with_the_key(overrides: dict[str, object], message: str) -> None:
    """An unknown key, a wrongly typed value or a value out of range is refused with a ProfileError that names
    it."""
    with pytest.raises(ProfileError, match=re.escape(message)):
        default_profile().with_overrides(overrides)


def _numeric_keys(table: dict[str, object], where: str = "") -> Iterator[tuple[str, ...]]:
    for key, value in table.items():
        if isinstance(value, dict):
            yield from ((key, *rest) for rest in _numeric_keys(value, f"{where}{key}."))
        elif isinstance(value, int | float) and not isinstance(value, bool):
            yield (key,)


NUMERIC_KEYS = sorted(_numeric_keys(default_profile().to_mapping()))


def _override(path: tuple[str, ...], value: object) -> dict[str, object]:
    out: dict[str, object] = {path[-1]: value}
    for key in reversed(path[:-1]):
        out = {key: out}
    return out


@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan])
@pytest.mark.parametrize("path", NUMERIC_KEYS, ids=".".join)
def test_non_finite_numbers_are_refused_in_every_table(path: tuple[str, ...], value: float) -> None:
    """inf, -inf and NaN are refused for every number of the profile, naming the key; the one exception
    is a WAN bit rate of +inf (a WAN that is no limit)."""
    if path[-1] == "bitrate_bps" and value == math.inf:
        profile = default_profile().with_overrides(_override(path, value))
        assert profile.wan.link(path[1]).bitrate_bps == math.inf
        return
    with pytest.raises(ProfileError, match=re.escape(".".join(path))):
        default_profile().with_overrides(_override(path, value))


def test_every_table_has_numbers_to_check() -> None:
    """The table of numeric keys the range tests walk covers every table of the profile."""
    assert {path[0] for path in NUMERIC_KEYS} == {"window", "wan", "hub", "han", "outcomes"}
    assert ("han", "query_interval_s") in NUMERIC_KEYS and ("wan", "overhead") in NUMERIC_KEYS


def test_profile_error_is_a_config_error() -> None:
    """A ProfileError is a ConfigError, so the CLI reports it as bad configuration."""
    assert issubclass(ProfileError, ConfigError)


def test_load_profile_from_a_file(tmp_path: Path) -> None:
    """A profile file is loaded with its own values and the overrides on top; a file that is not TOML, or has an
    unknown table, is refused."""
    text = resources.files("hanota.network").joinpath("profile.toml").read_text(encoding="utf-8")
    path = tmp_path / "p.toml"
    path.write_text(text.replace("sessions = 650", "sessions = 300"), encoding="utf-8")
    assert load_profile(path).wan.north.sessions == 300
    assert load_profile(path, {"hub": {"cache_bytes": 1}}).hub.cache_bytes == 1
    path.write_text("[window", encoding="utf-8")
    with pytest.raises(ProfileError, match="TOML"):
        load_profile(path)
    path.write_text(text + "\n[extra]\nx = 1\n", encoding="utf-8")
    with pytest.raises(ProfileError, match="extra"):
        load_profile(path)
