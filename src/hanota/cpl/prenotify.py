"""SR 12.2 Device Pre-notification: a new device enters the SMI as Pending.

Refused when its firmware version is not on the CPL as Active for its manufacturer and model (seed A-002:
removing a version's validity blocks new pre-notifications), or when the device is already in the SMI.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, insert, select

from hanota.db.models import CPLEntry, Device, FirmwareHistory
from hanota.duis.codes import PRENOTIFY_DEVICE_EXISTS, PRENOTIFY_FIRMWARE_NOT_ACTIVE
from hanota.duis.requests import DevicePrenotification
from hanota.errors import ValidationError


def prenotify(conn: Connection, body: DevicePrenotification, *, request_id: str, now: datetime) -> None:
    if conn.execute(select(Device.device_id).where(Device.device_id == body.device_id)).first() is not None:
        raise ValidationError(f"device {body.device_id} is already in the SMI", code=PRENOTIFY_DEVICE_EXISTS)
    if body.firmware_version is not None:
        entries = conn.execute(
            select(CPLEntry.status, CPLEntry.manufacturer, CPLEntry.model).where(
                CPLEntry.firmware_version == body.firmware_version
            )
        ).all()
        model = (body.manufacturer.upper(), body.model.upper())
        entry = next((e for e in entries if (e.manufacturer.upper(), e.model.upper()) == model), None)
        if entry is None and entries:
            others = ", ".join(sorted(f"{e.manufacturer}/{e.model}" for e in entries))
            raise ValidationError(
                f"firmware version {body.firmware_version} is for {others}, not {body.manufacturer}/{body.model}",
                code=PRENOTIFY_FIRMWARE_NOT_ACTIVE,
            )
        if entry is None or entry.status != "Active":
            why = "not on the CPL" if entry is None else f"{entry.status} on the CPL"
            raise ValidationError(
                f"firmware version {body.firmware_version} is {why}", code=PRENOTIFY_FIRMWARE_NOT_ACTIVE
            )
    smi_status = None if body.device_type.value == "IHD" else "Pending"
    conn.execute(
        insert(Device).values(
            device_id=body.device_id, device_type=body.device_type.value, smi_status=smi_status,
            manufacturer=body.manufacturer, model=body.model, hardware_version=None,
            firmware_version=body.firmware_version, hub_id=None, premises_id=None,
        )
    )  # fmt: skip
    if body.firmware_version is not None:
        conn.execute(
            insert(FirmwareHistory).values(
                device_id=body.device_id, firmware_version=body.firmware_version, previous_version=None,
                recorded_at=now, source=f"SR 12.2 {request_id}",
            )
        )  # fmt: skip
