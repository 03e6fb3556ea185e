"""Typed DUIS messages: requests the product serves, responses and DCC alerts it sends.

Values are frozen dataclasses that check themselves on construction (``ValueError`` for a programming
error); the parse functions turn wire input into them and answer `InputError` (code MALFORMED_REQUEST),
`TooLarge` or, for a known SRV the product does not serve, `AccessError` with E13. Render functions write
compact UTF-8 XML (no whitespace between elements) that validates against duis-5.4.xsd, and
``parse(render(x)) == x`` for every value.

Device IDs (EUIs) are held in the canonical form ``XX-XX-XX-XX-XX-XX-XX-XX``, upper-case hex. The schema
allows lower-case hex on the wire, so the parsers accept it and normalise to upper case; the constructors
accept only the canonical form. A device ID list keeps the order and any duplicates of the request: what to do
with duplicates is the DSP's decision, not the wire format's.

What the wire format does not say and the product needs to know (which code goes with which failure, which
alert code with which payload) lives in `hanota.duis.codes`.
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from enum import StrEnum
from functools import partial
from typing import Final, TypeVar

from lxml import etree

from hanota.errors import AccessError, InputError, TooLarge

from . import codes
from .xmlparse import DS, SR, SR_NS

# --------------------------------------------------------------------------------------------------
# Limits (duis-5.4.xsd)
# --------------------------------------------------------------------------------------------------

#: FirmwareImage is xs:base64Binary with maxLength 10,240,000 (octets).
MAX_IMAGE_OCTETS: Final = 10_240_000
#: DeviceIDList maxLength 1,199,999 characters = 50,000 IDs of 23 characters with 49,999 commas.
MAX_DEVICE_IDS: Final = 50_000
#: DSPInventory holds at most 17 Device entries.
MAX_INVENTORY_DEVICES: Final = 17
MAX_COUNTER: Final = 2**64 - 1
SCHEMA_VERSION: Final = "5.4"

_EUI_RE: Final = re.compile(r"[0-9A-Fa-f]{2}(?:-[0-9A-Fa-f]{2}){7}")
_CANONICAL_EUI_RE: Final = re.compile(r"[0-9A-F]{2}(?:-[0-9A-F]{2}){7}")
_HEX: Final = frozenset("0123456789ABCDEFabcdef")
_COUNTER_RE: Final = re.compile(r"0|[1-9][0-9]{0,19}")
_DECIMAL_RE: Final = re.compile(r"[0-9]+(?:\.[0-9]+)?")
_RESPONSE_CODE_RE: Final = re.compile(r"[IEW][0-9]{1,7}")
_DATETIME_RE: Final = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?(?:Z|[+-][0-9]{2}:[0-9]{2})?"
)
_DATE_RE: Final = re.compile(r"([0-9]{4}-[0-9]{2}-[0-9]{2})(?:Z|[+-][0-9]{2}:[0-9]{2})?")
_INTEGER_RE: Final = re.compile(r"[+-]?[0-9]+")
_HEX_RE: Final = re.compile(r"(?:[0-9A-Fa-f]{2})+")
#: The longest integer text `_parse_int` reads: every DUIS integer the product reads fits in 21 digits; leading
#: zeros are legal (``0008`` is an xs:positiveInteger) but int() of over 4,300 digits raises ValueError.
_MAX_INT_TEXT: Final = 40

#: DCCAlertCode enumeration of duis-5.4.xsd (N32 is absent from the schema).
DCC_ALERT_CODES: Final = frozenset({"AD1", "N999"} | {f"N{n}" for n in range(1, 66) if n != 32})


# --------------------------------------------------------------------------------------------------
# Enumerations (duis-5.4.xsd)
# --------------------------------------------------------------------------------------------------


class DeviceType(StrEnum):
    ESME = "ESME"
    GSME = "GSME"
    GPF = "GPF"
    CHF = "CHF"
    HCALCS = "HCALCS"
    PPMID = "PPMID"
    IHD = "IHD"
    CAD = "CAD"


class DeviceStatus(StrEnum):
    PENDING = "Pending"
    WHITELISTED = "Whitelisted"
    INSTALLED_NOT_COMMISSIONED = "InstalledNotCommissioned"
    COMMISSIONED = "Commissioned"
    DECOMMISSIONED = "Decommissioned"
    WITHDRAWN = "Withdrawn"
    SUSPENDED = "Suspended"
    RECOVERY = "Recovery"
    RECOVERED = "Recovered"


#: UpdateDeviceStatusExceptCH / UpdateDeviceStatusCH (8.4).
STATUSES_EXCEPT_CH: Final = frozenset({DeviceStatus.PENDING, DeviceStatus.INSTALLED_NOT_COMMISSIONED})
STATUSES_CH: Final = frozenset(
    {DeviceStatus.COMMISSIONED, DeviceStatus.WITHDRAWN, DeviceStatus.INSTALLED_NOT_COMMISSIONED}
)


class FirmwareStatus(StrEnum):
    """FirmwareVersionStatus and CPLStatus share these values."""

    ACTIVE = "Active"
    CANCELLED = "Cancelled"
    EXPIRED = "Expired"
    WITHDRAWN = "Withdrawn"


class CSPRegion(StrEnum):
    NORTH = "North"
    CENTRAL = "Central"
    SOUTH = "South"
    NORTH_4G = "4G North"
    CENTRAL_4G = "4G Central"
    SOUTH_4G = "4G South"
    UNKNOWN = "Unknown"
    SMETS1 = "SMETS1"


class Connectivity(StrEnum):
    CELLULAR = "Cellular"
    VIRTUAL = "Virtual"


class MPxNField(StrEnum):
    """The choice of UpdateMPxN (8.4)."""

    IMPORT_MPXN = "ImportMPxN"
    SECONDARY_IMPORT_MPAN = "SecondaryImportMPAN"
    EXPORT_MPAN = "ExportMPAN"


class TransferStatus(StrEnum):
    """CSPFirmwareDeliveryStatus/CommsHubTransferStatus."""

    SUCCESS = "Success"
    FAILURE = "Failure"


class TransferResponseCode(StrEnum):
    """FirmwareTransferAlert/TransferResponseCode."""

    FILE_TRANSFER_SUCCESS = "FileTransferSuccess"
    FIRMWARE_IMAGE_DISCARDED = "FirmwareImageDiscarded"
    HARDWARE_VERSION_MISMATCH = "HardwareVersionMismatch"
    FILE_TRANSFER_FAILURE = "FileTransferFailure"


class ActivationResult(StrEnum):
    """PPMIDFirmwareUpgradeAlert/ActivateImageResultCode."""

    SUCCESS = "ActivationSuccess"
    FAILURE = "ActivationFailure"


class QuarantineKind(StrEnum):
    """The choice of QuarantinedRequest."""

    USER_THRESHOLD = "ADUserThresholdBreach"
    DCC_THRESHOLD = "ADDCCThresholdBreach"
    ATTRIBUTE_LIMITS = "ADAttributeLimitsBreach"


ESME_VARIANTS: Final = frozenset(
    {
        "A",
        "B",
        "C",
        "AD",
        "BD",
        "CD",
        "ADE",
        "BDE",
        "CDE",
        "ADF",
        "BDF",
        "CDF",
        "ADEF",
        "BDEF",
        "CDEF",
        "ADG",
        "ADEG",
        "AF",
        "BF",
        "CF",
        "AEF",
        "BEF",
        "CEF",
        "AG",
        "AEG",
    }
)


# --------------------------------------------------------------------------------------------------
# Value checks (ValueError: these guard the constructors)
# --------------------------------------------------------------------------------------------------


def is_eui(value: object) -> bool:
    """True for a canonical EUI: ``XX-XX-XX-XX-XX-XX-XX-XX``, upper-case hex."""
    return isinstance(value, str) and _CANONICAL_EUI_RE.fullmatch(value) is not None


def _check_eui(value: object, what: str) -> None:
    if not is_eui(value):
        raise ValueError(
            f"{what} must be a canonical EUI XX-XX-XX-XX-XX-XX-XX-XX (upper-case hex), not {value!r}"
        )


def _check_eui_tuple(values: object, what: str, *, min_items: int, max_items: int | None) -> None:
    if not isinstance(values, tuple):
        raise ValueError(f"{what} must be a tuple of EUIs, not {type(values).__name__}")
    if len(values) < min_items:
        raise ValueError(f"{what} needs at least {min_items} device ID(s)")
    if max_items is not None and len(values) > max_items:
        raise ValueError(f"{what} holds {len(values):,} device IDs, over the {max_items:,} limit")
    if not values:
        return
    if not all(isinstance(v, str) for v in values):
        raise ValueError(f"{what} must hold strings")
    joined = ",".join(values)
    if not _is_eui_list(joined) or joined != joined.upper():
        bad = next(v for v in values if not is_eui(v))
        raise ValueError(f"{what}: {bad!r} is not a canonical EUI (upper-case XX-XX-XX-XX-XX-XX-XX-XX)")


def _check_str(value: object, what: str, *, min_len: int = 0, max_len: int | None = None) -> None:
    if not isinstance(value, str):
        raise ValueError(f"{what} must be a string, not {type(value).__name__}")
    if len(value) < min_len or (max_len is not None and len(value) > max_len):
        bounds = f"{min_len}–{max_len}" if max_len is not None else f"at least {min_len}"
        raise ValueError(f"{what} must be {bounds} characters, not {len(value)}: {value[:40]!r}")


def _check_opt_str(value: object, what: str, *, min_len: int = 0, max_len: int | None = None) -> None:
    if value is not None:
        _check_str(value, what, min_len=min_len, max_len=max_len)


def _check_firmware_version(value: object, what: str = "FirmwareVersion") -> None:
    _check_str(value, what, min_len=1, max_len=8)


def _check_enum(value: object, enum: type[StrEnum], what: str) -> None:
    if not isinstance(value, enum):
        raise ValueError(f"{what} must be a {enum.__name__}, not {value!r}")


def _check_opt_enum(value: object, enum: type[StrEnum], what: str) -> None:
    if value is not None:
        _check_enum(value, enum, what)


def _check_esme_variant(value: object) -> None:
    """An optional ESMEVariant: None or one of `ESME_VARIANTS`."""
    if value is not None and value not in ESME_VARIANTS:
        raise ValueError(f"ESMEVariant {value!r} is not a DUIS ESME variant")


def _check_aware(value: object, what: str) -> None:
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be a timezone-aware datetime, not {value!r}")


def _check_int(value: object, what: str, lo: int, hi: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
        raise ValueError(f"{what} must be an integer in {lo}..{hi}, not {value!r}")


def _is_eui_list(text: str) -> bool:
    """True if `text` is a comma list of EUIs (either case) with nothing else — linear, no per-ID regex.

    Every ID is 23 characters and is followed by a comma except the last, so an n-ID list is 24n-1
    characters; the separators sit at every third position from index 2 (seven hyphens and a comma per ID)
    and every other position is a hex digit. Three C-level slices check that; a compiled regex over the
    whole string (the obvious alternative) takes ~4× longer on 50,000 IDs.
    """
    count, rest = divmod(len(text) + 1, 24)
    if rest or count == 0:
        return False
    if text[2::3] != ("-------," * count)[:-1]:
        return False
    return _HEX.issuperset(text[0::3]) and _HEX.issuperset(text[1::3])


# --------------------------------------------------------------------------------------------------
# Wire-input helpers (InputError)
# --------------------------------------------------------------------------------------------------


def _malformed(message: str) -> InputError:
    return InputError(message, code=codes.MALFORMED_REQUEST)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _qname(el: etree._Element) -> str:
    tag = el.tag if isinstance(el.tag, str) else "?"
    if tag.startswith(SR):
        return "sr:" + tag[len(SR) :]
    if tag.startswith(DS):
        return "ds:" + tag[len(DS) :]
    return tag


def parse_eui(text: str | None, where: str = "DeviceID") -> str:
    """Parse a wire EUI (xs:token: surrounding whitespace allowed, either case) into canonical form."""
    value = (text or "").strip()
    if _EUI_RE.fullmatch(value) is None:
        raise _malformed(f"{where}: {value[:40]!r} is not an EUI XX-XX-XX-XX-XX-XX-XX-XX")
    return value.upper()


def format_eui(raw: bytes) -> str:
    """The canonical EUI of 8 octets: ``90-B3-D5-1F-30-01-00-00``. ValueError for any other length."""
    if len(raw) != 8:
        raise ValueError(f"an EUI is 8 octets, not {len(raw)}")
    return "-".join(f"{octet:02X}" for octet in raw)


def eui_bytes(eui: str) -> bytes:
    """The 8 octets of an EUI ``XX-XX-XX-XX-XX-XX-XX-XX`` (either case); ValueError if it is not one."""
    if not isinstance(eui, str) or _EUI_RE.fullmatch(eui) is None:
        raise ValueError(f"{eui!r} is not an EUI XX-XX-XX-XX-XX-XX-XX-XX")
    return bytes.fromhex(eui.replace("-", ""))


def parse_device_id_list(
    text: str | None, where: str = "DeviceIDList", *, max_ids: int | None = None
) -> tuple[str, ...]:
    """Parse a comma-separated EUI list (xs:string: no whitespace anywhere) into canonical EUIs.

    Linear in the length: a length and three slice checks (`_is_eui_list`), one ``upper()`` and one
    ``split()`` — about 7 ms for 50,000 IDs. Raises `TooLarge` over `max_ids`.
    """
    value = text or ""
    if not _is_eui_list(value):
        raise _malformed(f"{where}: {_describe_bad_list(value)}")
    count = (len(value) + 1) // 24
    if max_ids is not None and count > max_ids:
        raise TooLarge(
            f"{where} holds {count:,} device IDs, over the {max_ids:,} limit", code=codes.REQUEST_TOO_LARGE
        )
    return tuple(value.upper().split(","))


def _describe_bad_list(text: str) -> str:
    """Name the first bad entry (error path only, so a per-entry scan is fine)."""
    if not text:
        return "empty; at least one EUI is required"
    for index, item in enumerate(text.split(",")):
        if _EUI_RE.fullmatch(item) is None:
            return (
                f"entry {index + 1} {item[:40]!r} is not an EUI XX-XX-XX-XX-XX-XX-XX-XX (no spaces allowed)"
            )
    return "not a comma-separated list of EUIs"  # pragma: no cover - unreachable: every entry matched


def render_device_id_list(ids: Sequence[str]) -> str:
    """The wire form of a device ID list."""
    return ",".join(ids)


def _parse_datetime(text: str | None, where: str) -> datetime:
    value = (text or "").strip()
    if _DATETIME_RE.fullmatch(value) is None:
        raise _malformed(f"{where}: {value[:40]!r} is not an xs:dateTime")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise _malformed(f"{where}: {value[:40]!r} is not a valid date and time") from exc
    if parsed.tzinfo is None:
        raise _malformed(f"{where}: {value[:40]!r} has no timezone")
    try:
        return parsed.astimezone(UTC)
    except OverflowError as exc:  # 0001-01-01T00:00:00+01:00 is before year 1 in UTC
        raise _malformed(f"{where}: {value[:40]!r} is out of range in UTC") from exc


def render_datetime(value: datetime) -> str:
    """xs:dateTime in UTC as DCC Boxed writes it: exactly three fraction digits and a ``Z``.

    ``2025-12-28T16:51:01.185Z``. Sub-millisecond digits are dropped (truncated, never rounded up, so a
    time never moves into the next second). `_parse_datetime` reads any number of fraction digits.
    """
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


def render_date(value: date) -> str:
    """xs:date with the UTC zone as DCC Boxed writes it (``2025-12-28Z``); `_parse_date` reads it with or
    without a zone."""
    return value.isoformat() + "Z"


def _parse_date(text: str | None, where: str) -> date:
    value = (text or "").strip()
    match = _DATE_RE.fullmatch(value)
    if match is None:
        raise _malformed(f"{where}: {value[:40]!r} is not an xs:date")
    try:
        return date.fromisoformat(match.group(1))
    except ValueError as exc:
        raise _malformed(f"{where}: {value!r} is not a valid date") from exc


def _parse_int(text: str | None, where: str, lo: int, hi: int) -> int:
    value = (text or "").strip()
    if len(value) > _MAX_INT_TEXT:
        raise _malformed(f"{where}: {value[:40]!r}… is {len(value):,} characters, over {_MAX_INT_TEXT}")
    if _INTEGER_RE.fullmatch(value) is None:
        raise _malformed(f"{where}: {value[:40]!r} is not an integer")
    number = int(value)
    if not lo <= number <= hi:
        raise _malformed(f"{where}: {number} is outside {lo}..{hi}")
    return number


def _parse_alert_code(text: str | None, where: str) -> int:
    """A GBCS alert code: xs:hexBinary of two octets (``8F8A``)."""
    value = (text or "").strip()
    if _HEX_RE.fullmatch(value) is None or len(value) != 4:
        raise _malformed(f"{where}: {value[:40]!r} is not a two-octet hexBinary alert code")
    return int(value, 16)


_E = TypeVar("_E", bound=StrEnum)


def _parse_enum(enum: type[_E], text: str | None, where: str) -> _E:
    value = text or ""
    try:
        return enum(value)
    except ValueError as exc:
        allowed = ", ".join(member.value for member in enum)
        raise _malformed(f"{where}: {value[:40]!r} is not one of {allowed}") from exc


def _parse_base64(text: str | None, where: str) -> bytes:
    """Strict xs:base64Binary, XML whitespace allowed anywhere; InputError otherwise.

    binascii raises a plain ValueError (not binascii.Error) for a non-ASCII str, so that is refused first;
    str.split() would also drop non-XML whitespace such as U+00A0 and U+2028, which are not ASCII.
    """
    value = text or ""
    if not value.isascii():
        raise _malformed(f"{where} is not valid base64: it has non-ASCII characters")
    try:
        return binascii.a2b_base64(value, strict_mode=True)
    except binascii.Error:
        pass
    try:
        return binascii.a2b_base64("".join(value.split()), strict_mode=True)
    except binascii.Error as exc:
        raise _malformed(f"{where} is not valid base64: {exc}") from exc


def _parse_image(text: str | None) -> bytes:
    """FirmwareImage (xs:base64Binary): strict base64, whitespace allowed, at most MAX_IMAGE_OCTETS."""
    image = _parse_base64(text, "FirmwareImage")
    if len(image) > MAX_IMAGE_OCTETS:
        raise TooLarge(
            f"FirmwareImage is {len(image):,} octets, over the {MAX_IMAGE_OCTETS:,}-octet limit",
            code=codes.REQUEST_TOO_LARGE,
        )
    return image


class _Children:
    """Walks the element children of a DUIS element in schema order (comments ignored)."""

    def __init__(self, parent: etree._Element) -> None:
        self.parent = parent
        self.items = [child for child in parent if isinstance(child.tag, str)]
        self.index = 0

    def peek(self) -> etree._Element | None:
        return self.items[self.index] if self.index < len(self.items) else None

    def optional(self, name: str) -> etree._Element | None:
        child = self.peek()
        if child is not None and child.tag == SR + name:
            self.index += 1
            return child
        return None

    def required(self, name: str) -> etree._Element:
        child = self.optional(name)
        if child is None:
            found = self.peek()
            got = f"found {_qname(found)}" if found is not None else "found nothing"
            raise _malformed(f"{_qname(self.parent)}: expected sr:{name}, {got}")
        return child

    def text(self, name: str) -> str:
        return self.required(name).text or ""

    def optional_text(self, name: str) -> str | None:
        child = self.optional(name)
        return None if child is None else (child.text or "")

    def choice(self) -> etree._Element:
        """The one remaining element of an ``xs:choice``."""
        child = self.peek()
        if child is None:
            raise _malformed(f"{_qname(self.parent)}: expected one child element, found none")
        self.index += 1
        return child

    def end(self) -> None:
        child = self.peek()
        if child is not None:
            raise _malformed(f"{_qname(self.parent)}: unexpected element {_qname(child)}")


# --------------------------------------------------------------------------------------------------
# Render helpers
# --------------------------------------------------------------------------------------------------

_XML_DECLARATION: Final = b'<?xml version="1.0" encoding="UTF-8"?>'
_NSMAP: Final = {"sr": SR_NS}


def _sub(parent: etree._Element, name: str, text: str | None = None) -> etree._Element:
    child = etree.SubElement(parent, SR + name)
    if text is not None:
        child.text = text
    return child


def _sub_opt(parent: etree._Element, name: str, text: str | None) -> None:
    if text is not None:
        _sub(parent, name, text)


def _serialise(root: etree._Element) -> bytes:
    return _XML_DECLARATION + etree.tostring(root, encoding="UTF-8")


# --------------------------------------------------------------------------------------------------
# RequestID
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RequestID:
    """``BusinessOriginatorID:TargetID:Counter``; the uint64 counter strictly increases per originator.

    The same form is used for ResponseID (where the parts are swapped by the sender).
    """

    originator: str
    target: str
    counter: int

    def __post_init__(self) -> None:
        _check_eui(self.originator, "RequestID originator")
        _check_eui(self.target, "RequestID target")
        _check_int(self.counter, "RequestID counter", 0, MAX_COUNTER)

    @classmethod
    def parse(cls, text: str | None, where: str = "RequestID") -> RequestID:
        """Parse the wire form (xs:token, EUIs in either case); InputError if malformed."""
        value = (text or "").strip()
        parts = value.split(":")
        if len(parts) != 3:
            raise _malformed(f"{where}: {value[:80]!r} is not originator:target:counter")
        originator = parse_eui(parts[0], f"{where} originator")
        target = parse_eui(parts[1], f"{where} target")
        if _COUNTER_RE.fullmatch(parts[2]) is None or int(parts[2]) > MAX_COUNTER:
            raise _malformed(f"{where}: counter {parts[2][:30]!r} is not a uint64 without leading zeros")
        return cls(originator, target, int(parts[2]))

    def __str__(self) -> str:
        return f"{self.originator}:{self.target}:{self.counter}"


# --------------------------------------------------------------------------------------------------
# Request bodies
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _FirmwareBody:
    """The shape 11.4 and 11.1 share: an image, its version and up to 50,000 device IDs."""

    image: bytes = field(repr=False)
    firmware_version: str
    device_ids: tuple[str, ...] = field(repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.image, bytes):
            raise ValueError("image must be bytes")
        if len(self.image) > MAX_IMAGE_OCTETS:
            raise ValueError(f"image is {len(self.image):,} octets, over {MAX_IMAGE_OCTETS:,}")
        _check_firmware_version(self.firmware_version)
        _check_eui_tuple(self.device_ids, "DeviceIDList", min_items=1, max_items=MAX_DEVICE_IDS)


@dataclass(frozen=True, slots=True)
class UpdatePPMIDFirmware(_FirmwareBody):
    """SR 11.4 body ``sr:UpdatePPMIDFirmware``: an image, its version and up to 50,000 device IDs."""


@dataclass(frozen=True, slots=True)
class UpdateFirmware(_FirmwareBody):
    """SR 11.1 body ``sr:UpdateFirmware`` (ESME/GSME): the same shape as 11.4."""


@dataclass(frozen=True, slots=True)
class PropertyFilter:
    """``sr:PropertyFilter``: post code (6–8 characters) and address identifier (≤ 30)."""

    post_code: str
    address_identifier: str

    def __post_init__(self) -> None:
        _check_str(self.post_code, "PostCode", min_len=6, max_len=8)
        _check_str(self.address_identifier, "AddressIdentifier", max_len=30)


_MAX_UPRN: Final = 10**12 - 1


@dataclass(frozen=True, slots=True)
class ReadInventory:
    """SR 8.2 body ``sr:ReadInventory``: exactly one search key (DeviceID, UPRN, MPxN or PropertyFilter)."""

    device_id: str | None = None
    uprn: int | None = None
    mpxn: str | None = None
    property_filter: PropertyFilter | None = None

    def __post_init__(self) -> None:
        keys = [k for k in (self.device_id, self.uprn, self.mpxn, self.property_filter) if k is not None]
        if len(keys) != 1:
            raise ValueError("ReadInventory needs exactly one of device_id, uprn, mpxn, property_filter")
        if self.device_id is not None:
            _check_eui(self.device_id, "ReadInventory DeviceID")
        if self.uprn is not None:
            _check_int(self.uprn, "UPRN", 1, _MAX_UPRN)
        _check_opt_str(self.mpxn, "MPxN", min_len=1, max_len=13)
        if self.property_filter is not None and not isinstance(self.property_filter, PropertyFilter):
            raise ValueError("property_filter must be a PropertyFilter")


@dataclass(frozen=True, slots=True)
class UpdateDeviceStatus:
    """8.4 ``UpdateDeviceStatusCH`` (Comms Hub: Commissioned, Withdrawn, InstalledNotCommissioned) or
    ``UpdateDeviceStatusExceptCH`` (other devices: Pending, InstalledNotCommissioned)."""

    status: DeviceStatus
    comms_hub: bool

    def __post_init__(self) -> None:
        _check_enum(self.status, DeviceStatus, "status")
        allowed = STATUSES_CH if self.comms_hub else STATUSES_EXCEPT_CH
        if self.status not in allowed:
            kind = "UpdateDeviceStatusCH" if self.comms_hub else "UpdateDeviceStatusExceptCH"
            raise ValueError(f"{kind} does not allow status {self.status.value}")


@dataclass(frozen=True, slots=True)
class UpdateDeviceDetails:
    """8.4 ``UpdateDeviceDetails``, every field optional; FirmwareVersion records an IHD's version (A-001)."""

    manufacturer: str | None = None
    model: str | None = None
    smets_chts_version: str | None = None
    firmware_version: str | None = None
    esme_variant: str | None = None

    def __post_init__(self) -> None:
        _check_opt_str(self.manufacturer, "DeviceManufacturer", max_len=30)
        _check_opt_str(self.model, "DeviceModel", max_len=30)
        _check_opt_str(self.smets_chts_version, "SMETSCHTSVersion", min_len=1, max_len=20)
        if self.firmware_version is not None:
            _check_firmware_version(self.firmware_version)
        _check_esme_variant(self.esme_variant)


