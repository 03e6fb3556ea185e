"""What a CSP gateway hands the network: a distribution of one firmware image to a list of targets.

A distribution is the CSP's unit of work for one region (domain.md section 2, step 3): an image with its
size and the hardware-version range from its OTA header, a priority class (ESME/GSME firmware from SR 11.1
before HAN-device firmware from SR 11.4), and the targets, each with the Comms Hub that serves it, its
device class (mains-powered or sleepy) and its hardware version.

Targets are held column-wise (`TargetTable`) so that a planner can hand over a million of them without
building a million objects; a gateway builds one from `Target` values with `TargetTable.of`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np
import numpy.typing as npt


class PriorityClass(StrEnum):
    """Which queue a distribution joins at the CSP; ESME/GSME is always served first."""

    ESME_GSME = "ESME_GSME"  # SR 11.1 Update Firmware
    HAN = "HAN"  # SR 11.4 Update PPMID Firmware (PPMIDs, IHDs)


class DeviceClass(StrEnum):
    """How a device fetches OTA blocks: at network speed (mains) or once per poll (sleepy)."""

    MAINS = "mains"
    SLEEPY = "sleepy"


@dataclass(frozen=True, slots=True)
class Target:
    """One device to update: its ID, the hub that serves it, its device class and hardware version."""

    target_id: str
    hub_id: str
    device_class: DeviceClass
    hw_version: int
    four_g: bool = False  # behind a 4G Comms Hub: its image crosses the region's 4G WAN link


@dataclass(frozen=True, slots=True, eq=False)
class TargetTable:
    """Targets column by column: `target_ids[i]` sits behind `hub_ids[i]`, is sleepy if `sleepy[i]`, and
    behind a 4G Comms Hub if `four_g[i]` (None: no target is)."""

    target_ids: Sequence[str]
    hub_ids: Sequence[str]
    sleepy: npt.NDArray[np.bool_]
    hw_versions: npt.NDArray[np.int64]
    four_g: npt.NDArray[np.bool_] | None = None

    def __post_init__(self) -> None:
        n = len(self.target_ids)
        if not (len(self.hub_ids) == len(self.sleepy) == len(self.hw_versions) == n):
            raise ValueError(
                f"target columns differ in length: {n} IDs, {len(self.hub_ids)} hubs, "
                f"{len(self.sleepy)} classes, {len(self.hw_versions)} hardware versions"
            )
        sleepy = np.array(self.sleepy, dtype=np.bool_)
        hw = np.array(self.hw_versions, dtype=np.int64)
        sleepy.setflags(write=False)
        hw.setflags(write=False)
        object.__setattr__(self, "sleepy", sleepy)
        object.__setattr__(self, "hw_versions", hw)
        if self.four_g is not None:
            four_g = np.array(self.four_g, dtype=np.bool_)
            if len(four_g) != n:
                raise ValueError(f"target columns differ in length: {n} IDs, {len(four_g)} 4G flags")
            four_g.setflags(write=False)
            object.__setattr__(self, "four_g", four_g if four_g.any() else None)

    @classmethod
    def of(cls, targets: Iterable[Target]) -> TargetTable:
        """Build the columns from `Target` values."""
        items = list(targets)
        return cls(
            target_ids=[t.target_id for t in items],
            hub_ids=[t.hub_id for t in items],
            sleepy=np.fromiter((t.device_class is DeviceClass.SLEEPY for t in items), np.bool_, len(items)),
            hw_versions=np.fromiter((t.hw_version for t in items), np.int64, len(items)),
            four_g=np.fromiter((t.four_g for t in items), np.bool_, len(items)),
        )

    def __len__(self) -> int:
        return len(self.target_ids)

    def __getitem__(self, i: int) -> Target:
        return Target(
            target_id=self.target_ids[i],
            hub_id=self.hub_ids[i],
            device_class=DeviceClass.SLEEPY if self.sleepy[i] else DeviceClass.MAINS,
            hw_version=int(self.hw_versions[i]),
            four_g=self.four_g is not None and bool(self.four_g[i]),
        )

    def __iter__(self) -> Iterator[Target]:
        return (self[i] for i in range(len(self)))


@dataclass(frozen=True, slots=True)
class Distribution:
    """One image for a list of targets in one region.

    `image_id` names the image for the hubs' caches (a second distribution of the same image to the same
    hub does not cross the WAN again while the hub still holds it); it defaults to the distribution ID.
    `hw_range` is the image header's (min, max) hardware version, inclusive, or None for any hardware.
    """

    distribution_id: str
    priority: PriorityClass
    image_size: int
    hw_range: tuple[int, int] | None
    targets: TargetTable
    image_id: str | None = field(default=None)

    def __post_init__(self) -> None:
        if self.image_size <= 0:
            raise ValueError(f"image size must be positive, got {self.image_size}")
        if self.hw_range is not None and self.hw_range[0] > self.hw_range[1]:
            raise ValueError(f"hardware range {self.hw_range} is empty")

    @property
    def image_key(self) -> str:
        """The name the hubs cache the image under."""
        return self.image_id if self.image_id is not None else self.distribution_id

    @classmethod
    def of(
        cls,
        distribution_id: str,
        priority: PriorityClass,
        image_size: int,
        targets: Iterable[Target],
        *,
        hw_range: tuple[int, int] | None = None,
        image_id: str | None = None,
    ) -> Distribution:
        """Build a distribution from `Target` values."""
        return cls(distribution_id, priority, image_size, hw_range, TargetTable.of(targets), image_id)
