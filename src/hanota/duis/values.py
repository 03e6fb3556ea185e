"""DUIS values: the limits, enumerations and small value types every DUIS message is made of, and the helpers
the message modules share.

Public API:

- limits of duis-5.4.xsd: `MAX_IMAGE_OCTETS`, `MAX_DEVICE_IDS`, `MAX_INVENTORY_DEVICES`, `MAX_COUNTER`,
  `SCHEMA_VERSION`, `DCC_ALERT_CODES`, `ESME_VARIANTS`, `STATUSES_CH`, `STATUSES_EXCEPT_CH`;
- enumerations: `DeviceType`, `DeviceStatus`, `FirmwareStatus`, `CSPRegion`, `Connectivity`, `MPxNField`,
  `TransferStatus`, `TransferResponseCode`, `ActivationResult`, `QuarantineKind`;
- EUIs and device ID lists: `is_eui`, `parse_eui`, `format_eui`, `eui_bytes`, `parse_device_id_list`,
  `render_device_id_list`;
- times: `render_datetime`, `render_date`;
- `RequestID` (``originator:target:counter``, also the form of a ResponseID).

Device IDs (EUIs) are held in the canonical form ``XX-XX-XX-XX-XX-XX-XX-XX``, upper-case hex. The schema
allows lower-case hex on the wire, so the parsers accept it and normalise to upper case; the constructors
accept only the canonical form. A device ID list keeps the order and any duplicates of the request: what to do
with duplicates is the DSP's decision, not the wire format's.

The underscore helpers (``_check_*`` raise ``ValueError`` and guard the constructors; ``_parse_*``,
``_Children`` and ``_malformed`` read wire input and raise `InputError`; ``_sub``, ``_sub_opt`` and
``_serialise`` write compact XML) are private to `hanota.duis`: the sibling modules `requests`, `responses`
and `alerts` import them, nothing outside the package should.
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Final, TypeVar

from lxml import etree

from hanota.errors import InputError, TooLarge
from hanota.lifecycle import FOUR_G_PREFIX, Region

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
    """A Comms Hub's CSPRegion on the wire: a hub region of the delivery lifecycle (`hanota.lifecycle`), or
    one of the two DUIS-only values."""

    NORTH = Region.NORTH.value
    CENTRAL = Region.CENTRAL.value
    SOUTH = Region.SOUTH.value
    NORTH_4G = FOUR_G_PREFIX + Region.NORTH.value
    CENTRAL_4G = FOUR_G_PREFIX + Region.CENTRAL.value
    SOUTH_4G = FOUR_G_PREFIX + Region.SOUTH.value
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
