"""The --dccboxed home accepts both public firmware samples, each for its own device.

Each sample is signed as published (its own FirmwareImage, FirmwareVersion and DeviceIDList) with the DCC Boxed
supplier key and a fresh RequestID counter, POSTed over HTTP to a live DSP on a small estate with the DCC Boxed
home, and must be accepted for its device: I0, or W110401/W110101 with the device not in any warning list, and
the device recorded as Accepted.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import count
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, select, text

from hanota.api.app import create_app
from hanota.bootstrap import build_context
from hanota.clock import SystemClock
from hanota.db.models import CPLEntry, Device
from hanota.duis import Signer, load_certificate, load_private_key, parse_document, parse_response
from hanota.duis.responses import DSPUpdateFirmwareWarning, DSPUpdatePPMIDFirmwareWarning, ResponseMessage
from hanota.estate import dccboxed
from hanota.estate.generate import generate
from hanota.estate.pki import trust_dccboxed
from hanota.firmware import parse_image
from hanota.settings import Settings
from liveserver import LiveServer

pytestmark = pytest.mark.shared

SUPPLIER_KEY = "xml-sign-90B3D51F30010000-ds"
SAMPLE_11_4 = "11.4_UPDATE_PPMID_FIRMWARE_REQUEST_DUIS.XML"
SAMPLE_11_1 = "11.1_UPDATE_FIRMWARE_REQUEST_DUIS.XML"
_counter = count(4_000_000_000_000)


@dataclass
class Home:
    url: str
    engine: Engine
    requests: Path
    signer: Signer
    client: httpx.Client

    def send(self, name: str) -> tuple[str, ResponseMessage]:
        """The public sample `name`, signed with a fresh counter; its answer's code and message."""
        xml = (self.requests / name).read_text()
        xml = re.sub(r"(<sr:RequestID>[^<]*:)\d+(</sr:RequestID>)", rf"\g<1>{next(_counter)}\g<2>", xml)
        r = self.client.post(
            f"{self.url}/api/v1/serviceD",
            content=self.signer.sign(xml.encode()),
            headers={"content-type": "application/xml"},
        )
        assert r.status_code == 200, r.text
        response = parse_response(parse_document(r.content, max_bytes=1 << 20))
        assert isinstance(response.body, ResponseMessage)
        return response.response_code, response.body


@pytest.fixture
def home(db_url: str, engine: Engine, tmp_path: Path, shared_dir: Path) -> Iterator[Home]:
    generate(engine, homes=3, seed=21, dccboxed=True)
    pki = shared_dir / "duis/pki"
    trust_dccboxed(engine, pki, tmp_path)
    ctx = build_context(Settings(data_dir=tmp_path, database_url=db_url), clock=SystemClock(), migrate=False)
    signer = Signer(
        load_private_key(pki / f"{SUPPLIER_KEY}.key.pem"), load_certificate(pki / f"{SUPPLIER_KEY}.pem")
    )
    with LiveServer(create_app(ctx)) as server, httpx.Client(timeout=30) as client:
        yield Home(server.url, engine, shared_dir / "duis/samples/requests", signer, client)
    ctx.engine.dispose()


def _image(requests: Path, name: str) -> bytes:
    m = re.search(r"<sr:FirmwareImage>(.*?)</sr:FirmwareImage>", (requests / name).read_text(), re.S)
    assert m is not None
    return base64.b64decode(m.group(1))


def _assert_accepted(home: Home, name: str, device_id: str, srv: str) -> None:
    code, message = home.send(name)
    assert message.srv == srv
    warning = {"11.4": "W110401", "11.1": "W110101"}[srv]
    assert code in {"I0", warning}, (name, code)
    payload = message.payload
    if code == warning:
        assert isinstance(payload, DSPUpdatePPMIDFirmwareWarning | DSPUpdateFirmwareWarning)
        assert all(device_id not in ids for _, ids in payload.lists()), payload
    with home.engine.connect() as conn:
        outcome = conn.execute(
            text("SELECT outcome FROM request_devices WHERE device_id = :d"), {"d": device_id}
        ).scalar_one()
    assert outcome == "Accepted"


def test_the_11_4_sample_is_accepted_for_the_ppmid(home: Home) -> None:
    """The public DCC Boxed 11.4 sample, with a fresh counter and signed by the DCC Boxed supplier, is served
    (I0, or a warning that does not list it) with the generated DCC Boxed home's PPMID accepted."""
    _assert_accepted(home, SAMPLE_11_4, dccboxed.PPMID, "11.4")


def test_the_11_1_sample_is_accepted_for_the_esme(home: Home) -> None:
    """The public DCC Boxed 11.1 sample, with a fresh counter and signed by the DCC Boxed supplier, is served
    (I0, or a warning that does not list it) with the generated DCC Boxed home's ESME accepted."""
    _assert_accepted(home, SAMPLE_11_1, dccboxed.ESME, "11.1")


def test_the_esme_is_a_device_the_11_1_sample_is_for(home: Home) -> None:
    """The ESME is of the manufacturer and hardware range of the 11.1 sample's image header, registered to
    the supplier, running a version on the CPL for its own model, Active and upgradeable; the sample's
    firmware is on the CPL for the ESME's model as well as for the PPMID's."""
    image = parse_image(_image(home.requests, SAMPLE_11_1), expect_signature=True)
    with home.engine.connect() as conn:
        esme = conn.execute(select(Device).where(Device.device_id == dccboxed.ESME)).one()
        current = conn.execute(
            select(CPLEntry).where(CPLEntry.firmware_version == esme.firmware_version)
        ).one()
        sample_entries = conn.execute(
            select(CPLEntry).where(CPLEntry.firmware_hash == image.firmware_hash)
        ).all()
    assert esme.device_type == "ESME" and esme.smi_status == "Commissioned"
    assert esme.manufacturer == f"{image.header.manufacturer_code:04X}"
    assert image.applies_to_hardware(esme.hardware_version)
    assert (current.device_type, current.manufacturer, current.model) == (
        "ESME",
        esme.manufacturer,
        esme.model,
    )
    assert current.hw_version_min <= esme.hardware_version <= current.hw_version_max
    assert current.status == "Active" and current.upgradeable
    assert current.image_type == image.header.image_type
    # the image is the 11.4 sample's Manufacturer Image: the same CPL hash, listed for each model it is for
    assert image.firmware_hash == parse_image(dccboxed.SAMPLE_PPMID_IMAGE).firmware_hash
    assert sorted((e.device_type, e.model, e.firmware_version) for e in sample_entries) == [
        ("ESME", esme.model, "00000000"),
        ("PPMID", dccboxed.PPMID_MODEL.model, "00000000"),
    ]
