"""DUIS data in one place: the SRV matrix, the response codes, the device exclusions of SR 11.4/11.1 (which
warning list each excluded device is named in, and why) and the DCC alert codes.

Every row says whether its meaning is **public** (named source) or **assumed** (our rule, because the public
material gives the code but not its meaning, or gives neither). Correct a row here and the whole product
follows. `render_markdown()` prints the four tables for the closing note.

Choosing the assumed codes
--------------------------
Every code we answer with must be in the DUIS 5.4 schema enumerations (``sr:ResponseCode``,
``DCCAlertMessage/DCCAlertCode``), or our responses would not validate. ``E0`` and ``W1`` are *not* in the
5.4 enumeration, so the table has neither. For the generic failures the public material names no code
for (malformed request, bad signature, replayed counter, target not the DCC, quarantined request, body too
large) we took codes that exist in the enumeration, whose public meaning we do not know and that are not
SR-specific: ``E100`` and ``E40``–``E44``. The public codes whose meaning we know (E1–E5, E11–E13,
E17, E19, E20, E21, E30) were avoided so that none of them is overloaded.

SR-specific codes follow DUIS's ``E<SR><SRV><nn>`` pattern; the schema lists E110401, E110402, E110403,
E110405, W110401 for 11.4 and E110101, E110102, E110103, E110105, E110106, W110101 for 11.1. Their meanings
are not public; ours are below. 11.4 has one code fewer than 11.1, so "image not for the request's device
types" uses the public E11 (SRV not valid for the device type) for 11.4.

Device exclusions
-----------------
An 11.4/11.1 accepted with some devices left out answers W110401/W110101 with a ``DSPUpdate(PPMID)Firmware
Warning`` naming them in five lists. The lists are in the schema (and domain.md §3); which device goes in
which list is not public, so every row of `EXCLUSIONS` is our rule. A case DUIS has no list for goes in the
nearest one with its own reason (the reason is kept per device and shown in the SSI): a device already
running the request's firmware version is named in ``NotApplicableFirmwareDeviceIDList``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum


class Visibility(StrEnum):
    """Whether a row's meaning comes from public material or is our rule."""

    PUBLIC = "public"
    ASSUMED = "assumed"


PUBLIC = Visibility.PUBLIC
ASSUMED = Visibility.ASSUMED

# Sources, cited by the rows.
SRC_MATRIX = "SmartDCCInnovation duis-parser src/duis-request-matrix.json; CVs from duis-5.4.xsd comments"
SRC_DUIS_CODES = "DUIS response code table (DCC Systems Response Codes), as summarised in domain.md §3"
SRC_SCHEMA = "code exists in duis-5.4.xsd sr:ResponseCode; meaning not public"
SRC_SCHEMA_ALERT = "code exists in duis-5.4.xsd DCCAlertCode; meaning not public"
SRC_SR_CODE = "code public (duis-5.4.xsd); meaning our rule"
SRC_DOMAIN = "domain.md §3 (SECMP0007 public record)"
SRC_OURS = "our rule (this product)"
SRC_WARNING_LIST = (
    "list exists in duis-5.4.xsd DSPUpdate(PPMID)FirmwareWarning; which devices go in it: our rule"
)
SRC_SAME_VERSION = (
    "our rule: updating a device to the version it already runs costs network capacity for nothing and would be"
    " counted as a success although nothing changed; fleet OTA managers do likewise (Mender reports such a"
    " device as 'already-installed' instead of updating it); DUIS has no list of its own for it"
)

# The DCC's own EUI: the Access Control Broker, target of every non-device request.
DCC_EUI = "90-B3-D5-1F-30-00-00-02"
#: Command variant of a DCC-only ("non-device") request, answered synchronously at /api/v1/serviceD.
CV_NON_DEVICE = 8
#: The URL path the product serves non-device requests at.
NON_DEVICE_PATH = "/api/v1/serviceD"

# User roles (domain.md §1). IS = Import Supplier, ES = Export Supplier, GS = Gas Supplier,
# RSA = Registered Supplier Agent, ED = Electricity Distributor, GT = Gas Transporter, OU = Other User.
ALL_USER_ROLES: frozenset[str] = frozenset({"IS", "ES", "GS", "RSA", "ED", "GT", "OU"})
SUPPLIER_ROLES: frozenset[str] = frozenset({"IS", "GS"})