@dataclass(frozen=True, slots=True)
class DeleteDevice:
    """8.4 ``DeleteDevice`` (empty)."""


@dataclass(frozen=True, slots=True)
class UpdateMPxN:
    """8.4 ``UpdateMPxN``: one of ImportMPxN (1–13 characters), SecondaryImportMPAN or ExportMPAN (13)."""

    kind: MPxNField
    value: str

    def __post_init__(self) -> None:
        _check_enum(self.kind, MPxNField, "UpdateMPxN kind")
        if self.kind is MPxNField.IMPORT_MPXN:
            _check_str(self.value, self.kind.value, min_len=1, max_len=13)
        else:
            _check_str(self.value, self.kind.value, min_len=13, max_len=13)


InventoryChange = UpdateDeviceStatus | UpdateDeviceDetails | DeleteDevice | UpdateMPxN


@dataclass(frozen=True, slots=True)
class UpdateInventory:
    """SR 8.4 body ``sr:UpdateInventory``: a device ID and one change."""

    device_id: str
    change: InventoryChange

    def __post_init__(self) -> None:
        _check_eui(self.device_id, "UpdateInventory DeviceID")
        if not isinstance(self.change, InventoryChange):
            raise ValueError("change must be one of the UpdateInventory choices")

    @property
    def firmware_version(self) -> str | None:
        """The firmware version this request records, if it is an UpdateDeviceDetails that carries one."""
        return self.change.firmware_version if isinstance(self.change, UpdateDeviceDetails) else None


