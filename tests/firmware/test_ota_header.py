"""The OTA header: layout, field control, and every refusal with its exact reason."""

from __future__ import annotations

import dataclasses
import struct
from typing import Any

import pytest

from hanota.errors import InputError
from hanota.firmware import FIXED_HEADER_LENGTH, OTA_MAGIC, FieldControl, OTAHeader, header_length_for

# A header laid out like the public samples' (hardware versions present, 60 bytes), written by hand.
SAMPLE_LIKE = (
    bytes.fromhex(
        "1ef1ee0b"  # magic 0x0BEEF11E
        "0001"  # header version 0x0100
        "3c00"  # header length 60
        "0400"  # field control: hardware versions
        "1d12"  # manufacturer 0x121D
        "8400"  # image type 0x0084
        "dcacdcac"  # file version 0xACDCACDC
        "0200"  # stack version 2
    )
    + b"I am a GFI PPMID firmware image "
    + bytes.fromhex(
        "27010000"  # image size 295
        "1111"  # minimum hardware version 0x1111
        "1112"  # maximum hardware version 0x1211
    )
)


def header(**changes: Any) -> OTAHeader:
    """A valid header (no optional fields) with some fields changed."""
    base = OTAHeader(
        magic=OTA_MAGIC,
        header_version=0x0100,
        header_length=56,
        field_control=0,
        manufacturer_code=0x121D,
        image_type=0x0084,
        file_version=1,
        stack_version=2,
        header_string=b"x".ljust(32, b"\x00"),
        image_size=100,
    )
    return dataclasses.replace(base, **changes)


def refusal(excinfo: pytest.ExceptionInfo[InputError]) -> str:
    return excinfo.value.message


def test_fixed_header_is_56_bytes() -> None:
    """The mandatory fields take 56 bytes; a header without optional fields is exactly that."""
    assert FIXED_HEADER_LENGTH == 56
    assert len(header().serialize()) == 56


@pytest.mark.parametrize(
    ("field_control", "length"),
    [(0, 56), (1, 57), (2, 64), (3, 65), (4, 60), (5, 61), (6, 68), (7, 69)],
)
def test_header_length_follows_field_control(field_control: int, length: int) -> None:
    """Bit 0 adds 1 byte (credential version), bit 1 adds 8 (destination), bit 2 adds 4 (hardware)."""
    assert header_length_for(field_control) == length


def test_reads_a_hand_written_header_field_by_field() -> None:
    """Every integer of the header is little-endian; the hardware range follows the mandatory part."""
    parsed, rest = OTAHeader.deserialize(SAMPLE_LIKE + b"body")
    assert parsed == OTAHeader(
        magic=0x0BEEF11E,
        header_version=0x0100,
        header_length=60,
        field_control=FieldControl.HARDWARE_VERSIONS,
        manufacturer_code=0x121D,
        image_type=0x0084,
        file_version=0xACDCACDC,
        stack_version=2,
        header_string=b"I am a GFI PPMID firmware image ",
        image_size=295,
        minimum_hardware_version=0x1111,
        maximum_hardware_version=0x1211,
    )
    assert rest == b"body"
    assert parsed.serialize() == SAMPLE_LIKE


def test_all_optional_fields_in_order() -> None:
    """Credential version, then destination (EUI-64, little-endian), then the hardware range."""
    full = header(
        field_control=7,
        header_length=69,
        security_credential_version=0x02,
        upgrade_file_destination=0x00DB1234567890A0,
        minimum_hardware_version=0x0100,
        maximum_hardware_version=0x02FF,
    )
    wire = full.serialize()
    assert wire[56:] == bytes.fromhex("02 a09078563412db00 0001 ff02")
    assert full.destination_device_id == "00-DB-12-34-56-78-90-A0"
    assert OTAHeader.deserialize(wire) == (full, b"")


def test_unpack_from_reads_only_the_header() -> None:
    """`unpack_from` accepts any buffer and ignores what follows the header."""
    buffer = bytearray(SAMPLE_LIKE + bytes(1000))
    assert OTAHeader.unpack_from(memoryview(buffer)) == OTAHeader.deserialize(SAMPLE_LIKE)[0]


def test_header_text_strips_padding() -> None:
    """The header string is 32 raw bytes; its text drops the NUL padding."""
    assert header().header_text == "x"


def test_no_hardware_range_applies_to_all_hardware() -> None:
    """Without hardware versions in the header, any hardware may take the image."""
    assert header().hardware_version_range is None
    assert header().applies_to_hardware(0)
    assert header().applies_to_hardware(0xFFFF)


def test_inverted_hardware_range_applies_to_nothing() -> None:
    """A minimum above the maximum is well formed but matches no hardware version."""
    inverted = header(
        field_control=4, header_length=60, minimum_hardware_version=0x2000, maximum_hardware_version=0x1000
    )
    assert inverted.hardware_version_range == (0x2000, 0x1000)
    assert not any(inverted.applies_to_hardware(hw) for hw in (0x0FFF, 0x1000, 0x1800, 0x2000))