# Certificate subject OU role codes (domain.md §4; two hex digits in the certificate).
CERT_ROLE_NAMES: Mapping[int, str] = {
    0x02: "Supplier",
    0x03: "Network Operator",
    0x04: "Access Control Broker",
    0x7F: "Other User",
    0x87: "XML signing",
    0x89: "DSP XML signing",
}
#: 0x87 = 135: a Service User's XML-signing certificate (signs requests).
ROLE_XML_SIGNING = 0x87
#: 0x89 = 137: the DSP's XML-signing certificate (signs responses and alerts).
ROLE_DSP_XML_SIGNING = 0x89


# --------------------------------------------------------------------------------------------------
# SRV matrix
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SrvRow:
    """One Service Reference Variant."""

    srv: str
    name: str
    service_reference: str
    command_variants: frozenset[int]
    roles: frozenset[str]
    body_element: str
    """Local name of the ``sr:Body`` child a request of this SRV carries."""
    served: bool
    """True if this product serves it at ``/api/v1/serviceD``; False: known DUIS SRV, answered E13."""
    visibility: Visibility
    source: str


def _srv(
    srv: str, name: str, cvs: Iterable[int], roles: Iterable[str], body: str, *, served: bool, src: str
) -> SrvRow:
    return SrvRow(
        srv=srv,
        name=name,
        service_reference=service_reference_of(srv),
        command_variants=frozenset(cvs),
        roles=frozenset(roles),
        body_element=body,
        served=served,
        visibility=PUBLIC,
        source=src,
    )


def service_reference_of(srv: str) -> str:
    """The Service Reference of an SRV, its first two components: ``1.1.1`` → ``1.1``, ``11.4`` → ``11.4``."""
    return ".".join(srv.split(".")[:2])


SRV_ROWS: tuple[SrvRow, ...] = (
    # Served by this product (domain.md §3).
    _srv(
        "11.4",
        "Update PPMID Firmware (here: PPMIDs and IHDs)",
        [8],
        SUPPLIER_ROLES,
        "UpdatePPMIDFirmware",
        served=True,
        src=SRC_MATRIX,
    ),
    _srv("11.1", "Update Firmware", [8], SUPPLIER_ROLES, "UpdateFirmware", served=True, src=SRC_MATRIX),
    _srv("8.2", "Read Inventory", [8], ALL_USER_ROLES, "ReadInventory", served=True, src=SRC_MATRIX),
    _srv("8.4", "Update Inventory", [8], ALL_USER_ROLES, "UpdateInventory", served=True, src=SRC_MATRIX),
    _srv(
        "12.2",
        "Device Pre-notification",
        [8],
        ALL_USER_ROLES,
        "DevicePrenotification",
        served=True,
        src=SRC_MATRIX,
    ),
    # Well-known DUIS SRVs this product does not serve (answered E13, distinct from an unknown SRV).
    _srv(
        "1.1.1",
        "Update Import Tariff (Primary Element)",
        [4, 5, 6, 7],
        SUPPLIER_ROLES,
        "UpdateImportTariffPrimaryElement",
        served=False,
        src=SRC_MATRIX,
    ),
    _srv(
        "4.1.1",
        "Read Instantaneous Import Registers",
        [1, 2, 3],
        {"IS", "GS", "ED", "GT"},
        "ReadInstantaneousImportRegisters",
        served=False,
        src=SRC_MATRIX,
    ),
    _srv(
        "8.1.1",
        "Commission Device",
        [4, 5],
        SUPPLIER_ROLES,
        "CommissionDeviceSynchroniseClock",
        served=False,
        src=SRC_MATRIX,
    ),
    _srv(
        "8.3", "Decommission Device", [8], SUPPLIER_ROLES, "DecommissionDevice", served=False, src=SRC_MATRIX
    ),
    _srv(
        "11.2",
        "Read Firmware Version",
        [1, 2, 3],
        ALL_USER_ROLES,
        "ReadFirmwareVersion",
        served=False,
        src=SRC_MATRIX,
    ),
    _srv(
        "11.3",
        "Activate Firmware",
        [4, 5, 6, 7],
        SUPPLIER_ROLES,
        "ActivateFirmware",
        served=False,
        src=SRC_MATRIX,
    ),
    _srv("12.1", "Request WAN Matrix", [8], ALL_USER_ROLES, "RequestWANMatrix", served=False, src=SRC_MATRIX),
)

