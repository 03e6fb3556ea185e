"""The public 11.1 (ESME) and 11.4 (PPMID) sample images, decoded field by field (domain.md §5)."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable
from typing import Any

import pytest

from hanota.firmware import (
    IMAGE_TYPE_ESME,
    IMAGE_TYPE_PPMID,
    OTA_MAGIC,
    FirmwareImage,
    OTAHeader,
    parse_image,
)

pytestmark = pytest.mark.shared

SAMPLE_MANUFACTURER_IMAGE = b"CriticalSoftware sample firmware image_" * 6 + b"\n"
"""Both samples carry the same 235-byte Manufacturer Image."""

SAMPLE_FIRMWARE_HASH = "7542f475e3f12eae887d81e32c46d313741d67076b13caec2f82e00ba5e1bb36"

ESME_SIGNATURE = bytes.fromhex(
    "0eb4a9c72102790d5692ec352bfcb497df520613fe1dae484165d92071b52a1c"
    "c9b469f51c3c94931aff4bac8d402f89c141390cd1fbd0b941aa4e13b25fbe22"
)


def test_esme_sample_header_fields(esme_sample_image: bytes) -> None:
    """The 11.1 sample header: every field, as decoded from the public file."""
    header = parse_image(esme_sample_image).header
    assert header.magic == 0x0BEEF11E == OTA_MAGIC
    assert header.header_version == 0x0100
    assert header.header_length == 60
    assert header.field_control == 0x0004
    assert header.manufacturer_code == 0x121D
    assert header.image_type == 0x0000 == IMAGE_TYPE_ESME
    assert header.file_version == 0xACDCACDC
    assert header.stack_version == 0x0002
    assert header.header_string == b"I am a GFI ESME[] firmware image"
    assert header.header_text == "I am a GFI ESME[] firmware image"
    assert header.image_size == 361 == len(esme_sample_image)
    assert header.security_credential_version is None
    assert header.upgrade_file_destination is None
    assert header.destination_device_id is None
    assert header.minimum_hardware_version == 0x1111
    assert header.maximum_hardware_version == 0x1211


def test_ppmid_sample_header_fields(ppmid_sample_image: bytes) -> None:
    """The 11.4 sample header: every field; it differs from the ESME one in image type and text."""
    header = parse_image(ppmid_sample_image).header
    assert header.magic == 0x0BEEF11E
    assert header.header_version == 0x0100
    assert header.header_length == 60
    assert header.field_control == 0x0004
    assert header.manufacturer_code == 0x121D
    assert header.image_type == 0x0084 == IMAGE_TYPE_PPMID
    assert header.file_version == 0xACDCACDC
    assert header.stack_version == 0x0002
    assert header.header_string == b"I am a GFI PPMID firmware image "
    assert header.image_size == 295 == len(ppmid_sample_image)
    assert header.security_credential_version is None
    assert header.upgrade_file_destination is None
    assert header.minimum_hardware_version == 0x1111
    assert header.maximum_hardware_version == 0x1211


def test_esme_sample_carries_a_big_endian_signature_trailer(esme_sample_image: bytes) -> None:
    """The 11.1 sample ends with 00 40 (64, big-endian) and a 64-byte signature, found by detection."""
    assert esme_sample_image[-66:-64] == b"\x00\x40"
    image = parse_image(esme_sample_image)
    assert image.has_supplier_signature
    assert image.supplier_signature == ESME_SIGNATURE
    assert image.manufacturer_image == SAMPLE_MANUFACTURER_IMAGE
    assert parse_image(esme_sample_image, expect_signature=True) == image


def test_ppmid_sample_has_no_trailer(ppmid_sample_image: bytes) -> None:
    """The 11.4 sample is the header then the Manufacturer Image, nothing after it."""
    image = parse_image(ppmid_sample_image)
    assert not image.has_supplier_signature
    assert image.supplier_signature is None
    assert image.manufacturer_image == SAMPLE_MANUFACTURER_IMAGE
    assert parse_image(ppmid_sample_image, expect_signature=False) == image


def test_sample_firmware_hash_is_sha256_of_the_manufacturer_image(
    esme_sample_image: bytes, ppmid_sample_image: bytes
) -> None:
    """The firmware (and CPL) hash is SHA-256 of the Manufacturer Image: the trailer is not hashed.

    The two samples share their Manufacturer Image, so they share the hash.
    """
    expected = hashlib.sha256(SAMPLE_MANUFACTURER_IMAGE).hexdigest()
    assert expected == SAMPLE_FIRMWARE_HASH
    assert parse_image(esme_sample_image).firmware_hash == SAMPLE_FIRMWARE_HASH
    assert parse_image(ppmid_sample_image).firmware_hash == SAMPLE_FIRMWARE_HASH


@pytest.mark.parametrize("fixture", ["esme_sample_image", "ppmid_sample_image"])
def test_sample_hardware_range(fixture: str, request: pytest.FixtureRequest) -> None:
    """Both samples apply to hardware 0x1111–0x1211 inclusive, and to nothing outside it."""
    image = parse_image(request.getfixturevalue(fixture))
    assert image.hardware_version_range == (0x1111, 0x1211)
    assert image.applies_to_hardware(0x1111)
    assert image.applies_to_hardware(0x1200)
    assert image.applies_to_hardware(0x1211)
    assert not image.applies_to_hardware(0x1110)
    assert not image.applies_to_hardware(0x1212)


@pytest.mark.parametrize("fixture", ["esme_sample_image", "ppmid_sample_image"])
def test_sample_round_trips(fixture: str, request: pytest.FixtureRequest) -> None:
    """parse(serialize(x)) == x for the image and for its header, byte for byte."""
    data: bytes = request.getfixturevalue(fixture)
    image = parse_image(data)
    assert image.serialize() == data
    assert parse_image(image.serialize()) == image
    assert FirmwareImage.deserialize(data) == image
    header, rest = OTAHeader.deserialize(data)
    assert header == image.header
    assert header.serialize() == data[:60]
    assert rest == data[60:]
    assert OTAHeader.deserialize(header.serialize()) == (header, b"")


@pytest.mark.parametrize("fixture", ["esme_sample_image", "ppmid_sample_image"])
def test_zigpy_reads_the_sample_headers_as_we_do(
    fixture: str,
    request: pytest.FixtureRequest,
    zigpy_header_of: Callable[[bytes], tuple[dict[str, Any], bytes]],
) -> None:
    """zigpy (the test-only oracle) agrees with our header field by field, and on where the body starts."""
    data: bytes = request.getfixturevalue(fixture)
    ours, our_rest = OTAHeader.deserialize(data)
    theirs, their_rest = zigpy_header_of(data)
    assert theirs == dataclasses.asdict(ours)
    assert their_rest == our_rest
