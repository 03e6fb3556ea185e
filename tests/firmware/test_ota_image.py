"""The whole upgrade file: size check, the GBCS signature trailer, the firmware hash, and building images."""

from __future__ import annotations

import hashlib
import struct
import tracemalloc

import pytest

from hanota.errors import InputError
from hanota.firmware import (
    IMAGE_TYPE_ESME,
    IMAGE_TYPE_PPMID,
    OTAHeader,
    OTAImage,
    build_image,
    parse_image,
)
from hanota.firmware.ota import FirmwareImage

BODY = b"CriticalSoftware sample firmware image_" * 6 + b"\n"
SIGNATURE = bytes(range(64))


def esme(body: bytes = BODY, signature: bytes | None = SIGNATURE) -> bytes:
    """An ESME-like image built like the 11.1 sample."""
    return build_image(
        manufacturer_code=0x121D,
        image_type=IMAGE_TYPE_ESME,
        file_version=0xACDCACDC,
        header_string="I am a GFI ESME[] firmware image",
        minimum_hardware_version=0x1111,
        maximum_hardware_version=0x1211,
        manufacturer_image=body,
        supplier_signature=signature,
    )


def ppmid(body: bytes = BODY) -> bytes:
    """A PPMID-like image built like the 11.4 sample (no trailer)."""
    return build_image(
        manufacturer_code=0x121D,
        image_type=IMAGE_TYPE_PPMID,
        file_version=0xACDCACDC,
        header_string=b"I am a GFI PPMID firmware image ",
        minimum_hardware_version=0x1111,
        maximum_hardware_version=0x1211,
        manufacturer_image=body,
    )


def test_build_image_lays_out_header_body_and_trailer() -> None:
    """Header (60 bytes here), the Manufacturer Image, then 00 40 and the 64-byte signature."""
    data = esme()
    assert len(data) == 60 + len(BODY) + 66
    header, rest = OTAHeader.deserialize(data)
    assert header.image_size == len(data)
    assert header.header_length == 60
    assert header.field_control == 0x0004
    assert header.header_version == 0x0100
    assert header.stack_version == 0x0002
    assert rest == BODY + b"\x00\x40" + SIGNATURE


def test_parse_signed_image() -> None:
    """A signed image splits into Manufacturer Image and signature; the hash covers the image only."""
    image = parse_image(esme())
    assert image.has_supplier_signature
    assert image.manufacturer_image == BODY
    assert image.supplier_signature == SIGNATURE
    assert image.firmware_hash == hashlib.sha256(BODY).hexdigest()
    assert image.hardware_version_range == (0x1111, 0x1211)
    assert image.applies_to_hardware(0x1111)
    assert not image.applies_to_hardware(0x1212)


def test_parse_unsigned_image() -> None:
    """Without a trailer the Manufacturer Image runs to the end of the file."""
    image = parse_image(ppmid())
    assert not image.has_supplier_signature
    assert image.supplier_signature is None
    assert image.manufacturer_image == BODY
    assert image.firmware_hash == hashlib.sha256(BODY).hexdigest()


def test_firmware_hash_is_lowercase_hex() -> None:
    """The hash is 64 lowercase hex digits, the form the CPL stores."""
    digest = parse_image(ppmid()).firmware_hash
    assert len(digest) == 64
    assert digest == digest.lower()
    int(digest, 16)


def test_no_hardware_range_applies_everywhere() -> None:
    """An image without hardware versions in its header applies to any hardware."""
    image = parse_image(
        build_image(manufacturer_code=1, image_type=2, file_version=3, manufacturer_image=b"x")
    )
    assert image.hardware_version_range is None
    assert image.applies_to_hardware(0x1234)


def test_expect_signature_false_keeps_the_trailer_in_the_image() -> None:
    """Told there is no trailer, the parser treats the last 66 bytes as part of the Manufacturer Image."""
    image = parse_image(esme(), expect_signature=False)
    assert image.manufacturer_image == BODY + b"\x00\x40" + SIGNATURE
    assert image.supplier_signature is None


def test_detection_misreads_an_unsigned_image_that_looks_signed() -> None:
    """Detection is a heuristic: an unsigned body with 00 40 66 bytes from its end reads as signed.

    This is why callers that know the device type pass `expect_signature`.
    """
    lookalike = b"A" * 10 + b"\x00\x40" + bytes(64)
    assert parse_image(ppmid(lookalike)).has_supplier_signature
    assert parse_image(ppmid(lookalike), expect_signature=False).manufacturer_image == lookalike


def test_short_unsigned_body_is_never_taken_as_signed() -> None:
    """A body of fewer than 66 bytes after the header cannot hold a signature trailer: the image is read
    as unsigned."""
    image = parse_image(ppmid(b"\x00\x40" + bytes(63)))
    assert not image.has_supplier_signature


def test_signed_image_with_empty_manufacturer_image() -> None:
    """Exactly 66 bytes after the header: an empty Manufacturer Image and its trailer."""
    image = parse_image(esme(body=b""))
    assert image.has_supplier_signature
    assert image.manufacturer_image == b""
    assert image.firmware_hash == hashlib.sha256(b"").hexdigest()


def test_round_trip_and_equality() -> None:
    """parse(serialize(x)) == x; images from the same bytes are equal and hash alike."""
    image = parse_image(esme())
    again = parse_image(image.serialize())
    assert again == image
    assert hash(again) == hash(image)
    assert OTAImage is FirmwareImage


def test_mutable_input_is_copied_once() -> None:
    """A bytearray is copied: changing it afterwards does not change the parsed image."""
    buffer = bytearray(ppmid())
    image = parse_image(buffer)
    buffer[-1] ^= 0xFF
    assert image.manufacturer_image == BODY