_SRV_BY_ID: Mapping[str, SrvRow] = {row.srv: row for row in SRV_ROWS}


def srv_row(srv: str) -> SrvRow | None:
    """The matrix row of `srv`, or None if the SRV is unknown to this product."""
    return _SRV_BY_ID.get(srv)


def served_srvs() -> tuple[SrvRow, ...]:
    """The SRVs this product serves."""
    return tuple(row for row in SRV_ROWS if row.served)


# --------------------------------------------------------------------------------------------------
# Response codes
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ResponseCodeRow:
    """One ``sr:ResponseCode`` value and what it means here."""

    code: str
    name: str
    meaning: str
    visibility: Visibility
    source: str


# Names for the codes the product uses; import these, never spell a code literally elsewhere.
SUCCESS = "I0"
ACKNOWLEDGED = "I99"
INVALID_USER = "E1"
ROLE_NOT_PERMITTED = "E2"
INVALID_USER_STATUS = "E3"
ROLE_NOT_AUTHORISED_FOR_DEVICE = "E4"
DEVICE_STATUS_INCOMPATIBLE = "E5"
SRV_NOT_VALID_FOR_DEVICE_TYPE = "E11"
INVALID_COMMAND_VARIANT = "E12"
INVALID_REQUEST_TYPE_FOR_URL = "E13"
DEVICE_NOT_IN_SMI = "E19"
# Assumed (see module docstring).
MALFORMED_REQUEST = "E100"
SIGNATURE_INVALID = "E40"
REPLAYED_COUNTER = "E41"
TARGET_NOT_DCC = "E42"
REQUEST_QUARANTINED = "E43"
REQUEST_TOO_LARGE = "E44"
# 11.4 Update PPMID Firmware (codes public, meanings assumed).
PPMID_IMAGE_INVALID = "E110401"
PPMID_HASH_NOT_ACTIVE = "E110402"
PPMID_VERSION_MISMATCH = "E110403"
PPMID_IMAGE_NOT_FOR_DEVICE_TYPES = SRV_NOT_VALID_FOR_DEVICE_TYPE  # 11.4 has no spare code; see docstring
PPMID_NO_DEVICE_LEFT = "E110405"
PPMID_DEVICES_EXCLUDED = "W110401"
# 11.1 Update Firmware (codes public, meanings assumed).
FIRMWARE_IMAGE_INVALID = "E110101"
FIRMWARE_HASH_NOT_ACTIVE = "E110102"
FIRMWARE_VERSION_MISMATCH = "E110103"
FIRMWARE_NO_DEVICE_LEFT = "E110105"
FIRMWARE_IMAGE_NOT_FOR_DEVICE_TYPES = "E110106"
FIRMWARE_DEVICES_EXCLUDED = "W110101"
# 12.2 Device Pre-notification (codes public, meanings assumed).
PRENOTIFY_FIRMWARE_NOT_ACTIVE = "E120201"
PRENOTIFY_DEVICE_EXISTS = "E120203"

