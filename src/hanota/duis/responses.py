"""DUIS responses: the ``sr:Response`` the product sends, its payloads, and their renderer and parser.

Public API:

- payloads: `DSPInventory` (8.2's answer, 1 to 17 `InventoryDevice`), `DSPUpdatePPMIDFirmwareWarning` and
  `DSPUpdateFirmwareWarning` (the five lists of `WARNING_LISTS`), `GBCSPayload`; the union `Payload`;
- `ResponseMessage` (the SRV answered and an optional payload) and `Response` (``sr:Response``, whose body
  is a `ResponseMessage` or an `alerts.DCCAlertMessage`);
- `render_response_element`, `render_response` and `parse_response` (InputError with MALFORMED_REQUEST for
  anything the product does not know).
"""

from __future__ import annotations

import binascii
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from typing import Final

from lxml import etree

from hanota.lifecycle import Outcome

from . import codes
from .alerts import DCCAlertMessage, _parse_dcc_alert_message, _render_alert
from .requests import (
    _MAX_UPRN,
    PropertyFilter,
    _after_body,
    _check_root,
    _parse_property_filter,
    _render_property_filter,
    _schema_version,
)
from .values import (
    _DECIMAL_RE,
    _NSMAP,
    _RESPONSE_CODE_RE,
    MAX_INVENTORY_DEVICES,
    SCHEMA_VERSION,
    Connectivity,
    CSPRegion,
    DeviceStatus,
    DeviceType,
    FirmwareStatus,
    RequestID,
    _check_aware,
    _check_enum,
    _check_esme_variant,
    _check_eui,
    _check_eui_tuple,
    _check_firmware_version,
    _check_int,
    _check_opt_enum,
    _check_opt_str,
    _check_str,
    _Children,
    _local,
    _malformed,
    _parse_base64,
    _parse_date,
    _parse_datetime,
    _parse_enum,
    _parse_int,
    _qname,
    _serialise,
    _sub,
    _sub_opt,
    parse_device_id_list,
    parse_eui,
    render_date,
    render_datetime,
    render_device_id_list,
)
from .xmlparse import SR

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
    ("invalid_device_ids", Outcome.INVALID_DEVICE_ID.value),
    ("not_commissioned", Outcome.NOT_COMMISSIONED.value),
    ("not_applicable_firmware", Outcome.NOT_APPLICABLE_FIRMWARE.value),
    ("other_request_in_progress", Outcome.OTHER_REQUEST_IN_PROGRESS.value),
    ("invalid_gbcs_version", Outcome.INVALID_GBCS_VERSION.value),
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