# -- refusals ----------------------------------------------------------------------------------------


def test_refuses_bad_magic() -> None:
    """A header whose first four bytes are not 0x0BEEF11E (little-endian) is refused E100, naming both values."""
    data = struct.pack("<I", 0x0BEEF11F) + SAMPLE_LIKE[4:]
    with pytest.raises(InputError) as excinfo:
        OTAHeader.deserialize(data)
    assert refusal(excinfo) == "expected magic 0x0BEEF11E, got 0x0BEEF11F"
    assert excinfo.value.code == "E100"  # malformed input: the code a DUIS answer would carry


def test_refuses_big_endian_magic() -> None:
    """A magic written in the wrong byte order is reported as read."""
    with pytest.raises(InputError) as excinfo:
        OTAHeader.deserialize(bytes.fromhex("0beef11e") + SAMPLE_LIKE[4:])
    assert refusal(excinfo) == "expected magic 0x0BEEF11E, got 0x1EF1EE0B"


@pytest.mark.parametrize("length", [0, 1, 4, 55])
def test_refuses_fewer_than_56_bytes(length: int) -> None:
    """Shorter than the mandatory part: refused before anything is read."""
    with pytest.raises(InputError) as excinfo:
        OTAHeader.deserialize(SAMPLE_LIKE[:length])
    assert refusal(excinfo) == f"an OTA header needs at least 56 bytes, got {length}"


@pytest.mark.parametrize("length", [56, 58, 59])
def test_refuses_truncated_optional_fields(length: int) -> None:
    """The field control announces 60 bytes of header; fewer are refused."""
    with pytest.raises(InputError) as excinfo:
        OTAHeader.deserialize(SAMPLE_LIKE[:length])
    assert refusal(excinfo) == f"header length is 60 but only {length} bytes were given"


@pytest.mark.parametrize(("stated", "field_control"), [(56, 4), (64, 4), (60, 0), (60, 7)])
def test_refuses_header_length_inconsistent_with_field_control(stated: int, field_control: int) -> None:
    """The header length must be exactly the one the field control implies."""
    data = bytearray(SAMPLE_LIKE)
    struct.pack_into("<HH", data, 6, stated, field_control)
    expected = header_length_for(field_control)
    with pytest.raises(InputError) as excinfo:
        OTAHeader.deserialize(bytes(data))
    assert refusal(excinfo) == (
        f"header length {stated} disagrees with field control 0x{field_control:04X}: expected {expected}"
    )


def test_refuses_reserved_field_control_bits() -> None:
    """Bits 3–15 announce fields this layout does not know; their length cannot be checked."""
    data = bytearray(SAMPLE_LIKE)
    struct.pack_into("<H", data, 8, 0x000C)
    with pytest.raises(InputError) as excinfo:
        OTAHeader.deserialize(bytes(data))
    assert refusal(excinfo) == "field control 0x000C sets reserved bits 0x0008; only bits 0-2 are defined"


def test_refuses_image_size_smaller_than_header() -> None:
    """The total image size counts the header, so it cannot be smaller than it."""
    data = bytearray(SAMPLE_LIKE)
    struct.pack_into("<I", data, 52, 59)
    with pytest.raises(InputError) as excinfo:
        OTAHeader.deserialize(bytes(data))
    assert refusal(excinfo) == "image size 59 is smaller than the header length 60"


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"field_control": 1, "header_length": 57}, "field control bit 0 is set but security credential"),
        ({"security_credential_version": 1}, "security credential version is given but field control bit 0"),
        (
            {"field_control": 2, "header_length": 64},
            "field control bit 1 is set but upgrade file destination",
        ),
        (
            {"upgrade_file_destination": 1},
            "upgrade file destination is given but field control bit 1 is clear",
        ),
        (
            {"minimum_hardware_version": 1},
            "minimum hardware version is given but field control bit 2 is clear",
        ),
        (
            {"field_control": 4, "header_length": 60, "minimum_hardware_version": 1},
            "field control bit 2 is set but maximum hardware version is missing",
        ),
        ({"header_string": b"short"}, "header string must be exactly 32 bytes, got b'short'"),
        ({"image_type": 0x10000}, "image type must be an unsigned 16-bit integer, got 65536"),
        ({"file_version": -1}, "file version must be an unsigned 32-bit integer, got -1"),
        ({"manufacturer_code": True}, "manufacturer code must be an unsigned 16-bit integer, got True"),
        ({"magic": 0}, "expected magic 0x0BEEF11E, got 0x00000000"),
        ({"header_length": 60}, "header length 60 disagrees with field control 0x0000: expected 56"),
    ],
)
def test_construction_refuses_inconsistent_headers(changes: dict[str, Any], reason: str) -> None:
    """A header that exists can be written and read back: inconsistent fields are refused on creation."""
    with pytest.raises(InputError) as excinfo:
        header(**changes)
    assert refusal(excinfo).startswith(reason)
