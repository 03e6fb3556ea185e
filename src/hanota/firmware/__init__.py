"""hanota.firmware: the ZigBee OTA upgrade file carried by DUIS 11.1 and 11.4 (domain.md §5).

Pure: parses, checks and builds images; imports nothing of hanota except `hanota.errors`.
"""

from hanota.firmware.ota import (
    FIXED_HEADER_LENGTH,
    IMAGE_TYPE_ESME,
    IMAGE_TYPE_PPMID,
    OTA_HEADER_VERSION,
    OTA_MAGIC,
    SIGNATURE_TRAILER_LENGTH,
    SUPPLIER_SIGNATURE_LENGTH,
    ZIGBEE_PRO_STACK_VERSION,
    FieldControl,
    FirmwareImage,
    OTAHeader,
    OTAImage,
    build_image,
    header_length_for,
    parse_image,
)

__all__ = [
    "FIXED_HEADER_LENGTH",
    "IMAGE_TYPE_ESME",
    "IMAGE_TYPE_PPMID",
    "OTA_HEADER_VERSION",
    "OTA_MAGIC",
    "SIGNATURE_TRAILER_LENGTH",
    "SUPPLIER_SIGNATURE_LENGTH",
    "ZIGBEE_PRO_STACK_VERSION",
    "FieldControl",
    "FirmwareImage",
    "OTAHeader",
    "OTAImage",
    "build_image",
    "header_length_for",
    "parse_image",
]
