"""The network profile: every parameter of the model, loaded from one TOML file into frozen dataclasses.

The shipped `profile.toml` cites, for every value, the row of `docs/capacity-parameters.md` it comes from
(W4, H5, ...) or says "assumed". A scenario overrides any value by giving the same keys; unknown keys,
wrongly typed values and values out of range are refused with a `ProfileError` naming the key. Numbers
must be finite, except a WAN `bitrate_bps`, where `inf` means the WAN is no limit.
"""

from __future__ import annotations

import copy
import math
import tomllib
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from hanota.errors import ConfigError
from hanota.lifecycle import Region
from hanota.network.han import block_count, block_time
from hanota.network.outcomes import OutcomeRates
from hanota.network.wan import NightWindow, wan_transfer_time


class ProfileError(ConfigError):
    """A profile or a scenario override is malformed: unknown key, wrong type, or value out of range."""


REGION_CODE: dict[Region, int] = {Region.NORTH: 1, Region.CENTRAL: 2, Region.SOUTH: 3}
"""A region as a small integer, for seeding random streams (fixed: changing it changes every run)."""


@dataclass(frozen=True, slots=True)
class RegionWan:
    """One region's WAN: `sessions` concurrent transfers at `bitrate_bps` each."""

    region: Region
    technology: str
    sessions: int
    bitrate_bps: float


@dataclass(frozen=True, slots=True)
class WanLink:
    """The 4G WAN of a region's 4G Comms Hubs: `sessions` concurrent transfers at `bitrate_bps` each.

    Every region's engine has a pool of its own (the 4G hubs of a region are served by that region's CSP
    gateway, beside its 2G/3G or long-range-radio WAN; `hanota.csp.gateway`)."""

    technology: str
    sessions: int
    bitrate_bps: float


LTE = "lte"
"""The profile's name for the 4G link (`[wan.lte]`)."""


@dataclass(frozen=True, slots=True)
class WanProfile:
    """The WANs of all regions and what they share: protocol overhead and session set-up time."""

    overhead: float
    session_setup_s: float
    north: RegionWan
    central: RegionWan
    south: RegionWan
    lte: WanLink

    def region(self, region: Region | str) -> RegionWan:
        """The WAN of `region` (a `Region`, or its name in any case: 'north', 'North')."""
        return {Region.NORTH: self.north, Region.CENTRAL: self.central, Region.SOUTH: self.south}[
            Region.parse(region)
        ]

    def link(self, name: str) -> RegionWan | WanLink:
        """A WAN by its profile table name: a region's (`Region.key`: 'north', ...) or the 4G one ('lte')."""
        return self.lte if name == LTE else self.region(name)


@dataclass(frozen=True, slots=True)
class HubProfile:
    """The Comms Hub as OTA server: download slots (H9), busy back-off (H9) and image cache size."""

    max_concurrent_downloads: int
    busy_retry_s: float
    cache_bytes: int


@dataclass(frozen=True, slots=True)
class HanProfile:
    """ZigBee OTA timing: block size, per-block time by device class, client query period, activation."""

    block_size_bytes: int
    mains_block_rtt_s: float
    server_throttle_s: float
    sleepy_poll_s: float
    query_interval_s: float
    query_jitter_s: float
    activation_delay_s: float
    unreachable_timeout_s: float

    def block_time(self, *, sleepy: bool) -> float:
        """Seconds per block for a sleepy or a mains-powered device."""
        return block_time(
            sleepy=sleepy,
            mains_rtt_s=self.mains_block_rtt_s,
            throttle_s=self.server_throttle_s,
            sleepy_poll_s=self.sleepy_poll_s,
        )

    def download_time(self, image_size: int, *, sleepy: bool) -> float:
        """Seconds to download an image of `image_size` bytes: blocks × per-block time."""
        return block_count(image_size, self.block_size_bytes) * self.block_time(sleepy=sleepy)


