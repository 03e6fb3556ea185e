"""Capacity scenarios: a TOML file naming the fleet, the image, competing ESME/GSME load and the network.

A scenario file has five tables (every key but `scenario.name` optional; defaults below)::

    [scenario]
    name = "default-50k"
    seed = 1                      # same seed, same answer
    submit_at_h = 0.0             # when the HAN distributions reach the CSPs, hours after the epoch's 00:00
    max_targets_per_request = 50000   # SR 11.4 carries up to 50,000 device IDs (domain.md section 7)

    [fleet]
    devices = 50000               # HAN targets (PPMID-class; IHDs count as PPMID-like)
    devices_per_hub = 1           # targets behind one Comms Hub
    sleepy_share = 0.1            # share of sleepy (battery) HAN targets
    hw_out_of_range_share = 0.0   # share of targets whose hardware version the image does not cover
    region_shares = { north = 1, central = 1, south = 1 }   # relative, normalised (N8: ~1/3 each)

    [image]
    size_bytes = 250000           # F1/F2
    hw_min = 0x1111               # the OTA header's hardware range (the public samples' values)
    hw_max = 0x1211

    [competing]                   # ESME/GSME firmware (SR 11.1) on the same hubs, served first on the WAN
    hub_share = 0.0               # share of the fleet's hubs that also get an ESME or GSME image
    image_size_bytes = 300000
    gsme_share = 0.5              # of those targets, the share that are GSMEs (sleepy)
    submit_at_h = 0.0

    [network]                     # overrides of hanota/network/profile.toml, same keys
    window = { start_h = 0.0, end_h = 6.0 }

Unknown keys are refused, so a typo never silently runs the default; numbers must be finite.
"""

from __future__ import annotations

import copy
import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from hanota.errors import ConfigError
from hanota.lifecycle import Region
from hanota.network import NetworkProfile, ProfileError, default_profile
from hanota.network.profile import check_integer, check_number, merge_overrides

MAX_TARGETS_PER_REQUEST = 50_000
"""An SR 11.4 request carries at most 50,000 device IDs (domain.md section 7)."""

MAX_FLEET = 1_000_000
"""The planner's design limit on HAN targets per scenario."""


_REGION_KEYS: dict[str, Region] = {region.key: region for region in Region}
"""A region by its name in a scenario: exactly its `Region.key`, as in the network profile's tables."""


class ScenarioError(ConfigError):
    """A scenario file is missing, not TOML, or has an unknown key or a value out of range."""


_DEFAULTS: dict[str, Any] = {
    "scenario": {
        "name": "",
        "description": "",
        "seed": 1,
        "submit_at_h": 0.0,
        "max_targets_per_request": MAX_TARGETS_PER_REQUEST,
    },
    "fleet": {
        "devices": 50_000,
        "devices_per_hub": 1,
        "sleepy_share": 0.1,
        "hw_out_of_range_share": 0.0,
        "region_shares": {region.key: 1.0 for region in Region},
    },
    "image": {"size_bytes": 250_000, "hw_min": 0x1111, "hw_max": 0x1211},
    "competing": {"hub_share": 0.0, "image_size_bytes": 300_000, "gsme_share": 0.5, "submit_at_h": 0.0},
}


@dataclass(frozen=True, slots=True)
class FleetSpec:
    """The HAN targets: how many, how they sit behind hubs, their classes, hardware and regions."""

    devices: int
    devices_per_hub: int
    sleepy_share: float
    hw_out_of_range_share: float
    region_shares: dict[Region, float]


@dataclass(frozen=True, slots=True)
class ImageSpec:
    """The HAN image: size in bytes and the OTA header's inclusive hardware-version range."""

    size_bytes: int
    hw_range: tuple[int, int]


@dataclass(frozen=True, slots=True)
class CompetingSpec:
    """ESME/GSME firmware sent to a share of the same hubs; it takes WAN sessions first."""

    hub_share: float
    image_size_bytes: int
    gsme_share: float
    submit_at_h: float

    @property
    def submit_at_s(self) -> float:
        """Virtual second the ESME/GSME distributions are submitted at."""
        return self.submit_at_h * 3600.0


@dataclass(frozen=True, slots=True)
class Scenario:
    """A checked scenario; `raw` is the mapping it was built from (what sweeps modify)."""

    name: str
    description: str
    seed: int
    submit_at_h: float
    max_targets_per_request: int
    fleet: FleetSpec
    image: ImageSpec
    competing: CompetingSpec
    profile: NetworkProfile
    raw: Mapping[str, Any]

    @property
    def submit_at_s(self) -> float:
        """Virtual second the HAN distributions are submitted at."""
        return self.submit_at_h * 3600.0

    def with_value(self, path: tuple[str, ...], value: Any) -> Scenario:
        """A copy with the raw key at `path` (e.g. `("image", "size_bytes")`) set to `value`."""
        raw = copy.deepcopy(dict(self.raw))
        node: dict[str, Any] = raw
        for key in path[:-1]:
            child = node.get(key)
            if not isinstance(child, dict):
                child = node[key] = {}
            node = child
        node[path[-1]] = value
        return scenario_from_mapping(raw)