RESPONSE_CODES: tuple[ResponseCodeRow, ...] = (
    ResponseCodeRow(
        SUCCESS, "SUCCESS", "Success: the request had a successful outcome", PUBLIC, SRC_DUIS_CODES
    ),
    ResponseCodeRow(
        ACKNOWLEDGED,
        "ACKNOWLEDGED",
        "Acknowledgement: accepted and passed access control; or a successful non-device request with no XML"
        " payload in the response",
        PUBLIC,
        SRC_DUIS_CODES,
    ),
    ResponseCodeRow(
        INVALID_USER,
        "INVALID_USER",
        "Failed authorisation: User / User Role combination is not a valid SEC Party / User Role",
        PUBLIC,
        SRC_DUIS_CODES,
    ),
    ResponseCodeRow(
        ROLE_NOT_PERMITTED,
        "ROLE_NOT_PERMITTED",
        "Failed authorisation: User Role not permitted to send this Service Reference",
        PUBLIC,
        SRC_DUIS_CODES,
    ),
    ResponseCodeRow(
        INVALID_USER_STATUS,
        "INVALID_USER_STATUS",
        "Failed authorisation: User status not permitted to send this Service Reference",
        PUBLIC,
        SRC_DUIS_CODES,
    ),
    ResponseCodeRow(
        ROLE_NOT_AUTHORISED_FOR_DEVICE,
        "ROLE_NOT_AUTHORISED_FOR_DEVICE",
        "Failed authorisation: User Role not authorised for the Device at the required date and time",
        PUBLIC,
        SRC_DUIS_CODES,
    ),
    ResponseCodeRow(
        DEVICE_STATUS_INCOMPATIBLE,
        "DEVICE_STATUS_INCOMPATIBLE",
        "Failed authorisation: Device SMI status incompatible with the Service Reference",
        PUBLIC,
        SRC_DUIS_CODES,
    ),
    ResponseCodeRow(
        SRV_NOT_VALID_FOR_DEVICE_TYPE,
        "SRV_NOT_VALID_FOR_DEVICE_TYPE",
        "Failed validation: Service Reference not compatible with the device type. Also used (our rule)"
        " for an 11.4 whose image is for a device type 11.4 does not serve",
        PUBLIC,
        SRC_DUIS_CODES,
    ),
    ResponseCodeRow(
        INVALID_COMMAND_VARIANT,
        "INVALID_COMMAND_VARIANT",
        "Failed validation: Command Variant not applicable to the request type",
        PUBLIC,
        SRC_DUIS_CODES,
    ),
    ResponseCodeRow(
        INVALID_REQUEST_TYPE_FOR_URL,
        "INVALID_REQUEST_TYPE_FOR_URL",
        "Failed validation: request type not valid for the URL. Our rule: every known DUIS SRV that this"
        " product does not serve at /api/v1/serviceD",
        PUBLIC,
        SRC_DUIS_CODES,
    ),
    ResponseCodeRow(
        DEVICE_NOT_IN_SMI,
        "DEVICE_NOT_IN_SMI",
        "Failed authorisation: Device does not exist (Device ID invalid)",
        PUBLIC,
        SRC_DUIS_CODES,
    ),
    ResponseCodeRow(
        MALFORMED_REQUEST,
        "MALFORMED_REQUEST",
        "Not well-formed DUIS: not XML, not UTF-8, a DOCTYPE / entity / processing instruction, wrong"
        " namespace or root, header and body disagree, or invalid against duis-5.4.xsd",
        ASSUMED,
        SRC_SCHEMA,
    ),
    ResponseCodeRow(
        SIGNATURE_INVALID,
        "SIGNATURE_INVALID",
        "XML signature absent, not the DUIS profile, or not verifying; or the certificate is unknown, not"
        " valid now, untrusted, not an XML-signing certificate, or not the originator's",
        ASSUMED,
        SRC_SCHEMA,
    ),
    ResponseCodeRow(
        REPLAYED_COUNTER,
        "REPLAYED_COUNTER",
        "RequestID counter not strictly greater than the last one accepted from this originator",
        ASSUMED,
        SRC_SCHEMA,
    ),
    ResponseCodeRow(
        TARGET_NOT_DCC,
        "TARGET_NOT_DCC",
        "RequestID target is not the DCC (90-B3-D5-1F-30-00-00-02) for a non-device request",
        ASSUMED,
        SRC_SCHEMA,
    ),
    ResponseCodeRow(
        REQUEST_QUARANTINED,
        "REQUEST_QUARANTINED",
        "Held in quarantine by threshold anomaly detection; a QuarantinedRequest DCC alert (AD1) follows",
        ASSUMED,
        SRC_SCHEMA,
    ),
    ResponseCodeRow(
        REQUEST_TOO_LARGE,
        "REQUEST_TOO_LARGE",
        "Body, firmware image (> 10,240,000 octets) or device list (> 50,000 IDs) over its limit",
        ASSUMED,
        SRC_SCHEMA,
    ),
    ResponseCodeRow(
        PPMID_IMAGE_INVALID,
        "PPMID_IMAGE_INVALID",
        "11.4: image is not a valid ZigBee OTA upgrade file, or its sizes disagree",
        ASSUMED,
        SRC_SR_CODE,
    ),
    ResponseCodeRow(
        PPMID_HASH_NOT_ACTIVE,
        "PPMID_HASH_NOT_ACTIVE",
        "11.4: the image's hash is not on the CPL with status Active",
        ASSUMED,
        SRC_SR_CODE,
    ),
    ResponseCodeRow(
        PPMID_VERSION_MISMATCH,
        "PPMID_VERSION_MISMATCH",
        "11.4: FirmwareVersion is not the version of the image's CPL entry",
        ASSUMED,
        SRC_SR_CODE,
    ),
    ResponseCodeRow(
        PPMID_NO_DEVICE_LEFT,
        "PPMID_NO_DEVICE_LEFT",
        "11.4: no device left after the per-device checks",
        ASSUMED,
        SRC_SR_CODE,
    ),
    ResponseCodeRow(
        PPMID_DEVICES_EXCLUDED,
        "PPMID_DEVICES_EXCLUDED",
        "11.4: accepted with some devices excluded (DSPUpdatePPMIDFirmwareWarning lists them; which list and"
        " why: the device exclusions table). A device already running the request's version is excluded"
        " (NotApplicableFirmwareDeviceIDList), not updated again nor counted as a success",
        ASSUMED,
        SRC_SR_CODE,
    ),
    ResponseCodeRow(
        FIRMWARE_IMAGE_INVALID,
        "FIRMWARE_IMAGE_INVALID",
        "11.1: image is not a valid ZigBee OTA upgrade file, or its sizes disagree",
        ASSUMED,
        SRC_SR_CODE,
    ),
    ResponseCodeRow(
        FIRMWARE_HASH_NOT_ACTIVE,
        "FIRMWARE_HASH_NOT_ACTIVE",
        "11.1: the image's hash is not on the CPL with status Active",
        ASSUMED,
        SRC_SR_CODE,
    ),
    ResponseCodeRow(
        FIRMWARE_VERSION_MISMATCH,
        "FIRMWARE_VERSION_MISMATCH",
        "11.1: FirmwareVersion is not the version of the image's CPL entry",
        ASSUMED,
        SRC_SR_CODE,
    ),
    ResponseCodeRow(
        FIRMWARE_NO_DEVICE_LEFT,
        "FIRMWARE_NO_DEVICE_LEFT",
        "11.1: no device left after the per-device checks",
        ASSUMED,
        SRC_SR_CODE,
    ),
    ResponseCodeRow(
        FIRMWARE_IMAGE_NOT_FOR_DEVICE_TYPES,
        "FIRMWARE_IMAGE_NOT_FOR_DEVICE_TYPES",
        "11.1: the image is not for the device types the request targets (ESME/GSME)",
        ASSUMED,
        SRC_SR_CODE,
    ),
    ResponseCodeRow(
        FIRMWARE_DEVICES_EXCLUDED,
        "FIRMWARE_DEVICES_EXCLUDED",
        "11.1: accepted with some devices excluded (DSPUpdateFirmwareWarning lists them; which list and why:"
        " the device exclusions table). A device already running the request's version is excluded"
        " (NotApplicableFirmwareDeviceIDList), not updated again nor counted as a success",
        ASSUMED,
        SRC_SR_CODE,
    ),
    ResponseCodeRow(
        PRENOTIFY_FIRMWARE_NOT_ACTIVE,
        "PRENOTIFY_FIRMWARE_NOT_ACTIVE",
        "12.2: the device's firmware version is not Active on the CPL for its manufacturer and model (A-002)",
        ASSUMED,
        SRC_SR_CODE,
    ),
    ResponseCodeRow(
        PRENOTIFY_DEVICE_EXISTS,
        "PRENOTIFY_DEVICE_EXISTS",
        "12.2: the device is already in the SMI",
        ASSUMED,
        SRC_SR_CODE,
    ),
)

