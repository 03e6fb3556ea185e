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
large) and for the services this DCC does not provide (device commands, the other non-device SRVs) we took
codes that exist in the enumeration, whose public meaning we do not know and that are not SR-specific:
``E100`` and ``E40``–``E46``. The public codes whose meaning we know (E1–E5, E11–E13, E17, E19, E20, E21,
E30) were avoided so that none of them is overloaded.

Every SRV of the schema
-----------------------
`SRV_ROWS` has all 129 SRVs of duis-5.4.xsd (checked against the packaged schema by
tests/duis/test_srv_table.py); this product serves five (8.2, 8.4, 11.1, 11.4, 12.2, command variant 8 at
``/api/v1/serviceD``). A signed, schema-valid request of any other SRV is answered in DUIS, never HTTP 4xx:
E40, E100, then the sender's User (E1), status (E3) and role (E2, from the public matrix's eligible roles),
then `routing_code`: E12 (command variant not the SRV's), E13 (command variant of another URL: CV 8, 2 and 6
at serviceD, 1, 3, 5 and 7 at serviceS, 4 at serviceT, as the schema's CommandVariant comment and DCC Boxed
have them), E46 (a non-device SRV not provided) or E45 (a device request: this DCC talks to no device).

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

from hanota.lifecycle import Outcome


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
SRC_ROLES_NOT_PUBLIC = (
    "SmartDCCInnovation duis-parser src/duis-request-matrix.json (name; it lists no eligible role); CVs from"
    " duis-5.4.xsd comments; roles: our rule, every role eligible"
)
SRC_CRITICALITY_NOTE = (
    "; the matrix's Critical column disagrees with the schema's CVs for this SRV: the schema's CVs are used"
)
SRC_CV_WEB_SERVICE = (
    "duis-5.4.xsd CommandVariant comment (Req WS: SC, DO, T); SmartDCCInnovation duis-parser src/cv.ts and"
    " dccboxed-nodered-nodes src/dccboxed-send.ts (serviceS, serviceD, serviceT)"
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
#: Command variants whose body is ``sr:SignedPreCommand`` (a critical command the User signed).
CV_SIGNED_PRE_COMMAND: frozenset[int] = frozenset({5, 6, 7})


class WebService(StrEnum):
    """The DUIS request web services, at DCC Boxed's URLs (`path`)."""

    NON_DEVICE = "serviceD"
    """Non-Device Service: DCC-only requests (CV 8) and commands returned for local delivery (CV 2, 6)."""
    SEND_COMMAND = "serviceS"
    """Send Command Service: commands sent to a device over the SM WAN (CV 1, 3, 5, 7)."""
    TRANSFORM = "serviceT"
    """Transform Service: a critical request turned into a Pre-Command for the User to sign (CV 4)."""

    @property
    def path(self) -> str:
        return f"/api/v1/{self.value}"


#: The web service each command variant's request is sent to (CV 9 is internal to the DCC: none). DCC Boxed's
#: client sends CV 1 and 5 to serviceS, 4 to serviceT, 8 (and 2, 6) to serviceD, and refuses 3 and 7.
CV_WEB_SERVICE: Mapping[int, WebService] = {
    1: WebService.SEND_COMMAND,
    2: WebService.NON_DEVICE,
    3: WebService.SEND_COMMAND,
    4: WebService.TRANSFORM,
    5: WebService.SEND_COMMAND,
    6: WebService.NON_DEVICE,
    7: WebService.SEND_COMMAND,
    8: WebService.NON_DEVICE,
}
#: The URL path the product serves non-device requests at.
NON_DEVICE_PATH = WebService.NON_DEVICE.path
SEND_COMMAND_PATH = WebService.SEND_COMMAND.path
TRANSFORM_PATH = WebService.TRANSFORM.path

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
    """One Service Reference Variant of the DUIS 5.4 schema."""

    srv: str
    name: str
    service_reference: str
    command_variants: frozenset[int]
    """The command variants of the SRV (the comment after its enumeration value in duis-5.4.xsd)."""
    roles: frozenset[str]
    """The User roles eligible to send it (E2 otherwise)."""
    body_element: str
    """Local name of the ``sr:Body`` child a request of this SRV carries (command variants 5–7 carry
    ``sr:SignedPreCommand`` instead)."""
    served: bool
    """True if this product serves it (at ``/api/v1/serviceD``, command variant 8); False: answered by
    `routing_code` (E12, E13, E45 or E46)."""
    visibility: Visibility
    source: str

    @property
    def non_device(self) -> bool:
        """A DCC-only request (command variant 8), answered by the DCC itself."""
        return self.command_variants == {CV_NON_DEVICE}


def service_reference_of(srv: str) -> str:
    """The Service Reference of an SRV, its first two components: ``1.1.1`` → ``1.1``, ``11.4`` → ``11.4``."""
    return ".".join(srv.split(".")[:2])


#: The SRVs this product serves, in the order the SSI and the anomaly thresholds list them.
SERVED_SRVS: tuple[str, ...] = ("11.4", "11.1", "8.2", "8.4", "12.2")

#: Every ServiceReferenceVariant of duis-5.4.xsd, in the schema's order: SRV, name, command variants, eligible
#: roles, ``sr:Body`` element. The SRVs and their command variants are the schema's (the enumeration of
#: ``sr:ServiceReferenceVariant`` and the ``CV = …`` comment after each value); the body elements are the
#: children of the ``sr:Request`` Body choice, which the schema lists in the same order as the SRVs
#: (``sr:SignedPreCommand``, the body of command variants 5–7, aside); names and roles are the public
#: duis-parser matrix's. tests/duis/test_srv_table.py checks this table against the packaged schema.
# fmt: off
_SCHEMA_SRVS: tuple[tuple[str, str, str, str, str], ...] = (
    ("1.1.1", "Update Import Tariff (Primary Element)", "4 5 6 7", "IS GS", "UpdateImportTariffPrimaryElement"),
    ("1.1.2", "Update Import Tariff (Secondary Element)", "4 5 6 7", "IS", "UpdateImportTariffSecondaryElement"),
    ("1.2.1", "Update Price (Primary Element)", "4 5 6 7", "IS GS", "UpdatePricePrimaryElement"),
    ("1.2.2", "Update Price (Secondary Element)", "4 5 6 7", "IS", "UpdatePriceSecondaryElement"),
    ("1.5", "Update Meter Balance", "4 5 6 7", "IS GS", "UpdateMeterBalance"),
    ("1.6", "Update Payment Mode", "4 5 6 7", "IS GS", "UpdatePaymentMode"),
    ("1.7", "Reset Tariff Block Counter Matrix", "4 5 6 7", "IS", "ResetTariffBlockCounterMatrix"),
    ("2.1", "Update Prepay Configuration", "4 5 6 7", "IS GS", "UpdatePrepayConfiguration"),
    ("2.2", "Top Up Device", "1 2 3", "IS GS", "TopUpDevice"),
    ("2.3", "Update Debt", "4 5 6 7", "IS GS", "UpdateDebt"),
    ("2.5", "Activate Emergency Credit", "4 5 6 7", "IS GS", "ActivateEmergencyCredit"),
    ("3.1", "Display Message", "1 2 3", "IS GS", "DisplayMessage"),
    ("3.2", "Restrict Access For Change Of Tenancy", "1 2 3", "IS GS", "RestrictAccessForChangeOfTenancy"),
    ("3.3", "Clear Event Log", "1 2 3", "IS GS", "ClearEventLog"),
    ("3.4", "Update Supplier Name", "1 2 3", "IS GS", "UpdateSupplierName"),
    ("3.5", "Disable Privacy PIN", "1 2 3", "IS GS", "DisablePrivacyPIN"),
    ("4.1.1", "Read Instantaneous Import Registers", "1 2 3", "IS GS ED GT", "ReadInstantaneousImportRegisters"),
    ("4.1.2", "Read Instantaneous Import TOU Matrices", "1 2 3", "IS GS ED GT", "ReadInstantaneousImportTOUMatrices"),
    ("4.1.3", "Read Instantaneous Import TOU With Blocks Matrices",
     "1 2 3", "IS ED", "ReadInstantaneousImportTOUWithBlocksMatrices"),
    ("4.1.4", "Read Instantaneous Import Block Counters", "1 2 3", "GS", "ReadInstantaneousImportBlockCounters"),
    ("4.2", "Read Instantaneous Export Registers", "1 2 3", "ES ED", "ReadInstantaneousExportRegisters"),
    ("4.3", "Read Instantaneous Prepay Values", "1 2 3", "IS GS", "ReadInstantaneousPrepayValues"),
    ("4.4.2", "Retrieve Change Of Mode / Tariff Triggered Billing Data Log",
     "1 2 3", "IS GS", "RetrieveCoMOrTariffTriggeredBillingDataLog"),
    ("4.4.3", "Retrieve Billing Calendar Triggered Billing Data Log",
     "1 2 3", "IS GS", "RetrieveBillingCalendarTriggeredBillingDataLog"),
    ("4.4.4", "Retrieve Billing Data Log (Payment Based Debt Payments)",
     "1 2 3", "IS GS", "RetrieveBillingDataLogDebtPayments"),
    ("4.4.5", "Retrieve Billing Data Log (Prepayment Credits)",
     "1 2 3", "IS GS", "RetrieveBillingDataLogPrepaymentCredits"),
    ("4.6.1", "Retrieve Import Daily Read Log", "1 2 3", "IS GS", "RetrieveImportDailyReadLog"),
    ("4.6.2", "Retrieve Export Daily Read Log", "1 2 3", "ES", "RetrieveExportDailyReadLog"),
    ("4.8.1", "Read Active Import Profile Data", "1 2 3", "IS GS ED GT OU", "ReadActiveImportProfileData"),
    ("4.8.2", "Read Reactive Import Profile Data", "1 2 3", "IS ED OU", "ReadReactiveImportProfileData"),
    ("4.8.3", "Read Export Profile Data", "1 2 3", "ES ED OU", "ReadExportProfileData"),
    ("4.10", "Read Network Data", "1 2 3", "IS GS ED GT", "ReadNetworkData"),
    ("4.11.1", "Read Tariff (Primary Element)", "1 2 3", "IS GS OU", "ReadTariffPrimaryElement"),
    ("4.11.2", "Read Tariff (Secondary Element)", "1 2 3", "IS OU", "ReadTariffSecondaryElement"),
    ("4.12.1", "Read Maximum Demand Import Registers", "1 2 3", "IS ED", "ReadMaximumDemandImportRegisters"),
    ("4.12.2", "Read Maximum Demand Export Registers", "1 2 3", "ES ED", "ReadMaximumDemandExportRegisters"),
    ("4.13", "Read Prepayment Configuration", "1 2 3", "IS GS", "ReadPrepaymentConfiguration"),
    ("4.14", "Read Prepayment Daily Read Log", "1 2 3", "IS GS", "ReadPrepaymentDailyReadLog"),
    ("4.15", "Read Load Limit Data", "1 2 3", "IS ED", "ReadLoadLimitData"),
    ("4.16", "Read Active Power Import", "1 2 3", "IS ED", "ReadActivePowerImport"),
    ("4.17", "Retrieve Daily Consumption Log", "1 2 3", "IS GS ED GT OU", "RetrieveDailyConsumptionLog"),
    ("4.18", "Read Meter Balance", "1 2 3", "IS GS", "ReadMeterBalance"),
    ("5.1", "Create Schedule", "8", "IS ES GS ED GT OU", "CreateSchedule"),
    ("5.2", "Read Schedule", "8", "IS ES GS ED GT OU", "ReadSchedule"),
    ("5.3", "Delete Schedule", "8", "IS ES GS ED GT OU", "DeleteSchedule"),
    ("6.2.1", "Read Device Configuration (Voltage)", "1 2 3", "IS RSA ED", "ReadDeviceConfigurationVoltage"),
    ("6.2.2", "Read Device Configuration (Randomisation)", "1 2 3", "IS RSA ED", "ReadDeviceConfigurationRandomisation"),
    ("6.2.3", "Read Device Configuration (Billing Calendar)",
     "1 2 3", "IS GS RSA", "ReadDeviceConfigurationBillingCalendar"),
    ("6.2.4", "Read Device Configuration (Identity Exc MPxN)",
     "1 2 3", "IS ES GS RSA ED GT OU", "ReadDeviceConfigurationIdentityExcMPxN"),
    ("6.2.5", "Read Device Configuration (Instantaneous Power Thresholds)",
     "1 2 3", "IS RSA", "ReadDeviceConfigurationInstantaneousPowerThresholds"),
    ("6.2.7", "Read Device Configuration (MPxN)", "1 2 3", "IS ES GS RSA ED GT OU", "ReadDeviceConfigurationMPxN"),
    ("6.2.8", "Read Device Configuration (Gas)", "1 2 3", "GS RSA GT", "ReadDeviceConfigurationGas"),
    ("6.2.9", "Read Device Configuration (Payment Mode)", "1 2 3", "IS GS RSA", "ReadDeviceConfigurationPaymentMode"),
    ("6.2.10", "Read Device Configuration (Event and Alert Behaviours)",
     "1 2 3", "IS GS ED", "ReadDeviceConfigurationEventAndAlertBehaviours"),
    ("6.4.1", "Update Device Configuration (Load Limiting General Settings)",
     "4 5 6 7", "IS", "UpdateDeviceConfigurationLoadLimitingGeneralSettings"),
    ("6.4.2", "Update Device Configuration (Load Limiting Counter Reset)",
     "1 2 3", "IS", "UpdateDeviceConfigurationLoadLimitingCounterReset"),
    ("6.5", "Update Device Configuration (Voltage)", "1 2 3", "ED", "UpdateDeviceConfigurationVoltage"),
    ("6.6", "Update Device Configuration (Gas Conversion)", "4 5 6 7", "GS", "UpdateDeviceConfigurationGasConversion"),
    ("6.7", "Update Device Configuration (Gas Flow)", "4 5 6 7", "GS", "UpdateDeviceConfigurationGasFlow"),
    ("6.8", "Update Device Configuration (Billing Calendar)",
     "4 5 6 7", "IS GS", "UpdateDeviceConfigurationBillingCalendar"),
    ("6.11", "Synchronise Clock", "4 5 6 7", "IS GS", "SynchroniseClock"),
    ("6.12", "Update Device Configuration (Instantaneous Power Threshold)",
     "1 2 3", "IS", "UpdateDeviceConfigurationInstantaneousPowerThreshold"),
    ("6.13", "Read Event Or Security Log", "1 2 3", "IS GS RSA ED GT", "ReadEventOrSecurityLog"),
    ("6.14.1", "Update Device Configuration (Auxiliary Load Control Description)",
     "4 5 6 7", "IS", "UpdateDeviceConfigurationALCDescriptions"),
    ("6.14.2", "Update Device Configuration (Auxiliary Load Control Scheduler)",
     "4 5 6 7", "IS", "UpdateDeviceConfigurationALCScheduler"),
    ("6.14.3", "Update Device Configuration (Auxiliary Controller Scheduler)",
     "4 5 6 7", "IS", "UpdateDeviceConfigurationAuxiliaryControllerScheduler"),
    ("6.15.1", "Update Security Credentials (KRP)", "4 5 6 7", "IS GS ED GT", "UpdateSecurityCredentialsKRP"),
    ("6.15.2", "Update Security Credentials (Device)", "4 5 6 7", "IS GS", "UpdateSecurityCredentialsDevice"),
    ("6.17", "Issue Security Credentials", "4 5 6 7", "IS GS", "IssueSecurityCredentials"),
    ("6.18.1", "Set Maximum Demand Configurable Time Period", "1 2 3", "ED", "SetMaximumDemandConfigurableTimePeriod"),
    ("6.18.2", "Reset Maximum Demand Registers", "1 2 3", "ED", "ResetMaximumDemandRegisters"),
    ("6.20.1", "Set Device Configuration (Import MPxN)", "1 2 3", "IS GS", "SetDeviceConfigurationImportMPxN"),
    ("6.20.2", "Set Device Configuration (Export MPAN)", "1 2 3", "ES", "SetDeviceConfigurationExportMPAN"),
    ("6.21", "Request Handover Of DCC Controlled Device", "1 2 3", "IS GS", "RequestHandoverOfDCCControlledDevice"),
    ("6.22", "Configure Alert Behaviour", "1 2 3", "IS GS ED", "ConfigureAlertBehaviour"),
    ("6.23", "Update Security Credentials (CoS)", "1 2 3", "IS GS", "UpdateSecurityCredentialsCoS"),
    ("6.24.1", "Retrieve Device Security Credentials (KRP)",
     "1 2 3", "IS GS ED GT", "RetrieveDeviceSecurityCredentialsKRP"),
    ("6.24.2", "Retrieve Device Security Credentials (Device)",
     "4 5 6 7", "IS GS", "RetrieveDeviceSecurityCredentialsDevice"),
    ("6.25", "Set Electricity Supply Tamper State", "4 5 6 7", "IS", "SetElectricitySupplyTamperState"),
    ("6.26", "Update Device Configuration (daily resetting of Tariff Block Counter Matrix)",
     "4 5 6 7", "IS", "UpdateDeviceConfigurationDailyResettingOfTariffBlockCounterMatrix"),
    ("6.27", "Update Device Configuration (RMS Voltage Counter Reset)",
     "1 2 3", "ED", "UpdateDeviceConfigurationRMSVoltageCounterReset"),
    ("6.28", "Set CHF Sub GHz Configuration", "1 2 3", "IS GS", "SetCHFSubGHzConfiguration"),
    ("6.29", "Request CHF Sub GHz Channel Scan", "1 2 3", "IS GS", "RequestCHFSubGHzChannelScan"),
    ("6.30", "Read CHF Sub GHz Configuration", "1 2 3", "IS GS RSA", "ReadCHFSubGHzConfiguration"),
    ("6.31", "Read CHF Sub GHz Channel", "1 2 3", "IS GS RSA", "ReadCHFSubGHzChannel"),
    ("6.32", "Read CHF Sub GHz Channel Log", "1 2 3", "IS GS RSA", "ReadCHFSubGHzChannelLog"),
    ("7.1", "Enable Supply", "4 5 6 7", "IS", "EnableSupply"),
    ("7.2", "Disable Supply", "4 5 6 7", "IS GS", "DisableSupply"),
    ("7.3", "Arm Supply", "4 5 6 7", "IS GS", "ArmSupply"),
    ("7.4", "Read Supply Status", "1 2 3", "IS ES GS RSA ED GT", "ReadSupplyStatus"),
    ("7.5", "Activate Auxiliary Load", "4 5 6 7", "IS", "ActivateAuxiliaryLoad"),
    ("7.6", "Deactivate Auxiliary Load", "4 5 6 7", "IS", "DeactivateAuxiliaryLoad"),
    ("7.7", "Read Auxiliary Load Switch Data", "1 2 3", "IS ED OU", "ReadALCSData"),
    ("7.8", "Reset Auxiliary Load", "4 5 6 7", "IS", "ResetAuxiliaryLoad"),
    ("7.9", "Add Auxiliary Load To Boost Button", "1 2 3", "IS", "AddAuxiliaryLoadToBoostButton"),
    ("7.10", "Remove Auxiliary Load From Boost Button", "1 2 3", "IS", "RemoveAuxiliaryLoadFromBoostButton"),
    ("7.11", "Read Boost Button Details", "1 2 3", "IS OU", "ReadBoostButtonDetails"),
    ("7.12", "Set Randomised Offset Limit", "1 2 3", "IS", "SetRandomisedOffsetLimit"),
    ("7.13", "Set Auxiliary Controller State", "1 2 3", "IS", "SetAuxiliaryControllerState"),
    ("7.14", "Read Auxiliary Controller Configuration Data",
     "4 5 6 7", "IS ED OU", "ReadAuxiliaryControllerConfigurationData"),
    ("7.15", "Read Auxiliary Controller Operational Data", "4 5 6 7", "IS ED OU", "ReadAuxiliaryControllerOperationalData"),
    ("7.16", "Limit APC Level", "4 5 6 7", "", "LimitAPCLevel"),
    ("8.1.1", "Commission Device", "4 5", "IS GS", "CommissionDeviceSynchroniseClock"),
    ("8.2", "Read Inventory", "8", "IS ES GS RSA ED GT OU", "ReadInventory"),
    ("8.3", "Decommission Device", "8", "IS GS", "DecommissionDevice"),
    ("8.4", "Update Inventory", "8", "IS ES GS RSA ED GT OU", "UpdateInventory"),
    ("8.5", "Service Opt Out", "1", "", "ServiceOptOut"),
    ("8.6", "Service Opt In", "8", "", "ServiceOptIn"),
    ("8.7.1", "Join Service (Critical)", "4 5 6 7", "IS GS", "JoinServiceCritical"),
    ("8.7.2", "Join Service (Non-Critical)", "1 2 3", "IS GS OU", "JoinServiceNonCritical"),
    ("8.8.1", "Unjoin Service (Critical)", "4 5 6 7", "IS GS", "UnjoinServiceCritical"),
    ("8.8.2", "Unjoin Service (Non-Critical)", "1 2 3", "IS GS OU", "UnjoinServiceNonCritical"),
    ("8.9", "Read Device Log", "1 2 3", "IS GS OU", "ReadDeviceLog"),
    ("8.11", "Update HAN Device Log", "1 2 3", "IS GS OU", "UpdateHANDeviceLog"),
    ("8.12.1", "Restore HAN Device Log", "1 2 3", "IS GS", "RestoreHANDeviceLog"),
    ("8.12.2", "Restore Gas Proxy Function Device Log", "1 2 3", "IS GS", "RestoreGPFDeviceLog"),
    ("8.13", "Return Local Command Response", "8", "IS GS", "ReturnLocalCommandResponse"),
    ("8.14.1", "Communications Hub Status Update - Install Success", "8", "IS GS", "CHFInstallSuccessSMWAN"),
    ("8.14.2", "Communications Hub Status Update - Install No SM WAN", "8", "IS GS", "CHFInstallSuccessNoSMWAN"),
    ("8.14.3", "Communications Hub Status Update - Fault Return", "8", "IS GS", "CHFFaultReturn"),
    ("8.14.4", "Communications Hub Status Update - No Fault Return", "8", "IS GS", "CHFNoFaultReturn"),
    ("9.1", "Request Customer Identification Number", "1 2 3", "OU", "RequestCustomerIdentificationNumber"),
    ("11.1", "Update Firmware", "8", "IS GS", "UpdateFirmware"),
    ("11.2", "Read Firmware Version", "1 2 3", "IS ES GS RSA ED GT OU", "ReadFirmwareVersion"),
    ("11.3", "Activate Firmware", "4 5 6 7", "IS GS", "ActivateFirmware"),
    ("11.4", "Update PPMID Firmware (here: PPMIDs and IHDs)", "8", "IS GS", "UpdatePPMIDFirmware"),
    ("12.1", "Request WAN Matrix", "8", "IS ES GS RSA ED GT OU", "RequestWANMatrix"),
    ("12.2", "Device Pre-notification", "8", "IS ES GS RSA ED GT OU", "DevicePrenotification"),
    ("14.1", "Record Network Data (GAS)", "1 2 3", "GT", "RecordNetworkDataGAS"),
)
# fmt: on

#: The public matrix gives no eligible role for these: our rule, every role is eligible (never E2), so that
#: a sender learns what this DCC answers for the SRV rather than a role refusal nobody can confirm.
_ROLES_NOT_PUBLIC = frozenset({"7.16", "8.5", "8.6"})
#: Here the public matrix's "Critical" column disagrees with the schema's command variants (7.12 and 7.13
#: critical with CV 1-3, 7.14 and 7.15 non-critical with CV 4-7); the schema's command variants are used.
_CRITICALITY_DISAGREES = frozenset({"7.12", "7.13", "7.14", "7.15"})


def _row(srv: str, name: str, cvs: str, roles: str, body: str) -> SrvRow:
    source = SRC_MATRIX
    visibility = PUBLIC
    if srv in _ROLES_NOT_PUBLIC:
        visibility, source = ASSUMED, SRC_ROLES_NOT_PUBLIC
    elif srv in _CRITICALITY_DISAGREES:
        source = SRC_MATRIX + SRC_CRITICALITY_NOTE
    return SrvRow(
        srv=srv,
        name=name,
        service_reference=service_reference_of(srv),
        command_variants=frozenset(int(cv) for cv in cvs.split()),
        roles=frozenset(roles.split()) if roles else ALL_USER_ROLES,
        body_element=body,
        served=srv in SERVED_SRVS,
        visibility=visibility,
        source=source,
    )


SRV_ROWS: tuple[SrvRow, ...] = tuple(_row(*entry) for entry in _SCHEMA_SRVS)

_SRV_BY_ID: Mapping[str, SrvRow] = {row.srv: row for row in SRV_ROWS}


def srv_row(srv: str) -> SrvRow | None:
    """The row of `srv`, or None if the SRV is not in the DUIS 5.4 schema."""
    return _SRV_BY_ID.get(srv)


def served_srvs() -> tuple[SrvRow, ...]:
    """The SRVs this product serves."""
    return tuple(_SRV_BY_ID[srv] for srv in SERVED_SRVS)


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
DEVICE_SERVICES_NOT_PROVIDED = "E45"
NON_DEVICE_SRV_NOT_PROVIDED = "E46"
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
        "Failed validation: request type not valid for the URL. Here: the request's command variant is the"
        " SRV's, but its web service is another URL (CV 8, 2, 6: serviceD; 1, 3, 5, 7: serviceS; 4: serviceT)",
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
        DEVICE_SERVICES_NOT_PROVIDED,
        "DEVICE_SERVICES_NOT_PROVIDED",
        "A device Service Request (command variant 1-7) at its own URL: this DCC has no SM WAN to the devices"
        " and builds no GBCS, so it neither sends commands (serviceS), nor transforms critical requests into"
        " Pre-Commands (serviceT), nor returns commands for local delivery (serviceD, CV 2 and 6). Signature,"
        " User, status and role were checked first; the request is not recorded and spends no counter",
        ASSUMED,
        SRC_SCHEMA,
    ),
    ResponseCodeRow(
        NON_DEVICE_SRV_NOT_PROVIDED,
        "NON_DEVICE_SRV_NOT_PROVIDED",
        "A non-device Service Request (command variant 8, at serviceD) this DCC does not provide: schedules"
        " (5.1-5.3), 8.3, 8.6, 8.13, the Comms Hub status updates (8.14.x) and the WAN matrix (12.1); it"
        " serves 8.2, 8.4, 11.1, 11.4 and 12.2. Signature, User, status and role were checked first; the"
        " request is not recorded and spends no counter",
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
# Routing: which code a request gets at which URL, before any SR handler
# --------------------------------------------------------------------------------------------------


def routing_code(service: WebService, row: SrvRow, command_variant: int) -> str | None:
    """The code a signed, schema-valid request of `row` with `command_variant`, from an eligible User, is
    answered at `service`; None when its SR handler answers (a served SRV, CV 8, at serviceD).

    In this order: E12 if the command variant is not one of the SRV's; E13 if it is, but its web service is
    another URL (`CV_WEB_SERVICE`); then E46 for a non-device SRV this DCC does not provide, E45 for a device
    request (this DCC talks to no device). The checks before it (E40, E100, E1, E3, E2) are the service's.
    """
    if command_variant not in row.command_variants:
        return INVALID_COMMAND_VARIANT
    if CV_WEB_SERVICE.get(command_variant) is not service:
        return INVALID_REQUEST_TYPE_FOR_URL
    if row.served:
        return None
    if command_variant == CV_NON_DEVICE:
        return NON_DEVICE_SRV_NOT_PROVIDED
    return DEVICE_SERVICES_NOT_PROVIDED


# --------------------------------------------------------------------------------------------------
# Device exclusions of SR 11.4 / 11.1 (the warning lists of W110401 / W110101)
# --------------------------------------------------------------------------------------------------

#: The five lists of DSPUpdatePPMIDFirmwareWarning / DSPUpdateFirmwareWarning, in schema order.
#: (Their names are the delivery lifecycle's `Outcome`s: `hanota.lifecycle`.)
INVALID_DEVICE_ID_LIST = Outcome.INVALID_DEVICE_ID.value
NOT_COMMISSIONED_LIST = Outcome.NOT_COMMISSIONED.value
NOT_APPLICABLE_FIRMWARE_LIST = Outcome.NOT_APPLICABLE_FIRMWARE.value
OTHER_REQUEST_IN_PROGRESS_LIST = Outcome.OTHER_REQUEST_IN_PROGRESS.value
INVALID_GBCS_VERSION_LIST = Outcome.INVALID_GBCS_VERSION.value


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


def _md_routing(service: WebService, row: SrvRow) -> str:
    """What each of the SRV's command variants is answered at `service`, e.g. ``E13 (CV 1, 3); E45 (CV 2)``."""
    by_code: dict[str, list[int]] = {}
    for cv in sorted(row.command_variants):
        by_code.setdefault(routing_code(service, row, cv) or "served", []).append(cv)
    return "; ".join(f"{code} (CV {', '.join(map(str, cvs))})" for code, cvs in by_code.items())


def render_markdown() -> str:
    """The SRV matrix, response codes, device exclusions and alert codes as Markdown tables."""
    srvs = _md_table(
        ["SRV", "name", "CV", "roles", "body element", *(f"at {s.value}" for s in WebService), "public/assumed",
         "source"],
        (
            [
                row.srv,
                row.name,
                ", ".join(str(cv) for cv in sorted(row.command_variants)),
                " ".join(sorted(row.roles)),
                row.body_element,
                *(_md_routing(service, row) for service in WebService),
                row.visibility.value,
                row.source,
            ]
            for row in SRV_ROWS
        ),
    )  # fmt: skip
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
        + "Every SRV of the DUIS 5.4 schema, and what each of its command variants is answered at each URL"
        " (after E40, E100, E1, E3 and E2); any other command variant is answered E12 everywhere.\n\n"
        + srvs
        + "\n\n### Response codes\n\n"
        + responses
        + "\n\n### Device exclusions of SR 11.4 / 11.1 (W110401 / W110101)\n\n"
        + exclusions
        + "\n\n### DCC alert codes\n\n"
        + alerts
        + "\n"
    )
