"""What a network engine reports: per-target times (`TargetResults`), the run's counters (`EngineStats`),
its WAN sessions and hub caches over time, and how its compact output codes become the `Event`s a gateway
reads."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from hanota.network.distribution import PriorityClass
from hanota.network.events import EventKind, FailureReason
from hanota.network.outcomes import HW_MISMATCH, IMAGE_DISCARDED, TRANSFER_FAILURE, UNREACHABLE
from hanota.network.wan import CACHED, EVICTED, Transfer

FloatArray = npt.NDArray[np.float64]

# Output event codes: what the engine's output heap holds per target event. A transfer failure is coded
# by its outcome (`hanota.network.outcomes`); the three others by these, which no outcome code uses.
OUT_TRANSFERRED = 0
OUT_ACTIVATED = 5
OUT_ACTIVATION_FAILED = 6
OUT_EVENT: dict[int, tuple[EventKind, FailureReason | None]] = {
    OUT_TRANSFERRED: (EventKind.TRANSFERRED, None),
    HW_MISMATCH: (EventKind.TRANSFER_FAILED, FailureReason.HARDWARE_VERSION_MISMATCH),
    UNREACHABLE: (EventKind.TRANSFER_FAILED, FailureReason.DEVICE_UNREACHABLE),
    TRANSFER_FAILURE: (EventKind.TRANSFER_FAILED, FailureReason.FILE_TRANSFER_FAILURE),
    IMAGE_DISCARDED: (EventKind.TRANSFER_FAILED, FailureReason.FIRMWARE_IMAGE_DISCARDED),
    OUT_ACTIVATED: (EventKind.ACTIVATED, None),
    OUT_ACTIVATION_FAILED: (EventKind.ACTIVATION_FAILED, FailureReason.ACTIVATION_FAILURE),
}
"""An output code → the event kind and failure reason it reports."""


@dataclass(frozen=True, slots=True)
class TargetResults:
    """Per-target times (virtual seconds; NaN where a stage did not happen) of one distribution.

    `outcome` holds the codes of `hanota.network.outcomes` (0 success). `wan_start` is when the hub
    transfer the target waited for started (its arrival time if the image was already cached), `ready`
    when the image was at the hub, `pickup` the client query that found it, `download_start` /
    `transfer_end` the download (or the failure report), `activated` the activation report, and
    `finished` the target's last event.
    """

    distribution_id: str
    priority: PriorityClass
    submitted: float
    target_ids: list[str]
    hub_ids: list[str]
    sleepy: npt.NDArray[np.bool_]
    outcome: npt.NDArray[np.int8]
    wan_start: npt.NDArray[np.float64]
    ready: npt.NDArray[np.float64]
    pickup: npt.NDArray[np.float64]
    download_start: npt.NDArray[np.float64]
    transfer_end: npt.NDArray[np.float64]
    activated: npt.NDArray[np.float64]

    @property
    def finished(self) -> npt.NDArray[np.float64]:
        """Time of each target's last event (NaN while unknown)."""
        return finished_times(self.transfer_end, self.activated)


def finished_times(
    transfer_end: npt.NDArray[np.float64], activated: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """Each target's last event: its activation report if it has one, else its transfer end (or NaN)."""
    return np.where(np.isnan(activated), transfer_end, activated)


@dataclass(frozen=True, slots=True)
class EngineStats:
    """Counters of one engine run, for utilisation reports and benchmarks."""

    heap_events: int
    hub_transfers: int
    cache_hits: int
    cache_evictions: int
    cache_overflows: int
    busy_waits: int
    max_hub_downloads: int
    targets: int


def wan_intervals(started: Sequence[Transfer], link: int) -> tuple[FloatArray, FloatArray]:
    """(start, end) of the hub transfers in `started` that went over WAN link `link`."""
    on_link = [tr for tr in started if tr.link == link]
    return (
        np.fromiter((tr.start for tr in on_link), np.float64, len(on_link)),
        np.fromiter((tr.end for tr in on_link), np.float64, len(on_link)),
    )


def cache_intervals(started: Sequence[Transfer]) -> tuple[FloatArray, FloatArray, FloatArray]:
    """(cached from, evicted at (inf if still held), bytes) of the hub transfers in `started` whose image
    reached its hub."""
    cached = [tr for tr in started if tr.state in (CACHED, EVICTED)]
    return (
        np.fromiter((tr.ready for tr in cached), np.float64, len(cached)),
        np.fromiter((tr.evicted for tr in cached), np.float64, len(cached)),
        np.fromiter((tr.size for tr in cached), np.float64, len(cached)),
    )