_RESPONSE_BY_CODE: Mapping[str, ResponseCodeRow] = {row.code: row for row in RESPONSE_CODES}


def response_code(code: str) -> ResponseCodeRow:
    """The row of a response code; KeyError if the product does not use it."""
    return _RESPONSE_BY_CODE[code]


def is_known_response_code(code: str) -> bool:
    """True if the product's table has `code`."""
    return code in _RESPONSE_BY_CODE


# --------------------------------------------------------------------------------------------------
# Device exclusions of SR 11.4 / 11.1 (the warning lists of W110401 / W110101)
# --------------------------------------------------------------------------------------------------

#: The five lists of DSPUpdatePPMIDFirmwareWarning / DSPUpdateFirmwareWarning, in schema order.
INVALID_DEVICE_ID_LIST = "InvalidDeviceIDList"
NOT_COMMISSIONED_LIST = "NotCommissionedDeviceIDList"
NOT_APPLICABLE_FIRMWARE_LIST = "NotApplicableFirmwareDeviceIDList"
OTHER_REQUEST_IN_PROGRESS_LIST = "OtherRequestInProgressList"
INVALID_GBCS_VERSION_LIST = "InvalidGBCSVersionList"


@dataclass(frozen=True, slots=True)
class ExclusionRow:
    """A reason a device is left out of an accepted 11.4/11.1, and the warning list that names it."""

    rule: str
    warning_list: str
    visibility: Visibility
    source: str


