"""DUIS requests: the request bodies of the SRVs the product serves, the ``sr:Request`` envelope, and their
parser and renderer.

Public API:

- bodies: `UpdatePPMIDFirmware` (11.4), `UpdateFirmware` (11.1), `ReadInventory` (8.2, with its
  `PropertyFilter`), `UpdateInventory` (8.4, with one `InventoryChange`: `UpdateDeviceStatus`,
  `UpdateDeviceDetails`, `DeleteDevice` or `UpdateMPxN`), `DevicePrenotification` (12.2); the union
  `RequestBody` and `BODY_TYPES` (body class per SRV);
- `Request` (``sr:Request``);
- `parse_request` (InputError with MALFORMED_REQUEST, AccessError with E13 for a known SRV the product does
  not serve, TooLarge over the limits), `render_request_element` and `render_request`.

The envelope checks `_check_root`, `_schema_version` and `_after_body` are shared with `responses`.
"""

from __future__ import annotations

import binascii
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Final, TypeVar

from lxml import etree

from hanota.errors import AccessError

from . import codes
from .values import (
    _DECIMAL_RE,
    _NSMAP,
    MAX_DEVICE_IDS,
    MAX_IMAGE_OCTETS,
    STATUSES_CH,
    STATUSES_EXCEPT_CH,
    DeviceStatus,
    DeviceType,
    MPxNField,
    RequestID,
    _check_enum,
    _check_esme_variant,
    _check_eui,
    _check_eui_tuple,
    _check_firmware_version,
    _check_int,
    _check_opt_str,
    _check_str,
    _Children,
    _local,
    _malformed,
    _parse_enum,
    _parse_image,
    _parse_int,
    _qname,
    _serialise,
    _sub,
    _sub_opt,
    parse_device_id_list,
    parse_eui,
    render_device_id_list,
)
from .xmlparse import DS, SR, SR_NS

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
