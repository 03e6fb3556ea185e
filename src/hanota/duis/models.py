"""A stable import path for the DUIS message types: re-exports the public names of the four modules that hold them.

Until issue 14 every typed DUIS message lived in this one module (1,815 lines). It is now split along its
seams, and the code of the package imports from the modules themselves:

- `values`: limits, enumerations, EUIs and device ID lists, times, `RequestID`, and the private check, parse and
  render helpers the other three share;
- `requests`: the request bodies, `Request`, `parse_request` and `render_request`;
- `responses`: the payloads, `ResponseMessage`, `Response`, `render_response` and `parse_response`;
- `alerts`: the DCC alerts, `DCCAlertMessage` and `default_alert_code`.

This module stays, as a short facade and nothing more, because ``hanota.duis.models`` is the path that code
outside the product imported these names from (supplier tools and tests written against the open-source
package, e.g. ``from hanota.duis.models import UpdatePPMIDFirmware``): every public name it had is still
importable from here and is the same object as in its new module. New code in the product imports from the
new modules; nothing is defined here, and the private helpers are not re-exported.

Values are frozen dataclasses that check themselves on construction (``ValueError`` for a programming
error); the parse functions turn wire input into them and answer `InputError` (code MALFORMED_REQUEST),
`TooLarge` or, for a known SRV the product does not serve, `AccessError` with E13. Render functions write
compact UTF-8 XML (no whitespace between elements) that validates against duis-5.4.xsd, and
``parse(render(x)) == x`` for every value. What the wire format does not say and the product needs to know
(which code goes with which failure, which alert code with which payload) lives in `hanota.duis.codes`.
"""

from __future__ import annotations

from .alerts import (
    CommsHubAlert,
    CSPFirmwareDeliveryStatus,
    DCCAlert,
    DCCAlertMessage,
    FirmwareDistributionFailure,
    FirmwareTransferAlert,
    PPMIDAlert,
    PPMIDFirmwareUpgradeAlert,
    QuarantinedRequest,
    default_alert_code,
)
from .requests import (
    BODY_TYPES,
    DeleteDevice,
    DevicePrenotification,
    InventoryChange,
    PropertyFilter,
    ReadInventory,
    Request,
    RequestBody,
    UpdateDeviceDetails,
    UpdateDeviceStatus,
    UpdateFirmware,
    UpdateInventory,
    UpdateMPxN,
    UpdatePPMIDFirmware,
    parse_request,
    render_request,
    render_request_element,
)
from .responses import (
    WARNING_LISTS,
    DSPInventory,
    DSPUpdateFirmwareWarning,
    DSPUpdatePPMIDFirmwareWarning,
    GBCSPayload,
    InventoryDevice,
    Payload,
    Response,
    ResponseMessage,
    parse_response,
    render_response,
    render_response_element,
)
from .values import (
    DCC_ALERT_CODES,
    ESME_VARIANTS,
    MAX_COUNTER,
    MAX_DEVICE_IDS,
    MAX_IMAGE_OCTETS,
    MAX_INVENTORY_DEVICES,
    SCHEMA_VERSION,
    STATUSES_CH,
    STATUSES_EXCEPT_CH,
    ActivationResult,
    Connectivity,
    CSPRegion,
    DeviceStatus,
    DeviceType,
    FirmwareStatus,
    MPxNField,
    QuarantineKind,
    RequestID,
    TransferResponseCode,
    TransferStatus,
    eui_bytes,
    format_eui,
    is_eui,
    parse_device_id_list,
    parse_eui,
    render_date,
    render_datetime,
    render_device_id_list,
)

__all__ = [
    "BODY_TYPES",
    "DCC_ALERT_CODES",
    "ESME_VARIANTS",
    "MAX_COUNTER",
    "MAX_DEVICE_IDS",
    "MAX_IMAGE_OCTETS",
    "MAX_INVENTORY_DEVICES",
    "SCHEMA_VERSION",
    "STATUSES_CH",
    "STATUSES_EXCEPT_CH",
    "WARNING_LISTS",
    "ActivationResult",
    "CSPFirmwareDeliveryStatus",
    "CSPRegion",
    "CommsHubAlert",
    "Connectivity",
    "DCCAlert",
    "DCCAlertMessage",
    "DSPInventory",
    "DSPUpdateFirmwareWarning",
    "DSPUpdatePPMIDFirmwareWarning",
    "DeleteDevice",
    "DevicePrenotification",
    "DeviceStatus",
    "DeviceType",
    "FirmwareDistributionFailure",
    "FirmwareStatus",
    "FirmwareTransferAlert",
    "GBCSPayload",
    "InventoryChange",
    "InventoryDevice",
    "MPxNField",
    "PPMIDAlert",
    "PPMIDFirmwareUpgradeAlert",
    "Payload",
    "PropertyFilter",
    "QuarantineKind",
    "QuarantinedRequest",
    "ReadInventory",
    "Request",
    "RequestBody",
    "RequestID",
    "Response",
    "ResponseMessage",
    "TransferResponseCode",
    "TransferStatus",
    "UpdateDeviceDetails",
    "UpdateDeviceStatus",
    "UpdateFirmware",
    "UpdateInventory",
    "UpdateMPxN",
    "UpdatePPMIDFirmware",
    "default_alert_code",
    "eui_bytes",
    "format_eui",
    "is_eui",
    "parse_device_id_list",
    "parse_eui",
    "parse_request",
    "parse_response",
    "render_date",
    "render_datetime",
    "render_device_id_list",
    "render_request",
    "render_request_element",
    "render_response",
    "render_response_element",
]