#: In the order the rules are applied (hanota.dsp.update_firmware): a device lands in the first that holds.
EXCLUSIONS: tuple[ExclusionRow, ...] = (
    ExclusionRow("not in the inventory", INVALID_DEVICE_ID_LIST, ASSUMED, SRC_WARNING_LIST),
    ExclusionRow(
        "type not a target of the SR (11.4: PPMID, IHD; 11.1: ESME, GSME)",
        INVALID_DEVICE_ID_LIST,
        ASSUMED,
        SRC_WARNING_LIST,
    ),
    ExclusionRow(
        "the sender is not an interested supplier of the device",
        INVALID_DEVICE_ID_LIST,
        ASSUMED,
        SRC_WARNING_LIST,
    ),
    ExclusionRow(
        "SMI status not Commissioned (IHDs have none)", NOT_COMMISSIONED_LIST, ASSUMED, SRC_WARNING_LIST
    ),
    ExclusionRow(
        "manufacturer or model not the CPL entry's, or hardware version outside the CPL entry's or the image"
        " header's range",
        NOT_APPLICABLE_FIRMWARE_LIST,
        ASSUMED,
        SRC_WARNING_LIST,
    ),
    ExclusionRow(
        "no recorded firmware version (A-001)", NOT_APPLICABLE_FIRMWARE_LIST, ASSUMED, SRC_WARNING_LIST
    ),
    ExclusionRow(
        "already running the request's firmware version (nothing to update)",
        NOT_APPLICABLE_FIRMWARE_LIST,
        ASSUMED,
        SRC_SAME_VERSION,
    ),
    ExclusionRow(
        "current firmware not on the CPL, or not upgradeable",
        NOT_APPLICABLE_FIRMWARE_LIST,
        ASSUMED,
        SRC_WARNING_LIST,
    ),
    ExclusionRow(
        "(11.4) the device's Comms Hub does not support HAN-device OTA",
        INVALID_GBCS_VERSION_LIST,
        ASSUMED,
        SRC_WARNING_LIST,
    ),
    ExclusionRow(
        "the same sender already has this image in flight for the device (another sender's request is"
        " forwarded, A-008)",
        OTHER_REQUEST_IN_PROGRESS_LIST,
        ASSUMED,
        SRC_WARNING_LIST,
    ),
)


# --------------------------------------------------------------------------------------------------
# DCC alert codes
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AlertCodeRow:
    """One ``DCCAlertCode`` the product sends, with the ``DCCAlert`` payload it carries."""

    code: str
    name: str
    payload: str
    """Local name of the ``sr:DCCAlert`` child element."""
    meaning: str
    visibility: Visibility
    source: str


FIRMWARE_DELIVERED = "N60"
FIRMWARE_DELIVERY_FAILED = "N61"
HUB_FIRMWARE_TRANSFER = "N62"
PPMID_FIRMWARE_ACTIVATION = "N63"
FIRMWARE_DISTRIBUTION_FAILURE = "N64"
QUARANTINED_REQUEST = "AD1"

