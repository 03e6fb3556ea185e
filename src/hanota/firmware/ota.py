"""The ZigBee OTA upgrade file carried by DUIS 11.1 (``UpdateFirmware``) and 11.4 (``UpdatePPMIDFirmware``).

Layout of the file (domain.md §5, decoded from the public 11.1 and 11.4 samples)::

    offset  size  field                         notes
    ------  ----  ----------------------------  ----------------------------------------------
         0     4  magic                         0x0BEEF11E
         4     2  header_version                0x0100 in the samples
         6     2  header_length                 56 + the optional fields below (60 in the samples)
         8     2  field_control                 bit 0, bit 1, bit 2 select the optional fields
        10     2  manufacturer_code             0x121D in the samples
        12     2  image_type                    0x0000 (ESME sample), 0x0084 (PPMID sample)
        14     4  file_version
        18     2  stack_version                 0x0002 (ZigBee PRO) in the samples
        20    32  header_string                 free text, NUL padded
        52     4  image_size                    the size of the whole file, header included
       (56     1  security_credential_version   if field_control bit 0)
       (..     8  upgrade_file_destination      if field_control bit 1: an IEEE (EUI-64) address)
       (..     2  minimum_hardware_version      if field_control bit 2)
       (..     2  maximum_hardware_version      if field_control bit 2)
    header_length   Manufacturer Image          up to the end of the file, less the trailer
    (size-66    2  signature length             GBCS supplier-signature trailer: 0x0040, big-endian)
    (size-64   64  supplier signature           ECDSA over the Manufacturer Image (ESME/GSME images))

Every integer of the ZigBee header is little-endian. The GBCS trailer is not ZigBee: like the rest of
GBCS it is big-endian, and the public 11.1 sample proves it (its length field is the bytes ``00 40``,
which is 64 big-endian; read little-endian it would be 16,384, longer than the whole file).

The firmware hash that activation (11.3 ``FirmwareHash``) and the CPL use is the lowercase hex SHA-256
of the Manufacturer Image (domain.md §5).

Parsing reads the file through a `memoryview`: the Manufacturer Image is never copied to be hashed, so
parsing and hashing a large image is one pass over the bytes. Every refusal is a
`hanota.errors.InputError` whose message states the exact reason ("expected magic 0x0BEEF11E, got 0x…").
"""

from __future__ import annotations

import enum
import hashlib
import struct
from dataclasses import dataclass
from functools import cached_property
from typing import Final

from hanota.errors import InputError

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

OTA_MAGIC: Final = 0x0BEEF11E
"""The upgrade file identifier that opens every ZigBee OTA upgrade file."""

OTA_HEADER_VERSION: Final = 0x0100
"""The OTA header version of the public samples (and the ZigBee default used by `build_image`)."""

ZIGBEE_PRO_STACK_VERSION: Final = 0x0002
"""The ZigBee stack version of the public samples (ZigBee PRO)."""

IMAGE_TYPE_ESME: Final = 0x0000
"""Image type of the public 11.1 ``UpdateFirmware`` sample (an ESME image). Only what the sample shows."""

IMAGE_TYPE_PPMID: Final = 0x0084
"""Image type of the public 11.4 ``UpdatePPMIDFirmware`` sample. Only what the sample shows."""

SUPPLIER_SIGNATURE_LENGTH: Final = 64
"""Length of the GBCS supplier ECDSA signature (raw r‖s over P-256)."""

SIGNATURE_TRAILER_LENGTH: Final = 2 + SUPPLIER_SIGNATURE_LENGTH
"""The 2-byte big-endian length field plus the signature: the last 66 bytes of a signed image."""

_HEADER_STRING_LENGTH: Final = 32

# Mandatory part of the header: magic, header version, header length, field control, manufacturer
# code, image type, file version, stack version, header string, total image size.
_FIXED: Final = struct.Struct("<IHHHHHIH32sI")
FIXED_HEADER_LENGTH: Final = _FIXED.size
"""Length of the mandatory part of the OTA header (56 bytes)."""

