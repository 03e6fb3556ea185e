"""The column tuples of the estate's bulk loads, shared by the generator (`generate`) and the DCC Boxed home
(`dccboxed`): one place for the order in which their rows are written."""

from __future__ import annotations

PREMISES_COLS = ("id", "uprn", "postcode", "region", "prepayment")
HUB_COLS = ("chf_id", "gpf_id", "premises_id", "region", "firmware_version", "gbcs_version", "han_ota")
HUB_FACT_COLS = ("chts_version", "han_variant", "connectivity")
DEVICE_COLS = (
    "device_id", "device_type", "smi_status", "manufacturer", "model", "hardware_version",
    "firmware_version", "hub_id", "premises_id", "date_commissioned",
)  # fmt: skip
REG_COLS = ("device_id", "supplier_eui", "role", "effective_from", "effective_to")
USER_COLS = ("eui", "name", "roles", "status", "alert_endpoint", "market_share")
CPL_COLS = (
    "device_type", "manufacturer", "model", "hw_version_min", "hw_version_max", "firmware_version",
    "firmware_hash", "gbcs_version", "status", "upgradeable", "image_type",
)  # fmt: skip