@dataclass(frozen=True, slots=True)
class DevicePrenotification:
    """SR 12.2 body ``sr:DevicePrenotification``.

    The 5.4 schema has no hardware version here: ID, manufacturer, model, type, SMETS/CHTS version,
    firmware version, ESME variant and associated GPF only.
    """

    device_id: str
    manufacturer: str
    model: str
    device_type: DeviceType
    smets_chts_version: str | None = None
    firmware_version: str | None = None
    esme_variant: str | None = None
    associated_gpf_device_id: str | None = None

    def __post_init__(self) -> None:
        _check_eui(self.device_id, "DevicePrenotification DeviceID")
        _check_str(self.manufacturer, "DeviceManufacturer", max_len=30)
        _check_str(self.model, "DeviceModel", max_len=30)
        _check_enum(self.device_type, DeviceType, "DeviceType")
        _check_opt_str(self.smets_chts_version, "SMETSCHTSVersion", min_len=1, max_len=20)
        if self.firmware_version is not None:
            _check_firmware_version(self.firmware_version)
        _check_esme_variant(self.esme_variant)
        if self.associated_gpf_device_id is not None:
            _check_eui(self.associated_gpf_device_id, "AssociatedGPFDeviceID")


RequestBody = UpdatePPMIDFirmware | UpdateFirmware | ReadInventory | UpdateInventory | DevicePrenotification

