"""Per-target outcomes and the random draws behind them, sampled in bulk when a distribution arrives.

Each target gets, from its distribution's own random stream, one outcome:

| code | outcome | reported | when |
|---|---|---|---|
| 0 | success | `transferred`, then `activated` | end of download, + activation delay |
| 1 | hardware mismatch (from the header range, not a rate) | `transfer_failed` | image reaches the hub |
| 2 | device unreachable | `transfer_failed` | image at hub + unreachable timeout |
| 3 | file transfer failure | `transfer_failed` | part-way through the download |
| 4 | image discarded | `transfer_failed` | end of download |
| 5 | activation failure | `transferred`, then `activation_failed` | end of download, + activation delay |

The draws come in a fixed order, one full column each (outcome, query phase, query jitter, abort point),
so a target's draws do not depend on which of them the model ends up using, and two runs that differ
only in, say, image size see the same draws (common random numbers).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from hanota.network.events import FailureReason

SUCCESS = 0
HW_MISMATCH = 1
UNREACHABLE = 2
TRANSFER_FAILURE = 3
IMAGE_DISCARDED = 4
ACTIVATION_FAILURE = 5

OUTCOME_REASONS: dict[int, FailureReason | None] = {
    SUCCESS: None,
    HW_MISMATCH: FailureReason.HARDWARE_VERSION_MISMATCH,
    UNREACHABLE: FailureReason.DEVICE_UNREACHABLE,
    TRANSFER_FAILURE: FailureReason.FILE_TRANSFER_FAILURE,
    IMAGE_DISCARDED: FailureReason.FIRMWARE_IMAGE_DISCARDED,
    ACTIVATION_FAILURE: FailureReason.ACTIVATION_FAILURE,
}
"""Outcome code → failure reason (None for success)."""


@dataclass(frozen=True, slots=True)
class OutcomeRates:
    """Shares of targets per random outcome; mutually exclusive, so their sum is the failure share."""

    device_unreachable: float
    transfer_failure: float
    image_discarded: float
    activation_failure: float

    def __post_init__(self) -> None:
        rates = (
            self.device_unreachable,
            self.transfer_failure,
            self.image_discarded,
            self.activation_failure,
        )
        if any(not 0.0 <= r <= 1.0 for r in rates):
            raise ValueError(f"outcome rates must be within 0..1, got {rates}")
        if sum(rates) > 1.0 + 1e-12:
            raise ValueError(f"outcome rates add up to {sum(rates)} > 1")

    @property
    def failure_share(self) -> float:
        """Share of targets that fail for a random reason."""
        return (
            self.device_unreachable + self.transfer_failure + self.image_discarded + self.activation_failure
        )


@dataclass(frozen=True, slots=True)
class TargetDraws:
    """A distribution's per-target draws: outcome code and three uniforms in [0, 1)."""

    outcome: npt.NDArray[np.int8]
    phase: npt.NDArray[np.float64]
    jitter: npt.NDArray[np.float64]
    abort_at: npt.NDArray[np.float64]


def hardware_mismatch(
    hw_versions: npt.NDArray[np.int64], hw_range: tuple[int, int] | None
) -> npt.NDArray[np.bool_]:
    """Targets whose hardware version lies outside the image header's inclusive range."""
    if hw_range is None:
        return np.zeros(len(hw_versions), dtype=np.bool_)
    lo, hi = hw_range
    return (hw_versions < lo) | (hw_versions > hi)


def draw_targets(
    rng: np.random.Generator, rates: OutcomeRates, mismatch: npt.NDArray[np.bool_]
) -> TargetDraws:
    """Sample outcomes and timing uniforms for `len(mismatch)` targets from `rng`."""
    n = len(mismatch)
    u = rng.random(n)
    phase = rng.random(n)
    jitter = rng.random(n)
    abort_at = rng.random(n)
    edges = np.cumsum(
        [rates.device_unreachable, rates.transfer_failure, rates.image_discarded, rates.activation_failure]
    )
    codes = np.array([UNREACHABLE, TRANSFER_FAILURE, IMAGE_DISCARDED, ACTIVATION_FAILURE, SUCCESS], np.int8)
    outcome = codes[np.searchsorted(edges, u, side="right")]
    outcome[mismatch] = HW_MISMATCH
    return TargetDraws(outcome=outcome, phase=phase, jitter=jitter, abort_at=abort_at)