ALERT_CODES: tuple[AlertCodeRow, ...] = (
    AlertCodeRow(
        FIRMWARE_DELIVERED,
        "FIRMWARE_DELIVERED",
        "CSPFirmwareDeliveryStatus",
        "CSP reports the image delivered to the Comms Hub (CommsHubTransferStatus Success)",
        PUBLIC,
        SRC_DOMAIN,
    ),
    AlertCodeRow(
        FIRMWARE_DELIVERY_FAILED,
        "FIRMWARE_DELIVERY_FAILED",
        "CSPFirmwareDeliveryStatus",
        "CSP reports the delivery to the Comms Hub failed (CommsHubTransferStatus Failure)",
        PUBLIC,
        SRC_DOMAIN,
    ),
    AlertCodeRow(
        HUB_FIRMWARE_TRANSFER,
        "HUB_FIRMWARE_TRANSFER",
        "CommsHubAlert",
        "Comms Hub FirmwareTransferAlert: transfer to the HAN device succeeded, was discarded, or failed"
        " (hub alert 0x8F8A / 0x8F89). N62-N65 are the newest codes in the 5.4 list, next to N60/N61",
        ASSUMED,
        SRC_SCHEMA_ALERT,
    ),
    AlertCodeRow(
        PPMID_FIRMWARE_ACTIVATION,
        "PPMID_FIRMWARE_ACTIVATION",
        "PPMIDAlert",
        "PPMIDFirmwareUpgradeAlert: the PPMID/IHD activated the new image, or failed to (alert 0x8F8B)",
        ASSUMED,
        SRC_SCHEMA_ALERT,
    ),
    AlertCodeRow(
        FIRMWARE_DISTRIBUTION_FAILURE,
        "FIRMWARE_DISTRIBUTION_FAILURE",
        "FirmwareDistributionFailure",
        "a CSP rejected some device IDs of a firmware request; they are listed",
        ASSUMED,
        SRC_SCHEMA_ALERT,
    ),
    AlertCodeRow(
        QUARANTINED_REQUEST,
        "QUARANTINED_REQUEST",
        "QuarantinedRequest",
        "a request breached an anomaly-detection threshold and is quarantined (AD = anomaly detection)",
        ASSUMED,
        SRC_SCHEMA_ALERT,
    ),
)

_ALERT_BY_CODE: Mapping[str, AlertCodeRow] = {row.code: row for row in ALERT_CODES}


def alert_code(code: str) -> AlertCodeRow:
    """The row of a DCC alert code; KeyError if the product does not send it."""
    return _ALERT_BY_CODE[code]


# --------------------------------------------------------------------------------------------------
# Markdown
# --------------------------------------------------------------------------------------------------


def _md_cell(value: str) -> str:
    return value.replace("|", "\\|").replace("\n", " ")


def _md_table(header: list[str], rows: Iterable[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines.extend("| " + " | ".join(_md_cell(cell) for cell in row) + " |" for row in rows)
    return "\n".join(lines)


def render_markdown() -> str:
    """The SRV matrix, response codes, device exclusions and alert codes as Markdown tables."""
    srvs = _md_table(
        ["SRV", "name", "CV", "roles", "body element", "served at /api/v1/serviceD"],
        (
            [
                row.srv,
                row.name,
                ", ".join(str(cv) for cv in sorted(row.command_variants)),
                " ".join(sorted(row.roles)),
                row.body_element,
                "yes" if row.served else "no (E13)",
            ]
            for row in SRV_ROWS
        ),
    )
    responses = _md_table(
        ["code", "name", "meaning", "public/assumed", "source"],
        ([row.code, row.name, row.meaning, row.visibility.value, row.source] for row in RESPONSE_CODES),
    )
    exclusions = _md_table(
        ["device excluded when", "warning list", "public/assumed", "source"],
        ([row.rule, row.warning_list, row.visibility.value, row.source] for row in EXCLUSIONS),
    )
    alerts = _md_table(
        ["code", "DCCAlert payload", "meaning", "public/assumed", "source"],
        ([row.code, row.payload, row.meaning, row.visibility.value, row.source] for row in ALERT_CODES),
    )
    return (
        "### SRV matrix\n\n"
        + srvs
        + "\n\n### Response codes\n\n"
        + responses
        + "\n\n### Device exclusions of SR 11.4 / 11.1 (W110401 / W110101)\n\n"
        + exclusions
        + "\n\n### DCC alert codes\n\n"
        + alerts
        + "\n"
    )
