"""The inventory's SRs over HTTP: 8.4 Update Inventory (a supplier records an IHD's firmware version, A-001)
and 12.2 Device Pre-notification (a new device joins the SMI as Pending, on a version the CPL still lists)."""

from __future__ import annotations

from sqlalchemy import select, update

import crafted as c
from api.conftest import Live
from api.test_service_d import answer
from duisclient import request, signed, signer_for
from hanota.db.models import CPLEntry, Device, FirmwareHistory
from hanota.duis.requests import (
    DevicePrenotification,
    UpdateDeviceDetails,
    UpdateInventory,
    UpdatePPMIDFirmware,
)
from hanota.duis.values import DeviceType

NEW_IHD = "BB-00-00-00-00-00-01-01"


def test_recording_an_ihd_firmware_version_makes_it_eligible(live: Live) -> None:
    """Seed A-001: an IHD without a recorded version is not upgradeable until an interested supplier
    records one with 8.4."""
    s1 = signer_for(live.pki, c.S1)
    fw = UpdatePPMIDFirmware(c.NEW_IMAGE, c.NEW_VERSION, (c.I_NOFW,))
    code, body = answer(live, signed(s1, request(c.S1, "11.4", fw)))
    assert code == "E110405"
    assert dict(body.payload.lists())["NotApplicableFirmwareDeviceIDList"] == (c.I_NOFW,)  # type: ignore[attr-defined]

    record = UpdateInventory(c.I_NOFW, UpdateDeviceDetails(firmware_version=c.OLD_VERSION))
    assert answer(live, signed(s1, request(c.S1, "8.4", record)))[0] == "I0"
    with live.engine.connect() as conn:
        assert (
            conn.execute(select(Device.firmware_version).where(Device.device_id == c.I_NOFW)).scalar_one()
            == c.OLD_VERSION
        )
        hist = conn.execute(select(FirmwareHistory).where(FirmwareHistory.device_id == c.I_NOFW)).one()
    assert hist.firmware_version == c.OLD_VERSION and hist.previous_version is None
    assert hist.source.startswith("SR 8.4 " + c.S1)

    assert answer(live, signed(s1, request(c.S1, "11.4", fw)))[0] == "I0"


def test_only_an_interested_supplier_may_record_a_version(live: Live) -> None:
    """An 8.4 from a supplier not interested in the device, or from a User that supplies none, is refused with
    E4, and neither the device's version nor its history changes."""
    s3 = signer_for(live.pki, c.S3)  # imports on H3 only
    record = UpdateInventory(c.I_NOFW, UpdateDeviceDetails(firmware_version=c.OLD_VERSION))
    assert answer(live, signed(s3, request(c.S3, "8.4", record)))[0] == "E4"
    other = signer_for(live.pki, c.OTHER)
    assert answer(live, signed(other, request(c.OTHER, "8.4", record)))[0] == "E4"
    with live.engine.connect() as conn:
        assert (
            conn.execute(select(Device.firmware_version).where(Device.device_id == c.I_NOFW)).scalar_one()
            is None
        )
        assert conn.execute(select(FirmwareHistory)).first() is None


def test_update_inventory_of_an_unknown_device_is_e19(live: Live) -> None:
    """An 8.4 for a device that is not in the SMI is refused with E19."""
    s1 = signer_for(live.pki, c.S1)
    record = UpdateInventory(c.UNKNOWN, UpdateDeviceDetails(firmware_version=c.OLD_VERSION))
    assert answer(live, signed(s1, request(c.S1, "8.4", record)))[0] == "E19"


def test_prenotification_adds_a_pending_device(live: Live) -> None:
    """A 12.2 pre-notification adds the device to the SMI as Pending, on no hub, with its firmware version;
    pre-notifying it again is refused with E120203."""
    s1 = signer_for(live.pki, c.S1)
    pre = DevicePrenotification(NEW_IHD, c.MFR, c.MODEL, DeviceType.PPMID, firmware_version=c.NEW_VERSION)
    assert answer(live, signed(s1, request(c.S1, "12.2", pre)))[0] == "I0"
    with live.engine.connect() as conn:
        dev = conn.execute(select(Device).where(Device.device_id == NEW_IHD)).one()
    assert dev.smi_status == "Pending" and dev.firmware_version == c.NEW_VERSION and dev.hub_id is None
    assert answer(live, signed(s1, request(c.S1, "12.2", pre)))[0] == "E120203"


def test_prenotification_is_blocked_when_the_version_is_no_longer_valid(live: Live) -> None:
    """Seed A-002: withdrawing a version on the CPL blocks new pre-notifications for it; devices already
    running it are untouched."""
    with live.engine.begin() as conn:
        conn.execute(
            update(CPLEntry).where(CPLEntry.firmware_version == c.OLD_VERSION).values(status="Withdrawn")
        )
    s1 = signer_for(live.pki, c.S1)
    pre = DevicePrenotification(NEW_IHD, c.MFR, c.MODEL, DeviceType.PPMID, firmware_version=c.OLD_VERSION)
    assert answer(live, signed(s1, request(c.S1, "12.2", pre)))[0] == "E120201"
    unknown = DevicePrenotification(NEW_IHD, c.MFR, c.MODEL, DeviceType.PPMID, firmware_version="DEADBEEF")
    assert answer(live, signed(s1, request(c.S1, "12.2", unknown)))[0] == "E120201"
    with live.engine.connect() as conn:
        assert conn.execute(select(Device).where(Device.device_id == NEW_IHD)).first() is None
        assert (
            conn.execute(select(Device.firmware_version).where(Device.device_id == c.P_OK)).scalar_one()
            == c.OLD_VERSION
        )
