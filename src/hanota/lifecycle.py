"""The delivery lifecycle's one vocabulary: regions, a request's status, its devices' outcomes and states, a
distribution job's status, a CSP target's state, and the distribution id that names a job between the DSP
and a CSP. Every package that stores, moves, shows or counts one of these imports it from here; no state,
status, outcome or region is spelled as a bare string anywhere else (`tests/foundation/test_vocabulary.py`
greps the source for them).

The path of one device of an SR 11.4 / 11.1 (`DeviceState`)::

    recorded ──► rejected                                  (a warning list: never sent)
             └─► accepted ──► csp_rejected                 (the CSP refused it: unknown hub, other region…)
                          └─► sent ──► transfer_failed     (the image never reached it)
                                   └─► transferred ──► activation_failed
                                                   └─► activated  (the inventory learns the new version)

Its distribution job (one per request per CSP region, `JobStatus`): pending → sending → sent, or back to
pending for a retry after a failed send, and dead after the retry cap (`hanota dead-letters retry` makes it
pending again). A request (`RequestStatus`): accepted or rejected when recorded; quarantined by an anomaly
threshold, then released (delivered as if accepted) or deleted by an operator.

Values are the strings stored in the database and shown to people; changing one needs a migration.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import Final


class Region(StrEnum):
    """The three geographic CSP regions; each has one CSP gateway (`hanota.csp`) and one WAN in the network
    profile (`hanota.network`), whose tables are named by `key` (`[wan.north]`)."""

    NORTH = "North"
    CENTRAL = "Central"
    SOUTH = "South"

    @property
    def key(self) -> str:
        """The region's name in a network profile or a capacity scenario: 'north', 'central', 'south'."""
        return self.value.lower()

    @classmethod
    def parse(cls, text: str) -> Region:
        """A region from its name in any case ('south', 'South', 'SOUTH'); ValueError for anything else."""
        for region in cls:
            if region.value.lower() == text.strip().lower():
                return region
        raise ValueError(f"unknown CSP region {text!r}: expected one of {', '.join(r.value for r in cls)}")


FOUR_G_PREFIX: Final = "4G "
HUB_REGIONS: Final[tuple[str, ...]] = (
    *(r.value for r in Region),
    *(FOUR_G_PREFIX + r.value for r in Region),
)
"""A Comms Hub's CSP region as DUIS reports it (`CSPRegion`): a 2G/3G or long-range-radio hub is in its
geographic region, a 4G Comms Hub in `4G <region>` (DUIS 5.4 schema)."""


def gateway_region(hub_region: str) -> str:
    """The geographic region whose CSP gateway serves a hub in `hub_region` ('4G Central' → 'Central').

    A 4G Comms Hub is served by the gateway of its geographic region, over that region's 4G WAN link
    (`hanota.network`); distribution jobs, gateways and event batches are per geographic region."""
    return hub_region.removeprefix(FOUR_G_PREFIX)


def hub_regions_of(region: str) -> tuple[str, str]:
    """The hub regions one gateway serves: its own and its 4G one ('Central' → 'Central', '4G Central')."""
    return (region, FOUR_G_PREFIX + region)


def is_4g(hub_region: str | None) -> bool:
    """Whether a hub in `hub_region` is a 4G Comms Hub."""
    return hub_region is not None and hub_region.startswith(FOUR_G_PREFIX)


class RequestStatus(StrEnum):
    """A DUIS request the DSP recorded (`service_requests.status`)."""

    ACCEPTED = "accepted"
    REJECTED = "rejected"
    QUARANTINED = "quarantined"
    RELEASED = "released"
    DELETED = "deleted"


RUNNING_REQUESTS: Final = (RequestStatus.ACCEPTED, RequestStatus.RELEASED)
"""The statuses of a request whose devices are being delivered."""


class QuarantineStatus(StrEnum):
    """A quarantined request's entry (`quarantined_requests.status`)."""

    QUARANTINED = "quarantined"
    RELEASED = "released"
    DELETED = "deleted"


class Outcome(StrEnum):
    """Where SR 11.4 / 11.1 validation put one device: accepted, or the DUIS warning list it went to
    (`request_devices.outcome`; the lists' names are DUIS 5.4's element names)."""

    ACCEPTED = "Accepted"
    INVALID_DEVICE_ID = "InvalidDeviceIDList"
    NOT_COMMISSIONED = "NotCommissionedDeviceIDList"
    NOT_APPLICABLE_FIRMWARE = "NotApplicableFirmwareDeviceIDList"
    OTHER_REQUEST_IN_PROGRESS = "OtherRequestInProgressList"
    INVALID_GBCS_VERSION = "InvalidGBCSVersionList"


WARNING_LISTS: Final = tuple(o for o in Outcome if o is not Outcome.ACCEPTED)
"""The warning lists, in the order the DCC Boxed answer carries them."""


