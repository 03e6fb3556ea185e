"""The DUIS message modules after the split of ``models.py`` (issue 14): same bytes, same names, no circle.

``hanota.duis.models`` was one 1,815-line module; it is now `values`, `requests`, `responses` and `alerts`,
with ``models`` kept as a facade. These tests pin what the split promised to keep:

- every request body, response payload and DCC alert renders to the bytes the unsplit module wrote (SHA-256
  of each document, taken from ``models.py`` before the split) and parses back to what it says;
- every public name ``models`` had is still importable from it and is the object of its new home;
- the modules import each other in one direction only (values <- requests <- responses, values <- alerts <-
  responses), and each stays under 600 lines.
"""

from __future__ import annotations

import ast
import hashlib
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from hanota.duis import alerts, codes, models, requests, responses, values
from hanota.duis.alerts import (
    CommsHubAlert,
    CSPFirmwareDeliveryStatus,
    DCCAlertMessage,
    FirmwareDistributionFailure,
    FirmwareTransferAlert,
    PPMIDAlert,
    PPMIDFirmwareUpgradeAlert,
    QuarantinedRequest,
)
from hanota.duis.requests import (
    DeleteDevice,
    DevicePrenotification,
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
)
from hanota.duis.responses import (
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
)
from hanota.duis.values import (
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
)
from hanota.duis.xmlparse import MAX_REQUEST_BYTES, parse_document, validate_schema

SUPPLIER = "90-B3-D5-1F-30-01-00-00"
DCC = codes.DCC_EUI
HUB = "00-DB-12-34-56-78-90-A2"
PPMID = "00-DB-12-34-56-78-90-A4"
ESME = "00-DB-12-34-56-78-90-A0"
GPF = "00-DB-12-34-56-78-90-A1"
RID = RequestID(SUPPLIER, DCC, 1000)
WHEN = datetime(2025, 12, 28, 16, 51, 1, 185999, tzinfo=UTC)
IMAGE = bytes.fromhex("1EF1EE0B0001") + bytes(range(40))


def _request(
    srv: str, body: RequestBody, first_in_sequence: bool | None = None, preceding: RequestID | None = None
) -> Request:
    return Request("5.4", RID, 8, codes.service_reference_of(srv), srv, body, first_in_sequence, preceding)


def _answer(srv: str, code: str, payload: Payload | None = None) -> Response:
    return Response(RID, code, WHEN, ResponseMessage(srv, payload), response_id=RequestID(DCC, SUPPLIER, 7))


def _alert(message: DCCAlertMessage) -> Response:
    return Response(None, "I0", WHEN, message)