def bundled_scenarios() -> dict[str, Traversable]:
    """The example scenarios shipped in `hanota/capacity/scenarios/`, by name (file stem)."""
    folder = resources.files("hanota.capacity").joinpath("scenarios")
    return {
        entry.name.removesuffix(".toml"): entry for entry in folder.iterdir() if entry.name.endswith(".toml")
    }


def load_scenario(source: str | Path) -> Scenario:
    """Load a scenario from a TOML path, or by the name of a bundled example (`default-50k`)."""
    path = Path(source)
    if path.is_file():
        text = path.read_text(encoding="utf-8")
    else:
        bundled = bundled_scenarios()
        name = path.name.removesuffix(".toml")
        if name not in bundled or path.suffix not in ("", ".toml") or len(path.parts) > 1:
            known = ", ".join(sorted(bundled))
            raise ScenarioError(f"no scenario file {str(source)!r} (bundled examples: {known})")
        text = bundled[name].read_text(encoding="utf-8")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"scenario {str(source)!r} is not valid TOML: {exc}") from exc
    return scenario_from_mapping(data)


MAX_IMAGE_BYTES = 10_240_000  # the DUIS limit on a firmware image
MAX_SUBMIT_AT_H = 24 * 366.0  # a scenario spans at most a year
MAX_DEVICES_PER_HUB = 10_000


def _number(value: Any, key: str, *, hi: float = math.inf) -> float:
    return check_number(value, f"scenario key {key!r}", error=ScenarioError, hi=hi)


def _integer(value: Any, key: str, *, lo: int = 0, hi: int | None = None) -> int:
    return check_integer(value, f"scenario key {key!r}", error=ScenarioError, lo=lo, hi=hi)


def scenario_from_mapping(data: Mapping[str, Any]) -> Scenario:
    """Check a scenario mapping (shaped like the TOML file) and build the `Scenario`."""
    network = data.get("network", {})
    if not isinstance(network, Mapping):
        raise ScenarioError("scenario key 'network' must be a table")
    merged = merge_overrides(
        _DEFAULTS,
        {k: v for k, v in data.items() if k != "network"},
        error=ScenarioError,
        noun="scenario",
        replace=("region_shares",),
    )
    s, f, i, c = merged["scenario"], merged["fleet"], merged["image"], merged["competing"]

    name = s["name"]
    if not isinstance(name, str) or not name.strip():
        raise ScenarioError("scenario.name must be a non-empty string")
    if not isinstance(s["description"], str):
        raise ScenarioError("scenario.description must be a string")

    shares = f["region_shares"]
    region_shares: dict[Region, float] = {}
    for key, value in shares.items():
        region = _REGION_KEYS.get(key)
        if region is None:
            raise ScenarioError(f"unknown region {key!r} in fleet.region_shares")
        region_shares[region] = _number(value, f"fleet.region_shares.{key}")
    total = sum(region_shares.values())
    if total <= 0:
        raise ScenarioError("fleet.region_shares must give at least one region a positive share")

    hw_range = (
        _integer(i["hw_min"], "image.hw_min", hi=0xFFFF),
        _integer(i["hw_max"], "image.hw_max", hi=0xFFFF),
    )
    if hw_range[0] > hw_range[1]:
        raise ScenarioError(f"image hardware range {hw_range} is empty")

    try:
        profile = default_profile().with_overrides(network)
    except ProfileError as exc:
        raise ScenarioError(f"in [network]: {exc.message}") from exc

    return Scenario(
        name=name.strip(),
        description=s["description"],
        seed=_integer(s["seed"], "scenario.seed"),
        submit_at_h=_number(s["submit_at_h"], "scenario.submit_at_h", hi=MAX_SUBMIT_AT_H),
        max_targets_per_request=_integer(
            s["max_targets_per_request"], "scenario.max_targets_per_request", lo=1, hi=MAX_TARGETS_PER_REQUEST
        ),
        fleet=FleetSpec(
            devices=_integer(f["devices"], "fleet.devices", lo=1, hi=MAX_FLEET),
            devices_per_hub=_integer(
                f["devices_per_hub"], "fleet.devices_per_hub", lo=1, hi=MAX_DEVICES_PER_HUB
            ),
            sleepy_share=_number(f["sleepy_share"], "fleet.sleepy_share", hi=1.0),
            hw_out_of_range_share=_number(f["hw_out_of_range_share"], "fleet.hw_out_of_range_share", hi=1.0),
            region_shares={r: v / total for r, v in region_shares.items() if v > 0},
        ),
        image=ImageSpec(
            size_bytes=_integer(i["size_bytes"], "image.size_bytes", lo=1, hi=MAX_IMAGE_BYTES),
            hw_range=hw_range,
        ),
        competing=CompetingSpec(
            hub_share=_number(c["hub_share"], "competing.hub_share", hi=1.0),
            image_size_bytes=_integer(
                c["image_size_bytes"], "competing.image_size_bytes", lo=1, hi=MAX_IMAGE_BYTES
            ),
            gsme_share=_number(c["gsme_share"], "competing.gsme_share", hi=1.0),
            submit_at_h=_number(c["submit_at_h"], "competing.submit_at_h", hi=MAX_SUBMIT_AT_H),
        ),
        profile=profile,
        raw=copy.deepcopy(dict(data)),
    )
