"""A corpus of hostile or broken requests: every one gets a DUIS error or a 4xx, none a 500, and none
changes the store (compared row by row before and after)."""

from __future__ import annotations

import base64
import copy
import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from lxml import etree
from sqlalchemy import Engine, text, update
from sqlalchemy.orm import Session

import crafted as c
from duisclient import request, signed, signer_for
from hanota.api.app import create_app
from hanota.bootstrap import build_context
from hanota.clock import ManualClock
from hanota.db.models import User
from hanota.duis import Signer, render_request
from hanota.duis.requests import ReadInventory, UpdatePPMIDFirmware
from hanota.estate.pki import _cert_row, _subject, init_pki
from hanota.settings import Settings
from liveserver import LiveServer

MAX_BODY = 2 * 1024 * 1024
DS = "{http://www.w3.org/2000/09/xmldsig#}"
SR = "{http://www.dccinterface.co.uk/ServiceUserGateway}"
XML_DECL = b"<?xml version='1.0' encoding='UTF-8'?>"


@dataclass
class Ctx:
    url: str
    engine: Engine
    pki: Path
    client: httpx.Client
    s1: Signer
    identities: dict[str, Signer]


def _issue(
    pki: Path, eui: str, *, role: int, days: tuple[int, int], ca_key_path: Path | None = None
) -> tuple[Signer, x509.Certificate]:
    """A certificate from the crafted PKI's CA (or a stranger CA) with chosen role and validity."""
    ca_cert = x509.load_pem_x509_certificate((pki / "ca.pem").read_bytes())
    if ca_key_path is None:
        ca_key = serialization.load_pem_private_key((pki / "ca.key.pem").read_bytes(), None)
        issuer = ca_cert.subject
    else:
        ca_key = ec.generate_private_key(ec.SECP256R1())
        issuer = x509.Name([x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "07"),
                            x509.NameAttribute(NameOID.COMMON_NAME, "EVIL")])  # fmt: skip
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_subject(eui, role))
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number() >> 40)
        .not_valid_before(c.NOW + timedelta(days=days[0]))
        .not_valid_after(c.NOW + timedelta(days=days[1]))
        .sign(ca_key, hashes.SHA256())
    )
    return Signer(key, cert), cert


@pytest.fixture
def ctx(db_url: str, engine: Engine, tmp_path: Path) -> Iterator[Ctx]:
    crafted_pki = tmp_path / "pki"
    c.build(engine)
    init_pki(engine, crafted_pki, now=c.NOW)
    ids: dict[str, Signer] = {}
    extra = {
        "expired": dict(role=0x87, days=(-400, -1)),
        "not_yet_valid": dict(role=0x87, days=(1, 400)),
        "wrong_role": dict(role=0x02, days=(-1, 400)),
        "stranger_ca": dict(role=0x87, days=(-1, 400), ca_key_path=tmp_path),
    }
    with Session(engine) as s, s.begin():
        for name, kw in extra.items():
            signer, cert = _issue(crafted_pki, c.S1, **kw)  # type: ignore[arg-type]
            ids[name] = signer
            if name != "stranger_ca":
                s.add(_cert_row(cert, "leaf"))
        s.execute(update(User).where(User.eui == c.S3).values(status="Suspended"))
    settings = Settings(data_dir=tmp_path, database_url=db_url, max_body_bytes=MAX_BODY)
    app_ctx = build_context(settings, clock=ManualClock(c.NOW), migrate=False)
    with LiveServer(create_app(app_ctx)) as server, httpx.Client(timeout=30) as client:
        s1 = signer_for(crafted_pki, c.S1)
        # one accepted request first, so that replays have something to replay
        ok = client.post(f"{server.url}/api/v1/serviceD", content=signed(s1, request(c.S1, "8.2",
                         ReadInventory(device_id=c.P_OK), counter=10_000)), headers={"content-type": "application/xml"})  # fmt: skip
        assert ok.headers["x-duis-response-code"] == "I0"
        yield Ctx(server.url, engine, crafted_pki, client, s1, ids)
    app_ctx.engine.dispose()


