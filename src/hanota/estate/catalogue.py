"""The synthetic estate's fixed facts: suppliers, other Users, products and their CPL history.

Every share here is either taken from `shared/docs/capacity-parameters.md` (its row id is named) or marked
ASSUMED. Change a number here and the whole estate follows.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from hanota.lifecycle import Region

# --- shares -------------------------------------------------------------------------------------------
REGION_SHARE: dict[str, float] = dict.fromkeys(Region, 1 / 3)  # N8: no public split; ASSUMED 1/3 each
GAS_SHARE = 0.85  # ASSUMED: ~85 % of GB homes are on the gas grid (commonly cited; not in the parameters doc)
DUAL_FUEL_SAME_SUPPLIER = 0.75  # ASSUMED: share of gas homes whose gas supplier is also the electricity one
IHD_SHARE = 0.90  # N6: ~1 IHD per SMETS2 premises; ASSUMED 10 % declined or lost
PREPAY_SHARE = 0.15  # N7: 1.5–2.5 M PPMIDs on ~12 M premises (12–20 %); ASSUMED 15 %
COMBINED_PPMID_IHD = (
    0.40  # ASSUMED: share of prepayment homes whose only display is a PPMID with IHD function
)
IHD_NO_FIRMWARE = 0.35  # ASSUMED: IHDs with no recorded firmware version, pre-release inventory
HUB_NO_HAN_OTA = 0.08  # ASSUMED: hubs still on firmware without the MP7 HAN-OTA change (W14)
CHANGE_OF_SUPPLIER = 0.06  # ASSUMED: homes whose electricity supplier changed (an ended registration)
# ASSUMED SMI status mix for devices that have one (ESME, GSME, CHF, GPF, PPMID)
STATUS_MIX = (
    ("Commissioned", 0.955),
    ("InstalledNotCommissioned", 0.02),
    ("Pending", 0.01),
    ("Whitelisted", 0.005),
    ("Suspended", 0.005),
    ("Decommissioned", 0.005),
)
OFF_RANGE_HARDWARE = (
    0.03  # ASSUMED: devices whose hardware version is outside their model's newest image range
)

# --- Comms Hubs: WAN generation, HAN radio, CHTS version -----------------------------------------------
# 4G Comms Hubs: share of each region's homes whose hub is a 4G one, reported in the `4G <region>` CSP
# region (DUIS 5.4 schema) and served by its region's CSP gateway over the 4G WAN (`hanota.network`,
# `wan.lte`). No public count of installed 4G hubs was found. What is public: the DCC chose Vodafone in
# 2023 for a 4G IoT network running beside the existing ones (telecoms.com, 03-08-2023; capacity doc W8);
# the DCC's CH&N consultation introduces 4G Comms Hubs "into the Central and South regions", run in parallel
# with 2G/3G hubs (smartdcc.co.uk, "Communications Hubs & Networks consultation on transitional and enduring
# regulatory changes"); first live customer installs began around the end of 2024 (ukfcf.org.uk, "DCC and
# Vodafone begin UK trial of new 4G energy smart meter upgrade"), and ~7 M meters may need their 2G/3G
# hubs replaced by 2033 (Public Accounts Committee, same article).
# ASSUMED: 5 % of Central and South hubs by mid-2026 (a year and a half of installs after the trials, on an
# estate of ~11-12 M hubs, N5); 1 % in the North, where the schema allows `4G North` but the DCC's plan names
# Central and South (standing for 4G hubs fitted where long-range radio does not reach).
FOUR_G_SHARE: dict[str, float] = {Region.NORTH: 0.01, Region.CENTRAL: 0.05, Region.SOUTH: 0.05}
# Dual-band Comms Hubs (2.4 GHz and 868 MHz HAN, capacity doc H17) are fitted where 2.4 GHz alone does not
# reach the meters (flats, meter rooms). The DCC reported them in use "at scale" in 2021 (energylivenews.com,
# 10-01-2022, "2021 hailed as record year for smart meter rollout") but no share was found.
# ASSUMED: 15 % of hubs, 4G hubs included.
DUAL_BAND_SHARE = 0.15
# The CHTS version a hub reports (DUIS SMETSCHTSVersion) follows its GBCS version. GBCS 4.2 → "CHTS V1.4" is
# the pair a real DCC Boxed 8.2 answer reports for a 106C/433100AC hub
# (shared/duis/samples/responses/read-inventory-response-5.4.xml); ASSUMED "CHTS V1.2" for the older GBCS
# 3.2 hub firmware (no public CPL extract pairing them was found). Migration 0012 backfills the same way.
CHTS_VERSION_OF_GBCS = {"4.2": "CHTS V1.4"}
CHTS_VERSION_OLDER = "CHTS V1.2"  # ASSUMED, see above


@dataclass(frozen=True)
class Supplier:
    eui: str
    name: str
    share: float
    roles: str


# N9: 21 active domestic suppliers in 2024; we model 20 with an unequal, ASSUMED market-share curve.
_SUPPLIER_NAMES = (
    "Aurora Energy", "Britannia Power", "Caledon Gas & Power", "Dovecote Energy", "Ember Utilities",
    "Fenland Power", "Greystone Energy", "Harbour Light Energy", "Ironbridge Supply", "Juniper Energy",
    "Kestrel Power", "Lowland Energy", "Meridian Home Energy", "Northwind Supply", "Orchard Energy",
    "Pennine Power", "Quayside Energy", "Riverside Utilities", "Solent Supply", "Thistle Energy",
)  # fmt: skip
_SUPPLIER_SHARES = (
    0.22, 0.18, 0.12, 0.09, 0.07, 0.06, 0.05, 0.04, 0.03, 0.025,
    0.02, 0.02, 0.015, 0.015, 0.01, 0.01, 0.01, 0.008, 0.007, 0.005,
)  # fmt: skip
_total = sum(_SUPPLIER_SHARES)
SUPPLIERS: tuple[Supplier, ...] = tuple(
    Supplier(
        eui=f"90-B3-D5-1F-40-{i + 1:02X}-00-00",
        name=name,
        share=share / _total,
        # ASSUMED: the two smallest supply electricity only
        roles="IS" if i >= len(_SUPPLIER_NAMES) - 2 else "IS GS",
    )
    for i, (name, share) in enumerate(zip(_SUPPLIER_NAMES, _SUPPLIER_SHARES, strict=True))
)
OTHER_USERS: tuple[tuple[str, str, str], ...] = (
    ("90-B3-D5-1F-50-01-00-00", "Northern Wires (DNO)", "ED"),
    ("90-B3-D5-1F-50-02-00-00", "Grid Gas Transport", "GT"),
    ("90-B3-D5-1F-50-03-00-00", "Metering Agents Ltd", "RSA"),
    ("90-B3-D5-1F-50-04-00-00", "Sunroof Export Co", "ES"),
    ("90-B3-D5-1F-50-05-00-00", "Energy Insights (Other User)", "OU"),
    ("90-B3-D5-1F-60-00-00-01", "DCC Service Desk", "DCC"),
)
DCC_OPERATOR_EUI = "90-B3-D5-1F-60-00-00-01"


@dataclass(frozen=True)
class FirmwareRelease:
    version: str  # 8 hex digits, unique per model on the CPL (A-005 read per model)
    status: str  # CPL status
    upgradeable: bool  # devices running it accept OTA updates
    weight: float  # share of the model's installed base on this version


@dataclass(frozen=True)
class Model:
    device_type: str
    manufacturer: str  # ZigBee manufacturer code, 4 hex digits
    model: str  # 8 hex digits
    oui: str  # first three bytes of its Device IDs, "AA-BB-CC"
    hw_min: int
    hw_max: int
    image_type: int
    gbcs_version: str
    share: float  # share of its device type's installed base
    releases: tuple[FirmwareRelease, ...]

    @property
    def newest(self) -> FirmwareRelease:
        return self.releases[-1]


def _rel(model_no: int, spec: tuple[tuple[str, bool, float], ...]) -> tuple[FirmwareRelease, ...]:
    """Releases 1..n of a model; versions are `MM0R0000`-shaped hex, unique across the catalogue."""
    return tuple(
        FirmwareRelease(f"{model_no:02X}{i + 1:02X}0000", status, upgradeable, weight)
        for i, (status, upgradeable, weight) in enumerate(spec)
    )


# Every CPL status appears; older releases are Withdrawn/Expired/Cancelled; some are not upgradeable.
_HISTORY_A = (
    ("Withdrawn", False, 0.05),
    ("Expired", True, 0.15),
    ("Active", True, 0.50),
    ("Active", True, 0.30),
)
_HISTORY_B = (("Cancelled", False, 0.10), ("Active", True, 0.60), ("Active", True, 0.30))
_HISTORY_C = (("Expired", True, 0.30), ("Active", True, 0.70))

MODELS: tuple[Model, ...] = (
    Model(
        "ESME", "1039", "0A010001", "10-39-0A", 0x0100, 0x01FF, 0x0000, "3.2", 0.55, _rel(0x01, _HISTORY_A)
    ),
    Model(
        "ESME", "10E1", "0B020001", "10-E1-0B", 0x0200, 0x02FF, 0x0000, "4.0", 0.45, _rel(0x02, _HISTORY_B)
    ),
    Model(
        "GSME", "1039", "0A110001", "10-39-1A", 0x0100, 0x01FF, 0x0000, "3.2", 0.60, _rel(0x03, _HISTORY_A)
    ),
    Model(
        "GSME", "1122", "0C120001", "11-22-1C", 0x0300, 0x03FF, 0x0000, "4.0", 0.40, _rel(0x04, _HISTORY_C)
    ),
    Model("CHF", "106C", "433100AC", "88-73-84", 0x0100, 0x0100, 0x0001, "4.2", 0.50, _rel(0x05, _HISTORY_B)),
    Model("CHF", "1044", "22010001", "44-10-22", 0x0100, 0x0100, 0x0001, "3.2", 0.50, _rel(0x06, _HISTORY_C)),
    Model("GPF", "106C", "433100AD", "88-73-85", 0x0100, 0x0100, 0x0002, "4.2", 0.50, _rel(0x07, _HISTORY_B)),
    Model("GPF", "1044", "22010002", "44-10-23", 0x0100, 0x0100, 0x0002, "3.2", 0.50, _rel(0x08, _HISTORY_C)),
    Model(
        "PPMID", "121D", "00840001", "12-1D-84", 0x1111, 0x1211, 0x0084, "3.2", 0.60, _rel(0x09, _HISTORY_A)
    ),
    Model(
        "PPMID", "1234", "00850002", "12-34-85", 0x2000, 0x20FF, 0x0085, "4.0", 0.40, _rel(0x0A, _HISTORY_B)
    ),
    Model("IHD", "1234", "00900001", "12-34-90", 0x3000, 0x30FF, 0x0090, "3.2", 0.50, _rel(0x0B, _HISTORY_A)),
    Model("IHD", "1122", "00910002", "11-22-91", 0x4000, 0x40FF, 0x0091, "4.0", 0.30, _rel(0x0C, _HISTORY_C)),
    Model("IHD", "1039", "00920003", "10-39-92", 0x5000, 0x50FF, 0x0092, "2.0", 0.20, _rel(0x0D, _HISTORY_B)),
)
HUB_FIRMWARE_NO_HAN_OTA = "01000000"  # ASSUMED label for pre-MP7 hub firmware
HUB_FIRMWARE_HAN_OTA = "02000000"

# Image sizes: F1/F2 (no GB figures; 250 kB for meters, PPMIDs and IHDs; 1 MB for hubs is the stress case)
IMAGE_SIZE = {
    "ESME": 250_000,
    "GSME": 250_000,
    "PPMID": 250_000,
    "IHD": 250_000,
    "CHF": 1_000_000,
    "GPF": 1_000_000,
}


def models_of(device_type: str) -> tuple[Model, ...]:
    return tuple(m for m in MODELS if m.device_type == device_type)


def synthetic_manufacturer_image(version: str, size: int) -> bytes:
    """The deterministic Manufacturer Image of a synthetic firmware version (any `size`).

    Built from SHA-256 in counter mode, so that the CPL hash of every synthetic version can be recomputed
    anywhere (the demo, tests, benchmarks) without storing images.
    """
    seed = hashlib.sha256(f"hanota synthetic firmware {version}".encode()).digest()
    blocks = (size + 31) // 32
    out = b"".join(hashlib.sha256(seed + i.to_bytes(4, "big")).digest() for i in range(blocks))
    return out[:size]


def synthetic_firmware_hash(version: str, device_type: str) -> str:
    return hashlib.sha256(synthetic_manufacturer_image(version, IMAGE_SIZE[device_type])).hexdigest()