def _cases() -> dict[str, Request | Response]:
    """One document of every body, payload and alert shape (optional parts both present and absent)."""
    full_device = InventoryDevice(
        device_id=ESME,
        device_type=DeviceType.ESME,
        manufacturer="AB01",
        model="010A030B",
        device_status=DeviceStatus.COMMISSIONED,
        smets_chts_version="SMETS V5.0",
        firmware_version="0002012F",
        firmware_version_status=FirmwareStatus.ACTIVE,
        cpl_status=FirmwareStatus.CANCELLED,
        date_commissioned=date(2024, 2, 29),
        import_mpxn="1234567890123",
        secondary_import_mpan="2234567890123",
        export_mpan="3234567890123",
        esme_variant="ADE",
        uprn=100023336956,
        property_filter=PropertyFilter("SW1A 1AA", "10 Downing St"),
        csp_region=CSPRegion.CENTRAL_4G,
        gbcs_version="4.0",
        han_variant="Zigbee",
        s1sp="S1SP-A",
        connectivity=Connectivity.CELLULAR,
    )
    bare_device = InventoryDevice(HUB, DeviceType.CHF, "AB01", "HUB1")
    warnings = {
        "invalid_device_ids": (GPF,),
        "not_commissioned": (ESME, PPMID),
        "other_request_in_progress": (HUB,),
    }
    return {
        "11.4": _request(
            "11.4",
            UpdatePPMIDFirmware(IMAGE, "0000000A", (PPMID, ESME, PPMID)),
            first_in_sequence=True,
            preceding=RequestID(SUPPLIER, DCC, 999),
        ),
        "11.1": _request("11.1", UpdateFirmware(IMAGE, "0002012F", (ESME,)), first_in_sequence=False),
        "8.2 device": _request("8.2", ReadInventory(device_id=HUB)),
        "8.2 uprn": _request("8.2", ReadInventory(uprn=100023336956)),
        "8.2 mpxn": _request("8.2", ReadInventory(mpxn="1234567890123")),
        "8.2 filter": _request("8.2", ReadInventory(property_filter=PropertyFilter("SW1A 1AA", "10"))),
        "8.4 status ch": _request(
            "8.4", UpdateInventory(HUB, UpdateDeviceStatus(DeviceStatus.WITHDRAWN, True))
        ),
        "8.4 status": _request("8.4", UpdateInventory(ESME, UpdateDeviceStatus(DeviceStatus.PENDING, False))),
        "8.4 details": _request(
            "8.4",
            UpdateInventory(ESME, UpdateDeviceDetails("AB01", "010A030B", "SMETS V5.0", "0002012F", "AD")),
        ),
        "8.4 details empty": _request("8.4", UpdateInventory(ESME, UpdateDeviceDetails())),
        "8.4 delete": _request("8.4", UpdateInventory(ESME, DeleteDevice())),
        "8.4 mpxn": _request("8.4", UpdateInventory(ESME, UpdateMPxN(MPxNField.IMPORT_MPXN, "12345"))),
        "8.4 export": _request(
            "8.4", UpdateInventory(ESME, UpdateMPxN(MPxNField.EXPORT_MPAN, "3234567890123"))
        ),
        "12.2": _request(
            "12.2",
            DevicePrenotification(
                ESME, "AB01", "010A030B", DeviceType.ESME, "SMETS V1.58", "0002012F", "AD", GPF
            ),
        ),
        "12.2 bare": _request("12.2", DevicePrenotification(PPMID, "AB01", "P1", DeviceType.PPMID)),
        "inventory": _answer("8.2", "I0", DSPInventory((full_device, bare_device))),
        "ppmid warning": _answer("11.4", "W110401", DSPUpdatePPMIDFirmwareWarning(**warnings)),
        "firmware warning": _answer(
            "11.1", "W110101", DSPUpdateFirmwareWarning(not_applicable_firmware=(ESME,))
        ),
        "empty warning": _answer("11.1", "W110101", DSPUpdateFirmwareWarning()),
        "gbcs": _answer("11.2", "I0", GBCSPayload(b"\x00\x01gbcs\xff")),
        "bare answer": Response(
            None, "E13", WHEN.astimezone(timezone(timedelta(hours=-5))), ResponseMessage("11.4")
        ),
        "delivered": _alert(
            DCCAlertMessage.of(
                CSPFirmwareDeliveryStatus(RID, HUB, PPMID, "0000000A", WHEN, TransferStatus.SUCCESS)
            )
        ),
        "delivery failed": _alert(
            DCCAlertMessage.of(
                CSPFirmwareDeliveryStatus(RID, HUB, PPMID, "0000000A", WHEN, TransferStatus.FAILURE)
            )
        ),
        "hub transfer": _alert(
            DCCAlertMessage.of(
                CommsHubAlert(
                    HUB,
                    0x8F8A,
                    WHEN,
                    FirmwareTransferAlert(PPMID, "0000000A", TransferResponseCode.FILE_TRANSFER_SUCCESS, RID),
                )
            )
        ),
        "hub transfer bare": _alert(
            DCCAlertMessage.of(
                CommsHubAlert(
                    HUB,
                    0x8F89,
                    firmware_transfer=FirmwareTransferAlert(
                        PPMID, "1", TransferResponseCode.HARDWARE_VERSION_MISMATCH
                    ),
                )
            )
        ),
        "hub alert": _alert(DCCAlertMessage.of(CommsHubAlert(HUB, 0x0001))),
        "ppmid activation": _alert(
            DCCAlertMessage.of(
                PPMIDAlert(
                    PPMID, 0x8F8B, WHEN, PPMIDFirmwareUpgradeAlert("0000000A", ActivationResult.FAILURE)
                )
            )
        ),
        "ppmid alert": _alert(DCCAlertMessage.of(PPMIDAlert(PPMID, 0x8F8B))),
        "distribution failure": _alert(DCCAlertMessage.of(FirmwareDistributionFailure(RID, (ESME, PPMID)))),
        "quarantined": _alert(
            DCCAlertMessage.of(QuarantinedRequest(QuarantineKind.USER_THRESHOLD, RID, -(10**20) + 1))
        ),
        "quarantined dcc": _alert(
            DCCAlertMessage.of(QuarantinedRequest(QuarantineKind.DCC_THRESHOLD, RID, 0))
        ),
        "throttled": _alert(
            DCCAlertMessage(
                "N999",
                QuarantinedRequest(QuarantineKind.ATTRIBUTE_LIMITS, RID, 42),
                throttled_sequence_id=2**32 - 1,
                throttled_count=0,
            )
        ),
    }


