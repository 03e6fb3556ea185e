"""Hardened parsing and schema validation: hostile documents are refused, nothing is fetched."""

from __future__ import annotations

import hashlib
import re
import socket
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from hanota.duis import codes, xmlparse
from hanota.duis.xmlparse import parse_document, validate_schema
from hanota.errors import HanotaError, InputError, TooLarge

MAX = 1 << 20

MINIMAL_REQUEST = (
    b'<?xml version="1.0" encoding="UTF-8"?>'
    b'<sr:Request xmlns:sr="http://www.dccinterface.co.uk/ServiceUserGateway" schemaVersion="5.4">'
    b"<sr:Header><sr:RequestID>90-B3-D5-1F-30-01-00-00:90-B3-D5-1F-30-00-00-02:1</sr:RequestID>"
    b"<sr:CommandVariant>8</sr:CommandVariant><sr:ServiceReference>8.2</sr:ServiceReference>"
    b"<sr:ServiceReferenceVariant>8.2</sr:ServiceReferenceVariant></sr:Header>"
    b"<sr:Body><sr:ReadInventory><sr:DeviceID>00-DB-12-34-56-78-90-A2</sr:DeviceID></sr:ReadInventory></sr:Body>"
    b"</sr:Request>"
)

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<sr:Request xmlns:sr="http://www.dccinterface.co.uk/ServiceUserGateway" schemaVersion="5.4">&lol9;</sr:Request>"""


def _refused(data: bytes, match: str) -> InputError:
    with pytest.raises(InputError, match=match) as info:
        parse_document(data, max_bytes=MAX)
    assert info.value.code == codes.MALFORMED_REQUEST
    return info.value


def test_a_plain_request_parses() -> None:
    """A minimal well-formed request parses to its sr:Request root and validates against the schema."""
    root = parse_document(MINIMAL_REQUEST, max_bytes=MAX)
    assert root.tag == xmlparse.SR + "Request"
    validate_schema(root)


@pytest.mark.shared
def test_xxe_sample_is_refused(responses_dir: Path) -> None:
    """samples/responses/duis-xxe.xml names file:///etc/passwd in an external entity."""
    _refused((responses_dir / "duis-xxe.xml").read_bytes(), "DOCTYPE")


def test_billion_laughs_is_refused_quickly() -> None:
    """A billion-laughs document is refused for its DOCTYPE in under a second, before any entity is expanded."""
    started = time.perf_counter()
    _refused(BILLION_LAUGHS, "DOCTYPE")
    assert time.perf_counter() - started < 1


def test_doctype_without_entities_is_refused() -> None:
    """Any DOCTYPE is refused, even one declaring no entity."""
    _refused(b'<?xml version="1.0"?><!DOCTYPE Request><Request/>', "DOCTYPE")


def test_external_dtd_is_refused_and_never_fetched(listener: Any) -> None:
    """A DOCTYPE naming an external DTD is refused and the DTD's URL is never connected to."""
    document = f'<?xml version="1.0"?><!DOCTYPE r SYSTEM "{listener.url}/evil.dtd"><r>x</r>'.encode()
    _refused(document, "DOCTYPE")
    time.sleep(0.3)
    assert listener.connections == []


def test_the_parser_itself_never_fetches_or_expands(listener: Any) -> None:
    """Defence in depth: even without the DOCTYPE pre-check, the hardened parser loads and expands nothing."""
    document = (
        f'<?xml version="1.0"?><!DOCTYPE r SYSTEM "{listener.url}/a.dtd" '
        f'[<!ENTITY ext SYSTEM "{listener.url}/b.txt"><!ENTITY local "EXPANDED">]>'
        f"<r>&ext;&local;</r>"
    ).encode()
    root = etree.fromstring(document, xmlparse.document_parser())
    assert "EXPANDED" not in etree.tostring(root).decode()
    assert root.text is None
    time.sleep(0.3)
    assert listener.connections == []
    with pytest.raises(InputError, match="DOCTYPE"):
        xmlparse.check_hostile_constructs(root)