def snapshot(engine: Engine) -> str:
    """A digest of every row of every table."""
    h = hashlib.sha256()
    with engine.connect() as conn:
        tables = [r[0] for r in conn.execute(text(
            "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY 1" if engine.dialect.name == "sqlite"
            else "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY 1"))]  # fmt: skip
        for t in tables:
            for row in conn.execute(text(f'SELECT * FROM "{t}" ORDER BY 1')):  # noqa: S608 - catalogue names
                h.update(repr(tuple(row)).encode())
    return h.hexdigest()


# -- builders ----------------------------------------------------------------------------------------------


def rd(counter: int | None = None, **kw: object) -> bytes:
    return render_request(request(c.S1, "8.2", ReadInventory(device_id=c.P_OK), counter=counter, **kw))  # type: ignore[arg-type]


def ok_signed(x: Ctx) -> bytes:
    return signed(x.s1, request(c.S1, "8.2", ReadInventory(device_id=c.P_OK)))


def tree(data: bytes) -> etree._Element:
    return etree.fromstring(data, etree.XMLParser(resolve_entities=False, no_network=True))


def out(root: etree._Element) -> bytes:
    return XML_DECL + etree.tostring(root)


def mutate(x: Ctx, fn: Callable[[etree._Element], None], data: bytes | None = None) -> bytes:
    root = tree(data or ok_signed(x))
    fn(root)
    return out(root)


def set_text(path: str, value: str) -> Callable[[etree._Element], None]:
    def f(root: etree._Element) -> None:
        el = root.find(path)
        assert el is not None, path
        el.text = value

    return f


def sign_raw(x: Ctx, xml: bytes) -> bytes:
    return x.s1.sign(xml)


def replace_in(data: bytes, old: bytes, new: bytes) -> bytes:
    assert old in data, old
    return data.replace(old, new, 1)


def other_srv(data: bytes, srv: str, cv: int, body_xml: bytes) -> bytes:
    """An unsigned 8.2 request turned into `srv` with command variant `cv` and the body `body_xml`."""
    sr = ".".join(srv.split(".")[:2]).encode()
    data = replace_in(data, b"<sr:CommandVariant>8<", b"<sr:CommandVariant>%d<" % cv)
    data = replace_in(data, b">8.2</sr:ServiceReference><sr:ServiceReferenceVariant>8.2<",
                      b">" + sr + b"</sr:ServiceReference><sr:ServiceReferenceVariant>" + srv.encode() + b"<")  # fmt: skip
    start, end = data.index(b"<sr:Body>"), data.index(b"</sr:Body>") + len(b"</sr:Body>")
    return data[:start] + b"<sr:Body>" + body_xml + b"</sr:Body>" + data[end:]


def algo(x: Ctx, tag: str, new: str) -> bytes:
    def f(root: etree._Element) -> None:
        el = root.find(f".//{DS}{tag}")
        assert el is not None
        el.set("Algorithm", new)

    return mutate(x, f)


def wrap_moved(x: Ctx) -> bytes:
    def f(root: etree._Element) -> None:
        sig = root.find(f"{DS}Signature")
        assert sig is not None
        root.remove(sig)
        root.find(f"{SR}Body").append(sig)  # type: ignore[union-attr]

    return mutate(x, f)


def wrap_duplicated(x: Ctx) -> bytes:
    def f(root: etree._Element) -> None:
        sig = root.find(f"{DS}Signature")
        root.append(copy.deepcopy(sig))

    return mutate(x, f)


def wrap_evil_copy(x: Ctx) -> bytes:
    """The signed document hidden inside the signature, an evil request outside it."""

    def f(root: etree._Element) -> None:
        good = copy.deepcopy(root)
        root.find(f"{SR}Body/{SR}ReadInventory/{SR}DeviceID").text = c.P_NOTMINE  # type: ignore[union-attr]
        obj = etree.SubElement(root.find(f"{DS}Signature"), f"{DS}Object")  # type: ignore[arg-type]
        obj.append(good)

    return mutate(x, f)