#: SHA-256 of each case's rendered document, written by the unsplit ``models.py`` (commit cfe2b56).
PINNED: dict[str, str] = {
    "11.1": "da87b73a1d1c33b9067dc9b79889b782165b9b0fb6eb671f71d9d462d58329f2",
    "11.4": "f7c886edaff391629fe9ae30bc58c991073a78806d564affe8758ecb02ed3fc7",
    "12.2": "43f07677e6d153616eb1c73b2eaee775324cc74b66c119ce08bc2df78f91359d",
    "12.2 bare": "0dc15fc4f4b7437a9f22dd4b11585396f23a2233d575819e8da6823ceaea76a0",
    "8.2 device": "1f63fb97f13423a203f01d4ab1593b33b39b9a23864401dd376f0410839dcbff",
    "8.2 filter": "cc4832c34b898ed180e498dd0a3e8aae898ce7354943fa0a3a76a67e94fa9c05",
    "8.2 mpxn": "2ac49f6f3c1bf13ead3ddf54e280a2c55b1950577199ea767a4259bda7e1731f",
    "8.2 uprn": "151fe02a9fb58a2fc22a772f382fe923be871a153389d89f2e2bebfcc5209c07",
    "8.4 delete": "b5b8ca6a475a24b93d9729e48d84ff4286764ae7e8d1610c7ed577fb2f92c977",
    "8.4 details": "4e60b560f8ab051a6378e028496c04860887bad96cd7edd27c7ed7552310eedd",
    "8.4 details empty": "6b87639381b3a10d297d946c746f84195cb33a7eca4ff39727c4c2de57b3d9a1",
    "8.4 export": "24246903081bb7daebc78ae09e37430e0747c1e426fbe0ce54eecb31263f35cb",
    "8.4 mpxn": "b1d5315ab9cdf6d97a8c9ba16a83973b7f4fe133618831e120c1e90b8086d614",
    "8.4 status": "47d9badae51c00c5bb9fdfe4466dd6fc54af6d67716a5fed44761dd7556363cc",
    "8.4 status ch": "0e09e6e3af22c274fddf22d596ca57985ef5845e350bac5a10eb405f578d2ee0",
    "bare answer": "bb16b7123f9e13f8d27caa9e103cd4bb85ededc04e8419488408facceaf15748",
    "delivered": "7463643f92d9cfc3a8c78c0ea7a08b8d3a39a0f38a61820bb119f60624367365",
    "delivery failed": "4cbc7db4051283fffc11f6c3611e0077a01feffdbc2f3d230034c1f8fcb426ad",
    "distribution failure": "aa643b452299d8229dec72026ffc7f484dcbdac960611130058b1dae0bbd8f25",
    "empty warning": "91edaa83c70441c5f6fcd33f025833ab49e560b38e40b9c36bbaee90136f5f11",
    "firmware warning": "c3dbda4ac51538d66aed65f5eba2d30a252961bef5057b9db2e53ce64b057c12",
    "gbcs": "f29aa4fa25228bccc45fbdaa1978c915c0a13eda3199df24135f8b55df820155",
    "hub alert": "415db517d29e3d33eb4d87e13323b6b7d9bca1683ebf4482ac1f23298deccc8d",
    "hub transfer": "546ec8f2efdca93b6555ae84d8fd3a3e9d6f5de100e6924d2ac5d31af7a3e11f",
    "hub transfer bare": "1c2e975901d71ef7a4600356f93a31314c831ca56a38df728e45cc9f73c7979a",
    "inventory": "4a8543365a2391f5d0d3c6f9af390d64cb7c8eb0084c004c9c334c4138a32f84",
    "ppmid activation": "153830857c8cf89cbff6b458b59ec1e340cc1ec146e0f669ffd3c9a4ee9781d8",
    "ppmid alert": "c3eb9af8aadc744080e7920188d8518804a668c6b27f2ebd0a8c3a571ff5e656",
    "ppmid warning": "eb841de4aab9d8f277b1e780c99d48384a29b90f189bd272be0f5ed9eadf1e80",
    "quarantined": "cfdccff59d004ff02349151f6d65348bd5b90cee1977884a2e73e90735753bc6",
    "quarantined dcc": "c0d34f9ccf80b142c7503f220df3875f55579b36055d1810f3b07fb1a5a42902",
    "throttled": "15e0939287446761dc5d47fbdc7e95660a81e8512d16918ca53cdbca119cdae0",
}


