"""Golden comparison: our SR 8.2 answer, field by field, against the real DCC Boxed answer.

The reference is DCC Boxed's own 8.2 answer (``duis/samples/responses/read-inventory-response-5.4.xml``, and
``read-inventory-response-4g.xml`` where it adds something). Ours is the real thing: the public 8.2 sample
request (Read Inventory of the DCC Boxed Comms Hub ``00-DB-12-34-56-78-90-A2``), signed with the DCC Boxed
supplier key, POSTed over HTTP to a live DSP on a small ``--dccboxed`` estate that trusts the DCC Boxed PKI,
so the answer is signed with the same DSP certificate as DCC Boxed's.

Compared: the header's and the body's element order, the element order within ``sr:Device`` (the schema's),
every element DCC Boxed's carries for a device type being in ours for that type, value formats
(``ResponseDateTime`` with exactly three fraction digits and ``Z``, ``DateCommissioned`` with ``Z``, region
and enumeration spellings), namespace prefixes and declarations, and the signature's shape.

Differences kept on purpose (each asserted below, so a change on either side is noticed):

- **Root namespace declarations.** DCC Boxed's root declares ``xmlns:sr``, ``xmlns:ns3`` (XMLDSig) and
  ``xmlns:ra`` (ResponseAndAlert); ours declares ``xmlns:sr`` only. Neither ``ns3`` nor ``ra`` is used by any
  element or attribute of DCC Boxed's answer (a JAXB marshaller artefact), so they mean nothing to an XML
  reader. Each signer digests its own document (inclusive C14N 1.0 keeps the declarations), and both forms
  verify with xmlsec1, signxml and hanota's verifier (tested here). Both declare ``ds`` on ``ds:Signature``.
- **The XML declaration.** DCC Boxed writes ``standalone="no"``; we write none. ``standalone="no"`` is the
  default meaning (XML 1.0 §2.9) and the declaration is outside the signed content.
- **One-line SignatureValue.** DCC Boxed (Apache Santuario) wraps the base64 at 76 characters with
  ``&#13;`` + line feed; ours is one line. Both are xs:base64Binary, SignatureValue is outside SignedInfo, and
  both forms verify with xmlsec1, signxml and hanota's verifier (tested below on ours re-wrapped DCC
  Boxed-style and on DCC Boxed's joined onto one line), so we keep the form without a character reference.
- **Values that are facts of a different estate.** Device IDs, manufacturer/model codes, firmware versions
  (DCC Boxed's ``9001`` is its emulator's; ours are the CPL's 8 hex digits), ``AddressIdentifier`` (ours is
  the UPRN), dates, and the region: DCC Boxed's CHF/GPF are in ``4G Central``, the DCC Boxed home's hub here
  in ``Central`` unless a test makes it a 4G hub (then the spelling is DCC Boxed's, tested).
- **DeviceGBCSVersion on every device.** DCC Boxed omits nothing we carry except the CAD's
  ``DeviceStatus``/``DeviceFirmwareVersion`` (a CAD has no SMI status; the estate has no CADs).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import count
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from lxml import etree
from signxml.algorithms import CanonicalizationMethod, DigestAlgorithm, SignatureMethod
from signxml.exceptions import SignXMLException
from signxml.verifier import SignatureConfiguration, XMLVerifier
from sqlalchemy import Engine, update

from hanota.api.app import create_app
from hanota.bootstrap import build_context
from hanota.clock import SystemClock
from hanota.db.models import CommsHub
from hanota.duis import codes, models
from hanota.duis.signing import Signer, StaticTrustStore, Verifier, load_certificate, load_private_key
from hanota.duis.xmlparse import (
    DS,
    DS_NS,
    SCHEMA_DIR,
    SCHEMA_FILE,
    SR,
    SR_NS,
    parse_document,
    validate_schema,
)
from hanota.estate import dccboxed
from hanota.estate.generate import generate
from hanota.estate.pki import trust_dccboxed
from hanota.settings import Settings
from liveserver import LiveServer
from support import need

pytestmark = pytest.mark.shared

SUPPLIER_KEY = "xml-sign-90B3D51F30010000-ds"
#: the DSP certificate DCC Boxed signed read-inventory-response-5.4.xml with (and ours, once trusted)
DSP_CERT = "Z1-accessControlBroker-dSPXmlSign.pem"
#: the DSP certificate of read-inventory-response-4g.xml
DSP_CERT_4G = "dsp-xml-sign-90B3D51F30000002-ds.pem"
MILLIS_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z")
DATE_Z_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}Z")
CHTS_RE = re.compile(r"CHTS V[0-9]+\.[0-9]+")
GBCS_RE = re.compile(r"[0-9]+\.[0-9]+")
HAN_VARIANTS = {"Single Band", "Dual Band"}  # DCC Boxed writes 'Single Band'; HANVariant is xs:string
_counter = count(3_000_000_000_000)


@dataclass
class Boxed:
    url: str
    engine: Engine
    pki: Path
    shared: Path
    client: httpx.Client
    signer: Signer = field(init=False)

    def __post_init__(self) -> None:
        self.signer = Signer(
            load_private_key(self.pki / f"{SUPPLIER_KEY}.key.pem"),
            load_certificate(self.pki / f"{SUPPLIER_KEY}.pem"),
        )

    def read_inventory_sample(self) -> bytes:
        """Our signed answer to the public 8.2 sample (fresh counter, signed with the DCC Boxed supplier key)."""
        text = (self.shared / "duis/samples/requests/8.2_READ_INVENTORY_REQUEST_DUIS.XML").read_text()
        text = re.sub(r"(<sr:RequestID>[^<]*:)\d+(</sr:RequestID>)", rf"\g<1>{next(_counter)}\g<2>", text)
        r = self.client.post(
            f"{self.url}/api/v1/serviceD",
            content=self.signer.sign(text.encode()),
            headers={"content-type": "application/xml"},
        )
        assert r.status_code == 200, r.text
        assert r.headers["x-duis-response-code"] == "I0", r.text
        return r.content


@pytest.fixture
def boxed(db_url: str, engine: Engine, tmp_path: Path, shared_dir: Path) -> Iterator[Boxed]:
    generate(engine, homes=3, seed=13, dccboxed=True)
    trust_dccboxed(engine, shared_dir / "duis/pki", tmp_path)
    ctx = build_context(Settings(data_dir=tmp_path, database_url=db_url), clock=SystemClock(), migrate=False)
    with LiveServer(create_app(ctx)) as server, httpx.Client(timeout=30) as client:
        yield Boxed(server.url, engine, shared_dir / "duis/pki", shared_dir, client)
    ctx.engine.dispose()


@pytest.fixture(scope="module")
def theirs(shared_dir: Path) -> bytes:
    return (shared_dir / "duis/samples/responses/read-inventory-response-5.4.xml").read_bytes()


@pytest.fixture(scope="module")
def theirs_4g(shared_dir: Path) -> bytes:
    return (shared_dir / "duis/samples/responses/read-inventory-response-4g.xml").read_bytes()


def _root(data: bytes) -> etree._Element:
    return parse_document(data, max_bytes=1 << 20)


def _local(el: etree._Element) -> str:
    return etree.QName(el).localname


def _tags(el: etree._Element) -> list[str]:
    return [_local(c) for c in el]


def _devices(root: etree._Element) -> list[etree._Element]:
    return root.findall(f"{SR}Body/{SR}ResponseMessage/{SR}DSPInventory/{SR}Device")


def _field(device: etree._Element, name: str) -> str | None:
    el = device.find(SR + name)
    return None if el is None else el.text


def _by_type(root: etree._Element) -> dict[str, etree._Element]:
    """The first device of each type."""
    out: dict[str, etree._Element] = {}
    for d in _devices(root):
        out.setdefault(_field(d, "DeviceType") or "", d)
    return out


def _schema_device_sequence() -> list[str]:
    xsd = etree.parse(str(SCHEMA_DIR / SCHEMA_FILE))
    xs = "{http://www.w3.org/2001/XMLSchema}"
    seq = xsd.find(f"{xs}complexType[@name='Device']/{xs}sequence")
    assert seq is not None
    return [str(e.get("name")) for e in seq.findall(f"{xs}element")]


def _schema_enumeration(type_name: str) -> set[str]:
    xsd = etree.parse(str(SCHEMA_DIR / SCHEMA_FILE))
    xs = "{http://www.w3.org/2001/XMLSchema}"
    return {
        str(e.get("value"))
        for e in xsd.findall(f"{xs}simpleType[@name='{type_name}']/{xs}restriction/{xs}enumeration")
    }


# ---------------------------------------------------------------------------------------------------
# Structure
# ---------------------------------------------------------------------------------------------------


def test_header_and_body_elements_are_in_dcc_boxeds_order(boxed: Boxed, theirs: bytes) -> None:
    """Our 8.2 response has DCC Boxed's element order: Header, Body, Signature; RequestID, ResponseCode,
    ResponseDateTime; ServiceReference, ServiceReferenceVariant, DSPInventory; schema 5.4, both valid."""
    ours_root, their_root = _root(boxed.read_inventory_sample()), _root(theirs)
    for root in (ours_root, their_root):
        validate_schema(root)
    assert _tags(ours_root) == _tags(their_root) == ["Header", "Body", "Signature"]
    assert ours_root.get("schemaVersion") == their_root.get("schemaVersion") == "5.4"
    header_ours, header_theirs = ours_root.find(SR + "Header"), their_root.find(SR + "Header")
    assert header_ours is not None and header_theirs is not None
    assert _tags(header_ours) == _tags(header_theirs) == ["RequestID", "ResponseCode", "ResponseDateTime"]
    message = ours_root.find(f"{SR}Body/{SR}ResponseMessage")
    their_message = their_root.find(f"{SR}Body/{SR}ResponseMessage")
    assert message is not None and their_message is not None
    assert (
        _tags(message)
        == _tags(their_message)
        == ["ServiceReference", "ServiceReferenceVariant", "DSPInventory"]
    )


def test_device_elements_are_in_schema_order_and_first_is_the_one_asked_for(
    boxed: Boxed, theirs: bytes
) -> None:
    """In our inventory, and in DCC Boxed's, each device's elements follow the schema's order, and our first
    device is the one asked for."""
    schema = _schema_device_sequence()
    ours_root = _root(boxed.read_inventory_sample())
    devices = _devices(ours_root)
    assert _field(devices[0], "DeviceID") == dccboxed.CHF  # the device the sample asks for comes first
    for root in (ours_root, _root(theirs)):
        for device in _devices(root):
            tags = _tags(device)
            assert tags == sorted(tags, key=schema.index), tags  # a subsequence of the schema's order


def test_our_hub_devices_carry_every_element_dcc_boxeds_carry(
    boxed: Boxed, theirs: bytes, theirs_4g: bytes
) -> None:
    """For each device type in both answers, every element DCC Boxed fills is in ours too, in its order.

    The CHF's SMETSCHTSVersion, HANVariant and Connectivity and the GPF's SMETSCHTSVersion come from the hub
    facts the store records for every Comms Hub (the DCC Boxed home's included)."""
    ours = _by_type(_root(boxed.read_inventory_sample()))
    compared = set()
    for reference in (theirs, theirs_4g):
        for dtype, their_device in _by_type(_root(reference)).items():
            if dtype not in ours:
                continue  # a CAD: the estate has none
            compared.add(dtype)
            missing = [t for t in _tags(their_device) if t not in _tags(ours[dtype])]
            assert not missing, f"our {dtype} lacks {missing} that DCC Boxed's carries"
    assert compared == {"CHF", "GPF"}


def test_a_4g_hub_reads_exactly_as_dcc_boxeds(boxed: Boxed, theirs: bytes) -> None:
    """The DCC Boxed home's hub made what DCC Boxed's is (4G Central, CHTS V1.4, single band, virtual): our
    CHF and GPF then carry exactly DCC Boxed's elements, in its order, with its spellings."""
    with boxed.engine.begin() as conn:
        conn.execute(
            update(CommsHub)
            .where(CommsHub.chf_id == dccboxed.CHF)
            .values(
                region="4G Central",
                chts_version="CHTS V1.4",
                han_variant="Single Band",
                connectivity="Virtual",
            )
        )
    ours = _by_type(_root(boxed.read_inventory_sample()))
    reference = _by_type(_root(theirs))
    same = ("DeviceType", "DeviceStatus", "SMETSCHTSVersion", "DeviceFirmwareVersionStatus", "CPLStatus",
            "CSPRegion", "DeviceGBCSVersion", "HANVariant", "Connectivity")  # fmt: skip
    for dtype in ("CHF", "GPF"):
        if dtype == "GPF":  # DCC Boxed's GPF is InstalledNotCommissioned, so it has no DateCommissioned
            assert [t for t in _tags(ours[dtype]) if t != "DateCommissioned"] == _tags(reference[dtype])
        else:
            assert _tags(ours[dtype]) == _tags(reference[dtype])
        for name in same:
            if name == "DeviceStatus" and dtype == "GPF":
                continue
            assert _field(ours[dtype], name) == _field(reference[dtype], name), (dtype, name)
    # every device on a 4G hub is in the 4G region, spelled as the schema and DCC Boxed spell it
    assert {_field(d, "CSPRegion") for d in ours.values()} == {"4G Central"}


# ---------------------------------------------------------------------------------------------------
# Value formats
# ---------------------------------------------------------------------------------------------------


def test_value_formats_are_dcc_boxeds(boxed: Boxed, theirs: bytes, theirs_4g: bytes) -> None:
    """Our values are written as DCC Boxed writes them (millisecond Z timestamps, Z dates, schema enumerations
    for region, connectivity, status, HAN variant, CHTS and GBCS versions), and the hub's facts are filled on
    our CHF."""
    regions = _schema_enumeration("CSPRegion")
    assert {"4G North", "4G Central", "4G South"} <= regions
    connectivity = _schema_enumeration("Connectivity")
    statuses = _schema_enumeration("DeviceStatus")
    fw_statuses = _schema_enumeration("FirmwareVersionStatus") | _schema_enumeration("CPLStatus")
    ours = boxed.read_inventory_sample()
    for data in (ours, theirs, theirs_4g):  # the same rules describe DCC Boxed's answers and ours
        root = _root(data)
        stamp = root.findtext(f"{SR}Header/{SR}ResponseDateTime")
        assert stamp is not None and MILLIS_RE.fullmatch(stamp), stamp
        for device in _devices(root):
            values = {_local(c): c.text for c in device}
            if "DateCommissioned" in values:
                assert DATE_Z_RE.fullmatch(values["DateCommissioned"] or ""), values
            assert values.get("CSPRegion", "Central") in regions
            assert values.get("Connectivity", "Virtual") in connectivity
            assert values.get("HANVariant", "Single Band") in HAN_VARIANTS
            assert CHTS_RE.fullmatch(values.get("SMETSCHTSVersion", "CHTS V1.4") or "")
            assert GBCS_RE.fullmatch(values.get("DeviceGBCSVersion", "4.2") or "")
            assert values.get("DeviceStatus", "Commissioned") in statuses
            for name in ("DeviceFirmwareVersionStatus", "CPLStatus"):
                assert values.get(name, "Active") in fw_statuses
            assert re.fullmatch(r"[0-9]{1,12}", values.get("UPRN", "1") or "")
    # and the facts we fill are filled: a timestamp close to now, the hub's own facts on the CHF
    root = _root(ours)
    answered_at = models.parse_response(root).response_datetime
    assert abs((answered_at - datetime.now(UTC)).total_seconds()) < 60
    chf = _by_type(root)["CHF"]
    assert _field(chf, "DateCommissioned") == "2024-01-01Z"
    assert (_field(chf, "SMETSCHTSVersion"), _field(chf, "HANVariant"), _field(chf, "Connectivity")) == (
        "CHTS V1.4",
        "Single Band",
        "Virtual",
    )


# ---------------------------------------------------------------------------------------------------
# Namespaces and the signature
# ---------------------------------------------------------------------------------------------------


def _declared(el: etree._Element) -> dict[str | None, str]:
    """The namespace declarations written on `el` itself (not inherited)."""
    parent = el.getparent()
    inherited = {} if parent is None else dict(parent.nsmap)
    return {p: u for p, u in el.nsmap.items() if inherited.get(p) != u}


def _used_prefixes(root: etree._Element) -> set[str | None]:
    """The prefixes of every element and namespaced attribute of the document."""
    used: set[str | None] = set()
    for el in root.iter():
        if not isinstance(el.tag, str):
            continue
        used.add(el.prefix)
        by_uri = {u: p for p, u in el.nsmap.items()}
        used.update(by_uri[ns] for a in el.attrib if (ns := etree.QName(a).namespace) is not None)
    return used


def test_namespace_prefixes_and_declarations(boxed: Boxed, theirs: bytes) -> None:
    """We use DCC Boxed's prefixes (sr: for DUIS, ds: on a signature declaring only ds), no default namespace,
    and declare only sr on the root; DCC Boxed's unused ns3 and ra declarations are the one known difference.
    """
    ours_data = boxed.read_inventory_sample()
    ours_root, their_root = _root(ours_data), _root(theirs)
    # the same prefixes for the same things: sr: for DUIS, ds: for XMLDSig, no default namespace
    for root in (ours_root, their_root):
        assert root.prefix == "sr"
        assert {el.prefix for el in root.iter() if etree.QName(el).namespace == SR_NS} == {"sr"}
        assert {el.prefix for el in root.iter() if etree.QName(el).namespace == DS_NS} == {"ds"}
        signature = root.find(DS + "Signature")
        assert signature is not None and _declared(signature) == {"ds": DS_NS}
    # kept on purpose (module docstring): DCC Boxed's root also declares ns3 and ra, which nothing uses
    assert _declared(ours_root) == {"sr": SR_NS}
    assert _declared(their_root) == {
        "sr": SR_NS,
        "ns3": DS_NS,
        "ra": "http://www.dccinterface.co.uk/ResponseAndAlert",
    }
    assert _used_prefixes(their_root) == {"sr", "ds"}
    assert ours_data.startswith(b'<?xml version="1.0" encoding="UTF-8"?><sr:Response ')
    assert theirs.startswith(b'<?xml version="1.0" encoding="UTF-8" standalone="no"?><sr:Response ')


def _shape(el: etree._Element) -> list[tuple[str, dict[str, str]]]:
    """Every element under `el` with its attributes, in document order; values of digests and keys left out."""
    return [
        (_local(e), {str(k): str(v) for k, v in e.attrib.items()})
        for e in el.iter()
        if isinstance(e.tag, str)
    ]


def test_signature_has_dcc_boxeds_shape(boxed: Boxed, theirs: bytes) -> None:
    """Our signature has DCC Boxed's element structure and names the same DSP certificate; the only difference
    is the SignatureValue on one line, not wrapped at 76."""
    ours_sig, their_sig = (_root(d).find(DS + "Signature") for d in (boxed.read_inventory_sample(), theirs))
    assert ours_sig is not None and their_sig is not None
    assert _shape(ours_sig) == _shape(their_sig)
    for name in ("X509IssuerName", "X509SerialNumber"):  # the same DSP certificate, named the same way
        assert ours_sig.findtext(f".//{DS}{name}") == their_sig.findtext(f".//{DS}{name}") is not None
    # kept on purpose: ours is one base64 line, DCC Boxed's is wrapped at 76 characters with CR LF
    ours_value, their_value = (
        ours_sig.findtext(DS + "SignatureValue"),
        their_sig.findtext(DS + "SignatureValue"),
    )
    assert ours_value is not None and their_value is not None
    assert re.fullmatch(r"[A-Za-z0-9+/]{86}==", ours_value)
    assert re.fullmatch(r"[A-Za-z0-9+/]{76}\r\n[A-Za-z0-9+/]{10}==", their_value)


def _rewrap(data: bytes) -> bytes:
    """`data` with its SignatureValue wrapped as DCC Boxed (Santuario) writes it."""

    def wrap(m: re.Match[bytes]) -> bytes:
        value = m.group(2)
        lines = [value[i : i + 76] for i in range(0, len(value), 76)]
        return m.group(1) + b"&#13;\n".join(lines) + m.group(3)

    out, n = re.subn(rb"(<ds:SignatureValue>)([A-Za-z0-9+/=]+)(</ds:SignatureValue>)", wrap, data)
    assert n == 1
    return out


def _one_line(data: bytes) -> bytes:
    out, n = re.subn(rb"&#13;\n", b"", data)
    assert n == 1
    return out


def _xmlsec1_verifies(data: bytes, cert: Path, tmp: Path) -> bool:
    path = shutil.which("xmlsec1")
    need(path is not None, "needs xmlsec1 (Debian package xmlsec1) as an independent verifier")
    assert path is not None
    doc = tmp / "doc.xml"
    doc.write_bytes(data)
    r = subprocess.run(
        [path, "--verify", "--pubkey-cert-pem", str(cert), str(doc)], capture_output=True, text=True
    )
    return r.returncode == 0


def _signxml_verifies(data: bytes, cert: Path) -> bool:
    """signxml on its own (not through hanota's profile checks), told the DUIS algorithms."""
    config = SignatureConfiguration(
        require_x509=True,
        expect_references=1,
        signature_methods=frozenset({SignatureMethod.ECDSA_SHA256}),
        digest_algorithms=frozenset({DigestAlgorithm.SHA256}),
        default_reference_c14n_method=CanonicalizationMethod.CANONICAL_XML_1_0,
    )
    try:
        XMLVerifier().verify(data, x509_cert=cert.read_text(), expect_config=config)
    except SignXMLException:  # InvalidSignature, InvalidDigest, InvalidInput... : a "no"
        return False
    return True


def test_both_signature_value_forms_verify_with_every_checker(
    boxed: Boxed, theirs: bytes, theirs_4g: bytes, tmp_path: Path
) -> None:
    """Ours one-line and re-wrapped, DCC Boxed's wrapped and joined: xmlsec1, signxml and hanota all accept."""
    ours = boxed.read_inventory_sample()
    dsp, dsp_4g = boxed.pki / DSP_CERT, boxed.pki / DSP_CERT_4G
    forms = {
        "ours one line": (ours, dsp),
        "ours wrapped as DCC Boxed": (_rewrap(ours), dsp),
        "DCC Boxed 5.4 wrapped": (theirs, dsp),
        "DCC Boxed 5.4 one line": (_one_line(theirs), dsp),
        "DCC Boxed 4G wrapped": (theirs_4g, dsp_4g),
        "DCC Boxed 4G one line": (_one_line(theirs_4g), dsp_4g),
    }
    verifier = Verifier(
        StaticTrustStore.from_directory(boxed.pki), accepted_roles=[codes.ROLE_DSP_XML_SIGNING]
    )
    for name, (data, cert) in forms.items():
        assert _xmlsec1_verifies(data, cert, tmp_path), f"xmlsec1 refuses {name}"
        assert _signxml_verifies(data, cert), f"signxml refuses {name}"
        signed_at = models.parse_response(_root(data)).response_datetime
        verifier.verify(data, now=signed_at)  # raises SignatureError if not
    # and a changed body is refused by each (the checks can fail)
    tampered = ours.replace(b"<sr:CSPRegion>Central<", b"<sr:CSPRegion>North<", 1)
    assert tampered != ours
    assert not _xmlsec1_verifies(tampered, dsp, tmp_path)
    assert not _signxml_verifies(tampered, dsp)
    assert x509.load_pem_x509_certificate(dsp.read_bytes()).serial_number == int(
        _root(ours).findtext(f".//{DS}X509SerialNumber") or 0
    )