def other_signer(x: Ctx) -> bytes:
    s2 = signer_for(x.pki, c.S2)
    return signed(s2, request(c.S1, "8.2", ReadInventory(device_id=c.P_OK)))


def with_identity(name: str) -> Callable[[Ctx], bytes]:
    return lambda x: signed(x.identities[name], request(c.S1, "8.2", ReadInventory(device_id=c.P_OK)))


def unknown_serial(x: Ctx) -> bytes:
    return mutate(x, set_text(f".//{DS}X509SerialNumber", "123456789012345678901234567890"))


def body_signed(x: Ctx, inner: bytes, srv: str = "8.2") -> bytes:
    """A request whose header is fine but whose body is `inner` (raw XML), signed properly."""
    base = render_request(request(c.S1, srv, ReadInventory(device_id=c.P_OK)))
    start, end = base.index(b"<sr:Body>"), base.index(b"</sr:Body>") + len(b"</sr:Body>")
    return sign_raw(x, base[:start] + b"<sr:Body>" + inner + b"</sr:Body>" + base[end:])


def header_signed(x: Ctx, old: bytes, new: bytes) -> bytes:
    return sign_raw(x, replace_in(rd(), old, new))


def fw_body(ids: str, version: str = c.NEW_VERSION, image: str | None = None) -> bytes:
    img = image if image is not None else base64.b64encode(c.NEW_IMAGE).decode()
    return (f"<sr:UpdatePPMIDFirmware><sr:FirmwareImage>{img}</sr:FirmwareImage>"
            f"<sr:FirmwareVersion>{version}</sr:FirmwareVersion><sr:DeviceIDList>{ids}</sr:DeviceIDList>"
            "</sr:UpdatePPMIDFirmware>").encode()  # fmt: skip


def sr_signed(x: Ctx, body_xml: bytes) -> bytes:
    base = render_request(request(c.S1, "11.4", UpdatePPMIDFirmware(c.NEW_IMAGE, c.NEW_VERSION, (c.P_OK,))))
    start, end = base.index(b"<sr:Body>"), base.index(b"</sr:Body>") + len(b"</sr:Body>")
    return sign_raw(x, base[:start] + b"<sr:Body>" + body_xml + b"</sr:Body>" + base[end:])


XXE = (b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
       b'<sr:Request xmlns:sr="http://www.dccinterface.co.uk/ServiceUserGateway" schemaVersion="5.4">&x;</sr:Request>')  # fmt: skip
LAUGHS = (b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
          b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]><l>&d;&d;&d;</l>')  # fmt: skip
EXT_DTD = b'<?xml version="1.0"?><!DOCTYPE r SYSTEM "http://127.0.0.1:1/evil.dtd"><r/>'

