"""Interoperability with DCC Boxed material and an independent XML-signature implementation (xmlsec1).

- every public request sample, signed with the DCC Boxed supplier key by hanota's signer and by xmlsec1,
  verifies in the DSP once `pki trust-dccboxed` has loaded `shared/duis/pki/`;
- every answer hanota emits validates against duis-5.4.xsd and verifies with `xmlsec1 --verify` against the
  DSP certificate.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from sqlalchemy import Engine

from hanota.api.app import create_app
from hanota.bootstrap import build_context
from hanota.clock import SystemClock
from hanota.duis import Signer, load_certificate, load_private_key, parse_document, validate_schema
from hanota.estate.generate import generate
from hanota.estate.pki import trust_dccboxed
from hanota.settings import Settings
from liveserver import LiveServer
from support import need

pytestmark = pytest.mark.shared
SAMPLES = (
    "8.2_READ_INVENTORY_REQUEST_DUIS.XML",
    "8.4_UPDATE_INVENTORY_REQUEST_DUIS.XML",
    "12.2_DEVICE_PRE_NOTIFICATION_REQUEST_DUIS.XML",
    "11.4_UPDATE_PPMID_FIRMWARE_REQUEST_DUIS.XML",
    "11.1_UPDATE_FIRMWARE_REQUEST_DUIS.XML",
    "CS06_11.3_IMMEDIATE_SUCCESS_REQUEST_DUIS.XML",
    "CS08_11.2_SUCCESS_REQUEST_DUIS.XML",
)
SUPPLIER = "xml-sign-90B3D51F30010000-ds"
DSP_CERT = "Z1-accessControlBroker-dSPXmlSign.pem"


@dataclass
class Boxed:
    url: str
    pki: Path
    tmp: Path
    client: httpx.Client
    counter: int = 2_000_000_000_000

    def next_counter(self) -> int:
        self.counter += 1
        return self.counter


@pytest.fixture
def boxed(db_url: str, engine: Engine, tmp_path: Path, shared_dir: Path) -> Iterator[Boxed]:
    generate(engine, homes=20, seed=5, dccboxed=True)
    trust_dccboxed(engine, shared_dir / "duis/pki", tmp_path)
    settings = Settings(data_dir=tmp_path, database_url=db_url)
    ctx = build_context(settings, clock=SystemClock(), migrate=False)
    with LiveServer(create_app(ctx)) as server, httpx.Client(timeout=30) as client:
        yield Boxed(server.url, shared_dir / "duis/pki", tmp_path, client)
    ctx.engine.dispose()


def _sample(shared: Path, name: str, counter: int) -> bytes:
    text = (shared / "duis/samples/requests" / name).read_text()
    return re.sub(r"(<sr:RequestID>[^<]*:)\d+(</sr:RequestID>)", rf"\g<1>{counter}\g<2>", text).encode()


def _xmlsec1() -> str:
    path = shutil.which("xmlsec1")
    need(path is not None, "needs xmlsec1 (Debian package xmlsec1) as an independent signer/verifier")
    assert path is not None
    return path


def _xmlsec_sign(pki: Path, tmp: Path, data: bytes) -> bytes:
    """Sign the sample's own placeholder template with xmlsec1, after writing the real IssuerSerial."""
    cert = x509.load_pem_x509_certificate((pki / f"{SUPPLIER}.pem").read_bytes())
    data = re.sub(
        rb"<ds:X509IssuerName>[^<]*<", f"<ds:X509IssuerName>{cert.issuer.rfc4514_string()}<".encode(), data
    )
    data = re.sub(
        rb"<ds:X509SerialNumber>[^<]*<", f"<ds:X509SerialNumber>{cert.serial_number}<".encode(), data
    )
    src, dst = tmp / "template.xml", tmp / "signed.xml"
    src.write_bytes(data)
    subprocess.run(
        [_xmlsec1(), "--sign", "--privkey-pem", f"{pki / SUPPLIER}.key.pem,{pki / SUPPLIER}.pem", "--output", str(dst), str(src)],
        check=True, capture_output=True,
    )  # fmt: skip
    return dst.read_bytes()


def _post(b: Boxed, body: bytes) -> httpx.Response:
    r = b.client.post(f"{b.url}/api/v1/serviceD", content=body, headers={"content-type": "application/xml"})
    assert r.status_code == 200, r.text
    return r


@pytest.mark.parametrize("name", SAMPLES)
@pytest.mark.parametrize("signer", ["hanota", "xmlsec1"])
def test_sample_signed_with_dccboxed_key_verifies(
    boxed: Boxed, shared_dir: Path, name: str, signer: str
) -> None:
    """Each public request sample, signed with DCC Boxed's supplier key by hanota or by xmlsec1, verifies at
    the live DSP and gets its SRV's expected answer (CS08, whose originator is another party, is rightly E40).
    """
    data = _sample(shared_dir, name, boxed.next_counter())
    if signer == "hanota":
        signed = Signer(
            load_private_key(boxed.pki / f"{SUPPLIER}.key.pem"),
            load_certificate(boxed.pki / f"{SUPPLIER}.pem"),
        ).sign(data)
    else:
        signed = _xmlsec_sign(boxed.pki, boxed.tmp, data)
    code = _post(boxed, signed).headers["x-duis-response-code"]
    if name.startswith("CS08"):
        # this sample's originator is the Access Control Broker itself: a supplier's signature on it is
        # rightly refused (the signer must be the originator)
        assert code == "E40"
        return
    assert code != "E40", f"{name} signed by {signer} did not verify"
    expected = {"8.2": "I0", "11.4": "I0", "11.2": "E13", "11.3": "E13"}
    srv = name.split("_")[0] if not name.startswith("CS") else name.split("_")[1]
    if srv in expected:
        assert code == expected[srv], (name, code)


def test_every_answer_validates_and_verifies_with_xmlsec1(boxed: Boxed, shared_dir: Path) -> None:
    """I0 with an inventory, an SR-level error, access errors, a signature error: all schema-valid, all
    verifying with xmlsec1 against the DCC Boxed DSP certificate."""
    signer = Signer(
        load_private_key(boxed.pki / f"{SUPPLIER}.key.pem"), load_certificate(boxed.pki / f"{SUPPLIER}.pem")
    )
    bodies = [signer.sign(_sample(shared_dir, n, boxed.next_counter())) for n in SAMPLES]
    bodies.append(_sample(shared_dir, SAMPLES[0], boxed.next_counter()))  # unsigned → E40
    answers = [_post(boxed, b).content for b in bodies]
    codes = set()
    for i, answer in enumerate(answers):
        root = parse_document(answer, max_bytes=10_000_000)
        validate_schema(root)
        path = boxed.tmp / f"answer{i}.xml"
        path.write_bytes(answer)
        r = subprocess.run([_xmlsec1(), "--verify", "--pubkey-cert-pem", str(boxed.pki / DSP_CERT), str(path)],
                           capture_output=True, text=True)  # fmt: skip
        assert r.returncode == 0, (i, r.stderr)
        codes.add(re.search(rb"<sr:ResponseCode>([^<]+)<", answer).group(1))  # type: ignore[union-attr]
    assert {b"I0", b"E13", b"E40"} <= codes
