"""The DSP ↔ CSP interface, version 1 (seed §2.1: "new interfaces (one per CSP) for sending a firmware image
and a list of validated device IDs … and for each device the associated CHF … a mechanism to enable the CSP
to reject device IDs").

`POST {csp}/v1/distributions` carries one file: the image once, its version and hash, the priority class,
and per target everything the gateway needs to know about it: the device ID, its CHF ID and device type, and
what the Smart Metering Inventory says at the time of sending about the Comms Hub (its CSP region, which
also says whether it is a 4G hub), the hub whose HAN the device is on, and the device's hardware version.
The CSP side never reads the DSP's tables: what it decides and simulates comes from this file. The answer
lists the targets the CSP rejects, with a reason; the others are queued. The call is idempotent by
`distribution_id`: a resend gets the first answer.
Requests are authenticated with an HMAC-SHA256 of the body under the region's key
(`X-Hanota-Signature: sha256=<hex>`); `GET {csp}/v1/openapi.json` describes it.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field, field_serializer

# The wire uses the network model's vocabulary: the priority classes (ESME/GSME firmware is served before
# HAN-device firmware) and what can happen to a target.
from hanota.network.distribution import PriorityClass
from hanota.network.events import EventKind, FailureReason

API_VERSION = "v1"
EUI_PATTERN = r"^[0-9A-F]{2}(-[0-9A-F]{2}){7}$"
SIGNATURE_HEADER = "X-Hanota-Signature"


class RejectReason(StrEnum):
    UNKNOWN_HUB = "UnknownCommsHub"
    HUB_NOT_IN_REGION = "CommsHubNotInRegion"
    DEVICE_NOT_ON_HUB = "DeviceNotOnCommsHubHAN"


class Target(BaseModel):
    """One device to update, behind the Comms Hub `chf_id` (the hub the DSP validated it on).

    The other fields are the inventory's facts at the time the file is sent, all required: `hub_region` is
    the CSP region of `chf_id` ('Central', or '4G Central' for a 4G Comms Hub; None: no such hub),
    `han_hub_id` the hub whose HAN the device is on now (None: the device is unknown; a device moved since
    validation is on another hub), `hardware_version` the device's (None: not recorded)."""

    device_id: str = Field(pattern=EUI_PATTERN)
    chf_id: str = Field(pattern=EUI_PATTERN)
    device_type: str = Field(pattern=r"^(ESME|GSME|PPMID|IHD)$")
    hub_region: str | None = Field(max_length=16)
    han_hub_id: str | None = Field(pattern=EUI_PATTERN)
    hardware_version: int | None


class Distribution(BaseModel):
    distribution_id: str = Field(min_length=1, max_length=80)
    request_id: str = Field(min_length=1, max_length=80)
    priority: PriorityClass
    firmware_version: str = Field(min_length=1, max_length=8)
    firmware_hash: str = Field(pattern=r"^[0-9a-f]{64}$")
    image: str = Field(description="the OTA image, base64", max_length=14_000_000)
    targets: list[Target] = Field(min_length=1, max_length=50_000)


class Rejection(BaseModel):
    device_id: str
    reason: RejectReason


class DistributionAnswer(BaseModel):
    distribution_id: str
    region: str
    accepted: int
    rejected: list[Rejection]


def region_key(secret: str, region: str) -> bytes:
    """The HMAC key of one region's interface, derived from the shared deployment secret."""
    return hmac.new(secret.encode(), f"hanota csp {region.lower()}".encode(), hashlib.sha256).digest()


def sign_body(key: bytes, body: bytes) -> str:
    return "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()


def check_signature(key: bytes, body: bytes, header: str | None) -> bool:
    return header is not None and hmac.compare_digest(sign_body(key, body), header)


# --- events: CSP → DSP (`POST {dsp}/api/v1/csp/{region}/events`) -------------------------------------


class TargetEvent(BaseModel):
    """One thing that happened to one target of a distribution, at `at` (the network's time)."""

    distribution_id: str = Field(min_length=1, max_length=80)
    device_id: str = Field(pattern=EUI_PATTERN)
    chf_id: str = Field(pattern=EUI_PATTERN)
    kind: EventKind
    reason: FailureReason | None = None
    at: datetime

    @field_serializer("at")
    def _at(self, at: datetime) -> str:
        """ISO 8601 as Python writes it ('+00:00', not 'Z'): the bytes every batch has carried."""
        return at.isoformat()


class EventBatch(BaseModel):
    """Events of one region, numbered: the DSP applies batch `seq` only right after `seq - 1`, once.

    A resend of an applied batch (a lost answer) gets 409 with the DSP's `last_seq`, from which the gateway
    learns it was applied; a replayed old batch or a forged one (wrong HMAC) changes nothing."""

    region: str
    seq: int = Field(ge=1)
    events: list[TargetEvent] = Field(min_length=1, max_length=20_000)


class BatchAnswer(BaseModel):
    region: str
    last_seq: int
    applied: int = 0
    detail: str = ""


__all__ = [
    "API_VERSION", "EUI_PATTERN", "SIGNATURE_HEADER", "BatchAnswer", "Distribution", "DistributionAnswer",
    "EventBatch", "EventKind", "FailureReason", "PriorityClass", "RejectReason", "Rejection", "Target",
    "TargetEvent", "check_signature", "region_key", "sign_body",
]  # fmt: skip