class DeviceState(StrEnum):
    """How far delivery got for one device of a request (`request_devices.state`)."""

    REJECTED = "rejected"
    ACCEPTED = "accepted"
    SENT = "sent"
    CSP_REJECTED = "csp_rejected"
    TRANSFERRED = "transferred"
    TRANSFER_FAILED = "transfer_failed"
    ACTIVATED = "activated"
    ACTIVATION_FAILED = "activation_failed"


DEVICE_TRANSITIONS: Final[dict[DeviceState, frozenset[DeviceState]]] = {
    DeviceState.REJECTED: frozenset(),
    DeviceState.ACCEPTED: frozenset({DeviceState.SENT, DeviceState.CSP_REJECTED}),
    DeviceState.SENT: frozenset({DeviceState.TRANSFERRED, DeviceState.TRANSFER_FAILED}),
    DeviceState.CSP_REJECTED: frozenset(),
    DeviceState.TRANSFERRED: frozenset({DeviceState.ACTIVATED, DeviceState.ACTIVATION_FAILED}),
    DeviceState.TRANSFER_FAILED: frozenset(),
    DeviceState.ACTIVATED: frozenset(),
    DeviceState.ACTIVATION_FAILED: frozenset(),
}
"""The moves a device's state may make; a state with none is final."""

IN_FLIGHT: Final = (DeviceState.ACCEPTED, DeviceState.SENT, DeviceState.TRANSFERRED)
"""Accepted and not yet finished: a new request for the same image and device waits in a warning list."""
WAITING: Final = (DeviceState.ACCEPTED, DeviceState.SENT)
"""Accepted and the image not yet on the device."""
FAILED: Final = (DeviceState.CSP_REJECTED, DeviceState.TRANSFER_FAILED, DeviceState.ACTIVATION_FAILED)
"""Accepted, and delivery failed for good (the DCC does not retry, seed A-006: the supplier may)."""
REACHED: Final = (DeviceState.TRANSFERRED, DeviceState.ACTIVATED, DeviceState.ACTIVATION_FAILED)
"""The image reached the device (whatever activation did next)."""
FINAL: Final = tuple(s for s, moves in DEVICE_TRANSITIONS.items() if not moves)
"""The states a device never leaves."""


def may_move(old: DeviceState, new: DeviceState) -> bool:
    """Whether a device may go from `old` to `new`."""
    return new in DEVICE_TRANSITIONS[old]


class JobStatus(StrEnum):
    """A distribution job: one file per request per CSP region (`distribution_jobs.status`)."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    DEAD = "dead"


JOB_TRANSITIONS: Final[dict[JobStatus, frozenset[JobStatus]]] = {
    JobStatus.PENDING: frozenset({JobStatus.SENDING}),
    JobStatus.SENDING: frozenset({JobStatus.SENT, JobStatus.PENDING, JobStatus.DEAD, JobStatus.SENDING}),
    JobStatus.SENT: frozenset(),
    JobStatus.DEAD: frozenset({JobStatus.PENDING}),
}
"""A job is claimed (sending; a stale claim is claimed again), answered (sent), retried later (pending) or
dead-lettered after the cap (dead); an operator's retry makes a dead job pending."""


class TargetState(StrEnum):
    """One target of a distribution on the CSP side (`csp_targets.state`): queued by the gateway, then what
    the network did with it (the same words as the DSP's `DeviceState` for the same moves)."""

    QUEUED = "queued"
    TRANSFERRED = "transferred"
    TRANSFER_FAILED = "transfer_failed"
    ACTIVATED = "activated"
    ACTIVATION_FAILED = "activation_failed"


DISTRIBUTION_PREFIX: Final = "dsp-job-"


def distribution_id(job_id: int) -> str:
    """The id a distribution job's file carries to its CSP, and every event about it carries back."""
    return f"{DISTRIBUTION_PREFIX}{job_id}"


def job_of(distribution: str) -> int | None:
    """The distribution job a distribution id names, or None if it is not one of ours ('dsp-job-12' → 12)."""
    if not distribution.startswith(DISTRIBUTION_PREFIX):
        return None
    number = distribution[len(DISTRIBUTION_PREFIX) :]
    # ASCII digits that fit a BIGINT only: str.isdigit() also accepts "²" (int() refuses it), and a longer
    # number overflows the database driver; either names no job here
    if not (number.isascii() and number.isdigit()) or len(number) > 18:
        return None
    return int(number)


def sql_list(values: Iterable[StrEnum]) -> str:
    """Values for a SQL `IN (...)`, quoted: `'accepted', 'sent'`. Only for this module's own words (no
    quote can occur in them), never for input."""
    return ", ".join(f"'{v.value}'" for v in values)
