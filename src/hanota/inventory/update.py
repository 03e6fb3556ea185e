"""SR 8.4 Update Inventory.

The change SECMP0007 needs (seed A-001): an interested supplier records the firmware version of an IHD or
PPMID, which makes an IHD without a recorded version eligible for 11.4. The history row keeps who and when.
Also served, for devices the sender is interested in: manufacturer/model corrections (UpdateDeviceDetails),
status changes of a non-hub device between Pending and InstalledNotCommissioned, and deleting a Pending
device. MPxNs are not held by this DSP.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, delete, insert, select, update

from hanota.db.models import Device, FirmwareHistory
from hanota.duis import codes
from hanota.duis.requests import (
    DeleteDevice,
    UpdateDeviceDetails,
    UpdateDeviceStatus,
    UpdateInventory,
    UpdateMPxN,
)
from hanota.errors import AccessError, ValidationError
from hanota.inventory.interest import is_interested


def update_inventory(
    conn: Connection, body: UpdateInventory, *, sender: str, request_id: str, now: datetime
) -> None:
    dev = conn.execute(select(Device).where(Device.device_id == body.device_id)).first()
    if dev is None:
        raise ValidationError(f"device {body.device_id} is not in the SMI", code=codes.DEVICE_NOT_IN_SMI)
    pending_unattached = dev.smi_status == "Pending" and dev.hub_id is None
    if not pending_unattached and not is_interested(conn, body.device_id, sender, now):
        raise AccessError(
            f"{sender} is not an interested supplier of {body.device_id}",
            code=codes.ROLE_NOT_AUTHORISED_FOR_DEVICE,
        )
    change = body.change
    if isinstance(change, UpdateDeviceDetails):
        if change.firmware_version is not None and dev.device_type not in ("IHD", "PPMID"):
            raise ValidationError(
                f"a {dev.device_type}'s firmware version changes by firmware update, not 8.4",
                code=codes.SRV_NOT_VALID_FOR_DEVICE_TYPE,
            )
        values: dict[str, object] = {}
        if change.manufacturer is not None:
            values["manufacturer"] = change.manufacturer
        if change.model is not None:
            values["model"] = change.model
        if change.firmware_version is not None:
            values["firmware_version"] = change.firmware_version
            conn.execute(
                insert(FirmwareHistory).values(
                    device_id=body.device_id, firmware_version=change.firmware_version,
                    previous_version=dev.firmware_version, recorded_at=now, source=f"SR 8.4 {request_id}",
                )
            )  # fmt: skip
        if values:
            conn.execute(update(Device).where(Device.device_id == body.device_id).values(**values))
    elif isinstance(change, UpdateDeviceStatus):
        if change.comms_hub or dev.device_type in ("CHF", "GPF"):
            raise ValidationError(
                "Comms Hub statuses are set by the CSP", code=codes.SRV_NOT_VALID_FOR_DEVICE_TYPE
            )
        if dev.smi_status not in ("Pending", "InstalledNotCommissioned"):
            raise ValidationError(
                f"a device in status {dev.smi_status} cannot be set to {change.status.value}",
                code=codes.DEVICE_STATUS_INCOMPATIBLE,
            )
        conn.execute(
            update(Device).where(Device.device_id == body.device_id).values(smi_status=change.status.value)
        )
    elif isinstance(change, DeleteDevice):
        if dev.smi_status != "Pending":
            raise ValidationError(
                "only a Pending device can be deleted", code=codes.DEVICE_STATUS_INCOMPATIBLE
            )
        conn.execute(delete(FirmwareHistory).where(FirmwareHistory.device_id == body.device_id))
        conn.execute(delete(Device).where(Device.device_id == body.device_id))
    elif isinstance(change, UpdateMPxN):
        raise ValidationError("this DSP holds no MPxNs", code=codes.SRV_NOT_VALID_FOR_DEVICE_TYPE)