def test_bytes_input_is_not_copied() -> None:
    """`bytes` input is kept as is, and the Manufacturer Image view points into it."""
    data = ppmid()
    image = parse_image(data)
    assert image.data is data
    assert image.manufacturer_image_view.obj is data
    assert image.manufacturer_image_view.readonly


def test_parse_and_hash_of_10_mb_copies_nothing() -> None:
    """Parsing and hashing a 10 MB image allocates next to nothing: the body is read through a view."""
    data = build_image(
        manufacturer_code=0x121D,
        image_type=IMAGE_TYPE_ESME,
        file_version=1,
        manufacturer_image=bytes(10 * 1024 * 1024),
        supplier_signature=SIGNATURE,
    )
    tracemalloc.start()
    try:
        image = parse_image(data)
        digest = image.firmware_hash
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 * 1024
    assert digest == hashlib.sha256(bytes(10 * 1024 * 1024)).hexdigest()


# -- refusals ----------------------------------------------------------------------------------------


def test_refuses_image_size_larger_than_the_file() -> None:
    """A truncated file: the header promises more bytes than there are."""
    data = ppmid()
    with pytest.raises(InputError) as excinfo:
        parse_image(data[:-1])
    assert (
        excinfo.value.message
        == f"header image size {len(data)} disagrees with the file length {len(data) - 1}"
    )


def test_refuses_image_size_smaller_than_the_file() -> None:
    """A file longer than the header's image size (trailing bytes) is refused, with both sizes in the message."""
    data = ppmid()
    with pytest.raises(InputError) as excinfo:
        parse_image(data + b"\x00")
    assert (
        excinfo.value.message
        == f"header image size {len(data)} disagrees with the file length {len(data) + 1}"
    )


def test_refuses_a_truncated_header_inside_an_image() -> None:
    """An image whose header is truncated is refused by `parse_image` with the header's own message."""
    with pytest.raises(InputError) as excinfo:
        parse_image(ppmid()[:40])
    assert excinfo.value.message == "an OTA header needs at least 56 bytes, got 40"


def test_refuses_bad_magic_inside_an_image() -> None:
    """The magic is checked before anything else of the file is believed."""
    data = bytearray(ppmid())
    struct.pack_into("<I", data, 0, 0xDEADBEEF)
    with pytest.raises(InputError) as excinfo:
        parse_image(bytes(data))
    assert excinfo.value.message == "expected magic 0x0BEEF11E, got 0xDEADBEEF"


def test_expected_signature_with_wrong_length_field() -> None:
    """Told to expect a trailer, the parser refuses a length field other than 0x0040, saying where."""
    data = ppmid()
    with pytest.raises(InputError) as excinfo:
        parse_image(data, expect_signature=True)
    offset = len(data) - 66
    got = int.from_bytes(data[offset : offset + 2], "big")
    assert excinfo.value.message == (
        f"expected supplier signature length 0x0040 at offset {offset}, got 0x{got:04X}"
    )


def test_little_endian_length_field_is_refused() -> None:
    """40 00 (little-endian 64) is not the GBCS trailer: the field is big-endian."""
    data = ppmid(BODY + b"\x40\x00" + SIGNATURE)
    assert not parse_image(data).has_supplier_signature
    with pytest.raises(InputError) as excinfo:
        parse_image(data, expect_signature=True)
    assert excinfo.value.message.endswith("got 0x4000")


def test_expected_signature_but_body_too_short() -> None:
    """Fewer than 66 bytes after the header cannot hold the trailer."""
    with pytest.raises(InputError) as excinfo:
        parse_image(ppmid(b"tiny"), expect_signature=True)
    assert excinfo.value.message == "a supplier-signature trailer needs 66 bytes after the header, got 4"


def test_direct_construction_checks_the_parts_agree() -> None:
    """A FirmwareImage made by hand must be consistent with its bytes."""
    data = ppmid()
    header = parse_image(data).header
    with pytest.raises(InputError, match="disagrees with the file length"):
        FirmwareImage(header=header, data=data + b"x", has_supplier_signature=False)
    with pytest.raises(InputError, match="does not start with its header"):
        FirmwareImage(header=header, data=bytes(len(data)), has_supplier_signature=False)
    with pytest.raises(InputError, match="image data must be bytes"):
        # a bytearray on purpose (hence the ignore): construction must refuse mutable data
        FirmwareImage(header=header, data=bytearray(data), has_supplier_signature=False)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"supplier_signature": b"short"}, "supplier signature must be 64 bytes, got 5"),
        ({"header_string": "x" * 33}, "header string is 33 bytes, at most 32 fit"),
        ({"minimum_hardware_version": 1}, "minimum and maximum hardware versions must be given together"),
        ({"maximum_hardware_version": 1}, "minimum and maximum hardware versions must be given together"),
        ({"image_type": -1}, "image type must be an unsigned 16-bit integer, got -1"),
        (
            {"upgrade_file_destination": 1 << 64},
            "upgrade file destination must be an unsigned 64-bit integer",
        ),
    ],
)
def test_build_image_refuses_bad_parts(kwargs: dict[str, object], reason: str) -> None:
    """build_image refuses parts that cannot make a valid file, with the reason."""
    args: dict[str, object] = {
        "manufacturer_code": 0x121D,
        "image_type": IMAGE_TYPE_PPMID,
        "file_version": 1,
        "manufacturer_image": b"body",
    }
    args.update(kwargs)
    with pytest.raises(InputError) as excinfo:
        build_image(**args)  # type: ignore[arg-type]  # a mixed dict of keywords cannot be typed
    assert excinfo.value.message.startswith(reason)
