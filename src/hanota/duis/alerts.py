"""DCC alerts: the alerts the product sends (and its sample receiver reads) inside a ``sr:DCCAlertMessage``.

Public API:

- alerts: `CSPFirmwareDeliveryStatus` (N60/N61), `CommsHubAlert` (with its `FirmwareTransferAlert`),
  `PPMIDAlert` (with its `PPMIDFirmwareUpgradeAlert`), `FirmwareDistributionFailure`, `QuarantinedRequest`;
  the union `DCCAlert`;
- `DCCAlertMessage` (the alert code and one alert; `DCCAlertMessage.of` picks the product's code) and
  `default_alert_code`.

A DCC alert travels as the body of a `responses.Response`; `render_response` and `parse_response` write and
read the envelope and call `_render_alert` and `_parse_dcc_alert_message` here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

from lxml import etree

from . import codes
from .values import (
    DCC_ALERT_CODES,
    ActivationResult,
    QuarantineKind,
    RequestID,
    TransferResponseCode,
    TransferStatus,
    _check_aware,
    _check_enum,
    _check_eui,
    _check_eui_tuple,
    _check_firmware_version,
    _check_int,
    _Children,
    _local,
    _malformed,
    _parse_alert_code,
    _parse_datetime,
    _parse_enum,
    _parse_int,
    _qname,
    _sub,
    _sub_opt,
    parse_device_id_list,
    parse_eui,
    render_datetime,
    render_device_id_list,
)
from .xmlparse import SR

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


# --------------------------------------------------------------------------------------------------
# Alert rendering
# --------------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------------
# Alert parsing
# --------------------------------------------------------------------------------------------------


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