#: The body class of each served SRV (the element names are in `codes.SRV_ROWS`).
BODY_TYPES: Final[dict[str, type[RequestBody]]] = {
    "11.4": UpdatePPMIDFirmware,
    "11.1": UpdateFirmware,
    "8.2": ReadInventory,
    "8.4": UpdateInventory,
    "12.2": DevicePrenotification,
}


@dataclass(frozen=True, slots=True)
class Request:
    """A DUIS ``sr:Request`` of an SRV the product serves."""

    schema_version: str
    request_id: RequestID
    command_variant: int
    service_reference: str
    srv: str
    body: RequestBody
    first_in_sequence: bool | None = None
    preceding_request_id: RequestID | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.schema_version, str) or _DECIMAL_RE.fullmatch(self.schema_version) is None:
            raise ValueError(f"schema_version must be a decimal such as '5.4', not {self.schema_version!r}")
        if not isinstance(self.request_id, RequestID):
            raise ValueError("request_id must be a RequestID")
        _check_int(self.command_variant, "CommandVariant", 1, 9)
        body_type = BODY_TYPES.get(self.srv)
        if body_type is None:
            raise ValueError(f"SRV {self.srv!r} is not one this product serves")
        if self.service_reference != codes.service_reference_of(self.srv):
            raise ValueError(f"ServiceReference {self.service_reference!r} does not match SRV {self.srv}")
        if not isinstance(self.body, body_type):
            raise ValueError(
                f"SRV {self.srv} needs a {body_type.__name__} body, not {type(self.body).__name__}"
            )
        if self.preceding_request_id is not None and not isinstance(self.preceding_request_id, RequestID):
            raise ValueError("preceding_request_id must be a RequestID")


# --------------------------------------------------------------------------------------------------
# Request parsing
# --------------------------------------------------------------------------------------------------


def _check_root(root: etree._Element, name: str) -> None:
    tag = root.tag if isinstance(root.tag, str) else ""
    if tag != SR + name:
        namespace = tag[1:].split("}", 1)[0] if tag.startswith("{") else ""
        if _local(tag) == name:
            raise _malformed(f"root element {name} is in namespace {namespace!r}, expected {SR_NS!r}")
        raise _malformed(
            f"root element is {_local(tag) or '?'} in namespace {namespace!r}, expected sr:{name}"
        )


def _schema_version(root: etree._Element) -> str:
    value = root.get("schemaVersion")
    if value is None:
        raise _malformed(f"{_qname(root)}: the schemaVersion attribute is required")
    value = value.strip()
    if _DECIMAL_RE.fullmatch(value) is None:
        raise _malformed(f"schemaVersion {value[:20]!r} is not a decimal")
    return value


def _after_body(children: _Children) -> None:
    """After sr:Body only an enveloped ds:Signature may follow."""
    child = children.peek()
    if child is not None and child.tag == DS + "Signature":
        children.index += 1
    children.end()


def parse_request(root: etree._Element) -> Request:
    """Parse an ``sr:Request`` root (from `parse_document`, or `Verified.root` after `signing.Verifier`).

    InputError (MALFORMED_REQUEST) if it is not a well-formed request of a DUIS SRV; AccessError (E13) if the
    SRV is a known DUIS SRV that this product does not serve; TooLarge over the image or device-list limits.
    """
    _check_root(root, "Request")
    schema_version = _schema_version(root)
    top = _Children(root)
    header = _Children(top.required("Header"))
    request_id = RequestID.parse(header.text("RequestID"))
    first_text = header.optional_text("FirstInSequence")
    first_in_sequence: bool | None = None
    if first_text is not None:
        if first_text.strip() not in ("true", "false", "1", "0"):
            raise _malformed(f"FirstInSequence: {first_text[:20]!r} is not an xs:boolean")
        first_in_sequence = first_text.strip() in ("true", "1")
    preceding_text = header.optional_text("PrecedingServiceRequestID")
    preceding = (
        None if preceding_text is None else RequestID.parse(preceding_text, "PrecedingServiceRequestID")
    )
    cv = _parse_int(header.text("CommandVariant"), "CommandVariant", 1, 9)
    service_reference = header.text("ServiceReference")
    srv = header.text("ServiceReferenceVariant")
    header.end()

    row = codes.srv_row(srv)
    if row is None:
        raise _malformed(f"ServiceReferenceVariant {srv[:20]!r} is not a DUIS SRV this product knows")
    if service_reference != row.service_reference:
        raise _malformed(f"ServiceReference {service_reference[:20]!r} does not match SRV {srv}")
    if not row.served:
        raise AccessError(
            f"SRV {srv} ({row.name}) is not served at {codes.NON_DEVICE_PATH}",
            code=codes.INVALID_REQUEST_TYPE_FOR_URL,
        )

    body_parent = _Children(top.required("Body"))
    body_el = body_parent.choice()
    body_parent.end()
    if body_el.tag != SR + row.body_element:
        raise _malformed(f"SRV {srv} carries sr:{row.body_element}, but the body is {_qname(body_el)}")
    _after_body(top)

    try:
        body = _BODY_PARSERS[srv](body_el)
        return Request(
            schema_version=schema_version,
            request_id=request_id,
            command_variant=cv,
            service_reference=service_reference,
            srv=srv,
            body=body,
            first_in_sequence=first_in_sequence,
            preceding_request_id=preceding,
        )
    except ValueError as exc:
        raise _malformed(f"SRV {srv}: {exc}") from exc


_F = TypeVar("_F", bound=_FirmwareBody)


def _parse_firmware_body(body_type: type[_F], el: etree._Element) -> _F:
    """11.4 and 11.1 share one shape; the constructor checks the FirmwareVersion length."""
    children = _Children(el)
    image = _parse_image(children.text("FirmwareImage"))
    version = children.text("FirmwareVersion")
    ids = parse_device_id_list(children.text("DeviceIDList"), max_ids=MAX_DEVICE_IDS)
    children.end()
    return body_type(image=image, firmware_version=version, device_ids=ids)


def _parse_property_filter(el: etree._Element) -> PropertyFilter:
    children = _Children(el)
    result = PropertyFilter(children.text("PostCode"), children.text("AddressIdentifier"))
    children.end()
    return result


def _parse_read_inventory(el: etree._Element) -> ReadInventory:
    children = _Children(el)
    key = children.choice()
    children.end()
    name = _local(key.tag) if key.tag.startswith(SR) else ""
    if name == "DeviceID":
        return ReadInventory(device_id=parse_eui(key.text, "ReadInventory DeviceID"))
    if name == "UPRN":
        return ReadInventory(uprn=_parse_int(key.text, "UPRN", 1, _MAX_UPRN))
    if name == "MPxN":
        return ReadInventory(mpxn=key.text or "")
    if name == "PropertyFilter":
        return ReadInventory(property_filter=_parse_property_filter(key))
    raise _malformed(f"sr:ReadInventory: unexpected search key {_qname(key)}")


def _parse_device_details(el: etree._Element) -> UpdateDeviceDetails:
    children = _Children(el)
    details = UpdateDeviceDetails(
        manufacturer=children.optional_text("DeviceManufacturer"),
        model=children.optional_text("DeviceModel"),
        smets_chts_version=children.optional_text("SMETSCHTSVersion"),
        firmware_version=children.optional_text("FirmwareVersion"),
        esme_variant=children.optional_text("ESMEVariant"),
    )
    children.end()
    return details


def _parse_update_inventory(el: etree._Element) -> UpdateInventory:
    children = _Children(el)
    device_id = parse_eui(children.text("DeviceID"), "UpdateInventory DeviceID")
    choice = children.choice()
    children.end()
    name = _local(choice.tag) if choice.tag.startswith(SR) else ""
    change: InventoryChange
    if name in ("UpdateDeviceStatusCH", "UpdateDeviceStatusExceptCH"):
        status = _parse_enum(DeviceStatus, choice.text, name)
        change = UpdateDeviceStatus(status, comms_hub=name == "UpdateDeviceStatusCH")
    elif name == "UpdateDeviceDetails":
        change = _parse_device_details(choice)
    elif name == "DeleteDevice":
        _Children(choice).end()
        change = DeleteDevice()
    elif name == "UpdateMPxN":
        mpxn = _Children(choice)
        value_el = mpxn.choice()
        mpxn.end()
        mpxn_field = _parse_enum(MPxNField, _local(value_el.tag), "UpdateMPxN")
        change = UpdateMPxN(mpxn_field, value_el.text or "")
    else:
        raise _malformed(f"sr:UpdateInventory: unexpected change {_qname(choice)}")
    return UpdateInventory(device_id=device_id, change=change)