def test_billion_laughs_through_the_parser_itself_does_not_expand() -> None:
    """Without the pre-check libxml2 either refuses the amplification or keeps the reference unexpanded."""
    started = time.perf_counter()
    root: etree._Element | None = None
    refusal = ""
    try:
        root = etree.fromstring(BILLION_LAUGHS, xmlparse.document_parser())
    except etree.XMLSyntaxError as exc:
        refusal = str(exc)
    assert time.perf_counter() - started < 1
    if root is None:
        assert "amplification" in refusal
    else:
        assert len(etree.tostring(root)) < 10_000
        with pytest.raises(InputError):
            xmlparse.check_hostile_constructs(root)


def test_oversized_is_too_large() -> None:
    """A document one byte over the limit is too large (its own response code); exactly at the limit it
    parses."""
    with pytest.raises(TooLarge) as info:
        parse_document(MINIMAL_REQUEST, max_bytes=len(MINIMAL_REQUEST) - 1)
    assert info.value.code == codes.REQUEST_TOO_LARGE
    assert parse_document(MINIMAL_REQUEST, max_bytes=len(MINIMAL_REQUEST)).tag == xmlparse.SR + "Request"


@pytest.mark.parametrize("data", [b"hello", b"{}", b"<a>", b"<a></b>", b"\x00\x01", b"<sr:x/>"])
def test_not_xml_is_refused(data: bytes) -> None:
    """Text, JSON, unclosed or mismatched tags, control bytes and an undeclared prefix are refused as not
    well-formed."""
    _refused(data, "not well-formed")


@pytest.mark.parametrize("data", [b"", b"   \n"])
def test_empty_is_refused(data: bytes) -> None:
    """An empty or blank body is refused as empty."""
    _refused(data, "empty")


def test_utf16_is_refused() -> None:
    """A UTF-16 document is refused: DUIS is UTF-8."""
    _refused('<?xml version="1.0" encoding="UTF-16"?><a/>'.encode("utf-16"), "UTF-8")


def test_other_declared_encodings_are_refused() -> None:
    """A document declaring another encoding than UTF-8 (ISO-8859-1) is refused."""
    _refused(b'<?xml version="1.0" encoding="ISO-8859-1"?><a>\xe9</a>', "UTF-8")


def test_processing_instruction_before_the_root_is_refused() -> None:
    """A processing instruction before the root (a stylesheet) is refused."""
    _refused(b'<?xml version="1.0"?><?xml-stylesheet href="http://x/y.xsl"?><a/>', "processing instruction")


def test_processing_instruction_inside_is_refused() -> None:
    """A processing instruction inside the document is refused."""
    _refused(b"<a><b><?php echo 1; ?></b></a>", "processing instruction")


def test_a_utf8_bom_and_comments_are_fine() -> None:
    """A UTF-8 byte order mark and comments, before and inside the root, are accepted."""
    root = parse_document(b"\xef\xbb\xbf<!-- hello --><a><!-- c --><b/></a>", max_bytes=MAX)
    assert root.tag == "a"


def test_parse_document_takes_bytes_only() -> None:
    """The parser takes bytes only: a str (already decoded, encoding unknown) is a TypeError."""
    with pytest.raises(TypeError):
        parse_document(MINIMAL_REQUEST.decode(), max_bytes=MAX)  # type: ignore[arg-type]


def test_a_huge_text_node_parses() -> None:
    """A 13.6 MB base64 image is one text node over libxml2's 10 MB default: huge_tree is needed."""
    big = b"A" * 13_700_000
    root = parse_document(b"<a>" + big + b"</a>", max_bytes=16 << 20)
    assert len(root.text or "") == len(big)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_raise_only_input_errors(data: bytes) -> None:
    """Whatever bytes arrive, parsing either succeeds or raises an InputError with a known response code;
    nothing else escapes."""
    error: HanotaError | None = None
    try:
        parse_document(data, max_bytes=200)
    except HanotaError as exc:
        error = exc
    assert error is None or (isinstance(error, InputError) and codes.is_known_response_code(error.code))