_SECURITY_CREDENTIAL: Final = struct.Struct("<B")
_DESTINATION: Final = struct.Struct("<Q")
_HARDWARE_VERSIONS: Final = struct.Struct("<HH")
_TRAILER_LENGTH_FIELD: Final = struct.Struct(">H")


class FieldControl(enum.IntFlag):
    """The bits of the header's field control; each one announces optional header fields."""

    SECURITY_CREDENTIAL_VERSION = 0x0001
    """Bit 0: a 1-byte security credential version follows the mandatory header."""
    DEVICE_SPECIFIC_FILE = 0x0002
    """Bit 1: an 8-byte upgrade file destination (the IEEE address of the one device it is for)."""
    HARDWARE_VERSIONS = 0x0004
    """Bit 2: 2-byte minimum and maximum hardware versions follow."""


_KNOWN_BITS: Final = int(
    FieldControl.SECURITY_CREDENTIAL_VERSION
    | FieldControl.DEVICE_SPECIFIC_FILE
    | FieldControl.HARDWARE_VERSIONS
)


def header_length_for(field_control: int) -> int:
    """The header length that a field control implies: 56, plus 1, 8 and 4 for bits 0, 1 and 2.

    Raises `InputError` when the field control sets a reserved bit (3–15): the layout of such a header
    is unknown, so its length cannot be checked.
    """
    _check_uint("field control", field_control, 16)
    reserved = field_control & ~_KNOWN_BITS
    if reserved:
        raise InputError(
            f"field control 0x{field_control:04X} sets reserved bits 0x{reserved:04X}; "
            "only bits 0-2 are defined"
        )
    length = FIXED_HEADER_LENGTH
    if field_control & FieldControl.SECURITY_CREDENTIAL_VERSION:
        length += _SECURITY_CREDENTIAL.size
    if field_control & FieldControl.DEVICE_SPECIFIC_FILE:
        length += _DESTINATION.size
    if field_control & FieldControl.HARDWARE_VERSIONS:
        length += _HARDWARE_VERSIONS.size
    return length