def _parse_device_prenotification(el: etree._Element) -> DevicePrenotification:
    children = _Children(el)
    device_id = parse_eui(children.text("DeviceID"), "DevicePrenotification DeviceID")
    manufacturer = children.text("DeviceManufacturer")
    model = children.text("DeviceModel")
    device_type = _parse_enum(DeviceType, children.text("DeviceType"), "DeviceType")
    smets = children.optional_text("SMETSCHTSVersion")
    version = children.optional_text("FirmwareVersion")
    variant = children.optional_text("ESMEVariant")
    gpf_text = children.optional_text("AssociatedGPFDeviceID")
    children.end()
    return DevicePrenotification(
        device_id=device_id,
        manufacturer=manufacturer,
        model=model,
        device_type=device_type,
        smets_chts_version=smets,
        firmware_version=version,
        esme_variant=variant,
        associated_gpf_device_id=None if gpf_text is None else parse_eui(gpf_text, "AssociatedGPFDeviceID"),
    )


_BODY_PARSERS: Final[dict[str, Callable[[etree._Element], RequestBody]]] = {
    "11.4": partial(_parse_firmware_body, UpdatePPMIDFirmware),
    "11.1": partial(_parse_firmware_body, UpdateFirmware),
    "8.2": _parse_read_inventory,
    "8.4": _parse_update_inventory,
    "12.2": _parse_device_prenotification,
}


# --------------------------------------------------------------------------------------------------
# Request rendering
# --------------------------------------------------------------------------------------------------


def _render_body(parent: etree._Element, srv: str, body: RequestBody) -> None:
    row = codes.srv_row(srv)
    if row is None:  # pragma: no cover - Request.__post_init__ guarantees a served SRV
        raise ValueError(f"unknown SRV {srv}")
    el = _sub(parent, row.body_element)
    if isinstance(body, UpdatePPMIDFirmware | UpdateFirmware):
        _sub(el, "FirmwareImage", binascii.b2a_base64(body.image, newline=False).decode("ascii"))
        _sub(el, "FirmwareVersion", body.firmware_version)
        _sub(el, "DeviceIDList", render_device_id_list(body.device_ids))
    elif isinstance(body, ReadInventory):
        if body.device_id is not None:
            _sub(el, "DeviceID", body.device_id)
        elif body.uprn is not None:
            _sub(el, "UPRN", str(body.uprn))
        elif body.mpxn is not None:
            _sub(el, "MPxN", body.mpxn)
        elif body.property_filter is not None:
            _render_property_filter(el, body.property_filter)
    elif isinstance(body, UpdateInventory):
        _sub(el, "DeviceID", body.device_id)
        change = body.change
        if isinstance(change, UpdateDeviceStatus):
            name = "UpdateDeviceStatusCH" if change.comms_hub else "UpdateDeviceStatusExceptCH"
            _sub(el, name, change.status.value)
        elif isinstance(change, UpdateDeviceDetails):
            details = _sub(el, "UpdateDeviceDetails")
            _sub_opt(details, "DeviceManufacturer", change.manufacturer)
            _sub_opt(details, "DeviceModel", change.model)
            _sub_opt(details, "SMETSCHTSVersion", change.smets_chts_version)
            _sub_opt(details, "FirmwareVersion", change.firmware_version)
            _sub_opt(details, "ESMEVariant", change.esme_variant)
        elif isinstance(change, DeleteDevice):
            _sub(el, "DeleteDevice")
        else:
            _sub(_sub(el, "UpdateMPxN"), change.kind.value, change.value)
    else:
        _sub(el, "DeviceID", body.device_id)
        _sub(el, "DeviceManufacturer", body.manufacturer)
        _sub(el, "DeviceModel", body.model)
        _sub(el, "DeviceType", body.device_type.value)
        _sub_opt(el, "SMETSCHTSVersion", body.smets_chts_version)
        _sub_opt(el, "FirmwareVersion", body.firmware_version)
        _sub_opt(el, "ESMEVariant", body.esme_variant)
        _sub_opt(el, "AssociatedGPFDeviceID", body.associated_gpf_device_id)


def _render_property_filter(parent: etree._Element, value: PropertyFilter) -> None:
    pf = _sub(parent, "PropertyFilter")
    _sub(pf, "PostCode", value.post_code)
    _sub(pf, "AddressIdentifier", value.address_identifier)


def render_request_element(request: Request) -> etree._Element:
    """The unsigned ``sr:Request`` element of `request`."""
    root = etree.Element(SR + "Request", nsmap=_NSMAP)
    root.set("schemaVersion", request.schema_version)
    header = _sub(root, "Header")
    _sub(header, "RequestID", str(request.request_id))
    if request.first_in_sequence is not None:
        _sub(header, "FirstInSequence", "true" if request.first_in_sequence else "false")
    if request.preceding_request_id is not None:
        _sub(header, "PrecedingServiceRequestID", str(request.preceding_request_id))
    _sub(header, "CommandVariant", str(request.command_variant))
    _sub(header, "ServiceReference", request.service_reference)
    _sub(header, "ServiceReferenceVariant", request.srv)
    _render_body(_sub(root, "Body"), request.srv, request.body)
    return root


def render_request(request: Request) -> bytes:
    """Compact UTF-8 XML of an unsigned request (sign it with `signing.Signer`)."""
    return _serialise(render_request_element(request))


# --------------------------------------------------------------------------------------------------
# Response payloads
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class InventoryDevice:
    """One ``sr:Device`` of ``sr:DSPInventory``; rendered in schema order whatever the field order here."""

    device_id: str
    device_type: DeviceType
    manufacturer: str
    model: str
    device_status: DeviceStatus | None = None
    smets_chts_version: str | None = None
    firmware_version: str | None = None
    firmware_version_status: FirmwareStatus | None = None
    cpl_status: FirmwareStatus | None = None
    date_commissioned: date | None = None
    import_mpxn: str | None = None
    secondary_import_mpan: str | None = None
    export_mpan: str | None = None
    esme_variant: str | None = None
    uprn: int | None = None
    property_filter: PropertyFilter | None = None
    csp_region: CSPRegion | None = None
    gbcs_version: str | None = None
    han_variant: str | None = None
    s1sp: str | None = None
    connectivity: Connectivity | None = None

    def __post_init__(self) -> None:
        _check_eui(self.device_id, "Device DeviceID")
        _check_enum(self.device_type, DeviceType, "DeviceType")
        _check_str(self.manufacturer, "DeviceManufacturer", max_len=30)
        _check_str(self.model, "DeviceModel", max_len=30)
        _check_opt_enum(self.device_status, DeviceStatus, "DeviceStatus")
        _check_opt_str(self.smets_chts_version, "SMETSCHTSVersion", min_len=1, max_len=20)
        if self.firmware_version is not None:
            _check_firmware_version(self.firmware_version, "DeviceFirmwareVersion")
        _check_opt_enum(self.firmware_version_status, FirmwareStatus, "DeviceFirmwareVersionStatus")
        _check_opt_enum(self.cpl_status, FirmwareStatus, "CPLStatus")
        if self.date_commissioned is not None and (
            not isinstance(self.date_commissioned, date) or isinstance(self.date_commissioned, datetime)
        ):
            raise ValueError("date_commissioned must be a date")
        _check_opt_str(self.import_mpxn, "ImportMPxN", min_len=1, max_len=13)
        _check_opt_str(self.secondary_import_mpan, "SecondaryImportMPAN", min_len=13, max_len=13)
        _check_opt_str(self.export_mpan, "ExportMPAN", min_len=13, max_len=13)
        _check_esme_variant(self.esme_variant)
        if self.uprn is not None:
            _check_int(self.uprn, "UPRN", 1, _MAX_UPRN)
        if self.property_filter is not None and not isinstance(self.property_filter, PropertyFilter):
            raise ValueError("property_filter must be a PropertyFilter")
        _check_opt_enum(self.csp_region, CSPRegion, "CSPRegion")
        _check_opt_str(self.gbcs_version, "DeviceGBCSVersion")
        _check_opt_str(self.han_variant, "HANVariant")
        _check_opt_str(self.s1sp, "S1SP")
        _check_opt_enum(self.connectivity, Connectivity, "Connectivity")


@dataclass(frozen=True, slots=True)
class DSPInventory:
    """8.2 answer: 1 to 17 devices."""

    devices: tuple[InventoryDevice, ...]

    def __post_init__(self) -> None:
        if not isinstance(self.devices, tuple) or not all(
            isinstance(d, InventoryDevice) for d in self.devices
        ):
            raise ValueError("devices must be a tuple of InventoryDevice")
        if not 1 <= len(self.devices) <= MAX_INVENTORY_DEVICES:
            raise ValueError(f"DSPInventory holds 1–{MAX_INVENTORY_DEVICES} devices, not {len(self.devices)}")


#: (field name, element name) of the five warning lists, in schema order.
WARNING_LISTS: Final = (
    ("invalid_device_ids", "InvalidDeviceIDList"),
    ("not_commissioned", "NotCommissionedDeviceIDList"),
    ("not_applicable_firmware", "NotApplicableFirmwareDeviceIDList"),
    ("other_request_in_progress", "OtherRequestInProgressList"),
    ("invalid_gbcs_version", "InvalidGBCSVersionList"),
)


@dataclass(frozen=True, slots=True)
class _FirmwareWarning:
    """The five comma lists of devices excluded from a firmware request; an empty list is omitted."""

    invalid_device_ids: tuple[str, ...] = ()
    not_commissioned: tuple[str, ...] = ()
    not_applicable_firmware: tuple[str, ...] = ()
    other_request_in_progress: tuple[str, ...] = ()
    invalid_gbcs_version: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for name, element in WARNING_LISTS:
            _check_eui_tuple(getattr(self, name), element, min_items=0, max_items=None)

    def lists(self) -> Iterator[tuple[str, tuple[str, ...]]]:
        """(element name, IDs) of every list, in schema order."""
        for name, element in WARNING_LISTS:
            yield element, getattr(self, name)


