"""A small hand-made estate where every device's expected outcome is known.

Hubs: H1 (Central, HAN OTA), H2 (North, no HAN OTA), H3 (South, HAN OTA).
Suppliers: S1 (IS GS) imports on H1, H2; S2 (IS GS) gas on H1; S3 (IS) imports on H3.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from hanota.db.models import CommsHub, CPLEntry, Device, Premises, SupplierRegistration, User
from hanota.firmware import build_image, parse_image

S1, S2, S3, OTHER, GONE = (
    "90-B3-D5-1F-70-00-00-01",
    "90-B3-D5-1F-70-00-00-02",
    "90-B3-D5-1F-70-00-00-03",
    "90-B3-D5-1F-70-00-00-09",
    "90-B3-D5-1F-70-00-00-0A",  # has a certificate; tests delete the User to get E1
)
H1, H2, H3 = "AA-00-00-00-00-00-01-01", "AA-00-00-00-00-00-02-01", "AA-00-00-00-00-00-03-01"
MFR, MODEL, OTHER_MODEL = "121D", "00840001", "00840099"
HW_LO, HW_HI = 0x1111, 0x1211
SINCE = datetime(2024, 1, 1, tzinfo=UTC)
NOW = datetime(2026, 6, 1, tzinfo=UTC)


def dev(n: int) -> str:
    return f"BB-00-00-00-00-00-00-{n:02X}"


# name → (device id, expected 11.4 outcome for S1 with the NEW image)
P_OK, P_PENDING, P_HW, P_MODEL, P_OLDFW, I_OK, I_NOFW, P_NOOTA, P_NOTMINE, E1 = (dev(i) for i in range(1, 11))
G1, E2, E3, P_GAS, I_OFFHDR = dev(11), dev(12), dev(13), dev(14), dev(15)
UNKNOWN = "BB-00-00-00-00-00-00-FF"


def ppmid_image(
    version_tag: bytes, *, hw: tuple[int, int] = (HW_LO, HW_HI), image_type: int = 0x0084
) -> bytes:
    return build_image(
        manufacturer_code=int(MFR, 16),
        image_type=image_type,
        file_version=0x0A000002,
        manufacturer_image=b"crafted PPMID firmware " + version_tag * 64,
        header_string="crafted PPMID image",
        minimum_hardware_version=hw[0],
        maximum_hardware_version=hw[1],
    )


NEW_IMAGE = ppmid_image(b"new")
WITHDRAWN_IMAGE = ppmid_image(b"withdrawn")
UNLISTED_IMAGE = ppmid_image(b"unlisted")
NARROW_IMAGE = ppmid_image(b"narrow", hw=(0x1111, 0x1150))
NEW_VERSION, OLD_VERSION, STUCK_VERSION, WITHDRAWN_VERSION, NARROW_VERSION = (
    "A0000002",
    "A0000001",
    "A0000000",
    "A0000003",
    "A0000004",
)


@dataclass(frozen=True)
class Expect:
    device_id: str
    outcome: str


# The mixed list (S1 sends NEW_IMAGE as NEW_VERSION) and where each device must land.
MIXED: tuple[Expect, ...] = (
    Expect(P_OK, "Accepted"),
    Expect(I_OK, "Accepted"),
    Expect(P_GAS, "Accepted"),  # S1 is the import supplier on H1 (S2 is gas): both are interested
    Expect(UNKNOWN, "InvalidDeviceIDList"),
    Expect(E1, "InvalidDeviceIDList"),  # an ESME is not a target of 11.4
    Expect(P_NOTMINE, "InvalidDeviceIDList"),  # S1 is not interested in H3
    Expect(P_PENDING, "NotCommissionedDeviceIDList"),
    Expect(P_HW, "NotApplicableFirmwareDeviceIDList"),
    Expect(P_MODEL, "NotApplicableFirmwareDeviceIDList"),
    Expect(P_OLDFW, "NotApplicableFirmwareDeviceIDList"),
    Expect(I_NOFW, "NotApplicableFirmwareDeviceIDList"),
    Expect(P_NOOTA, "InvalidGBCSVersionList"),
)


def build(engine: Engine) -> None:
    """Write the crafted estate into a migrated, empty store."""
    new_hash = parse_image(NEW_IMAGE).firmware_hash
    with Session(engine) as s, s.begin():
        s.add_all(
            [
                User(eui=S1, name="S1", roles="IS GS", status="Active"),
                User(eui=S2, name="S2", roles="IS GS", status="Active"),
                User(eui=S3, name="S3", roles="IS", status="Active"),
                User(eui=OTHER, name="Other", roles="OU", status="Active"),
                User(eui=GONE, name="Gone", roles="IS", status="Active"),
            ]
        )

        def cpl(version: str, digest: str, status: str, upgradeable: bool, model: str = MODEL) -> CPLEntry:
            return CPLEntry(
                device_type="PPMID", manufacturer=MFR, model=model, hw_version_min=HW_LO, hw_version_max=HW_HI,
                firmware_version=version, firmware_hash=digest, gbcs_version="3.2", status=status,
                upgradeable=upgradeable, image_type=0x0084,
            )  # fmt: skip

        s.add_all(
            [
                cpl(NEW_VERSION, new_hash, "Active", True),
                cpl(OLD_VERSION, "11" * 32, "Active", True),
                cpl(STUCK_VERSION, "22" * 32, "Active", False),
                cpl(WITHDRAWN_VERSION, parse_image(WITHDRAWN_IMAGE).firmware_hash, "Withdrawn", True),
                cpl(NARROW_VERSION, parse_image(NARROW_IMAGE).firmware_hash, "Active", True),
                CPLEntry(
                    device_type="IHD", manufacturer=MFR, model=MODEL, hw_version_min=HW_LO, hw_version_max=HW_HI,
                    firmware_version="B0000001", firmware_hash="33" * 32, gbcs_version="3.2", status="Active",
                    upgradeable=True, image_type=0x0090,
                ),
            ]
        )  # fmt: skip
        for pid, region in ((1, "Central"), (2, "North"), (3, "South")):
            s.add(
                Premises(id=pid, uprn=f"{pid:012d}", postcode=f"T{pid} 1AA", region=region, prepayment=True)
            )
        s.flush()
        for chf, pid, region, ota in (
            (H1, 1, "Central", True),
            (H2, 2, "North", False),
            (H3, 3, "South", True),
        ):
            s.add(
                CommsHub(
                    chf_id=chf, gpf_id=chf[:-2] + "02", premises_id=pid, region=region, firmware_version="02000000",
                    gbcs_version="4.2", han_ota=ota,
                )
            )  # fmt: skip
        s.flush()

        def d(did: str, dtype: str, hub: str, pid: int, *, status: str | None = "Commissioned",
              model: str = MODEL, hw: int = 0x1200, fw: str | None = OLD_VERSION) -> Device:  # fmt: skip
            return Device(
                device_id=did, device_type=dtype, smi_status=status, manufacturer=MFR, model=model,
                hardware_version=hw, firmware_version=fw, hub_id=hub, premises_id=pid,
            )  # fmt: skip

        s.add_all(
            [
                d(E1, "ESME", H1, 1, model="0A010001", hw=0x100, fw=None),
                d(G1, "GSME", H1, 1, model="0A110001", hw=0x100, fw=None),
                d(P_OK, "PPMID", H1, 1),
                d(P_PENDING, "PPMID", H1, 1, status="Pending"),
                d(P_HW, "PPMID", H1, 1, hw=0x1300),
                d(P_MODEL, "PPMID", H1, 1, model=OTHER_MODEL),
                d(P_OLDFW, "PPMID", H1, 1, fw=STUCK_VERSION),
                d(I_OK, "IHD", H1, 1, status=None),
                d(I_NOFW, "IHD", H1, 1, status=None, fw=None),
                d(P_GAS, "PPMID", H1, 1),
                d(I_OFFHDR, "PPMID", H1, 1, hw=0x1200),
                d(E2, "ESME", H2, 2, model="0A010001", hw=0x100, fw=None),
                d(P_NOOTA, "PPMID", H2, 2),
                d(E3, "ESME", H3, 3, model="0A010001", hw=0x100, fw=None),
                d(P_NOTMINE, "PPMID", H3, 3),
            ]
        )
        s.flush()
        s.add_all(
            [
                SupplierRegistration(device_id=E1, supplier_eui=S1, role="IS", effective_from=SINCE),
                SupplierRegistration(device_id=G1, supplier_eui=S2, role="GS", effective_from=SINCE),
                SupplierRegistration(device_id=E2, supplier_eui=S1, role="IS", effective_from=SINCE),
                SupplierRegistration(device_id=E3, supplier_eui=S3, role="IS", effective_from=SINCE),
                # S2 used to supply H3's electricity: an ended registration makes nobody interested
                SupplierRegistration(
                    device_id=E3, supplier_eui=S2, role="IS", effective_from=datetime(2020, 1, 1, tzinfo=UTC),
                    effective_to=SINCE,
                ),
            ]
        )  # fmt: skip
