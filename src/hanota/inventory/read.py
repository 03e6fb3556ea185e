"""SR 8.2 Read Inventory: the device asked for and the devices on its Comms Hub (up to 17), with the
firmware version, its status on the CPL and the model's CPL status — IHDs included (SECMP0007).

As a DCC Boxed answer does (`shared/duis/samples/responses/read-inventory-response-5.4.xml`): the CHF and
the GPF carry the hub's `SMETSCHTSVersion`; the CHF alone its `HANVariant` and `Connectivity`; every device
on the hub its `CSPRegion`, which for a 4G Comms Hub is `4G North|Central|South`. A fact the inventory does
not hold (a hub recorded without it, a long-range-radio hub's connectivity) is left out, not guessed."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import Connection, text

from hanota.duis import codes
from hanota.duis.requests import PropertyFilter, ReadInventory
from hanota.duis.responses import DSPInventory, InventoryDevice
from hanota.duis.values import (
    MAX_INVENTORY_DEVICES,
    Connectivity,
    CSPRegion,
    DeviceStatus,
    DeviceType,
    FirmwareStatus,
)
from hanota.errors import ValidationError

_SELECT = """
    SELECT d.device_id, d.device_type, d.smi_status, d.manufacturer, d.model, d.firmware_version,
           fw.status AS fw_status, fw.gbcs_version,
           (SELECT CASE WHEN sum(CASE WHEN m.status = 'Active' THEN 1 ELSE 0 END) > 0 THEN 'Active'
                        ELSE max(m.status) END
            FROM cpl_entries m WHERE m.manufacturer = d.manufacturer AND m.model = d.model) AS model_status,
           d.date_commissioned, p.uprn, p.postcode, h.region, h.chts_version, h.han_variant, h.connectivity
    FROM devices d
    LEFT JOIN cpl_entries fw
        ON fw.firmware_version = d.firmware_version AND fw.manufacturer = d.manufacturer AND fw.model = d.model
    LEFT JOIN premises p ON p.id = d.premises_id
    LEFT JOIN comms_hubs h ON h.chf_id = d.hub_id
"""


_HUB_TYPES = frozenset({DeviceType.CHF.value, DeviceType.GPF.value})


def _device(r: Any) -> InventoryDevice:
    commissioned = r.date_commissioned
    if isinstance(commissioned, str):
        commissioned = date.fromisoformat(commissioned)
    postcode = r.postcode if r.postcode and 6 <= len(r.postcode) <= 8 else None
    hub_part = r.device_type in _HUB_TYPES
    is_chf = r.device_type == DeviceType.CHF.value
    return InventoryDevice(
        device_id=r.device_id,
        device_type=DeviceType(r.device_type),
        manufacturer=r.manufacturer,
        model=r.model,
        device_status=DeviceStatus(r.smi_status) if r.smi_status else None,
        firmware_version=r.firmware_version,
        firmware_version_status=FirmwareStatus(r.fw_status) if r.fw_status else None,
        cpl_status=FirmwareStatus(r.model_status) if r.model_status else None,
        date_commissioned=commissioned,
        uprn=int(r.uprn) if r.uprn else None,
        property_filter=PropertyFilter(postcode, str(int(r.uprn))) if postcode and r.uprn else None,
        csp_region=CSPRegion(r.region) if r.region else None,
        gbcs_version=r.gbcs_version,
        smets_chts_version=r.chts_version if hub_part else None,
        han_variant=r.han_variant if is_chf else None,
        connectivity=Connectivity(r.connectivity) if is_chf and r.connectivity else None,
    )


def read_inventory(conn: Connection, body: ReadInventory) -> DSPInventory:
    """Answer an 8.2. A search that finds nothing is E19 (device not in the SMI)."""
    order = " ORDER BY CASE WHEN d.device_id = :did THEN 0 ELSE 1 END, d.device_type, d.device_id LIMIT :n"
    params: dict[str, Any] = {"n": MAX_INVENTORY_DEVICES, "did": body.device_id or ""}
    if body.device_id is not None:
        where = (
            " WHERE d.device_id = :did OR (d.hub_id IS NOT NULL AND d.hub_id = "
            "(SELECT x.hub_id FROM devices x WHERE x.device_id = :did))"
        )
    elif body.uprn is not None:
        where = " WHERE p.uprn = :uprn"
        params["uprn"] = f"{body.uprn:012d}"
    elif body.property_filter is not None:
        where = " WHERE p.postcode = :pc AND p.uprn = :uprn"
        params["pc"] = body.property_filter.post_code
        ident = body.property_filter.address_identifier
        params["uprn"] = f"{int(ident):012d}" if ident.isdigit() else ident
    else:
        raise ValidationError("this DSP holds no MPxNs: search by DeviceID, UPRN or PropertyFilter",
                              code=codes.DEVICE_NOT_IN_SMI)  # fmt: skip
    rows = conn.execute(text(_SELECT + where + order), params).all()
    if not rows:
        raise ValidationError("no device in the SMI matches the search", code=codes.DEVICE_NOT_IN_SMI)
    return DSPInventory(tuple(_device(r) for r in rows))
