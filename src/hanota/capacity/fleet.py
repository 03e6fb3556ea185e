"""Fleet generation: a scenario's devices as per-region distributions, ready to submit to the engines.

- HAN targets are split over the regions by `fleet.region_shares` (largest remainder, so the counts add
  up exactly), then placed `devices_per_hub` to a Comms Hub in order.
- Each target is sleepy with probability `sleepy_share`; its hardware version is uniform inside the
  image's range, or just above it with probability `hw_out_of_range_share` (the hub then reports
  `HardwareVersionMismatch`).
- The HAN image goes out as SR 11.4 requests of at most `max_targets_per_request` targets, all submitted
  at `scenario.submit_at_h` and all naming the same image, so each hub caches it once.
- Competing ESME/GSME firmware targets a random `competing.hub_share` of the region's hubs, one meter
  per chosen hub (a GSME, sleepy, with probability `gsme_share`), with no hardware restriction.

Randomness comes from a generator seeded by (scenario seed, region), independent of the engines' streams.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from hanota.capacity.scenario import Scenario
from hanota.lifecycle import Region
from hanota.network import Distribution, PriorityClass, TargetTable
from hanota.network.profile import REGION_CODE

HAN_IMAGE_ID = "han-image"
ESME_IMAGE_ID = "esme-gsme-image"

_FLEET_STREAM = 0xF1EE7


@dataclass(frozen=True, slots=True)
class RegionFleet:
    """One region's share of the fleet: its HAN requests and its competing ESME/GSME requests."""

    region: Region
    devices: int
    hubs: int
    han: list[Distribution]
    competing: list[Distribution]

    @property
    def competing_devices(self) -> int:
        """ESME/GSME targets in this region."""
        return sum(len(d.targets) for d in self.competing)


def split_counts(total: int, shares: dict[Region, float]) -> dict[Region, int]:
    """Split `total` by `shares` (summing to 1) with the largest-remainder method."""
    exact = {region: total * share for region, share in shares.items()}
    counts = {region: math.floor(value) for region, value in exact.items()}
    leftover = total - sum(counts.values())
    for region in sorted(exact, key=lambda r: (counts[r] - exact[r], list(Region).index(r)))[:leftover]:
        counts[region] += 1
    return counts


def _chunks(
    prefix: str,
    priority: PriorityClass,
    image_size: int,
    hw_range: tuple[int, int] | None,
    image_id: str,
    table: TargetTable,
    size: int,
) -> list[Distribution]:
    out = []
    for k, lo in enumerate(range(0, len(table), size)):
        hi = min(lo + size, len(table))
        part = TargetTable(
            table.target_ids[lo:hi], table.hub_ids[lo:hi], table.sleepy[lo:hi], table.hw_versions[lo:hi]
        )
        out.append(Distribution(f"{prefix}-{k:03d}", priority, image_size, hw_range, part, image_id))
    return out


def build_region(scenario: Scenario, region: Region, devices: int) -> RegionFleet:
    """Generate one region's targets and cut them into requests."""
    rng = np.random.default_rng([scenario.seed, _FLEET_STREAM, REGION_CODE[region]])
    fleet = scenario.fleet
    per_hub = fleet.devices_per_hub
    hubs = -(-devices // per_hub)
    key = region.key  # the region's name in device and hub IDs ('north'), looked up once
    hub_names = [f"{key}-ch-{h}" for h in range(hubs)]
    hub_ids: Sequence[str] = (
        hub_names if per_hub == 1 else [hub_names[h] for h in (np.arange(devices) // per_hub).tolist()]
    )
    sleepy = rng.random(devices) < fleet.sleepy_share
    lo, hi = scenario.image.hw_range
    hw = rng.integers(lo, hi + 1, devices, dtype=np.int64)
    hw[rng.random(devices) < fleet.hw_out_of_range_share] = hi + 1
    table = TargetTable([f"{key}-ppmid-{i}" for i in range(devices)], hub_ids, sleepy, hw)
    name = scenario.name
    size = scenario.max_targets_per_request
    han = _chunks(
        f"{name}-{key}-han",
        PriorityClass.HAN,
        scenario.image.size_bytes,
        (lo, hi),
        HAN_IMAGE_ID,
        table,
        size,
    )

    competing: list[Distribution] = []
    m = round(scenario.competing.hub_share * hubs)
    if m:
        chosen = rng.choice(hubs, size=m, replace=False).tolist()
        gsme = rng.random(m) < scenario.competing.gsme_share
        meters = TargetTable(
            [f"{key}-{'gsme' if g else 'esme'}-{j}" for j, g in enumerate(gsme.tolist())],
            [hub_names[h] for h in chosen],
            gsme,
            np.zeros(m, dtype=np.int64),
        )
        competing = _chunks(
            f"{name}-{key}-esme-gsme",
            PriorityClass.ESME_GSME,
            scenario.competing.image_size_bytes,
            None,
            ESME_IMAGE_ID,
            meters,
            size,
        )
    return RegionFleet(region=region, devices=devices, hubs=hubs, han=han, competing=competing)


def iter_fleet(scenario: Scenario) -> Iterator[RegionFleet]:
    """Every region with devices, in north, central, south order, each built only when asked for."""
    counts = split_counts(scenario.fleet.devices, scenario.fleet.region_shares)
    for region in Region:
        if counts.get(region, 0) > 0:
            yield build_region(scenario, region, counts[region])


def build_fleet(scenario: Scenario) -> list[RegionFleet]:
    """Every region with devices, in north, central, south order."""
    return list(iter_fleet(scenario))