@dataclass(frozen=True, slots=True)
class DSPUpdatePPMIDFirmwareWarning(_FirmwareWarning):
    """11.4 accepted with some devices excluded (W110401)."""


@dataclass(frozen=True, slots=True)
class DSPUpdateFirmwareWarning(_FirmwareWarning):
    """11.1 accepted with some devices excluded (W110101)."""


@dataclass(frozen=True, slots=True)
class GBCSPayload:
    """A device response's GBCS payload (as in DCC Boxed's 11.2 answers); the product only reads these."""

    data: bytes

    def __post_init__(self) -> None:
        if not isinstance(self.data, bytes):
            raise ValueError("GBCSPayload data must be bytes")


Payload = DSPInventory | DSPUpdatePPMIDFirmwareWarning | DSPUpdateFirmwareWarning | GBCSPayload


@dataclass(frozen=True, slots=True)
class ResponseMessage:
    """``sr:ResponseMessage``: the SRV answered and an optional payload (none for a bare I0/I99/E…)."""

    srv: str
    payload: Payload | None = None

    def __post_init__(self) -> None:
        if codes.srv_row(self.srv) is None:
            raise ValueError(f"SRV {self.srv!r} is not in the product's SRV matrix")
        if self.payload is not None and not isinstance(self.payload, Payload):
            raise ValueError(f"unsupported ResponseMessage payload {type(self.payload).__name__}")

    @property
    def service_reference(self) -> str:
        return codes.service_reference_of(self.srv)


# --------------------------------------------------------------------------------------------------
# DCC alerts
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CSPFirmwareDeliveryStatus:
    """A CSP's report of delivering an image to a Comms Hub (N60 Success / N61 Failure)."""

    update_firmware_request_id: RequestID
    comms_hub_id: str
    target_device_id: str
    firmware_version: str
    timestamp: datetime
    status: TransferStatus

    def __post_init__(self) -> None:
        if not isinstance(self.update_firmware_request_id, RequestID):
            raise ValueError("update_firmware_request_id must be a RequestID")
        _check_eui(self.comms_hub_id, "CommsHubDeviceID")
        _check_eui(self.target_device_id, "TargetDeviceID")
        _check_firmware_version(self.firmware_version)
        _check_aware(self.timestamp, "TimeStamp")
        _check_enum(self.status, TransferStatus, "CommsHubTransferStatus")


@dataclass(frozen=True, slots=True)
class FirmwareTransferAlert:
    """The hub's report of transferring an image to a HAN device (GBCS CCS08)."""

    other_device_id: str
    firmware_version: str
    transfer_response_code: TransferResponseCode
    update_firmware_request_id: RequestID | None = None

    def __post_init__(self) -> None:
        _check_eui(self.other_device_id, "OtherDeviceID")
        _check_firmware_version(self.firmware_version)
        _check_enum(self.transfer_response_code, TransferResponseCode, "TransferResponseCode")
        if self.update_firmware_request_id is not None and not isinstance(
            self.update_firmware_request_id, RequestID
        ):
            raise ValueError("update_firmware_request_id must be a RequestID")


@dataclass(frozen=True, slots=True)
class CommsHubAlert:
    """``sr:CommsHubAlert``; `alert_code` is the two-octet hub alert code (0x8F8A success, 0x8F89 failure)."""

    comms_hub_id: str
    alert_code: int
    timestamp: datetime | None = None
    firmware_transfer: FirmwareTransferAlert | None = None

    def __post_init__(self) -> None:
        _check_eui(self.comms_hub_id, "CommsHubDeviceID")
        _check_int(self.alert_code, "AlertCode", 0, 0xFFFF)
        if self.timestamp is not None:
            _check_aware(self.timestamp, "TimeStamp")
        if self.firmware_transfer is not None and not isinstance(
            self.firmware_transfer, FirmwareTransferAlert
        ):
            raise ValueError("firmware_transfer must be a FirmwareTransferAlert")


@dataclass(frozen=True, slots=True)
class PPMIDFirmwareUpgradeAlert:
    """The PPMID's report of activating an image (GBCS CS09, alert 0x8F8B)."""

    firmware_version: str
    result: ActivationResult

    def __post_init__(self) -> None:
        _check_firmware_version(self.firmware_version)
        _check_enum(self.result, ActivationResult, "ActivateImageResultCode")


@dataclass(frozen=True, slots=True)
class PPMIDAlert:
    """``sr:PPMIDAlert``; `device_alert_code` is the two-octet device alert code."""

    device_id: str
    device_alert_code: int
    timestamp: datetime | None = None
    firmware_upgrade: PPMIDFirmwareUpgradeAlert | None = None

    def __post_init__(self) -> None:
        _check_eui(self.device_id, "PPMIDAlert DeviceID")
        _check_int(self.device_alert_code, "DeviceAlertCode", 0, 0xFFFF)
        if self.timestamp is not None:
            _check_aware(self.timestamp, "Timestamp")
        if self.firmware_upgrade is not None and not isinstance(
            self.firmware_upgrade, PPMIDFirmwareUpgradeAlert
        ):
            raise ValueError("firmware_upgrade must be a PPMIDFirmwareUpgradeAlert")


@dataclass(frozen=True, slots=True)
class FirmwareDistributionFailure:
    """Devices a CSP rejected from a firmware request (``MeterIDs`` is a DeviceIDList)."""

    update_firmware_request_id: RequestID
    meter_ids: tuple[str, ...]

    def __post_init__(self) -> None:
        if not isinstance(self.update_firmware_request_id, RequestID):
            raise ValueError("update_firmware_request_id must be a RequestID")
        _check_eui_tuple(self.meter_ids, "MeterIDs", min_items=1, max_items=None)


_MAX_EVENT_REF: Final = 10**20 - 1


@dataclass(frozen=True, slots=True)
class QuarantinedRequest:
    """A request held by anomaly detection: which threshold, the request, the quarantine event reference."""

    kind: QuarantineKind
    request_id: RequestID
    quarantine_event_ref: int

    def __post_init__(self) -> None:
        _check_enum(self.kind, QuarantineKind, "QuarantinedRequest kind")
        if not isinstance(self.request_id, RequestID):
            raise ValueError("request_id must be a RequestID")
        _check_int(self.quarantine_event_ref, "QuarantineEventRef", -_MAX_EVENT_REF, _MAX_EVENT_REF)


DCCAlert = (
    CSPFirmwareDeliveryStatus | CommsHubAlert | PPMIDAlert | FirmwareDistributionFailure | QuarantinedRequest
)


def default_alert_code(alert: DCCAlert) -> str:
    """The DCCAlertCode the product sends with `alert` (see `codes.ALERT_CODES`)."""
    if isinstance(alert, CSPFirmwareDeliveryStatus):
        return (
            codes.FIRMWARE_DELIVERED
            if alert.status is TransferStatus.SUCCESS
            else codes.FIRMWARE_DELIVERY_FAILED
        )
    if isinstance(alert, CommsHubAlert):
        return codes.HUB_FIRMWARE_TRANSFER
    if isinstance(alert, PPMIDAlert):
        return codes.PPMID_FIRMWARE_ACTIVATION
    if isinstance(alert, FirmwareDistributionFailure):
        return codes.FIRMWARE_DISTRIBUTION_FAILURE
    return codes.QUARANTINED_REQUEST


@dataclass(frozen=True, slots=True)
class DCCAlertMessage:
    """``sr:DCCAlertMessage``: the alert code and one alert."""

    code: str
    alert: DCCAlert
    throttled_sequence_id: int | None = None
    throttled_count: int | None = None

    def __post_init__(self) -> None:
        if self.code not in DCC_ALERT_CODES:
            raise ValueError(f"{self.code!r} is not a DCCAlertCode of DUIS 5.4")
        if not isinstance(self.alert, DCCAlert):
            raise ValueError(f"unsupported DCCAlert {type(self.alert).__name__}")
        if self.throttled_sequence_id is not None:
            _check_int(self.throttled_sequence_id, "ThrottledAlertSequenceId", 0, 2**32 - 1)
        if self.throttled_count is not None:
            _check_int(self.throttled_count, "ThrottledAlertCount", 0, 2**32 - 1)

    @classmethod
    def of(cls, alert: DCCAlert) -> DCCAlertMessage:
        """The message for `alert` with the product's code for it."""
        return cls(default_alert_code(alert), alert)


@dataclass(frozen=True, slots=True)
class Response:
    """A DUIS ``sr:Response``: a service response or a DCC alert."""

    request_id: RequestID | None
    response_code: str
    response_datetime: datetime
    body: ResponseMessage | DCCAlertMessage
    response_id: RequestID | None = None
    schema_version: str = SCHEMA_VERSION

    def __post_init__(self) -> None:
        if self.request_id is not None and not isinstance(self.request_id, RequestID):
            raise ValueError("request_id must be a RequestID or None")
        if self.response_id is not None and not isinstance(self.response_id, RequestID):
            raise ValueError("response_id must be a RequestID or None")
        if not isinstance(self.response_code, str) or _RESPONSE_CODE_RE.fullmatch(self.response_code) is None:
            raise ValueError(f"{self.response_code!r} is not a DUIS response code")
        _check_aware(self.response_datetime, "ResponseDateTime")
        if not isinstance(self.body, ResponseMessage | DCCAlertMessage):
            raise ValueError("body must be a ResponseMessage or a DCCAlertMessage")
        if not isinstance(self.schema_version, str) or _DECIMAL_RE.fullmatch(self.schema_version) is None:
            raise ValueError(f"schema_version must be a decimal such as '5.4', not {self.schema_version!r}")


