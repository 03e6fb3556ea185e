"""Fixtures for the firmware tests: the public sample images (from the `shared_dir` fixture: the vendored
tests/data/duis), and the zigpy oracle."""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from lxml import etree

SR_NS = "http://www.dccinterface.co.uk/ServiceUserGateway"

ESME_SAMPLE = "11.1_UPDATE_FIRMWARE_REQUEST_DUIS.XML"
PPMID_SAMPLE = "11.4_UPDATE_PPMID_FIRMWARE_REQUEST_DUIS.XML"


def _firmware_image_of(request_file: Path) -> bytes:
    """The decoded ``sr:FirmwareImage`` of a DUIS request file, parsed without entities or network."""
    assert request_file.is_file(), f"public DUIS sample not found: {request_file}"
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    root = etree.fromstring(request_file.read_bytes(), parser=parser)
    found = root.find(f".//{{{SR_NS}}}FirmwareImage")
    assert found is not None, f"{request_file.name} has no sr:FirmwareImage"
    assert found.text is not None
    return base64.b64decode(found.text, validate=True)


@pytest.fixture(scope="session")
def esme_sample_image(shared_dir: Path) -> bytes:
    """The OTA upgrade file of the public 11.1 UpdateFirmware sample (an ESME image)."""
    return _firmware_image_of(shared_dir / "duis" / "samples" / "requests" / ESME_SAMPLE)


@pytest.fixture(scope="session")
def ppmid_sample_image(shared_dir: Path) -> bytes:
    """The OTA upgrade file of the public 11.4 UpdatePPMIDFirmware sample."""
    return _firmware_image_of(shared_dir / "duis" / "samples" / "requests" / PPMID_SAMPLE)


@pytest.fixture(scope="session")
def zigpy_ota() -> ModuleType:
    """zigpy's OTA image module: a test-only oracle (GPL-3.0, never imported by src/)."""
    module: ModuleType = pytest.importorskip(
        "zigpy.ota.image", reason="zigpy (test-only OTA oracle) is not installed"
    )
    return module


@pytest.fixture(scope="session")
def zigpy_header_of(zigpy_ota: ModuleType) -> Callable[[bytes], tuple[dict[str, Any], bytes]]:
    """Parse an OTA header with zigpy; return its fields under our names, and the bytes after it."""

    def parse(data: bytes) -> tuple[dict[str, Any], bytes]:
        header, rest = zigpy_ota.OTAImageHeader.deserialize(data)
        destination = header.upgrade_file_destination
        fields = {
            "magic": int(header.upgrade_file_id),
            "header_version": int(header.header_version),
            "header_length": int(header.header_length),
            "field_control": int(header.field_control),
            "manufacturer_code": int(header.manufacturer_id),
            "image_type": int(header.image_type),
            "file_version": int(header.file_version),
            "stack_version": int(header.stack_version),
            "header_string": bytes(header.header_string),
            "image_size": int(header.image_size),
            "security_credential_version": _int_or_none(header.security_credential_version),
            # zigpy keeps the EUI-64 in wire order (least significant byte first)
            "upgrade_file_destination": (
                None if destination is None else int.from_bytes(destination.serialize(), "little")
            ),
            "minimum_hardware_version": _int_or_none(header.minimum_hardware_version),
            "maximum_hardware_version": _int_or_none(header.maximum_hardware_version),
        }
        return fields, bytes(rest)

    return parse


def _int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)