# ---------------------------------------------------------------------------------------------------
# Schema
# ---------------------------------------------------------------------------------------------------


def test_schema_invalid_is_refused() -> None:
    """A well-formed request the schema refuses (CommandVariant 10) is E100, naming the schema and the
    element."""
    root = parse_document(
        MINIMAL_REQUEST.replace(b">8</sr:CommandVariant>", b">10</sr:CommandVariant>"), max_bytes=MAX
    )
    with pytest.raises(InputError, match=r"duis-5\.4\.xsd.*CommandVariant") as info:
        validate_schema(root)
    assert info.value.code == codes.MALFORMED_REQUEST


def test_schema_error_messages_are_clipped() -> None:
    """A pattern error quotes the value; a 1.2 MB device list must not end up in a log line."""
    bad_ids = ",".join(["00-DB-12-34-56-78-90-A2"] * 40_000) + ",nope"
    document = MINIMAL_REQUEST.replace(
        b"<sr:ReadInventory><sr:DeviceID>00-DB-12-34-56-78-90-A2</sr:DeviceID></sr:ReadInventory>",
        b"<sr:UpdatePPMIDFirmware><sr:FirmwareImage>AAAA</sr:FirmwareImage><sr:FirmwareVersion>1</sr:FirmwareVersion>"
        b"<sr:DeviceIDList>" + bad_ids.encode() + b"</sr:DeviceIDList></sr:UpdatePPMIDFirmware>",
    ).replace(b">8.2<", b">11.4<")
    with pytest.raises(InputError) as info:
        validate_schema(parse_document(document, max_bytes=4 << 20))
    assert len(str(info.value)) < 400


def test_validation_ignores_the_signature_and_does_not_modify_the_tree() -> None:
    """A ds:Signature with a 38-digit serial: validated without it, on a copy."""
    signature = (
        b'<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo>'
        b'<ds:CanonicalizationMethod Algorithm="x"/><ds:SignatureMethod Algorithm="y"/></ds:SignedInfo>'
        b"<ds:SignatureValue>AA==</ds:SignatureValue><ds:KeyInfo><ds:X509Data><ds:X509IssuerSerial>"
        b"<ds:X509IssuerName>CN=Z1,OU=07</ds:X509IssuerName>"
        b"<ds:X509SerialNumber>167048897159233642262001557408276884033</ds:X509SerialNumber>"
        b"</ds:X509IssuerSerial></ds:X509Data></ds:KeyInfo></ds:Signature>"
    )
    root = parse_document(
        MINIMAL_REQUEST.replace(b"</sr:Request>", signature + b"</sr:Request>"), max_bytes=MAX
    )
    validate_schema(root)
    assert root[-1].tag == xmlparse.DS + "Signature"


