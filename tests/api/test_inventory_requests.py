"""8.4 Update Inventory and 12.2 Pre-notification over HTTP, and the `hanota sr` commands end to end."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import select, update

import crafted as c
from api.conftest import Live
from api.test_service_d import answer
from duisclient import request, signed, signer_for
from hanota.db.models import CPLEntry, Device, FirmwareHistory
from hanota.duis.requests import (
    DevicePrenotification,
    ReadInventory,
    UpdateDeviceDetails,
    UpdateInventory,
    UpdatePPMIDFirmware,
)
from hanota.duis.values import DeviceType
from hanota.ssi.billing import billing_rows

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
    s1 = signer_for(live.pki, c.S1)
    record = UpdateInventory(c.UNKNOWN, UpdateDeviceDetails(firmware_version=c.OLD_VERSION))
    assert answer(live, signed(s1, request(c.S1, "8.4", record)))[0] == "E19"


def test_prenotification_adds_a_pending_device(live: Live) -> None:
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


def test_sr_build_sign_submit_commands(live: Live, tmp_path: Path) -> None:
    """A supplier drives the DSP with the hanota command alone."""
    stem = c.S1.replace("-", "")
    env = {**os.environ, "HANOTA_DATA_DIR": str(tmp_path / "client")}
    run = [sys.executable, "-m", "hanota.cli.main"]
    image = tmp_path / "fw.bin"
    image.write_bytes(c.NEW_IMAGE)
    subprocess.run([*run, "sr", "build", "11.4", "--originator", c.S1, "--counter", "77", "--image", str(image),
                    "--firmware-version", c.NEW_VERSION, "--device", c.P_OK, "--device", c.UNKNOWN,
                    "-o", str(tmp_path / "req.xml")], check=True, env=env)  # fmt: skip
    subprocess.run([*run, "sr", "sign", "--key", str(live.pki / "users" / f"{stem}.key.pem"),
                    "--cert", str(live.pki / "users" / f"{stem}.pem"), str(tmp_path / "req.xml"),
                    "-o", str(tmp_path / "req.signed.xml")], check=True, env=env)  # fmt: skip
    out = subprocess.run([*run, "sr", "submit", live.url, str(tmp_path / "req.signed.xml"),
                          "--dsp-cert", str(live.pki / "dsp.pem")], check=True, env=env, capture_output=True,
                         text=True).stdout  # fmt: skip
    assert "W110401" in out and "signature verified" in out
    assert "InvalidDeviceIDList: 1" in out


def test_every_request_served_is_on_record_and_billed(live: Live) -> None:
    """Successful 8.2/8.4 (like 11.4 and refused requests) are recorded, so billing counts every SRV."""
    s1 = signer_for(live.pki, c.S1)
    assert answer(live, signed(s1, request(c.S1, "8.2", ReadInventory(device_id=c.P_OK))))[0] == "I0"
    record = UpdateInventory(c.I_NOFW, UpdateDeviceDetails(firmware_version=c.OLD_VERSION))
    assert answer(live, signed(s1, request(c.S1, "8.4", record)))[0] == "I0"
    assert answer(live, signed(s1, request(c.S1, "8.4", UpdateInventory("BB-00-00-00-00-00-09-09",
                                                                         UpdateDeviceDetails(firmware_version="01")))))[0] == "E19"  # fmt: skip
    with live.engine.connect() as conn:
        rows = billing_rows(conn, user=c.S1)
    counts = {r.srv: (r.requests, r.requests_accepted) for r in rows}
    assert counts == {"8.2": (1, 1), "8.4": (2, 1)}