@dataclass(frozen=True, slots=True)
class NetworkProfile:
    """Everything the network model needs, as loaded from `profile.toml` plus overrides."""

    window: NightWindow
    wan: WanProfile
    hub: HubProfile
    han: HanProfile
    outcomes: OutcomeRates

    def wan_time(self, region: Region | str, image_size: int, *, four_g: bool = False) -> float:
        """Seconds one WAN session of `region` (its 4G link with `four_g`) takes to carry an image to a hub."""
        wan: RegionWan | WanLink = self.wan.lte if four_g else self.wan.region(region)
        return wan_transfer_time(image_size, wan.bitrate_bps, self.wan.overhead, self.wan.session_setup_s)

    def with_overrides(self, overrides: Mapping[str, Any]) -> NetworkProfile:
        """A copy with the values in `overrides` (same shape as `profile.toml`) replaced."""
        return profile_from_mapping(merge_overrides(self.to_mapping(), overrides))

    def to_mapping(self) -> dict[str, Any]:
        """The profile in the shape of `profile.toml`."""

        def region(r: RegionWan | WanLink) -> dict[str, Any]:
            return {"technology": r.technology, "sessions": r.sessions, "bitrate_bps": r.bitrate_bps}

        return {
            "window": {"start_h": self.window.start_h, "end_h": self.window.end_h},
            "wan": {
                "overhead": self.wan.overhead,
                "session_setup_s": self.wan.session_setup_s,
                Region.NORTH.key: region(self.wan.north),
                Region.CENTRAL.key: region(self.wan.central),
                Region.SOUTH.key: region(self.wan.south),
                LTE: region(self.wan.lte),
            },
            "hub": {
                "max_concurrent_downloads": self.hub.max_concurrent_downloads,
                "busy_retry_s": self.hub.busy_retry_s,
                "cache_bytes": self.hub.cache_bytes,
            },
            "han": {name: getattr(self.han, name) for name in _HAN_KEYS},
            "outcomes": {name: getattr(self.outcomes, name) for name in _OUTCOME_KEYS},
        }


_HAN_KEYS = (
    "block_size_bytes",
    "mains_block_rtt_s",
    "server_throttle_s",
    "sleepy_poll_s",
    "query_interval_s",
    "query_jitter_s",
    "activation_delay_s",
    "unreachable_timeout_s",
)
_OUTCOME_KEYS = ("device_unreachable", "transfer_failure", "image_discarded", "activation_failure")


def merge_overrides(
    base: Mapping[str, Any],
    overrides: Mapping[str, Any],
    where: str = "",
    *,
    error: type[ConfigError] = ProfileError,
    noun: str = "profile",
    replace: Collection[str] = (),
) -> dict[str, Any]:
    """`base` with `overrides` merged in, table by table; a key `base` lacks is refused.

    Errors are raised as `error` and call the keys "`noun` key"; a table whose key is in `replace` is
    taken whole from `overrides` instead of being merged.
    """
    merged = copy.deepcopy(dict(base))
    for key, value in overrides.items():
        path = f"{where}{key}"
        if key not in merged:
            raise error(f"unknown {noun} key {path!r}")
        if isinstance(merged[key], dict):
            if not isinstance(value, Mapping):
                raise error(f"{noun} key {path!r} must be a table")
            merged[key] = (
                value
                if key in replace
                else merge_overrides(merged[key], value, f"{path}.", error=error, noun=noun, replace=replace)
            )
        else:
            merged[key] = value
    return merged


def check_number(
    value: Any,
    what: str,
    *,
    error: type[ConfigError] = ProfileError,
    lo: float = 0.0,
    hi: float = math.inf,
    positive: bool = False,
    infinite: bool = False,
) -> float:
    """`value` as a float, if it is a finite number (or infinite, with `infinite`) within `lo..hi`.

    `positive` also refuses zero. Errors are raised as `error`, naming `what` (e.g. "profile key
    han.sleepy_poll_s"): a range error says "is out of range" without `hi`, "must be within lo..hi" with it.
    """
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise error(f"{what} must be a number, got {value!r}")
    if math.isinf(value) and not infinite:
        raise error(f"{what} must be finite, got {value!r}")
    if not lo <= value <= hi or (positive and value <= 0):
        if math.isinf(hi):
            raise error(f"{what} is out of range: {value!r}")
        raise error(f"{what} must be within {lo}..{hi}, got {value!r}")
    return float(value)


