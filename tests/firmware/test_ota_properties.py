"""Properties over generated headers and images: round trips, and zigpy (test-only oracle) agreeing."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hanota.errors import InputError
from hanota.firmware import (
    OTA_MAGIC,
    FieldControl,
    OTAHeader,
    build_image,
    header_length_for,
    parse_image,
)

u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFF_FFFF)
u64 = st.integers(0, 0xFFFF_FFFF_FFFF_FFFF)


@st.composite
def headers(draw: st.DrawFn) -> OTAHeader:
    """Any valid header: every combination of the optional fields, any values that fit."""
    field_control = draw(st.integers(0, 7))
    header_length = header_length_for(field_control)
    has_hw = bool(field_control & FieldControl.HARDWARE_VERSIONS)
    return OTAHeader(
        magic=OTA_MAGIC,
        header_version=draw(u16),
        header_length=header_length,
        field_control=field_control,
        manufacturer_code=draw(u16),
        image_type=draw(u16),
        file_version=draw(u32),
        stack_version=draw(u16),
        header_string=draw(st.binary(min_size=32, max_size=32)),
        image_size=draw(st.integers(header_length, 0xFFFF_FFFF)),
        security_credential_version=(
            draw(u8) if field_control & FieldControl.SECURITY_CREDENTIAL_VERSION else None
        ),
        upgrade_file_destination=draw(u64) if field_control & FieldControl.DEVICE_SPECIFIC_FILE else None,
        minimum_hardware_version=draw(u16) if has_hw else None,
        maximum_hardware_version=draw(u16) if has_hw else None,
    )


@st.composite
def image_parts(draw: st.DrawFn) -> dict[str, Any]:
    """Keyword arguments for `build_image`: each optional field present or not, signed or not."""
    parts: dict[str, Any] = {
        "manufacturer_code": draw(u16),
        "image_type": draw(u16),
        "file_version": draw(u32),
        "header_version": draw(u16),
        "stack_version": draw(u16),
        "header_string": draw(st.binary(max_size=32)),
        "manufacturer_image": draw(st.binary(max_size=512)),
        "security_credential_version": draw(st.none() | u8),
        "upgrade_file_destination": draw(st.none() | u64),
        "supplier_signature": draw(st.none() | st.binary(min_size=64, max_size=64)),
    }
    if draw(st.booleans()):
        parts["minimum_hardware_version"] = draw(u16)
        parts["maximum_hardware_version"] = draw(u16)
    return parts


@given(headers(), st.binary(max_size=64))
def test_header_round_trips(header: OTAHeader, tail: bytes) -> None:
    """deserialize(serialize(h) + tail) gives back h and the tail, for every valid header."""
    wire = header.serialize()
    assert len(wire) == header.header_length
    assert OTAHeader.deserialize(wire + tail) == (header, tail)


@given(headers(), st.data())
def test_truncated_header_is_refused(header: OTAHeader, data: st.DataObject) -> None:
    """Any proper prefix of a header is refused, never misread."""
    wire = header.serialize()
    cut = data.draw(st.integers(0, len(wire) - 1))
    with pytest.raises(InputError) as excinfo:
        OTAHeader.deserialize(wire[:cut])
    if cut < 56:
        assert excinfo.value.message == f"an OTA header needs at least 56 bytes, got {cut}"
    else:
        assert excinfo.value.message == f"header length is {len(wire)} but only {cut} bytes were given"


@given(image_parts())
def test_image_round_trips(parts: dict[str, Any]) -> None:
    """build → parse gives back every part; parse(serialize(x)) == x; the hash is of the image only."""
    data = build_image(**parts)
    signature = parts["supplier_signature"]
    image = parse_image(data, expect_signature=signature is not None)
    body = parts["manufacturer_image"]
    assert image.manufacturer_image == body
    assert image.supplier_signature == signature
    assert image.firmware_hash == hashlib.sha256(body).hexdigest()
    assert image.header.image_size == len(data)
    assert image.header.header_string == parts["header_string"].ljust(32, b"\x00")
    assert image.header.manufacturer_code == parts["manufacturer_code"]
    assert image.header.image_type == parts["image_type"]
    assert image.header.file_version == parts["file_version"]
    assert image.header.security_credential_version == parts["security_credential_version"]
    assert image.header.upgrade_file_destination == parts["upgrade_file_destination"]
    assert image.header.minimum_hardware_version == parts.get("minimum_hardware_version")
    assert image.header.maximum_hardware_version == parts.get("maximum_hardware_version")
    assert image.serialize() == data
    assert parse_image(image.serialize(), expect_signature=image.has_supplier_signature) == image


@given(image_parts())
def test_detection_finds_every_signed_image(parts: dict[str, Any]) -> None:
    """Detection finds the trailer whenever there is one, and otherwise only on a 00 40 look-alike."""
    data = build_image(**parts)
    body: bytes = parts["manufacturer_image"]
    lookalike = len(body) >= 66 and body[-66:-64] == b"\x00\x40"
    detected = parse_image(data).has_supplier_signature
    assert detected == (parts["supplier_signature"] is not None or lookalike)


@given(headers(), st.binary(max_size=64))
def test_zigpy_agrees_on_generated_headers(
    zigpy_header_of: Callable[[bytes], tuple[dict[str, Any], bytes]], header: OTAHeader, tail: bytes
) -> None:
    """zigpy reads every header we write with the same field values, and stops where we stop."""
    theirs, rest = zigpy_header_of(header.serialize() + tail)
    assert theirs == dataclasses.asdict(header)
    assert rest == tail


@given(image_parts())
def test_zigpy_agrees_on_generated_images(
    zigpy_header_of: Callable[[bytes], tuple[dict[str, Any], bytes]], parts: dict[str, Any]
) -> None:
    """zigpy reads the header of every image we build as we do (its body parser is not compared)."""
    data = build_image(**parts)
    theirs, rest = zigpy_header_of(data)
    ours, our_rest = OTAHeader.deserialize(data)
    assert theirs == dataclasses.asdict(ours)
    assert rest == our_rest