# --------------------------------------------------------------------------------------------------
# Response rendering
# --------------------------------------------------------------------------------------------------


def _render_payload(parent: etree._Element, payload: Payload) -> None:
    if isinstance(payload, DSPInventory):
        inventory = _sub(parent, "DSPInventory")
        for device in payload.devices:
            _render_device(inventory, device)
    elif isinstance(payload, DSPUpdatePPMIDFirmwareWarning | DSPUpdateFirmwareWarning):
        name = (
            "DSPUpdatePPMIDFirmwareWarning"
            if isinstance(payload, DSPUpdatePPMIDFirmwareWarning)
            else "DSPUpdateFirmwareWarning"
        )
        warning = _sub(parent, name)
        for element, ids in payload.lists():
            if ids:
                _sub(warning, element, render_device_id_list(ids))
    else:
        _sub(parent, "GBCSPayload", binascii.b2a_base64(payload.data, newline=False).decode("ascii"))


def _render_device(parent: etree._Element, d: InventoryDevice) -> None:
    el = _sub(parent, "Device")
    _sub(el, "DeviceID", d.device_id)
    _sub(el, "DeviceType", d.device_type.value)
    _sub_opt(el, "DeviceStatus", None if d.device_status is None else d.device_status.value)
    _sub(el, "DeviceManufacturer", d.manufacturer)
    _sub(el, "DeviceModel", d.model)
    _sub_opt(el, "SMETSCHTSVersion", d.smets_chts_version)
    _sub_opt(el, "DeviceFirmwareVersion", d.firmware_version)
    _sub_opt(
        el,
        "DeviceFirmwareVersionStatus",
        None if d.firmware_version_status is None else d.firmware_version_status.value,
    )
    _sub_opt(el, "CPLStatus", None if d.cpl_status is None else d.cpl_status.value)
    _sub_opt(
        el, "DateCommissioned", None if d.date_commissioned is None else render_date(d.date_commissioned)
    )
    _sub_opt(el, "ImportMPxN", d.import_mpxn)
    _sub_opt(el, "SecondaryImportMPAN", d.secondary_import_mpan)
    _sub_opt(el, "ExportMPAN", d.export_mpan)
    _sub_opt(el, "ESMEVariant", d.esme_variant)
    _sub_opt(el, "UPRN", None if d.uprn is None else str(d.uprn))
    if d.property_filter is not None:
        _render_property_filter(el, d.property_filter)
    _sub_opt(el, "CSPRegion", None if d.csp_region is None else d.csp_region.value)
    _sub_opt(el, "DeviceGBCSVersion", d.gbcs_version)
    _sub_opt(el, "HANVariant", d.han_variant)
    _sub_opt(el, "S1SP", d.s1sp)
    _sub_opt(el, "Connectivity", None if d.connectivity is None else d.connectivity.value)


def _render_alert(parent: etree._Element, alert: DCCAlert) -> None:
    if isinstance(alert, CSPFirmwareDeliveryStatus):
        el = _sub(parent, "CSPFirmwareDeliveryStatus")
        _sub(el, "UpdateFirmwareRequestID", str(alert.update_firmware_request_id))
        _sub(el, "CommsHubDeviceID", alert.comms_hub_id)
        _sub(el, "TargetDeviceID", alert.target_device_id)
        _sub(el, "FirmwareVersion", alert.firmware_version)
        _sub(el, "TimeStamp", render_datetime(alert.timestamp))
        _sub(el, "CommsHubTransferStatus", alert.status.value)
    elif isinstance(alert, CommsHubAlert):
        el = _sub(parent, "CommsHubAlert")
        _sub(el, "CommsHubDeviceID", alert.comms_hub_id)
        _sub(el, "AlertCode", f"{alert.alert_code:04X}")
        _sub_opt(el, "TimeStamp", None if alert.timestamp is None else render_datetime(alert.timestamp))
        if alert.firmware_transfer is not None:
            transfer = alert.firmware_transfer
            ft = _sub(el, "FirmwareTransferAlert")
            if transfer.update_firmware_request_id is not None:
                _sub(ft, "UpdateFirmwareRequestID", str(transfer.update_firmware_request_id))
            _sub(ft, "OtherDeviceID", transfer.other_device_id)
            _sub(ft, "FirmwareVersion", transfer.firmware_version)
            _sub(ft, "TransferResponseCode", transfer.transfer_response_code.value)
    elif isinstance(alert, PPMIDAlert):
        el = _sub(parent, "PPMIDAlert")
        _sub(el, "DeviceID", alert.device_id)
        _sub(el, "DeviceAlertCode", f"{alert.device_alert_code:04X}")
        _sub_opt(el, "Timestamp", None if alert.timestamp is None else render_datetime(alert.timestamp))
        if alert.firmware_upgrade is not None:
            upgrade = _sub(el, "PPMIDFirmwareUpgradeAlert")
            _sub(upgrade, "FirmwareVersion", alert.firmware_upgrade.firmware_version)
            _sub(upgrade, "ActivateImageResultCode", alert.firmware_upgrade.result.value)
    elif isinstance(alert, FirmwareDistributionFailure):
        el = _sub(parent, "FirmwareDistributionFailure")
        _sub(el, "UpdateFirmwareRequestID", str(alert.update_firmware_request_id))
        _sub(el, "MeterIDs", render_device_id_list(alert.meter_ids))
    else:
        el = _sub(_sub(parent, "QuarantinedRequest"), alert.kind.value)
        _sub(el, "RequestID", str(alert.request_id))
        _sub(el, "QuarantineEventRef", str(alert.quarantine_event_ref))


def render_response_element(response: Response) -> etree._Element:
    """The unsigned ``sr:Response`` element of `response`."""
    root = etree.Element(SR + "Response", nsmap=_NSMAP)
    root.set("schemaVersion", response.schema_version)
    header = _sub(root, "Header")
    if response.request_id is not None:
        _sub(header, "RequestID", str(response.request_id))
    if response.response_id is not None:
        _sub(header, "ResponseID", str(response.response_id))
    _sub(header, "ResponseCode", response.response_code)
    _sub(header, "ResponseDateTime", render_datetime(response.response_datetime))
    body = _sub(root, "Body")
    if isinstance(response.body, ResponseMessage):
        message = _sub(body, "ResponseMessage")
        _sub(message, "ServiceReference", response.body.service_reference)
        _sub(message, "ServiceReferenceVariant", response.body.srv)
        if response.body.payload is not None:
            _render_payload(message, response.body.payload)
    else:
        alert_message = _sub(body, "DCCAlertMessage")
        _sub(alert_message, "DCCAlertCode", response.body.code)
        if response.body.throttled_sequence_id is not None:
            _sub(alert_message, "ThrottledAlertSequenceId", str(response.body.throttled_sequence_id))
        if response.body.throttled_count is not None:
            _sub(alert_message, "ThrottledAlertCount", str(response.body.throttled_count))
        _render_alert(_sub(alert_message, "DCCAlert"), response.body.alert)
    return root


def render_response(response: Response) -> bytes:
    """Compact UTF-8 XML with an XML declaration; root ``sr:Response`` (sign it with `signing.Signer`)."""
    return _serialise(render_response_element(response))


# --------------------------------------------------------------------------------------------------
# Response parsing
# --------------------------------------------------------------------------------------------------


def parse_response(root: etree._Element) -> Response:
    """Parse an ``sr:Response``: a ResponseMessage with a payload the product knows, or a DCC alert it sends.

    InputError (MALFORMED_REQUEST) for anything else.
    """
    _check_root(root, "Response")
    schema_version = _schema_version(root)
    top = _Children(root)
    header = _Children(top.required("Header"))
    request_text = header.optional_text("RequestID")
    response_text = header.optional_text("ResponseID")
    response_code = header.text("ResponseCode").strip()
    if _RESPONSE_CODE_RE.fullmatch(response_code) is None:
        raise _malformed(f"ResponseCode {response_code[:20]!r} is not a DUIS response code")
    response_datetime = _parse_datetime(header.text("ResponseDateTime"), "ResponseDateTime")
    header.end()
    body_parent = _Children(top.required("Body"))
    body_el = body_parent.choice()
    body_parent.end()
    _after_body(top)

    try:
        body: ResponseMessage | DCCAlertMessage
        if body_el.tag == SR + "ResponseMessage":
            body = _parse_response_message(body_el)
        elif body_el.tag == SR + "DCCAlertMessage":
            body = _parse_dcc_alert_message(body_el)
        else:
            raise _malformed(
                f"sr:Body: {_qname(body_el)} is not supported (ResponseMessage or DCCAlertMessage)"
            )
        return Response(
            request_id=None if request_text is None else RequestID.parse(request_text),
            response_code=response_code,
            response_datetime=response_datetime,
            body=body,
            response_id=None if response_text is None else RequestID.parse(response_text, "ResponseID"),
            schema_version=schema_version,
        )
    except ValueError as exc:
        raise _malformed(f"sr:Response: {exc}") from exc