Case = tuple[str, Callable[[Ctx], bytes], int, str | None]
PLAIN: list[Case] = [
    ("empty body", lambda x: b"", 400, None),
    ("not XML", lambda x: b"hello, DSP", 400, None),
    ("JSON", lambda x: b'{"RequestID": "x"}', 400, None),
    ("binary", lambda x: bytes(range(256)) * 4, 400, None),
    ("truncated XML", lambda x: ok_signed(x)[:300], 400, None),
    ("XXE", lambda x: XXE, 400, None),
    ("entity expansion", lambda x: LAUGHS, 400, None),
    ("external DTD", lambda x: EXT_DTD, 400, None),
    (
        "DOCTYPE before a real request",
        lambda x: replace_in(ok_signed(x), b"<sr:Request", b"<!DOCTYPE sr:Request><sr:Request"),
        400,
        None,
    ),
    (
        "processing instruction",
        lambda x: replace_in(ok_signed(x), b"<sr:Request", b"<?evil run?><sr:Request"),
        400,
        None,
    ),
    ("oversized", lambda x: b"<a>" + b"x" * MAX_BODY + b"</a>", 413, None),
    (
        "wrong namespace",
        lambda x: ok_signed(x).replace(b"http://www.dccinterface.co.uk/ServiceUserGateway", b"urn:evil"),
        400,
        None,
    ),
    (
        "no header",
        lambda x: (
            b'<sr:Request xmlns:sr="http://www.dccinterface.co.uk/ServiceUserGateway" schemaVersion="5.4"/>'
        ),
        400,
        None,
    ),
    ("malformed RequestID", lambda x: header_signed(x, b"<sr:RequestID>", b"<sr:RequestID>ZZ"), 400, None),
    ("a Response, not a Request", lambda x: ok_signed(x).replace(b"sr:Request", b"sr:Response"), 400, None),
    (
        "unknown SRV",
        lambda x: header_signed(x, b"<sr:ServiceReferenceVariant>8.2<", b"<sr:ServiceReferenceVariant>99.9<"),
        400,
        "E100",
    ),
]
DUIS: list[Case] = [
    ("unsigned", lambda x: rd(), 200, "E40"),
    (
        "placeholder signature",
        lambda x: replace_in(ok_signed(x), b"<ds:SignatureValue>", b"<ds:SignatureValue>AAAA"),
        200,
        "E40",
    ),
    ("tampered body", lambda x: ok_signed(x).replace(c.P_OK.encode(), c.P_NOTMINE.encode()), 200, "E40"),
    (
        "tampered counter",
        lambda x: mutate(
            x, set_text(f"{SR}Header/{SR}RequestID", f"{c.S1}:90-B3-D5-1F-30-00-00-02:77777777")
        ),
        200,
        "E40",
    ),
    ("signature moved into the body", wrap_moved, 200, "E40"),
    ("signature duplicated", wrap_duplicated, 200, "E40"),
    ("signed copy hidden, evil request outside", wrap_evil_copy, 200, "E40"),
    (
        "inclusive C14N",
        lambda x: algo(x, "CanonicalizationMethod", "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"),
        200,
        "E40",
    ),
    (
        "RSA signature method",
        lambda x: algo(x, "SignatureMethod", "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"),
        200,
        "E40",
    ),
    ("SHA-1 digest", lambda x: algo(x, "DigestMethod", "http://www.w3.org/2000/09/xmldsig#sha1"), 200, "E40"),
    (
        "extra transform",
        lambda x: mutate(
            x,
            lambda r: etree.SubElement(
                r.find(f".//{DS}Transforms"),
                f"{DS}Transform",  # type: ignore[arg-type]
                Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#",
            ),
        ),
        200,
        "E40",
    ),  # fmt: skip
    (
        "reference to an ID",
        lambda x: mutate(x, lambda r: r.find(f".//{DS}Reference").set("URI", "#body")),
        200,
        "E40",
    ),  # type: ignore[union-attr]
    (
        "two references",
        lambda x: mutate(
            x, lambda r: r.find(f".//{DS}SignedInfo").append(copy.deepcopy(r.find(f".//{DS}Reference")))
        ),
        200,
        "E40",
    ),  # type: ignore[union-attr, arg-type]
    ("expired certificate", with_identity("expired"), 200, "E40"),
    ("certificate not yet valid", with_identity("not_yet_valid"), 200, "E40"),
    ("organisation (non-XML-signing) certificate", with_identity("wrong_role"), 200, "E40"),
    ("certificate from an untrusted CA", with_identity("stranger_ca"), 200, "E40"),
    ("unknown serial", unknown_serial, 200, "E40"),
    (
        "5,000-digit certificate serial",
        lambda x: mutate(x, set_text(f".//{DS}X509SerialNumber", "9" * 5000)),
        200,
        "E40",
    ),
    (
        "command variant with 5,000 leading zeros",
        lambda x: header_signed(x, b"<sr:CommandVariant>8<", b"<sr:CommandVariant>" + b"0" * 5000 + b"8<"),
        200,
        "E100",
    ),
    ("signer is not the originator", other_signer, 200, "E40"),
    (
        "issuer name altered",
        lambda x: mutate(x, set_text(f".//{DS}X509IssuerName", "CN=Z1,OU=07")),
        200,
        "E40",
    ),
    (
        "signature value truncated",
        lambda x: mutate(x, set_text(f".//{DS}SignatureValue", base64.b64encode(b"x" * 32).decode())),
        200,
        "E40",
    ),
    (
        "replayed counter",
        lambda x: signed(x.s1, request(c.S1, "8.2", ReadInventory(device_id=c.P_OK), counter=10_000)),
        200,
        "E41",
    ),
    (
        "lower counter",
        lambda x: signed(x.s1, request(c.S1, "8.2", ReadInventory(device_id=c.P_OK), counter=9_999)),
        200,
        "E41",
    ),
    (
        "ineligible role for 11.4",
        lambda x: signed(
            signer_for(x.pki, c.OTHER),
            request(c.OTHER, "11.4", UpdatePPMIDFirmware(c.NEW_IMAGE, c.NEW_VERSION, (c.P_OK,))),
        ),
        200,
        "E2",
    ),  # fmt: skip
    (
        "suspended user",
        lambda x: signed(signer_for(x.pki, c.S3), request(c.S3, "8.2", ReadInventory(device_id=c.P_OK))),
        200,
        "E3",
    ),
    (
        "wrong command variant",
        lambda x: signed(x.s1, request(c.S1, "8.2", ReadInventory(device_id=c.P_OK), cv=3)),
        200,
        "E12",
    ),
    (
        "SRV not served at this URL",  # 11.2 with command variant 1 belongs on serviceS
        lambda x: sign_raw(x, other_srv(rd(), "11.2", 1, b"<sr:ReadFirmwareVersion/>")),
        200,
        "E13",
    ),  # fmt: skip
    (
        "SRV and body disagree",
        lambda x: header_signed(
            x,
            b">8.2</sr:ServiceReference><sr:ServiceReferenceVariant>8.2<",
            b">11.2</sr:ServiceReference><sr:ServiceReferenceVariant>11.2<",
        ),
        200,
        "E100",
    ),  # fmt: skip
    (
        "target not the DCC",
        lambda x: signed(x.s1, request(c.S1, "8.2", ReadInventory(device_id=c.P_OK), target=c.S2)),
        200,
        "E42",
    ),
    (
        "ServiceReference disagrees with SRV",
        lambda x: header_signed(x, b">8.2</sr:ServiceReference>", b">8.4</sr:ServiceReference>"),
        200,
        "E100",
    ),
    (
        "command variant out of range",
        lambda x: header_signed(x, b"<sr:CommandVariant>8<", b"<sr:CommandVariant>9<"),
        200,
        "E12",
    ),
    (
        "schemaVersion not a decimal",
        lambda x: header_signed(x, b'schemaVersion="5.4"', b'schemaVersion="five"'),
        200,
        "E100",
    ),
    (
        "unknown element in the body",
        lambda x: body_signed(x, b"<sr:ReadInventory><sr:Evil>1</sr:Evil></sr:ReadInventory>"),
        200,
        "E100",
    ),
    ("empty body element", lambda x: body_signed(x, b""), 200, "E100"),
    (
        "two body elements",
        lambda x: body_signed(
            x,
            (b"<sr:ReadInventory><sr:DeviceID>" + c.P_OK.encode() + b"</sr:DeviceID></sr:ReadInventory>") * 2,
        ),
        200,
        "E100",
    ),  # fmt: skip
    ("body for another SRV", lambda x: body_signed(x, fw_body(c.P_OK)), 200, "E100"),
    (
        "device ID not an EUI",
        lambda x: body_signed(
            x, b"<sr:ReadInventory><sr:DeviceID>not-an-eui</sr:DeviceID></sr:ReadInventory>"
        ),
        200,
        "E100",
    ),
    ("FirmwareVersion too long", lambda x: sr_signed(x, fw_body(c.P_OK, version="123456789")), 200, "E100"),
    ("image not base64", lambda x: sr_signed(x, fw_body(c.P_OK, image="!!!not base64!!!")), 200, "E100"),
    ("empty device list", lambda x: sr_signed(x, fw_body("")), 200, "E100"),
    ("bad EUI in the device list", lambda x: sr_signed(x, fw_body(c.P_OK + ",ZZ-00")), 200, "E100"),
    (
        "50,001 device IDs",
        lambda x: sr_signed(
            x,
            fw_body(
                ",".join(
                    f"CC-00-00-00-00-{i >> 16:02X}-{(i >> 8) & 255:02X}-{i & 255:02X}" for i in range(50_001)
                )
            ),
        ),
        200,
        "E100",
    ),
    (
        "lower-case SRV text",
        lambda x: header_signed(x, b"<sr:CommandVariant>8<", b"<sr:CommandVariant> 8x<"),
        200,
        "E100",
    ),
]


