"""The DCC Boxed home: the test devices of the DCC's public test environment, so that DCC Boxed samples
and tooling work against hanota unchanged.

Devices `00-DB-12-34-56-78-90-A0` ESME, `-A1` GSME, `-A2` CHF, `-A3` GPF, `-A4` PPMID: Commissioned, on a
hub that supports HAN-device OTA, in the Central region (as the real DCC Boxed inventory answers).
`90-B3-D5-1F-30-01-00-00` is their import and gas supplier. The firmware of the public 11.4 sample request
(`shared/duis/samples/requests/11.4_UPDATE_PPMID_FIRMWARE_REQUEST_DUIS.XML`) is on the CPL as Active,
version `00000000`, for the PPMID's model (a test checks that the image below is byte-for-byte the sample's).

The ESME `-A0` is the device the public 11.1 sample (`11.1_UPDATE_FIRMWARE_REQUEST_DUIS.XML`) is for: that
image's header names manufacturer 0x121D (GFI), image type 0x0000 and hardware versions 0x1111–0x1211, so the
ESME is a GFI ESME of that range (`ESME_MODEL`, model number ASSUMED: the samples do not give one; the 12.2
sample's AB01/010A030B cannot take a 0x121D image), running a version that is on the CPL for its own model
and upgradeable. The 11.1 sample's Manufacturer Image is byte-for-byte the 11.4 sample's (same firmware
hash) with the same version `00000000`: it is on the CPL twice, once for the PPMID's model and once for the
ESME's, as DCC Boxed lists a firmware per model (the CPL holds one entry per model and version, A-005 read
per model: migration 0013), and each sample is accepted for its own device.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime

from hanota.db.bulk import BulkLoader, ts
from hanota.estate import catalogue as cat
from hanota.estate.columns import (
    CPL_COLS,
    DEVICE_COLS,
    HUB_COLS,
    HUB_FACT_COLS,
    PREMISES_COLS,
    REG_COLS,
    USER_COLS,
)
from hanota.firmware import parse_image
from hanota.lifecycle import Region

SUPPLIER_EUI = "90-B3-D5-1F-30-01-00-00"
NETWORK_OPERATOR_EUI = "90-B3-D5-1F-30-02-00-00"
OTHER_USER_EUI = "00-DB-12-34-56-78-00-04"
ESME, GSME, CHF, GPF, PPMID = (f"00-DB-12-34-56-78-90-A{i}" for i in range(5))
SAMPLE_FIRMWARE_VERSION = "00000000"
# The FirmwareImage of the public 11.4 sample request (ZigBee OTA, manufacturer 0x121D, image type 0x0084,
# hardware versions 0x1111–0x1211).
SAMPLE_PPMID_IMAGE = base64.b64decode(
    "HvHuCwABPAAEAB0ShADcrNysAgBJIGFtIGEgR0ZJIFBQTUlEIGZpcm13YXJlIGltYWdlICcBAAARERESQ3JpdGljYWxTb2Z0d2Fy"
    "ZSBzYW1wbGUgZmlybXdhcmUgaW1hZ2VfQ3JpdGljYWxTb2Z0d2FyZSBzYW1wbGUgZmlybXdhcmUgaW1hZ2VfQ3JpdGljYWxTb2Z0"
    "d2FyZSBzYW1wbGUgZmlybXdhcmUgaW1hZ2VfQ3JpdGljYWxTb2Z0d2FyZSBzYW1wbGUgZmlybXdhcmUgaW1hZ2VfQ3JpdGljYWxT"
    "b2Z0d2FyZSBzYW1wbGUgZmlybXdhcmUgaW1hZ2VfQ3JpdGljYWxTb2Z0d2FyZSBzYW1wbGUgZmlybXdhcmUgaW1hZ2VfCg=="
)
PPMID_MODEL = next(m for m in cat.MODELS if m.device_type == "PPMID" and m.manufacturer == "121D")
PPMID_HARDWARE_VERSION = 0x1200  # inside the sample header's 0x1111–0x1211
#: The GFI ESME the 11.1 sample's image is for (manufacturer and image type of its header; ASSUMED model
#: number, CPL hardware range = the header's, GBCS version that of GFI's PPMID), with one release: the
#: version `ESME` runs, Active and upgradeable.
ESME_MODEL = cat.Model(
    "ESME", "121D", "00000001", "00-DB-12", 0x1111, 0x1211, 0x0000, PPMID_MODEL.gbcs_version, 0.0,
    (cat.FirmwareRelease("00000001", "Active", True, 1.0),),
)  # fmt: skip
ESME_HARDWARE_VERSION = 0x1200  # inside the 11.1 sample header's 0x1111–0x1211
#: The hub's CHTS version, HAN variant and connectivity as DCC Boxed's own 8.2 answer gives its Comms Hub
#: (`shared/duis/samples/responses/read-inventory-response-5.4.xml`): DCC Boxed's hub is a virtual one.
DCCBOXED_HUB_FACTS = ("CHTS V1.4", "Single Band", "Virtual")


def add_dccboxed_home(load: BulkLoader, *, premises_id: int) -> None:
    """Append the DCC Boxed home, its supplier and the sample firmware's CPL entries (inside `load`'s tx)."""
    gsme_model = cat.models_of("GSME")[0]
    chf_model = cat.models_of("CHF")[0]
    gpf_model = cat.models_of("GPF")[0]
    since = datetime(2024, 1, 1, tzinfo=UTC)
    load.rows(
        "users",
        USER_COLS,
        [(SUPPLIER_EUI, "DCC Boxed Supplier", "IS GS", "Active", None, None)],
    )
    load.rows(
        "cpl_entries",
        CPL_COLS,
        [
            (
                "PPMID", PPMID_MODEL.manufacturer, PPMID_MODEL.model, PPMID_MODEL.hw_min, PPMID_MODEL.hw_max,
                SAMPLE_FIRMWARE_VERSION, parse_image(SAMPLE_PPMID_IMAGE).firmware_hash,
                PPMID_MODEL.gbcs_version,
                "Active", 1, PPMID_MODEL.image_type,
            ),
            *(
                (
                    "ESME", ESME_MODEL.manufacturer, ESME_MODEL.model, ESME_MODEL.hw_min, ESME_MODEL.hw_max,
                    r.version, cat.synthetic_firmware_hash(r.version, "ESME"), ESME_MODEL.gbcs_version,
                    r.status, int(r.upgradeable), ESME_MODEL.image_type,
                )
                for r in ESME_MODEL.releases
            ),
            # the public 11.1 sample's firmware: the same Manufacturer Image and version as the 11.4
            # sample's, listed for the ESME's own model (one entry per model and version, A-005)
            (
                "ESME", ESME_MODEL.manufacturer, ESME_MODEL.model, ESME_MODEL.hw_min, ESME_MODEL.hw_max,
                SAMPLE_FIRMWARE_VERSION, parse_image(SAMPLE_PPMID_IMAGE).firmware_hash,
                ESME_MODEL.gbcs_version, "Active", 1, ESME_MODEL.image_type,
            ),
        ],
    )  # fmt: skip
    region = Region.CENTRAL.value
    load.rows("premises", PREMISES_COLS, [(premises_id, "123456789012", "DCC 1XB", region, 1)])
    hub = (CHF, GPF, premises_id, region, cat.HUB_FIRMWARE_HAN_OTA, "4.2", 1, *DCCBOXED_HUB_FACTS)
    load.rows("comms_hubs", HUB_COLS + HUB_FACT_COLS, [hub])
    day = "2024-01-01"

    def dev(did: str, dtype: str, m: cat.Model, hw: int) -> tuple[object, ...]:
        return (
            did,
            dtype,
            "Commissioned",
            m.manufacturer,
            m.model,
            hw,
            m.newest.version,
            CHF,
            premises_id,
            day,
        )

    load.rows(
        "devices",
        DEVICE_COLS,
        [
            dev(CHF, "CHF", chf_model, chf_model.hw_min),
            dev(GPF, "GPF", gpf_model, gpf_model.hw_min),
            dev(ESME, "ESME", ESME_MODEL, ESME_HARDWARE_VERSION),
            dev(GSME, "GSME", gsme_model, gsme_model.hw_min),
            dev(PPMID, "PPMID", PPMID_MODEL, PPMID_HARDWARE_VERSION),
        ],
    )
    load.rows(
        "supplier_registrations",
        REG_COLS,
        [(ESME, SUPPLIER_EUI, "IS", ts(since), None), (GSME, SUPPLIER_EUI, "GS", ts(since), None)],
    )