def _parse_response_message(el: etree._Element) -> ResponseMessage:
    children = _Children(el)
    service_reference = children.text("ServiceReference")
    srv = children.text("ServiceReferenceVariant")
    if codes.srv_row(srv) is None:
        raise _malformed(f"ServiceReferenceVariant {srv[:20]!r} is not a DUIS SRV this product knows")
    if service_reference != codes.service_reference_of(srv):
        raise _malformed(f"ServiceReference {service_reference[:20]!r} does not match SRV {srv}")
    payload_el = children.peek()
    payload: Payload | None = None
    if payload_el is not None:
        children.index += 1
        payload = _parse_payload(payload_el)
    children.end()
    return ResponseMessage(srv=srv, payload=payload)


def _parse_payload(el: etree._Element) -> Payload:
    name = _local(el.tag) if el.tag.startswith(SR) else ""
    if name == "DSPInventory":
        children = _Children(el)
        if len(children.items) > MAX_INVENTORY_DEVICES:
            raise _malformed(
                f"DSPInventory holds {len(children.items)} devices, over {MAX_INVENTORY_DEVICES}"
            )
        devices = []
        while children.peek() is not None:
            devices.append(_parse_device(children.required("Device")))
        return DSPInventory(tuple(devices))
    if name in ("DSPUpdatePPMIDFirmwareWarning", "DSPUpdateFirmwareWarning"):
        children = _Children(el)
        lists: dict[str, tuple[str, ...]] = {}
        for field_name, element in WARNING_LISTS:
            text = children.optional_text(element)
            lists[field_name] = () if text is None else parse_device_id_list(text, element)
        children.end()
        if name == "DSPUpdatePPMIDFirmwareWarning":
            return DSPUpdatePPMIDFirmwareWarning(**lists)
        return DSPUpdateFirmwareWarning(**lists)
    if name == "GBCSPayload":
        return GBCSPayload(_parse_base64(el.text, "GBCSPayload"))
    raise _malformed(f"sr:ResponseMessage: payload {_qname(el)} is not supported")


def _parse_device(el: etree._Element) -> InventoryDevice:
    c = _Children(el)
    device_id = parse_eui(c.text("DeviceID"), "Device DeviceID")
    device_type = _parse_enum(DeviceType, c.text("DeviceType"), "DeviceType")
    status_text = c.optional_text("DeviceStatus")
    manufacturer = c.text("DeviceManufacturer")
    model = c.text("DeviceModel")
    smets = c.optional_text("SMETSCHTSVersion")
    version = c.optional_text("DeviceFirmwareVersion")
    version_status = c.optional_text("DeviceFirmwareVersionStatus")
    cpl_status = c.optional_text("CPLStatus")
    commissioned = c.optional_text("DateCommissioned")
    import_mpxn = c.optional_text("ImportMPxN")
    secondary = c.optional_text("SecondaryImportMPAN")
    export = c.optional_text("ExportMPAN")
    variant = c.optional_text("ESMEVariant")
    uprn = c.optional_text("UPRN")
    pf = c.optional("PropertyFilter")
    region = c.optional_text("CSPRegion")
    gbcs = c.optional_text("DeviceGBCSVersion")
    han = c.optional_text("HANVariant")
    s1sp = c.optional_text("S1SP")
    connectivity = c.optional_text("Connectivity")
    c.end()
    return InventoryDevice(
        device_id=device_id,
        device_type=device_type,
        manufacturer=manufacturer,
        model=model,
        device_status=None if status_text is None else _parse_enum(DeviceStatus, status_text, "DeviceStatus"),
        smets_chts_version=smets,
        firmware_version=version,
        firmware_version_status=None
        if version_status is None
        else _parse_enum(FirmwareStatus, version_status, "DeviceFirmwareVersionStatus"),
        cpl_status=None if cpl_status is None else _parse_enum(FirmwareStatus, cpl_status, "CPLStatus"),
        date_commissioned=None if commissioned is None else _parse_date(commissioned, "DateCommissioned"),
        import_mpxn=import_mpxn,
        secondary_import_mpan=secondary,
        export_mpan=export,
        esme_variant=variant,
        uprn=None if uprn is None else _parse_int(uprn, "UPRN", 1, _MAX_UPRN),
        property_filter=None if pf is None else _parse_property_filter(pf),
        csp_region=None if region is None else _parse_enum(CSPRegion, region, "CSPRegion"),
        gbcs_version=gbcs,
        han_variant=han,
        s1sp=s1sp,
        connectivity=None
        if connectivity is None
        else _parse_enum(Connectivity, connectivity, "Connectivity"),
    )


def _parse_dcc_alert_message(el: etree._Element) -> DCCAlertMessage:
    children = _Children(el)
    code = children.text("DCCAlertCode")
    if code not in DCC_ALERT_CODES:
        raise _malformed(f"DCCAlertCode {code[:20]!r} is not a DUIS 5.4 alert code")
    sequence = children.optional_text("ThrottledAlertSequenceId")
    count = children.optional_text("ThrottledAlertCount")
    alert_parent = _Children(children.required("DCCAlert"))
    children.end()
    alert_el = alert_parent.choice()
    alert_parent.end()
    return DCCAlertMessage(
        code=code,
        alert=_parse_alert(alert_el),
        throttled_sequence_id=None
        if sequence is None
        else _parse_int(sequence, "ThrottledAlertSequenceId", 0, 2**32 - 1),
        throttled_count=None if count is None else _parse_int(count, "ThrottledAlertCount", 0, 2**32 - 1),
    )


def _parse_alert(el: etree._Element) -> DCCAlert:
    name = _local(el.tag) if el.tag.startswith(SR) else ""
    c = _Children(el)
    alert: DCCAlert
    if name == "CSPFirmwareDeliveryStatus":
        alert = CSPFirmwareDeliveryStatus(
            update_firmware_request_id=RequestID.parse(
                c.text("UpdateFirmwareRequestID"), "UpdateFirmwareRequestID"
            ),
            comms_hub_id=parse_eui(c.text("CommsHubDeviceID"), "CommsHubDeviceID"),
            target_device_id=parse_eui(c.text("TargetDeviceID"), "TargetDeviceID"),
            firmware_version=c.text("FirmwareVersion"),
            timestamp=_parse_datetime(c.text("TimeStamp"), "TimeStamp"),
            status=_parse_enum(TransferStatus, c.text("CommsHubTransferStatus"), "CommsHubTransferStatus"),
        )
    elif name == "CommsHubAlert":
        hub = parse_eui(c.text("CommsHubDeviceID"), "CommsHubDeviceID")
        alert_code = _parse_alert_code(c.text("AlertCode"), "AlertCode")
        timestamp = c.optional_text("TimeStamp")
        transfer_el = c.optional("FirmwareTransferAlert")
        transfer = None
        if transfer_el is not None:
            t = _Children(transfer_el)
            request_text = t.optional_text("UpdateFirmwareRequestID")
            transfer = FirmwareTransferAlert(
                update_firmware_request_id=None
                if request_text is None
                else RequestID.parse(request_text, "UpdateFirmwareRequestID"),
                other_device_id=parse_eui(t.text("OtherDeviceID"), "OtherDeviceID"),
                firmware_version=t.text("FirmwareVersion"),
                transfer_response_code=_parse_enum(
                    TransferResponseCode, t.text("TransferResponseCode"), "TransferResponseCode"
                ),
            )
            t.end()
        alert = CommsHubAlert(
            comms_hub_id=hub,
            alert_code=alert_code,
            timestamp=None if timestamp is None else _parse_datetime(timestamp, "TimeStamp"),
            firmware_transfer=transfer,
        )
    elif name == "PPMIDAlert":
        device = parse_eui(c.text("DeviceID"), "PPMIDAlert DeviceID")
        device_alert_code = _parse_alert_code(c.text("DeviceAlertCode"), "DeviceAlertCode")
        timestamp = c.optional_text("Timestamp")
        upgrade_el = c.optional("PPMIDFirmwareUpgradeAlert")
        upgrade = None
        if upgrade_el is not None:
            u = _Children(upgrade_el)
            upgrade = PPMIDFirmwareUpgradeAlert(
                firmware_version=u.text("FirmwareVersion"),
                result=_parse_enum(
                    ActivationResult, u.text("ActivateImageResultCode"), "ActivateImageResultCode"
                ),
            )
            u.end()
        alert = PPMIDAlert(
            device_id=device,
            device_alert_code=device_alert_code,
            timestamp=None if timestamp is None else _parse_datetime(timestamp, "Timestamp"),
            firmware_upgrade=upgrade,
        )
    elif name == "FirmwareDistributionFailure":
        alert = FirmwareDistributionFailure(
            update_firmware_request_id=RequestID.parse(
                c.text("UpdateFirmwareRequestID"), "UpdateFirmwareRequestID"
            ),
            meter_ids=parse_device_id_list(c.text("MeterIDs"), "MeterIDs"),
        )
    elif name == "QuarantinedRequest":
        breach = c.choice()
        kind = _parse_enum(
            QuarantineKind, _local(breach.tag) if breach.tag.startswith(SR) else "", "QuarantinedRequest"
        )
        b = _Children(breach)
        alert = QuarantinedRequest(
            kind=kind,
            request_id=RequestID.parse(b.text("RequestID")),
            quarantine_event_ref=_parse_int(
                b.text("QuarantineEventRef"), "QuarantineEventRef", -_MAX_EVENT_REF, _MAX_EVENT_REF
            ),
        )
        b.end()
    else:
        raise _malformed(f"sr:DCCAlert: {_qname(el)} is not an alert this product handles")
    c.end()
    return alert
