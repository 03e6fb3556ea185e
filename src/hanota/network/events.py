"""What the network reports back, per target, and what its queues hold.

Each target ends in exactly one of:

- `transferred` at t, then `activated` at t' (success) or `activation_failed` at t' (`ActivationFailure`);
- `transfer_failed` at t with a reason: `HardwareVersionMismatch` (the image header's hardware range does
  not cover the device), `FirmwareImageDiscarded`, `FileTransferFailure`, or `DeviceUnreachable`.

The first three reasons are the Comms Hub's `FirmwareTransferAlert` values; `DeviceUnreachable` is the
model's name for a device that never asked for the image (the gateway maps it to its alert).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from hanota.lifecycle import TargetState


class EventKind(StrEnum):
    """The stage a target event reports: the words of the CSP target's state it moves to
    (`hanota.lifecycle.TargetState`, all but `queued`)."""

    TRANSFERRED = TargetState.TRANSFERRED.value
    TRANSFER_FAILED = TargetState.TRANSFER_FAILED.value
    ACTIVATED = TargetState.ACTIVATED.value
    ACTIVATION_FAILED = TargetState.ACTIVATION_FAILED.value


class FailureReason(StrEnum):
    """Why a transfer or an activation failed (hub and device alert vocabulary)."""

    HARDWARE_VERSION_MISMATCH = "HardwareVersionMismatch"
    FIRMWARE_IMAGE_DISCARDED = "FirmwareImageDiscarded"
    FILE_TRANSFER_FAILURE = "FileTransferFailure"
    DEVICE_UNREACHABLE = "DeviceUnreachable"
    ACTIVATION_FAILURE = "ActivationFailure"


@dataclass(frozen=True, slots=True)
class Event:
    """Something that happened to one target at virtual second `time`."""

    time: float
    kind: EventKind
    distribution_id: str
    target_id: str
    hub_id: str
    reason: FailureReason | None = None


@dataclass(frozen=True, slots=True)
class ClassQueueState:
    """Targets of one priority class at one moment.

    `pending`: submitted for a later virtual time; `queued`: waiting for their hub's image to get a WAN
    session; `in_flight`: image on the WAN, at the hub awaiting pick-up, downloading or activating;
    `done`: reached their last event (activated, activation failed or transfer failed).
    """

    pending: int
    queued: int
    in_flight: int
    done: int

    @property
    def submitted(self) -> int:
        """All targets of this class submitted so far."""
        return self.pending + self.queued + self.in_flight + self.done


@dataclass(frozen=True, slots=True)
class QueueState:
    """The engine's queues at virtual second `time`."""

    time: float
    esme_gsme: ClassQueueState
    han: ClassQueueState
    transfers_queued: int
    sessions_busy: int
    sessions: int
    window_open: bool
    # the region's 4G link (its 4G Comms Hubs); the three above are the region's own WAN
    transfers_queued_4g: int = 0
    sessions_busy_4g: int = 0
    sessions_4g: int = 0