def check_integer(
    value: Any, what: str, *, error: type[ConfigError] = ProfileError, lo: int = 0, hi: int | None = None
) -> int:
    """`value` as an int (a float with an integral value is accepted), if it is within `lo..hi`."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise error(f"{what} must be an integer, got {value!r}")
    if value < lo:
        raise error(f"{what} must be at least {lo}, got {value}")
    if hi is not None and value > hi:
        raise error(f"{what} must be at most {hi}, got {value}")
    return value


# Upper bounds: every profile number is a duration, a rate, a factor or an hour of the day, and none is
# plausible beyond these. Huge finite values (1e308) would otherwise overflow the engine's arithmetic.
MAX_DURATION_S = 30 * 24 * 3600.0
MAX_OVERHEAD = 100.0
MAX_SESSIONS = 1_000_000
MAX_HUB_DOWNLOADS = 10_000
MAX_CACHE_BYTES = 10**12
MAX_BLOCK_BYTES = 65_535


class _Reader:
    """Typed, checked access to one table of a profile mapping."""

    def __init__(self, data: Mapping[str, Any], where: str) -> None:
        if not isinstance(data, Mapping):
            raise ProfileError(f"profile key {where!r} must be a table")
        self.data = data
        self.where = where
        self.used: set[str] = set()

    def _get(self, key: str) -> Any:
        if key not in self.data:
            raise ProfileError(f"profile key {self.where}.{key} is missing")
        self.used.add(key)
        return self.data[key]

    def number(
        self,
        key: str,
        *,
        minimum: float = 0.0,
        maximum: float = MAX_DURATION_S,
        positive: bool = False,
        infinite: bool = False,
    ) -> float:
        what = f"profile key {self.where}.{key}"
        return check_number(
            self._get(key), what, lo=minimum, hi=maximum, positive=positive, infinite=infinite
        )

    def integer(self, key: str, *, minimum: int = 0, maximum: int | None = None) -> int:
        return check_integer(self._get(key), f"profile key {self.where}.{key}", lo=minimum, hi=maximum)

    def text(self, key: str) -> str:
        value = self._get(key)
        if not isinstance(value, str):
            raise ProfileError(f"profile key {self.where}.{key} must be a string, got {value!r}")
        return value

    def table(self, key: str) -> _Reader:
        return _Reader(self._get(key), f"{self.where}.{key}" if self.where else key)

    def done(self) -> None:
        extra = set(self.data) - self.used
        if extra:
            raise ProfileError(f"unknown profile keys in {self.where or 'profile'}: {sorted(extra)}")


def profile_from_mapping(data: Mapping[str, Any]) -> NetworkProfile:
    """Build and check a profile from a mapping shaped like `profile.toml`."""
    root = _Reader(data, "")
    try:
        w = root.table("window")
        window = NightWindow(w.number("start_h", maximum=24.0), w.number("end_h", maximum=24.0))
        w.done()

        wan_t = root.table("wan")
        regions = {}
        for region in Region:
            r = wan_t.table(region.key)
            regions[region] = RegionWan(
                region=region,
                technology=r.text("technology"),
                sessions=r.integer("sessions", minimum=1, maximum=MAX_SESSIONS),
                bitrate_bps=r.number(
                    "bitrate_bps", positive=True, infinite=True, maximum=math.inf
                ),  # inf: no limit
            )
            r.done()
        r = wan_t.table(LTE)
        lte = WanLink(
            technology=r.text("technology"),
            sessions=r.integer("sessions", minimum=1, maximum=MAX_SESSIONS),
            bitrate_bps=r.number("bitrate_bps", positive=True, infinite=True, maximum=math.inf),
        )
        r.done()
        wan = WanProfile(
            overhead=wan_t.number("overhead", positive=True, maximum=MAX_OVERHEAD),
            session_setup_s=wan_t.number("session_setup_s"),
            north=regions[Region.NORTH],
            central=regions[Region.CENTRAL],
            south=regions[Region.SOUTH],
            lte=lte,
        )
        wan_t.done()

        h = root.table("hub")
        hub = HubProfile(
            max_concurrent_downloads=h.integer(
                "max_concurrent_downloads", minimum=1, maximum=MAX_HUB_DOWNLOADS
            ),
            busy_retry_s=h.number("busy_retry_s"),
            cache_bytes=h.integer("cache_bytes", minimum=0, maximum=MAX_CACHE_BYTES),
        )
        h.done()

        n = root.table("han")
        han = HanProfile(
            block_size_bytes=n.integer("block_size_bytes", minimum=1, maximum=MAX_BLOCK_BYTES),
            **{key: n.number(key) for key in _HAN_KEYS if key != "block_size_bytes"},
        )
        n.done()

        o = root.table("outcomes")
        outcomes = OutcomeRates(**{key: o.number(key, maximum=1.0) for key in _OUTCOME_KEYS})
        o.done()
        root.done()
    except ValueError as exc:
        raise ProfileError(str(exc)) from exc
    return NetworkProfile(window=window, wan=wan, hub=hub, han=han, outcomes=outcomes)


def load_profile(
    path: Path | str | None = None, overrides: Mapping[str, Any] | None = None
) -> NetworkProfile:
    """Load a profile TOML (default: the shipped `profile.toml`) and apply `overrides`."""
    if path is None:
        text = resources.files("hanota.network").joinpath("profile.toml").read_text(encoding="utf-8")
    else:
        text = Path(path).read_text(encoding="utf-8")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"profile is not valid TOML: {exc}") from exc
    if overrides:
        data = merge_overrides(data, overrides)
    return profile_from_mapping(data)


@cache
def default_profile() -> NetworkProfile:
    """The shipped profile (loaded once)."""
    return load_profile()