def _check_uint(name: str, value: int, bits: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 1 << bits:
        raise InputError(f"{name} must be an unsigned {bits}-bit integer, got {value!r}")


def _check_optional(name: str, value: int | None, bits: int, *, present: bool, bit: int) -> None:
    if present and value is None:
        raise InputError(f"field control bit {bit} is set but {name} is missing")
    if not present and value is not None:
        raise InputError(f"{name} is given but field control bit {bit} is clear")
    if value is not None:
        _check_uint(name, value, bits)


@dataclass(frozen=True)
class OTAHeader:
    """The ZigBee OTA upgrade file header: every field, the optional ones `None` when absent.

    Construction checks the header as a whole: every integer fits its wire width, the header string is
    exactly 32 bytes, the optional fields are present exactly when their field-control bit is set, the
    header length is the one the field control implies, and the image size covers at least the header.
    A header that exists is therefore one that `serialize` can write and `deserialize` reads back equal.
    """

    magic: int
    header_version: int
    header_length: int
    field_control: int
    manufacturer_code: int
    image_type: int
    file_version: int
    stack_version: int
    header_string: bytes
    image_size: int
    """Size of the whole upgrade file in bytes, this header included."""
    security_credential_version: int | None = None
    upgrade_file_destination: int | None = None
    """The IEEE (EUI-64) address of the only device this file is for, as an integer (sent little-endian)."""
    minimum_hardware_version: int | None = None
    maximum_hardware_version: int | None = None

    def __post_init__(self) -> None:
        _check_uint("magic", self.magic, 32)
        if self.magic != OTA_MAGIC:
            raise InputError(f"expected magic 0x{OTA_MAGIC:08X}, got 0x{self.magic:08X}")
        _check_uint("header version", self.header_version, 16)
        _check_uint("header length", self.header_length, 16)
        _check_uint("manufacturer code", self.manufacturer_code, 16)
        _check_uint("image type", self.image_type, 16)
        _check_uint("file version", self.file_version, 32)
        _check_uint("stack version", self.stack_version, 16)
        _check_uint("image size", self.image_size, 32)
        if not isinstance(self.header_string, bytes) or len(self.header_string) != _HEADER_STRING_LENGTH:
            raise InputError(
                f"header string must be exactly {_HEADER_STRING_LENGTH} bytes, got {self.header_string!r}"
            )
        expected_length = header_length_for(self.field_control)
        if self.header_length != expected_length:
            raise InputError(
                f"header length {self.header_length} disagrees with field control "
                f"0x{self.field_control:04X}: expected {expected_length}"
            )
        fc = self.field_control
        _check_optional(
            "security credential version",
            self.security_credential_version,
            8,
            present=bool(fc & FieldControl.SECURITY_CREDENTIAL_VERSION),
            bit=0,
        )
        _check_optional(
            "upgrade file destination",
            self.upgrade_file_destination,
            64,
            present=bool(fc & FieldControl.DEVICE_SPECIFIC_FILE),
            bit=1,
        )
        has_hw = bool(fc & FieldControl.HARDWARE_VERSIONS)
        _check_optional("minimum hardware version", self.minimum_hardware_version, 16, present=has_hw, bit=2)
        _check_optional("maximum hardware version", self.maximum_hardware_version, 16, present=has_hw, bit=2)
        if self.image_size < self.header_length:
            raise InputError(
                f"image size {self.image_size} is smaller than the header length {self.header_length}"
            )

    # -- wire format -------------------------------------------------------------------------------

    def serialize(self) -> bytes:
        """The header as it appears at the start of the upgrade file (`header_length` bytes)."""
        parts = [
            _FIXED.pack(
                self.magic,
                self.header_version,
                self.header_length,
                self.field_control,
                self.manufacturer_code,
                self.image_type,
                self.file_version,
                self.stack_version,
                self.header_string,
                self.image_size,
            )
        ]
        if self.security_credential_version is not None:
            parts.append(_SECURITY_CREDENTIAL.pack(self.security_credential_version))
        if self.upgrade_file_destination is not None:
            parts.append(_DESTINATION.pack(self.upgrade_file_destination))
        if self.minimum_hardware_version is not None and self.maximum_hardware_version is not None:
            parts.append(
                _HARDWARE_VERSIONS.pack(self.minimum_hardware_version, self.maximum_hardware_version)
            )
        return b"".join(parts)

    @classmethod
    def unpack_from(cls, buffer: bytes | bytearray | memoryview) -> OTAHeader:
        """Read the header at the start of `buffer`, without copying what follows it.

        Refuses, with the reason: fewer than 56 bytes; a magic other than 0x0BEEF11E; reserved
        field-control bits; a header length other than the one the field control implies; fewer bytes
        than the header length; an image size smaller than the header length.
        """
        view = memoryview(buffer).cast("B")
        if len(view) < FIXED_HEADER_LENGTH:
            raise InputError(f"an OTA header needs at least {FIXED_HEADER_LENGTH} bytes, got {len(view)}")
        (
            magic,
            header_version,
            header_length,
            field_control,
            manufacturer_code,
            image_type,
            file_version,
            stack_version,
            header_string,
            image_size,
        ) = _FIXED.unpack_from(view)
        if magic != OTA_MAGIC:
            raise InputError(f"expected magic 0x{OTA_MAGIC:08X}, got 0x{magic:08X}")
        expected_length = header_length_for(field_control)
        if header_length != expected_length:
            raise InputError(
                f"header length {header_length} disagrees with field control "
                f"0x{field_control:04X}: expected {expected_length}"
            )
        if len(view) < header_length:
            raise InputError(f"header length is {header_length} but only {len(view)} bytes were given")
        offset = FIXED_HEADER_LENGTH
        security_credential_version: int | None = None
        upgrade_file_destination: int | None = None
        minimum_hardware_version: int | None = None
        maximum_hardware_version: int | None = None
        if field_control & FieldControl.SECURITY_CREDENTIAL_VERSION:
            (security_credential_version,) = _SECURITY_CREDENTIAL.unpack_from(view, offset)
            offset += _SECURITY_CREDENTIAL.size
        if field_control & FieldControl.DEVICE_SPECIFIC_FILE:
            (upgrade_file_destination,) = _DESTINATION.unpack_from(view, offset)
            offset += _DESTINATION.size
        if field_control & FieldControl.HARDWARE_VERSIONS:
            minimum_hardware_version, maximum_hardware_version = _HARDWARE_VERSIONS.unpack_from(view, offset)
        return cls(
            magic=magic,
            header_version=header_version,
            header_length=header_length,
            field_control=field_control,
            manufacturer_code=manufacturer_code,
            image_type=image_type,
            file_version=file_version,
            stack_version=stack_version,
            header_string=header_string,
            image_size=image_size,
            security_credential_version=security_credential_version,
            upgrade_file_destination=upgrade_file_destination,
            minimum_hardware_version=minimum_hardware_version,
            maximum_hardware_version=maximum_hardware_version,
        )

    @classmethod
    def deserialize(cls, data: bytes | bytearray | memoryview) -> tuple[OTAHeader, bytes]:
        """Read the header at the start of `data`; return it and the bytes that follow it.

        The remainder is a copy; to read a large file without copying use `unpack_from` or
        `parse_image`. Refusals are those of `unpack_from`.
        """
        header = cls.unpack_from(data)
        return header, bytes(memoryview(data).cast("B")[header.header_length :])

    # -- meaning -----------------------------------------------------------------------------------

    @property
    def header_text(self) -> str:
        """The header string as text: trailing NULs removed, undecodable bytes replaced."""
        return self.header_string.rstrip(b"\x00").decode("utf-8", errors="replace")

    @property
    def destination_device_id(self) -> str | None:
        """The upgrade file destination as a DUIS device ID (``00-DB-12-34-56-78-90-A0``), or `None`."""
        if self.upgrade_file_destination is None:
            return None
        return "-".join(f"{b:02X}" for b in self.upgrade_file_destination.to_bytes(8, "big"))

    @property
    def hardware_version_range(self) -> tuple[int, int] | None:
        """The inclusive (minimum, maximum) hardware versions, or `None` when the header has none."""
        if self.minimum_hardware_version is None or self.maximum_hardware_version is None:
            return None
        return self.minimum_hardware_version, self.maximum_hardware_version

    def applies_to_hardware(self, hardware_version: int) -> bool:
        """Whether a device of this hardware version may take the image.

        True when the header carries no hardware versions; otherwise whether the version lies in the
        inclusive range (outside it the Comms Hub reports ``HardwareVersionMismatch``). A header whose
        minimum exceeds its maximum applies to no hardware.
        """
        hw_range = self.hardware_version_range
        if hw_range is None:
            return True
        return hw_range[0] <= hardware_version <= hw_range[1]


@dataclass(frozen=True)
class FirmwareImage:
    """A whole OTA upgrade file: header, Manufacturer Image and, for ESME/GSME images, the GBCS trailer.

    Made by `parse_image` (or `FirmwareImage.deserialize`). It keeps the file it was read from, `data`,
    and answers everything else from views into it: nothing is copied unless a property returning
    `bytes` is asked for. Construction checks that the parts agree: `data` starts with the serialized
    `header`, is `header.image_size` bytes long, and ends with a well-formed trailer when
    `has_supplier_signature` says so.
    """

    header: OTAHeader
    data: bytes
    """The upgrade file exactly as received; `serialize()` returns it unchanged."""
    has_supplier_signature: bool
    """Whether the file ends with the GBCS trailer: a 2-byte big-endian length (64) and the signature."""

    def __post_init__(self) -> None:
        if not isinstance(self.data, bytes):
            raise InputError(f"image data must be bytes, got {type(self.data).__name__}")
        if len(self.data) != self.header.image_size:
            raise InputError(
                f"header image size {self.header.image_size} disagrees with the file length {len(self.data)}"
            )
        if self.data[: self.header.header_length] != self.header.serialize():
            raise InputError("the file does not start with its header")
        if self.has_supplier_signature:
            _check_trailer(memoryview(self.data), self.header.header_length)

    # -- wire format -------------------------------------------------------------------------------

    @classmethod
    def deserialize(
        cls, data: bytes | bytearray | memoryview, *, expect_signature: bool | None = None
    ) -> FirmwareImage:
        """Read a whole upgrade file; see `parse_image`."""
        if not isinstance(data, bytes):
            data = bytes(data)  # a mutable buffer is copied once, so the image cannot change under us
        view = memoryview(data)
        header = OTAHeader.unpack_from(view)
        if header.image_size != len(view):
            raise InputError(
                f"header image size {header.image_size} disagrees with the file length {len(view)}"
            )
        payload_length = len(view) - header.header_length
        if expect_signature is None:
            signed = payload_length >= SIGNATURE_TRAILER_LENGTH and _trailer_length_field(view) == (
                SUPPLIER_SIGNATURE_LENGTH
            )
        else:
            signed = expect_signature
        return cls(header=header, data=data, has_supplier_signature=signed)

    def serialize(self) -> bytes:
        """The upgrade file; the bytes it was read from."""
        return self.data

    # -- parts ---------------------------------------------------------------------------------------

    @property
    def manufacturer_image_view(self) -> memoryview:
        """The Manufacturer Image as a read-only view into `data` (no copy)."""
        end = len(self.data) - (SIGNATURE_TRAILER_LENGTH if self.has_supplier_signature else 0)
        return memoryview(self.data)[self.header.header_length : end]

    @cached_property
    def manufacturer_image(self) -> bytes:
        """The Manufacturer Image: the bytes after the header, less the trailer (a copy, made once)."""
        return bytes(self.manufacturer_image_view)

    @property
    def supplier_signature(self) -> bytes | None:
        """The 64-byte supplier ECDSA signature over the Manufacturer Image, or `None` when absent."""
        if not self.has_supplier_signature:
            return None
        return self.data[-SUPPLIER_SIGNATURE_LENGTH:]

    @cached_property
    def firmware_hash(self) -> str:
        """Lowercase hex SHA-256 of the Manufacturer Image: 11.3 ``FirmwareHash`` and the CPL hash."""
        return hashlib.sha256(self.manufacturer_image_view).hexdigest()

    @property
    def hardware_version_range(self) -> tuple[int, int] | None:
        """The header's inclusive (minimum, maximum) hardware versions, or `None`."""
        return self.header.hardware_version_range

    def applies_to_hardware(self, hardware_version: int) -> bool:
        """Whether a device of this hardware version may take the image (True when there is no range)."""
        return self.header.applies_to_hardware(hardware_version)


OTAImage = FirmwareImage
"""Alias: the ZigBee name for the upgrade file."""


def _trailer_length_field(view: memoryview) -> int:
    (length,) = _TRAILER_LENGTH_FIELD.unpack_from(view, len(view) - SIGNATURE_TRAILER_LENGTH)
    return int(length)


def _check_trailer(view: memoryview, header_length: int) -> None:
    payload_length = len(view) - header_length
    if payload_length < SIGNATURE_TRAILER_LENGTH:
        raise InputError(
            f"a supplier-signature trailer needs {SIGNATURE_TRAILER_LENGTH} bytes after the header, "
            f"got {payload_length}"
        )
    length = _trailer_length_field(view)
    if length != SUPPLIER_SIGNATURE_LENGTH:
        raise InputError(
            f"expected supplier signature length 0x{SUPPLIER_SIGNATURE_LENGTH:04X} at offset "
            f"{len(view) - SIGNATURE_TRAILER_LENGTH}, got 0x{length:04X}"
        )


def parse_image(
    data: bytes | bytearray | memoryview, *, expect_signature: bool | None = None
) -> FirmwareImage:
    """Parse a ZigBee OTA upgrade file (the decoded ``FirmwareImage`` of DUIS 11.1 or 11.4).

    The header is read and checked (`OTAHeader.unpack_from`), then its image size must equal the length
    of `data`. The Manufacturer Image is everything after the header, less the GBCS supplier-signature
    trailer when there is one. Whether there is one is decided by `expect_signature`:

    - ``True``: the file must end with the trailer (refused otherwise). Use it for 11.1 images for an
      ESME or GSME, which GBCS requires to be signed.
    - ``False``: there is no trailer; everything after the header is the Manufacturer Image (11.4
      PPMID images, as in the public sample).
    - ``None`` (default): detected. The file is taken as signed when at least 66 bytes follow the header
      and the big-endian 2-byte field 66 bytes from the end reads 64. An unsigned image whose own bytes
      happen to read ``00 40`` there (one in 65,536 for random content) would be misread, so callers
      that know the target device type should say so rather than rely on detection.

    `bytes` input is kept without copying; a mutable buffer is copied once.
    """
    return FirmwareImage.deserialize(data, expect_signature=expect_signature)


def build_image(
    *,
    manufacturer_code: int,
    image_type: int,
    file_version: int,
    manufacturer_image: bytes | bytearray | memoryview,
    header_string: bytes | str = b"",
    header_version: int = OTA_HEADER_VERSION,
    stack_version: int = ZIGBEE_PRO_STACK_VERSION,
    security_credential_version: int | None = None,
    upgrade_file_destination: int | None = None,
    minimum_hardware_version: int | None = None,
    maximum_hardware_version: int | None = None,
    supplier_signature: bytes | None = None,
) -> bytes:
    """Build a valid OTA upgrade file from its parts, computing field control, header length and size.

    An optional header field is written (and its field-control bit set) when it is given; the minimum
    and maximum hardware versions go together. `header_string` is at most 32 bytes (text is UTF-8
    encoded) and is NUL padded. With `supplier_signature` (64 bytes) the GBCS trailer is appended: the
    big-endian length 0x0040 then the signature. Nothing is signed here: the caller supplies the
    signature bytes.
    """
    if (minimum_hardware_version is None) != (maximum_hardware_version is None):
        raise InputError("minimum and maximum hardware versions must be given together")
    text = header_string.encode("utf-8") if isinstance(header_string, str) else bytes(header_string)
    if len(text) > _HEADER_STRING_LENGTH:
        raise InputError(f"header string is {len(text)} bytes, at most {_HEADER_STRING_LENGTH} fit")
    field_control = 0
    if security_credential_version is not None:
        field_control |= FieldControl.SECURITY_CREDENTIAL_VERSION
    if upgrade_file_destination is not None:
        field_control |= FieldControl.DEVICE_SPECIFIC_FILE
    if minimum_hardware_version is not None:
        field_control |= FieldControl.HARDWARE_VERSIONS
    trailer = b""
    if supplier_signature is not None:
        if len(supplier_signature) != SUPPLIER_SIGNATURE_LENGTH:
            raise InputError(
                f"supplier signature must be {SUPPLIER_SIGNATURE_LENGTH} bytes, got {len(supplier_signature)}"
            )
        trailer = _TRAILER_LENGTH_FIELD.pack(SUPPLIER_SIGNATURE_LENGTH) + bytes(supplier_signature)
    header_length = header_length_for(field_control)
    body = memoryview(manufacturer_image).cast("B")
    header = OTAHeader(
        magic=OTA_MAGIC,
        header_version=header_version,
        header_length=header_length,
        field_control=int(field_control),
        manufacturer_code=manufacturer_code,
        image_type=image_type,
        file_version=file_version,
        stack_version=stack_version,
        header_string=text.ljust(_HEADER_STRING_LENGTH, b"\x00"),
        image_size=header_length + len(body) + len(trailer),
        security_credential_version=security_credential_version,
        upgrade_file_destination=upgrade_file_destination,
        minimum_hardware_version=minimum_hardware_version,
        maximum_hardware_version=maximum_hardware_version,
    )
    return b"".join((header.serialize(), body, trailer))
