"""SR 11.4 Update PPMID Firmware and SR 11.1 Update Firmware: what differs between the two (`FirmwareSR`),
one device's outcome (`DeviceOutcome`) and a validated request (`Validated`).

The checks that produce them are in `hanota.dsp.update_firmware` (the request's) and `hanota.dsp.classify`
(every device's); the outcomes are the delivery lifecycle's `Outcome`s (`hanota.lifecycle`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import NamedTuple

from hanota.db.models import CPLEntry
from hanota.duis import codes
from hanota.duis.responses import DSPUpdateFirmwareWarning, DSPUpdatePPMIDFirmwareWarning
from hanota.firmware import FirmwareImage
from hanota.lifecycle import WARNING_LISTS, Outcome

ACCEPTED = Outcome.ACCEPTED
# the warning lists (which rule feeds which: `hanota.dsp.classify`, and `codes.EXCLUSIONS`)
INVALID = Outcome.INVALID_DEVICE_ID
NOT_COMMISSIONED = Outcome.NOT_COMMISSIONED
NOT_APPLICABLE = Outcome.NOT_APPLICABLE_FIRMWARE
IN_PROGRESS = Outcome.OTHER_REQUEST_IN_PROGRESS
INVALID_GBCS = Outcome.INVALID_GBCS_VERSION
#: the reason's tail for a device already running the request's version (after "current firmware <version> ")
ALREADY_ON_VERSION = "is already the request's version: nothing to update"
IN_FLIGHT_REASON = "the sender already has this image in flight for this device"


@dataclass(frozen=True)
class FirmwareSR:
    """What differs between 11.4 and 11.1."""

    srv: str
    target_types: frozenset[str]
    needs_han_ota: bool
    priority: int  # CSP queue class: 0 = ESME/GSME firmware, always ahead of 1 = HAN firmware
    signed_image: bool  # ESME/GSME images carry the GBCS supplier-signature trailer
    image_invalid: str
    hash_not_active: str
    version_mismatch: str
    not_for_types: str
    no_device_left: str
    devices_excluded: str
    warning: (
        type[DSPUpdatePPMIDFirmwareWarning] | type[DSPUpdateFirmwareWarning]
    )  # the excluded-devices payload


SR_11_4 = FirmwareSR(
    srv="11.4",
    target_types=frozenset({"PPMID", "IHD"}),
    needs_han_ota=True,
    priority=1,
    signed_image=False,
    image_invalid=codes.PPMID_IMAGE_INVALID,
    hash_not_active=codes.PPMID_HASH_NOT_ACTIVE,
    version_mismatch=codes.PPMID_VERSION_MISMATCH,
    not_for_types=codes.PPMID_IMAGE_NOT_FOR_DEVICE_TYPES,
    no_device_left=codes.PPMID_NO_DEVICE_LEFT,
    devices_excluded=codes.PPMID_DEVICES_EXCLUDED,
    warning=DSPUpdatePPMIDFirmwareWarning,
)
SR_11_1 = FirmwareSR(
    srv="11.1",
    target_types=frozenset({"ESME", "GSME"}),
    needs_han_ota=False,
    priority=0,
    signed_image=True,
    image_invalid=codes.FIRMWARE_IMAGE_INVALID,
    hash_not_active=codes.FIRMWARE_HASH_NOT_ACTIVE,
    version_mismatch=codes.FIRMWARE_VERSION_MISMATCH,
    not_for_types=codes.FIRMWARE_IMAGE_NOT_FOR_DEVICE_TYPES,
    no_device_left=codes.FIRMWARE_NO_DEVICE_LEFT,
    devices_excluded=codes.FIRMWARE_DEVICES_EXCLUDED,
    warning=DSPUpdateFirmwareWarning,
)
FIRMWARE_SRS = {"11.4": SR_11_4, "11.1": SR_11_1}


class DeviceOutcome(NamedTuple):
    device_id: str
    device_type: str | None
    hub_id: str | None
    region: str | None
    outcome: str  # ACCEPTED or one of WARNING_LISTS
    reason: str | None


@dataclass(frozen=True)
class Validated:
    """The result of validating an 11.4/11.1: the image, its CPL entry and every device's outcome."""

    sr: FirmwareSR
    image: FirmwareImage
    cpl: CPLEntry
    outcomes: tuple[DeviceOutcome, ...]

    @cached_property
    def accepted(self) -> list[DeviceOutcome]:
        return [o for o in self.outcomes if o.outcome == ACCEPTED]

    def lists(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {name.value: [] for name in (ACCEPTED, *WARNING_LISTS)}
        for device_id, _, _, _, outcome, _ in self.outcomes:
            out[outcome].append(device_id)
        return {k: v for k, v in out.items() if v and k != ACCEPTED}

    @property
    def response_code(self) -> str:
        if not self.accepted:
            return self.sr.no_device_left
        return self.sr.devices_excluded if len(self.accepted) < len(self.outcomes) else codes.SUCCESS