@pytest.mark.parametrize(("name", "build", "status", "code"), PLAIN + DUIS, ids=[x[0] for x in PLAIN + DUIS])
def test_hostile_request(
    ctx: Ctx, name: str, build: Callable[[Ctx], bytes], status: int, code: str | None
) -> None:
    """Each hostile or broken request of the corpus gets its expected status and code (a signed DUIS answer,
    or a plain-text 4xx), never a traceback, and leaves every table's rows unchanged."""
    body = build(ctx)
    before = snapshot(ctx.engine)
    r = ctx.client.post(
        f"{ctx.url}/api/v1/serviceD", content=body, headers={"content-type": "application/xml"}
    )
    assert r.status_code == status, (name, r.status_code, r.text[:300])
    media = r.headers["content-type"].split(";")[0]
    assert media == ("application/xml" if status == 200 else "text/plain"), (name, media)
    if status == 200:
        assert r.headers["x-duis-response-code"] == code, (name, r.text[:400])
        assert b"<ds:Signature" in r.content
    elif code is not None:
        assert r.text.startswith(code), r.text
    assert b"Traceback" not in r.content
    assert snapshot(ctx.engine) == before, f"{name} changed the store"


@pytest.mark.parametrize(
    ("method", "path", "content_type", "status"),
    [
        ("POST", "/api/v1/serviceX", "application/xml", 404),
        ("GET", "/api/v1/serviceD", None, 405),
        ("POST", "/api/v1/serviceD", "text/plain", 415),
        ("POST", "/api/v1/serviceD", "application/json", 415),
    ],
)
def test_wrong_url_method_or_media_type(
    ctx: Ctx, method: str, path: str, content_type: str | None, status: int
) -> None:
    """An unknown URL is 404, a GET 405, and a body that is not XML by its media type 415, and none changes
    the store."""
    before = snapshot(ctx.engine)
    headers = {"content-type": content_type} if content_type else {}
    r = ctx.client.request(
        method, f"{ctx.url}{path}", content=ok_signed(ctx) if method == "POST" else None, headers=headers
    )
    assert r.status_code == status
    assert snapshot(ctx.engine) == before


def test_the_store_digest_sees_what_an_accepted_request_changes(ctx: Ctx) -> None:
    """The control of the corpus: the valid request its entries are made from is accepted (I0, signed), and
    the row-by-row digest the corpus compares changes with it, so "changed nothing" above can fail."""
    before = snapshot(ctx.engine)
    r = ctx.client.post(
        f"{ctx.url}/api/v1/serviceD", content=ok_signed(ctx), headers={"content-type": "application/xml"}
    )
    assert r.status_code == 200 and r.headers["x-duis-response-code"] == "I0", r.text[:300]
    assert b"<ds:Signature" in r.content
    assert snapshot(ctx.engine) != before