def test_schema_loading_reads_only_bundled_files_and_no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Reload the schema with sockets forbidden and every resolver request recorded."""
    requested: list[str] = []
    original = xmlparse._BundledSchemaResolver.resolve

    def recording(self: Any, system_url: str, public_id: str, context: Any = None) -> Any:
        requested.append(system_url)
        return original(self, system_url, public_id, context)

    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("network access during schema loading")

    monkeypatch.setattr(xmlparse._BundledSchemaResolver, "resolve", recording)
    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    xmlparse._reset_schema_cache()
    try:
        schema = xmlparse.load_schema()
    finally:
        monkeypatch.undo()
    assert schema is xmlparse.load_schema()
    assert requested
    for url in requested:
        path = xmlparse.bundled_schema_path(url)
        assert path is not None and path.parent == xmlparse.SCHEMA_DIR, url


@pytest.mark.parametrize(
    "url",
    [
        "http://www.w3.org/2000/09/xmldsig-core-schema.xsd",
        "http://127.0.0.1/duis-5.4.xsd",
        "/etc/passwd",
        "/tmp/duis-5.4.xsd",
        "file:///etc/passwd",
        "",
        None,
    ],
)
def test_the_schema_resolver_refuses_anything_not_bundled(url: str | None) -> None:
    """The schema resolver resolves no URL, path or file URL outside the bundled schema files (never the
    network, never /etc)."""
    assert xmlparse.bundled_schema_path(url) is None


def test_the_schema_resolver_serves_bundled_files_and_the_dtds() -> None:
    """The resolver maps bundled schemas and the W3C DTDs to the bundled copies, all of which exist."""
    assert (
        xmlparse.bundled_schema_path(str(xmlparse.SCHEMA_DIR / "mmc-5.4.xsd"))
        == xmlparse.SCHEMA_DIR / "mmc-5.4.xsd"
    )
    assert (
        xmlparse.bundled_schema_path("http://www.w3.org/2001/XMLSchema.dtd")
        == xmlparse.SCHEMA_DIR / "XMLSchema.dtd"
    )
    assert xmlparse.bundled_schema_path("datatypes.dtd") == xmlparse.SCHEMA_DIR / "datatypes.dtd"
    for name in xmlparse.BUNDLED_SCHEMA_FILES:
        assert (xmlparse.SCHEMA_DIR / name).is_file()


# SHA-256 of the public files: dccboxed-signing-tool src/main/resources/ (4dc75e9), the DUIS file with its
# import of "MMC Schema V5.4.xsd" renamed to mmc-5.4.xsd (tests/data/README.md)
PUBLIC_SCHEMA_SHA256 = {
    "duis-5.4.xsd": "e7eaa0e0c29817c5938ab3ed4b7454335e8151fe566d2aee6309adaf9a19a7b3",
    "mmc-5.4.xsd": "f0a36008db32c4f33c4c7609e910d0e69be659f69c46a57a749a2d0f163bd38c",
    "xmldsig-core-schema.xsd": "5baf55ea1ef7cfb89ca33209d7a764c594d26feca814116dacc04bee51b868ce",
    "XMLSchema.dtd": "2032ead9fd47a61b22fe56aa02be1840bd9bb9015b0c0d3f1e8aac75dd91c3b9",
    "datatypes.dtd": "6946432ca7af2e9584f91b48564111fd2c73c8debbbcd9a0e3f5ddd382eeb51c",
}


def test_bundled_schema_is_the_public_one() -> None:
    """The bundled schema files are the public ones, unchanged (no local edit loosens or tightens DUIS)."""
    assert set(xmlparse.BUNDLED_SCHEMA_FILES) == set(PUBLIC_SCHEMA_SHA256)
    for name, digest in PUBLIC_SCHEMA_SHA256.items():
        assert hashlib.sha256((xmlparse.SCHEMA_DIR / name).read_bytes()).hexdigest() == digest, name


@pytest.mark.shared
def test_request_samples_are_schema_valid(requests_dir: Path) -> None:
    """Every public DCC Boxed request sample parses and validates against the bundled schema."""
    for sample in sorted(requests_dir.glob("*.XML")):
        validate_schema(parse_document(sample.read_bytes(), max_bytes=MAX))


@pytest.mark.shared
@pytest.mark.parametrize(
    ("name", "valid"),
    [
        ("read-inventory-response-5.4.xml", True),
        ("read-inventory-response-4g.xml", True),
        ("readfw-response.xml", True),
        ("acknowledgement-error.xml", True),
        ("readfw-response-invalid.xml", False),
    ],
)
def test_response_samples_against_the_schema(responses_dir: Path, name: str, valid: bool) -> None:
    """DCC Boxed's valid response samples validate; the invalid one is refused, naming its bad SRV."""
    root = parse_document((responses_dir / name).read_bytes(), max_bytes=MAX)
    if valid:
        validate_schema(root)
    else:
        with pytest.raises(InputError, match=re.escape("11.2.11.2")):
            validate_schema(root)