@pytest.mark.parametrize("name", sorted(_cases()))
def test_every_shape_renders_the_bytes_of_the_unsplit_module_and_parses_back(name: str) -> None:
    """Rendering is byte-for-byte what it was before the split; the document is schema-valid and what it
    parses into renders the same bytes again (the times here carry microseconds, which render drops)."""
    value = _cases()[name]
    if isinstance(value, Request):
        data = render_request(value)
        root = parse_document(data, max_bytes=MAX_REQUEST_BYTES)
        validate_schema(root)
        assert render_request(parse_request(root)) == data
    else:
        data = render_response(value)
        root = parse_document(data, max_bytes=MAX_REQUEST_BYTES)
        validate_schema(root)
        assert render_response(parse_response(root)) == data
    assert hashlib.sha256(data).hexdigest() == PINNED[name], data.decode()


def test_every_case_is_pinned() -> None:
    """No case without a digest and no digest without a case (a renamed case would otherwise go unchecked)."""
    assert sorted(PINNED) == sorted(_cases())


#: The public names of ``hanota.duis.models`` before the split (every top-level name without an underscore).
MODELS_PUBLIC_NAMES = [
    "ActivationResult",
    "BODY_TYPES",
    "CSPFirmwareDeliveryStatus",
    "CSPRegion",
    "CommsHubAlert",
    "Connectivity",
    "DCCAlert",
    "DCCAlertMessage",
    "DCC_ALERT_CODES",
    "DSPInventory",
    "DSPUpdateFirmwareWarning",
    "DSPUpdatePPMIDFirmwareWarning",
    "DeleteDevice",
    "DevicePrenotification",
    "DeviceStatus",
    "DeviceType",
    "ESME_VARIANTS",
    "FirmwareDistributionFailure",
    "FirmwareStatus",
    "FirmwareTransferAlert",
    "GBCSPayload",
    "InventoryChange",
    "InventoryDevice",
    "MAX_COUNTER",
    "MAX_DEVICE_IDS",
    "MAX_IMAGE_OCTETS",
    "MAX_INVENTORY_DEVICES",
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
    "SCHEMA_VERSION",
    "STATUSES_CH",
    "STATUSES_EXCEPT_CH",
    "TransferResponseCode",
    "TransferStatus",
    "UpdateDeviceDetails",
    "UpdateDeviceStatus",
    "UpdateFirmware",
    "UpdateInventory",
    "UpdateMPxN",
    "UpdatePPMIDFirmware",
    "WARNING_LISTS",
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

SPLIT_MODULES = {"values": values, "requests": requests, "responses": responses, "alerts": alerts}


def test_the_models_facade_still_exports_every_public_name_it_had() -> None:
    """``from hanota.duis.models import X`` keeps working for every X it offered, and X is the one object
    defined in exactly one of the new modules (no copy, no second definition)."""
    assert sorted(models.__all__) == sorted(MODELS_PUBLIC_NAMES)
    for name in MODELS_PUBLIC_NAMES:
        homes = [mod for mod in SPLIT_MODULES.values() if name in _defined_names(Path(mod.__file__ or ""))]
        assert len(homes) == 1, (name, [m.__name__ for m in homes])
        assert getattr(models, name) is getattr(homes[0], name), name
    assert not _defined_names(Path(models.__file__ or "")), "the facade defines nothing of its own"


#: What each module may import of its siblings (besides codes and xmlparse).
ALLOWED_SIBLINGS = {
    "values": set(),
    "requests": {"values"},
    "alerts": {"values"},
    "responses": {"values", "requests", "alerts"},
}


@pytest.mark.parametrize("name", sorted(SPLIT_MODULES))
def test_the_split_modules_import_in_one_direction_and_stay_short(name: str) -> None:
    """values <- requests <- responses and values <- alerts <- responses: no circle, and nothing of the
    package imports the facade; each module is at most 600 lines."""
    path = Path(SPLIT_MODULES[name].__file__ or "")
    source = path.read_text(encoding="utf-8")
    siblings = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            siblings.update([node.module] if node.module else [alias.name for alias in node.names])
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("hanota.duis."):
            siblings.add(node.module.removeprefix("hanota.duis."))
    assert siblings - {"codes", "xmlparse"} <= ALLOWED_SIBLINGS[name], siblings
    assert len(source.splitlines()) <= 600


def test_nothing_in_the_package_imports_the_facade() -> None:
    """The package's own modules import the split modules; ``models`` is only for code outside it."""
    package = Path(models.__file__ or "").parent
    for path in sorted(package.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                assert node.module not in ("models", "hanota.duis.models"), path.name
                assert not (
                    node.level == 1 and node.module is None and any(a.name == "models" for a in node.names)
                )


def _defined_names(path: Path) -> set[str]:
    """Public top-level names a module defines (classes, functions, assignments), not the ones it imports."""
    names: set[str] = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.ClassDef | ast.FunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return {n for n in names if not n.startswith("_") and n != "__all__"}
