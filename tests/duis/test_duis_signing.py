"""XMLDSig with the DUIS profile: sign, verify, refuse everything else with a specific message."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa, utils
from duis_testkit import DSP_EUI, NOW, SUPPLIER_EUI, TestPKI
from lxml import etree

from hanota.duis import codes, models, signing, xmlparse
from hanota.duis.requests import parse_request
from hanota.duis.responses import parse_response
from hanota.duis.signing import Signer, StaticTrustStore, Verifier
from hanota.duis.xmlparse import DS, MAX_REQUEST_BYTES, SR, parse_document
from hanota.errors import AccessError, ConfigError, InputError, SignatureError
from support import need

XMLSEC1 = shutil.which("xmlsec1")
needs_xmlsec1 = pytest.mark.usefixtures("require_xmlsec1")


@pytest.fixture
def require_xmlsec1() -> None:
    """The independent XML-signature oracle: skipped on a developer machine without it, required in CI."""
    need(XMLSEC1 is not None, "xmlsec1 not installed (apt-get install xmlsec1)")


SERVED_SAMPLES = [
    "11.4_UPDATE_PPMID_FIRMWARE_REQUEST_DUIS.XML",
    "11.1_UPDATE_FIRMWARE_REQUEST_DUIS.XML",
    "8.2_READ_INVENTORY_REQUEST_DUIS.XML",
    "8.4_UPDATE_INVENTORY_REQUEST_DUIS.XML",
    "12.2_DEVICE_PRE_NOTIFICATION_REQUEST_DUIS.XML",
]
ALL_SAMPLES = [
    *SERVED_SAMPLES,
    "CS06_11.3_IMMEDIATE_SUCCESS_REQUEST_DUIS.XML",
    "CS08_11.2_SUCCESS_REQUEST_DUIS.XML",
]


def _unsigned_request(counter: int = 7) -> bytes:
    request = models.Request(
        "5.4",
        models.RequestID(SUPPLIER_EUI, DSP_EUI, counter),
        8,
        "11.4",
        "11.4",
        models.UpdatePPMIDFirmware(
            b"\x1e\xf1\xee\x0b" + bytes(60), "0000000A", ("00-DB-12-34-56-78-90-A4",) * 3
        ),
    )
    return models.render_request(request)


def _refused(verifier: Verifier, data: bytes, match: str, **kwargs: Any) -> SignatureError:
    kwargs.setdefault("now", NOW)
    with pytest.raises(SignatureError, match=match) as info:
        verifier.verify(data, **kwargs)
    assert info.value.code == codes.SIGNATURE_INVALID
    return info.value


def _replace(data: bytes, old: bytes, new: bytes) -> bytes:
    assert data.count(old) == 1, old
    return data.replace(old, new)


def _resign(data: bytes, key: ec.EllipticCurvePrivateKey, *, exclusive_digest: bool = False) -> bytes:
    """Recompute the digest and the SignatureValue of a (possibly altered) signed document.

    Lets a test build an attacker's document whose signature value is valid over its own SignedInfo.
    """
    root = etree.fromstring(data, xmlparse.document_parser())
    signature = root.find(DS + "Signature")
    assert signature is not None
    root.remove(signature)
    digest = hashlib.sha256(etree.tostring(root, method="c14n", exclusive=exclusive_digest)).digest()
    root.append(signature)
    for digest_value in signature.iter(DS + "DigestValue"):
        digest_value.text = base64.b64encode(digest).decode()
    signed_info = signature.find(DS + "SignedInfo")
    assert signed_info is not None
    c14n = etree.tostring(signed_info, method="c14n", exclusive=True)
    r, s = utils.decode_dss_signature(key.sign(c14n, ec.ECDSA(hashes.SHA256())))
    value = signature.find(DS + "SignatureValue")
    assert value is not None
    value.text = base64.b64encode(r.to_bytes(32, "big") + s.to_bytes(32, "big")).decode()
    return b'<?xml version="1.0" encoding="UTF-8"?>' + etree.tostring(root)


# ---------------------------------------------------------------------------------------------------
# Sign then verify (DCC Boxed supplier identity)
# ---------------------------------------------------------------------------------------------------

pytestmark = pytest.mark.shared


@pytest.fixture(scope="module")
def signed(supplier_signer: Signer) -> bytes:
    return supplier_signer.sign(_unsigned_request())


def test_sign_then_verify(signed: bytes, request_verifier: Verifier) -> None:
    """A request signed by the supplier's DCC Boxed identity verifies as that signer with role 135 and its
    certificate; the verified tree has no signature, validates and parses to the unsigned request."""
    verified = request_verifier.verify(signed, now=NOW, expected_signer_eui=SUPPLIER_EUI)
    assert verified.signer_eui == SUPPLIER_EUI
    assert verified.role == codes.ROLE_XML_SIGNING == 135
    assert verified.certificate.serial_number == 27572613927499351639968579586655397031
    assert verified.root.find(DS + "Signature") is None
    xmlparse.validate_schema(verified.root)
    request = parse_request(verified.root)
    assert request == parse_request(parse_document(_unsigned_request(), max_bytes=MAX_REQUEST_BYTES))


def test_the_signature_has_the_duis_profile_shape(signed: bytes) -> None:
    """Compact bytes; the signature is the root's last child; KeyInfo names the certificate DCC Boxed style."""
    assert signed.startswith(b'<?xml version="1.0" encoding="UTF-8"?><sr:Request ')
    assert re.search(rb">\s+<", signed) is None
    root = parse_document(signed, max_bytes=MAX_REQUEST_BYTES)
    signature = root[-1]
    assert signature.tag == DS + "Signature"
    text = etree.tostring(signature).decode()
    for algorithm in (signing.EXC_C14N, signing.ECDSA_SHA256, signing.ENVELOPED, signing.SHA256):
        assert f'Algorithm="{algorithm}"' in text
    assert text.count("<ds:Reference ") == 1
    assert '<ds:Reference URI="">' in text
    assert "<ds:X509IssuerName>CN=Z1,OU=07</ds:X509IssuerName>" in text
    assert "<ds:X509SerialNumber>27572613927499351639968579586655397031</ds:X509SerialNumber>" in text
    assert "X509Certificate" not in text
    value = root.findtext(f"{DS}Signature/{DS}SignatureValue") or ""
    assert len(base64.b64decode(value)) == 64


def test_the_verified_root_is_only_what_was_signed(signed: bytes, request_verifier: Verifier) -> None:
    """A comment added after signing is not signed: the verified tree does not carry it, nor its effects."""
    tampered = _replace(signed, b"<sr:FirmwareVersion>0000000A", b"<sr:FirmwareVersion>0000<!-- hi -->000A")
    verified = request_verifier.verify(tampered, now=NOW)
    assert b"<!--" not in etree.tostring(verified.root)
    request = parse_request(verified.root)
    assert isinstance(request.body, models.UpdatePPMIDFirmware)
    assert request.body.firmware_version == "0000000A"


def test_verify_accepts_a_parsed_root(signed: bytes, request_verifier: Verifier) -> None:
    """Verification takes an already-parsed document root and leaves the caller's tree unchanged."""
    root = parse_document(signed, max_bytes=MAX_REQUEST_BYTES)
    before = etree.tostring(root)
    verified = request_verifier.verify(root, now=NOW)
    assert verified.signer_eui == SUPPLIER_EUI
    assert etree.tostring(root) == before  # the caller's tree is not modified


def test_verify_refuses_a_non_root_element(signed: bytes, request_verifier: Verifier) -> None:
    """Verifying an element that is not the document root is a programming error (ValueError), never a
    verification."""
    root = parse_document(signed, max_bytes=MAX_REQUEST_BYTES)
    with pytest.raises(ValueError, match="document root"):
        request_verifier.verify(root[0], now=NOW)


def test_verify_needs_an_aware_now(signed: bytes, request_verifier: Verifier) -> None:
    """Verification refuses a naive 'now' (certificate validity is checked in UTC)."""
    with pytest.raises(ValueError, match="timezone-aware"):
        request_verifier.verify(signed, now=datetime(2026, 1, 1))  # noqa: DTZ001 - the point of the test


@pytest.mark.parametrize("sample", ALL_SAMPLES)
def test_every_request_sample_signs_and_verifies(
    sample: str, requests_dir: Path, supplier_signer: Signer, request_verifier: Verifier
) -> None:
    """The templates carry placeholder signatures: the signer replaces them, pretty-printing is compacted."""
    signed = supplier_signer.sign((requests_dir / sample).read_bytes())
    assert len(re.findall(rb"<ds:Signature[ >]", signed)) == 1
    assert b"placeholders" not in signed
    verified = request_verifier.verify(signed, now=NOW, expected_signer_eui=SUPPLIER_EUI)
    xmlparse.validate_schema(verified.root)
    if sample in SERVED_SAMPLES:
        assert parse_request(verified.root).request_id.originator == verified.signer_eui
    else:
        with pytest.raises(AccessError):
            parse_request(verified.root)


def test_a_nested_signature_cannot_be_signed_over(supplier_signer: Signer, signed: bytes) -> None:
    """Signing refuses a document that already holds a ds:Signature anywhere but at the end (it would be
    signed over)."""
    nested = _replace(
        _unsigned_request(),
        b"</sr:Header>",
        b'<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"/></sr:Header>',
    )
    with pytest.raises(InputError, match="inside the document"):
        supplier_signer.sign(nested)


def test_resigning_replaces_the_signature(
    supplier_signer: Signer, signed: bytes, request_verifier: Verifier
) -> None:
    """Signing a signed document again replaces its signature: one ds:Signature, and it verifies."""
    again = supplier_signer.sign(signed)
    assert len(re.findall(rb"<ds:Signature[ >]", again)) == 1
    request_verifier.verify(again, now=NOW)


def test_signing_without_compacting_keeps_the_layout(
    pki_dir: Path, requests_dir: Path, request_verifier: Verifier
) -> None:
    """With compact=False (and a DER PKCS#8 key) the signed document keeps the sample's indentation and still
    verifies."""
    signer = Signer(
        signing.load_private_key(pki_dir / "xml-sign-90B3D51F30010000-ds.key"),  # DER PKCS#8
        signing.load_certificate(pki_dir / "xml-sign-90B3D51F30010000-ds.pem"),
        compact=False,
    )
    signed = signer.sign((requests_dir / "8.2_READ_INVENTORY_REQUEST_DUIS.XML").read_bytes())
    assert b"\n    <sr:CommandVariant>" in signed
    request_verifier.verify(signed, now=NOW)


# ---------------------------------------------------------------------------------------------------
# Real DCC Boxed responses
# ---------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def response_verifier(pki_trust: StaticTrustStore) -> Verifier:
    return Verifier(pki_trust, accepted_roles=[codes.ROLE_DSP_XML_SIGNING])


@pytest.mark.parametrize(
    ("name", "serial"),
    [
        (
            "read-inventory-response-5.4.xml",
            20315062944123339095836004026371736578,
        ),  # Z1-accessControlBroker-dSPXmlSign
        (
            "read-inventory-response-4g.xml",
            167048897159233642262001557408276884033,
        ),  # dsp-xml-sign-90B3D51F30000002
    ],
)
def test_real_dcc_boxed_responses_verify(
    name: str, serial: int, responses_dir: Path, response_verifier: Verifier
) -> None:
    """DCC Boxed's own signed responses verify at their ResponseDateTime, by the expected certificate serial,
    as the DSP EUI with role 137, and parse to an inventory."""
    data = (responses_dir / name).read_bytes()
    sent = parse_response(parse_document(data, max_bytes=MAX_REQUEST_BYTES)).response_datetime
    verified = response_verifier.verify(data, now=sent)
    assert verified.certificate.serial_number == serial
    assert (verified.signer_eui, verified.role) == (DSP_EUI, codes.ROLE_DSP_XML_SIGNING)
    xmlparse.validate_schema(verified.root)
    response = parse_response(verified.root)
    assert isinstance(response.body, models.ResponseMessage)
    assert isinstance(response.body.payload, models.DSPInventory)


def test_dsp_responses_are_not_accepted_where_requests_are(
    responses_dir: Path, request_verifier: Verifier
) -> None:
    """Role 137 (DSP XML signing) may sign responses, not requests."""
    data = (responses_dir / "read-inventory-response-4g.xml").read_bytes()
    _refused(request_verifier, data, r"role 0x89 \(137, DSP XML signing\) may not sign here")


def test_dcc_boxed_digests_use_inclusive_c14n(responses_dir: Path) -> None:
    """Only the enveloped transform is listed, so the XMLDSig default applies: inclusive C14N 1.0.

    Every real DCC Boxed response's DigestValue matches inclusive C14N 1.0 of the document without its
    signature, and none matches exclusive C14N (which drops the unused xmlns:ns3 / xmlns:ra of the root).
    """
    for name in ("read-inventory-response-5.4.xml", "read-inventory-response-4g.xml", "readfw-response.xml"):
        root = parse_document((responses_dir / name).read_bytes(), max_bytes=MAX_REQUEST_BYTES)
        signature = root[-1]
        expected = base64.b64decode(signature.findtext(f"{DS}SignedInfo/{DS}Reference/{DS}DigestValue") or "")
        root.remove(signature)
        assert hashlib.sha256(etree.tostring(root, method="c14n")).digest() == expected, name
        assert hashlib.sha256(etree.tostring(root, method="c14n", exclusive=True)).digest() != expected, name


def test_readfw_response_signer_is_not_in_the_shared_pki(
    responses_dir: Path, response_verifier: Verifier
) -> None:
    """readfw-response.xml is intact (digest above) but signed by serial 5066…504, which no file of pki/ or
    keystore.json holds, and whose key is none of theirs: it cannot be verified with the shared material."""
    data = (responses_dir / "readfw-response.xml").read_bytes()
    _refused(
        response_verifier, data, "no trusted certificate with serial 50669612984035780968362471400449834504"
    )


@pytest.mark.parametrize(
    ("name", "match"),
    [
        ("readfw-response-badsignature.xml", "no trusted certificate"),
        ("readfw-response-invalid.xml", "no trusted certificate"),
        ("readfw-response-no-signature.xml", "has no ds:Signature"),
        (
            "readfw-response-nonexist-serial.xml",
            "no trusted certificate with serial 217636141832862931915946451229571981153",
        ),
    ],
)
def test_broken_dcc_boxed_variants_are_refused(
    name: str, match: str, responses_dir: Path, response_verifier: Verifier
) -> None:
    """DCC Boxed's broken response variants (bad signature, invalid, unsigned, unknown serial) are refused E40
    with the reason."""
    _refused(
        response_verifier, (responses_dir / name).read_bytes(), match, now=datetime(2022, 8, 17, tzinfo=UTC)
    )


def _keystore_certificate(pki_dir: Path, name: str) -> x509.Certificate:
    store = json.loads((pki_dir / "keystore.json").read_text())
    for usages in store.values():
        for entries in usages.values():
            for entry in entries.values():
                if entry["name"] == name:
                    return x509.load_pem_x509_certificate(entry["certificate"].encode())
    raise LookupError(name)


def test_the_invalid_variant_fails_on_its_digest_when_its_signer_is_trusted(
    pki_dir: Path, responses_dir: Path
) -> None:
    """readfw-response-invalid.xml was altered after signing (ServiceReference 11.2.11.2). Its signer
    (Z1-accessControlBroker-ds, role 04, expired 2025-10-29) is in keystore.json only; trusting it on purpose
    shows the verifier catches the alteration."""
    certificate = _keystore_certificate(pki_dir, "Z1-accessControlBroker-ds")
    verifier = Verifier(StaticTrustStore(pinned=[certificate]), accepted_roles=[0x04])
    data = (responses_dir / "readfw-response-invalid.xml").read_bytes()
    _refused(verifier, data, "digest mismatch", now=datetime(2022, 6, 23, 14, tzinfo=UTC))
    _refused(verifier, data, "is not valid at 2026", now=NOW)


def test_a_bad_signature_value_on_a_real_response(responses_dir: Path, response_verifier: Verifier) -> None:
    """One changed character in a real response's SignatureValue: the signature value does not verify (E40)."""
    data = (responses_dir / "read-inventory-response-4g.xml").read_bytes()
    tampered = _replace(data, b"CQK25Ezl", b"CQK25Ezm")
    _refused(
        response_verifier, tampered, "signature value does not verify", now=datetime(2025, 7, 15, tzinfo=UTC)
    )


# ---------------------------------------------------------------------------------------------------
# Wrapping attacks and tampering
# ---------------------------------------------------------------------------------------------------


def _signature_of(signed: bytes) -> bytes:
    match = re.search(rb"<ds:Signature.*</ds:Signature>", signed)
    assert match is not None
    return match.group(0)


def test_signature_moved_inside_the_body_is_refused(signed: bytes, request_verifier: Verifier) -> None:
    """A signature moved from the end of the root into the body is refused: it must be the root's last child."""
    signature = _signature_of(signed)
    moved = _replace(
        signed.replace(signature, b""), b"</sr:UpdatePPMIDFirmware>", signature + b"</sr:UpdatePPMIDFirmware>"
    )
    _refused(request_verifier, moved, "must be the last child of the root")


def test_a_second_signature_is_refused(signed: bytes, request_verifier: Verifier) -> None:
    """A document carrying a second copy of its signature (in the header, or appended) is refused for having 2
    ds:Signature elements."""
    signature = _signature_of(signed)
    doubled = _replace(signed, b"</sr:Header>", b"</sr:Header>" + signature)
    _refused(request_verifier, doubled, "2 ds:Signature elements")
    appended = _replace(signed, b"</sr:Request>", signature + b"</sr:Request>")
    _refused(request_verifier, appended, "2 ds:Signature elements")


def test_the_signed_document_wrapped_in_an_evil_one_is_refused(
    signed: bytes, request_verifier: Verifier
) -> None:
    """A signed request wrapped inside another sr:Request (signature wrapping) is refused: the signature is
    not the root's last child."""
    inner = signed.split(b"?>", 1)[1]
    evil = (
        b'<?xml version="1.0" encoding="UTF-8"?>'
        b'<sr:Request xmlns:sr="http://www.dccinterface.co.uk/ServiceUserGateway" schemaVersion="5.4">'
        + inner
        + b"</sr:Request>"
    )
    _refused(request_verifier, evil, "last child of the root")


def test_an_evil_copy_of_the_body_is_refused(signed: bytes, request_verifier: Verifier) -> None:
    """Duplicate the signed body with an evil device list in front of it: the digest covers the whole document."""
    body = re.search(rb"<sr:Body>.*</sr:Body>", signed)
    assert body is not None
    evil = body.group(0).replace(b"00-DB-12-34-56-78-90-A4", b"66-66-66-66-66-66-66-66")
    _refused(request_verifier, _replace(signed, b"<sr:Body>", evil + b"<sr:Body>"), "digest mismatch")


def test_a_reference_to_an_id_is_refused(
    signed: bytes, supplier_signer: Signer, request_verifier: Verifier
) -> None:
    """The classic wrapping set-up: sign an element by Id and hide it. Even validly signed, it is not the profile."""
    evil = _replace(signed, b'<ds:Reference URI="">', b'<ds:Reference URI="#body">')
    evil = _replace(evil, b"<sr:Body>", b'<sr:Body Id="body">')
    _refused(request_verifier, _resign(evil, supplier_signer._key), 'URI=""')


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (b"00-DB-12-34-56-78-90-A4,", b"00-DB-12-34-56-78-90-A5,"),
        (b"<sr:CommandVariant>8<", b"<sr:CommandVariant>1<"),
        (b":7</sr:RequestID>", b":8</sr:RequestID>"),
        (b'schemaVersion="5.4"', b'schemaVersion="5.3"'),
        (b"<sr:Header>", b"<sr:Header> "),
    ],
)
def test_tampering_after_signing_is_refused(
    signed: bytes, request_verifier: Verifier, old: bytes, new: bytes
) -> None:
    """Any change to the signed content after signing (a device ID, the command variant, the counter, the
    schema version, one whitespace) is a digest mismatch (E40)."""
    tampered = signed.replace(old, new, 1)
    assert tampered != signed
    _refused(request_verifier, tampered, "digest mismatch")


def test_a_changed_signature_value_is_refused(signed: bytes, request_verifier: Verifier) -> None:
    """One flipped bit in the ECDSA signature value: the signature does not verify (E40)."""
    value = re.search(rb"<ds:SignatureValue>([^<]+)<", signed)
    assert value is not None
    raw = bytearray(base64.b64decode(value.group(1)))
    raw[5] ^= 1
    tampered = signed.replace(value.group(1), base64.b64encode(bytes(raw)))
    _refused(request_verifier, tampered, "signature value does not verify")


def test_keyinfo_pointing_at_another_trusted_certificate_is_refused(
    signed: bytes, request_verifier: Verifier
) -> None:
    """KeyInfo is not signed: swap in the serial of another pinned 135 certificate (network operator)."""
    tampered = _replace(
        signed, b">27572613927499351639968579586655397031<", b">40938316298935008147424226388667426413<"
    )
    _refused(request_verifier, tampered, "signature value does not verify")
    _refused(
        request_verifier,
        tampered,
        "signed by 90-B3-D5-1F-30-02-00-00, not by the originator",
        expected_signer_eui=SUPPLIER_EUI,
    )


# ---------------------------------------------------------------------------------------------------
# Only the profile's algorithms and shape
# ---------------------------------------------------------------------------------------------------

ALGORITHM_CASES = [
    (
        b'<ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>',
        b'<ds:CanonicalizationMethod Algorithm="http://www.w3.org/TR/2001/REC-xml-c14n-20010315"/>',
        "CanonicalizationMethod must be",
    ),
    (
        b'<ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>',
        b'<ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#">'
        b'<ec:InclusiveNamespaces xmlns:ec="http://www.w3.org/2001/10/xml-exc-c14n#" PrefixList="sr"/>'
        b"</ds:CanonicalizationMethod>",
        "CanonicalizationMethod must have no parameters",
    ),
    (
        b"xmldsig-more#ecdsa-sha256",
        b"xmldsig-more#rsa-sha256",
        "SignatureMethod must be",
    ),
    (
        b"xmldsig-more#ecdsa-sha256",
        b"xmldsig-more#ecdsa-sha384",
        "SignatureMethod must be",
    ),
    (
        b'<ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/>',
        b'<ds:DigestMethod Algorithm="http://www.w3.org/2000/09/xmldsig#sha1"/>',
        "DigestMethod must be",
    ),
    (
        b'<ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/>',
        b'<ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/>'
        b'<ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>',
        "ds:Transforms must contain exactly ds:Transform",
    ),
    (
        b'<ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/>',
        b'<ds:Transform Algorithm="http://www.w3.org/TR/1999/REC-xpath-19991116"/>',
        "the only Transform must be",
    ),
    (b'<ds:Reference URI="">', b'<ds:Reference URI="" Type="x">', 'URI="" and no other attribute'),
    (b'<ds:Reference URI="">', b"<ds:Reference>", 'URI=""'),
]


@pytest.mark.parametrize(("old", "new", "match"), ALGORITHM_CASES)
def test_other_algorithms_are_refused_even_if_validly_signed(
    signed: bytes, supplier_signer: Signer, request_verifier: Verifier, old: bytes, new: bytes, match: str
) -> None:
    """A signature validly made with another canonicalisation, transform, digest or signature algorithm than
    the DUIS profile's is refused, naming what must be used."""
    evil = _resign(_replace(signed, old, new), supplier_signer._key)
    _refused(request_verifier, evil, match)


def test_two_references_are_refused(
    signed: bytes, supplier_signer: Signer, request_verifier: Verifier
) -> None:
    """A validly signed SignedInfo with two References is refused: exactly one is allowed."""
    reference = re.search(rb"<ds:Reference .*</ds:Reference>", signed)
    assert reference is not None
    evil = _resign(_replace(signed, reference.group(0), reference.group(0) * 2), supplier_signer._key)
    _refused(request_verifier, evil, "ds:SignedInfo must contain exactly")


@pytest.mark.parametrize(
    ("old", "new", "match"),
    [
        (
            b"<ds:X509IssuerSerial>",
            b"<ds:X509Certificate>AAAA</ds:X509Certificate><ds:X509IssuerSerial>",
            "ds:X509Data must contain",
        ),
        (b"<ds:X509Data>", b"<ds:KeyValue/><ds:X509Data>", "ds:KeyInfo must contain"),
        (b"</ds:KeyInfo>", b"</ds:KeyInfo><ds:Object/>", "ds:Signature must contain"),
        (b"<ds:X509SerialNumber>", b"<ds:X509SerialNumber>0x", "not a decimal serial"),
        (b"<ds:X509IssuerName>CN=Z1,OU=07<", b"<ds:X509IssuerName><", "X509IssuerName is empty"),
        (b"<ds:SignatureValue>", b"<ds:SignatureValue>AAAA", "64 octets"),
        (b"<ds:DigestValue>", b"<ds:DigestValue>!", "not base64"),
        (b"<ds:SignedInfo>", b"<ds:SignedInfo>text", "unexpected text"),
    ],
)
def test_other_signature_shapes_are_refused(
    signed: bytes, request_verifier: Verifier, old: bytes, new: bytes, match: str
) -> None:
    """A signature whose structure departs from the DUIS profile (extra X509Data or KeyInfo content, a
    ds:Object, a hex serial, an empty issuer, a wrong-size value, non-base64 digest, stray text) is refused
    with the reason."""
    _refused(request_verifier, _replace(signed, old, new), match)


def test_a_signature_without_keyinfo_is_refused(signed: bytes, request_verifier: Verifier) -> None:
    """A signature without KeyInfo is refused (the certificate is found by issuer and serial only)."""
    key_info = re.search(rb"<ds:KeyInfo>.*</ds:KeyInfo>", signed)
    assert key_info is not None
    _refused(request_verifier, signed.replace(key_info.group(0), b""), "ds:Signature must contain exactly")


@pytest.fixture(scope="module")
def signed_sample(supplier_signer: Signer, requests_dir: Path) -> bytes:
    """A signed template: its root declares xmlns:ds and xmlns:xsi, which the body does not use."""
    return supplier_signer.sign((requests_dir / SERVED_SAMPLES[0]).read_bytes())


def test_an_exclusive_c14n_reference_digest_is_refused(
    signed_sample: bytes, supplier_signer: Signer, request_verifier: Verifier
) -> None:
    """A peer that digests with exclusive C14N while listing only the enveloped transform is not interoperable
    (the two agree only when the root declares no namespace the document does not use)."""
    exclusive = _resign(signed_sample, supplier_signer._key, exclusive_digest=True)
    _refused(request_verifier, exclusive, "digest mismatch")
    request_verifier.verify(_resign(signed_sample, supplier_signer._key), now=NOW)


# ---------------------------------------------------------------------------------------------------
# Certificates: lookup, validity, trust, role, EUI
# ---------------------------------------------------------------------------------------------------


def test_unknown_serial_is_refused(signed: bytes) -> None:
    """A signature by a certificate the trust store does not hold is refused, naming its serial."""
    _refused(
        Verifier(StaticTrustStore()),
        signed,
        "no trusted certificate with serial 27572613927499351639968579586655397031",
    )


def test_a_different_issuer_name_does_not_find_the_certificate(
    signed: bytes, request_verifier: Verifier
) -> None:
    """A serial under another issuer name does not find the certificate: refused, naming the issuer given."""
    _refused(
        request_verifier, _replace(signed, b">CN=Z1,OU=07<", b">CN=Z2,OU=07<"), "issued by 'CN=Z2,OU=07'"
    )


def test_issuer_names_match_whatever_the_spacing_or_order(signed: bytes, request_verifier: Verifier) -> None:
    """DUIS templates write 'CN=U1, OU=07'; xmlsec1 and DCC Boxed 'CN=Z1,OU=07'."""
    for issuer in (b">CN=Z1, OU=07<", b">OU=07,CN=Z1<", b"> cn=Z1 ,  ou=07 <"):
        request_verifier.verify(_replace(signed, b">CN=Z1,OU=07<", issuer), now=NOW)


def test_wrong_signer_eui_is_refused(signed: bytes, request_verifier: Verifier) -> None:
    """A request signed by another User than its RequestID's originator is refused, naming both; the
    originator is compared case-insensitively."""
    _refused(
        request_verifier,
        signed,
        "signed by 90-B3-D5-1F-30-01-00-00, not by the originator 90-B3-D5-1F-30-03-00-00",
        expected_signer_eui="90-B3-D5-1F-30-03-00-00",
    )
    request_verifier.verify(signed, now=NOW, expected_signer_eui=SUPPLIER_EUI.lower())


def test_an_organisation_certificate_may_not_sign_xml(pki_dir: Path, request_verifier: Verifier) -> None:
    """Z1-supplier-ds is the supplier's organisation certificate (role 02), not its XML-signing one."""
    signer = Signer(
        signing.load_private_key(pki_dir / "Z1-supplier-ds.key.pem"),
        signing.load_certificate(pki_dir / "Z1-supplier-ds.pem"),
    )
    signed = signer.sign(_unsigned_request())
    _refused(
        request_verifier,
        signed,
        r"role 0x02 \(2, Supplier\) may not sign here",
        now=datetime(2025, 1, 1, tzinfo=UTC),
    )
    _refused(request_verifier, signed, "is not valid at 2026-01-01")  # and it expired on 2025-10-29


def test_expired_and_not_yet_valid_certificates_are_refused(test_pki: TestPKI) -> None:
    """A certificate expired or not yet valid at 'now' is refused with the time; verified at a time inside its
    validity, it is accepted."""
    ca = test_pki.ca()
    expired = test_pki.leaf(ca, not_before=NOW - timedelta(days=30), not_after=NOW - timedelta(seconds=1))
    future = test_pki.leaf(ca, not_before=NOW + timedelta(seconds=1), not_after=NOW + timedelta(days=30))
    trust = StaticTrustStore(issued=[expired.certificate, future.certificate], issuers=[ca.certificate])
    verifier = Verifier(trust)
    _refused(verifier, expired.signer().sign(_unsigned_request()), "is not valid at 2026-01-01T00:00:00")
    _refused(verifier, future.signer().sign(_unsigned_request()), "is not valid at 2026-01-01T00:00:00")
    verifier.verify(expired.signer().sign(_unsigned_request()), now=NOW - timedelta(days=1))


def test_a_certificate_issued_by_a_trusted_ca_verifies(test_pki: TestPKI) -> None:
    """A leaf issued by a trusted CA (not pinned itself) verifies, as that certificate."""
    ca = test_pki.ca()
    leaf = test_pki.leaf(ca)
    trust = StaticTrustStore(issued=[leaf.certificate], issuers=[ca.certificate])
    verified = Verifier(trust).verify(
        leaf.signer().sign(_unsigned_request()), now=NOW, expected_signer_eui=SUPPLIER_EUI
    )
    assert verified.certificate == leaf.certificate


def test_a_certificate_from_an_impostor_ca_of_the_same_name_is_refused(test_pki: TestPKI) -> None:
    """Same issuer name 'CN=Z1,OU=07', different key: the CA signature check catches it."""
    trusted = test_pki.ca("Z1")
    impostor = test_pki.ca("Z1")
    leaf = test_pki.leaf(impostor)
    trust = StaticTrustStore(issued=[leaf.certificate], issuers=[trusted.certificate])
    _refused(
        Verifier(trust),
        leaf.signer().sign(_unsigned_request()),
        "neither pinned nor issued by a trusted issuer",
    )
    _refused(
        Verifier(StaticTrustStore(issued=[leaf.certificate])),
        leaf.signer().sign(_unsigned_request()),
        "neither pinned",
    )


def test_an_expired_ca_is_refused(test_pki: TestPKI) -> None:
    """A leaf whose issuing CA has expired is refused, naming the issuer."""
    ca = test_pki.ca(not_before=NOW - timedelta(days=400), not_after=NOW - timedelta(days=1))
    leaf = test_pki.leaf(ca)
    trust = StaticTrustStore(issued=[leaf.certificate], issuers=[ca.certificate])
    _refused(Verifier(trust), leaf.signer().sign(_unsigned_request()), "issuer CN=Z1,OU=07 is not valid")


def test_a_key_agreement_certificate_is_refused(test_pki: TestPKI) -> None:
    """A certificate whose key usage does not allow digital signatures (key agreement) is refused even when
    pinned."""
    ca = test_pki.ca()
    leaf = test_pki.leaf(ca, digital_signature=False)
    trust = StaticTrustStore(pinned=[leaf.certificate])
    _refused(
        Verifier(trust),
        leaf.signer().sign(_unsigned_request()),
        "key usage does not allow digital signatures",
    )


def test_accepted_roles_are_a_parameter(test_pki: TestPKI) -> None:
    """A verifier accepts only its roles: a DSP (role 137) signature is refused by a request verifier (135)
    and accepted by one for 137; no roles at all is a configuration error."""
    ca = test_pki.ca()
    dsp = test_pki.leaf(ca, eui=DSP_EUI, role="89")
    trust = StaticTrustStore(pinned=[dsp.certificate])
    data = dsp.signer().sign(_unsigned_request())
    _refused(Verifier(trust), data, r"role 0x89 \(137, DSP XML signing\) may not sign here \(accepted: 0x87")
    assert Verifier(trust, accepted_roles=[codes.ROLE_DSP_XML_SIGNING]).verify(data, now=NOW).role == 137
    with pytest.raises(ConfigError):
        Verifier(trust, accepted_roles=[])


def test_certificate_eui_and_role(pki_dir: Path) -> None:
    """A DUIS certificate's EUI and role are read from its subject (a supplier's 0x87, the DSP's 0x89)."""
    other = signing.load_certificate(pki_dir / "xml-sign-00DB123456780004-ds.pem")
    assert signing.certificate_eui(other) == "00-DB-12-34-56-78-00-04"
    assert signing.certificate_role(other) == 0x87
    dsp = signing.load_certificate(pki_dir / "Z1-accessControlBroker-dSPXmlSign.pem")
    assert (signing.certificate_eui(dsp), signing.certificate_role(dsp)) == (DSP_EUI, 0x89)


def test_pki_folder_holds_no_ca_so_leaves_are_pinned(pki_dir: Path, pki_trust: StaticTrustStore) -> None:
    """DCC Boxed's PKI folder holds no CA, so its leaves are pinned and found by serial and issuer (spacing in
    the issuer name ignored); without pinning they are not pinned."""
    assert pki_trust.trusted_issuers() == []
    leaf = signing.load_certificate(pki_dir / "xml-sign-90B3D51F30010000-ds.pem")
    assert pki_trust.is_pinned(leaf)
    assert pki_trust.certificate_by_serial(leaf.serial_number, "CN=Z1,OU=07") == leaf
    unpinned = StaticTrustStore.from_directory(pki_dir, pin_leaves=False)
    assert not unpinned.is_pinned(leaf)
    assert unpinned.certificate_by_serial(leaf.serial_number, "CN=Z1, OU=07") == leaf


def test_normalise_dn() -> None:
    """Distinguished names compare by attribute, ignoring order, spacing and case of the attribute type;
    escaped commas stay in the value."""
    assert signing.normalise_dn("CN=Z1,OU=07") == signing.normalise_dn("ou=07 , CN=Z1")
    assert signing.normalise_dn("CN=Z1,OU=07") != signing.normalise_dn("CN=Z1,OU=08")
    assert signing.normalise_dn(r"CN=a\,b,OU=07") == (("CN", r"a\,b"), ("OU", "07"))


# ---------------------------------------------------------------------------------------------------
# Keys and certificates from files
# ---------------------------------------------------------------------------------------------------


def test_load_key_and_certificate_pem_and_der(pki_dir: Path, tmp_path: Path) -> None:
    """A private key and a certificate load from PEM and from DER alike."""
    pem_key = signing.load_private_key(pki_dir / "xml-sign-90B3D51F30010000-ds.key.pem")
    der_key = signing.load_private_key(pki_dir / "xml-sign-90B3D51F30010000-ds.key")
    assert pem_key.private_numbers() == der_key.private_numbers()
    certificate = signing.load_certificate(pki_dir / "xml-sign-90B3D51F30010000-ds.pem")
    der = tmp_path / "cert.der"
    der.write_bytes(certificate.public_bytes(serialization.Encoding.DER))
    assert signing.load_certificate(der) == certificate


def test_bad_key_material_is_a_config_error(pki_dir: Path, tmp_path: Path) -> None:
    """Junk PEM, an RSA key (not P-256) or a key that does not belong to the certificate is a configuration
    error, not a crash."""
    junk = tmp_path / "junk.pem"
    junk.write_bytes(b"-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n")
    with pytest.raises(ConfigError):
        signing.load_certificate(junk)
    with pytest.raises(ConfigError):
        signing.load_private_key(junk)
    rsa_key = tmp_path / "rsa.pem"
    rsa_key.write_bytes(
        rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    with pytest.raises(ConfigError, match="P-256"):
        signing.load_private_key(rsa_key)
    with pytest.raises(ConfigError, match="does not belong"):
        Signer(
            signing.load_private_key(pki_dir / "xml-sign-90B3D51F30020000-ds.key.pem"),
            signing.load_certificate(pki_dir / "xml-sign-90B3D51F30010000-ds.pem"),
        )


# ---------------------------------------------------------------------------------------------------
# Interoperability with xmlsec1
# ---------------------------------------------------------------------------------------------------


def _xmlsec1(*args: str | Path) -> subprocess.CompletedProcess[str]:
    assert XMLSEC1 is not None
    return subprocess.run([XMLSEC1, *map(str, args)], capture_output=True, text=True, timeout=60, check=False)


@needs_xmlsec1
@pytest.mark.parametrize("sample", ALL_SAMPLES)
def test_xmlsec1_verifies_what_hanota_signs(
    sample: str, requests_dir: Path, pki_dir: Path, supplier_signer: Signer, tmp_path: Path
) -> None:
    """xmlsec1, an independent implementation, verifies every sample as hanota signs it."""
    signed_file = tmp_path / "signed.xml"
    signed_file.write_bytes(supplier_signer.sign((requests_dir / sample).read_bytes()))
    result = _xmlsec1(
        "--verify", "--pubkey-cert-pem", pki_dir / "xml-sign-90B3D51F30010000-ds.pem", signed_file
    )
    assert result.returncode == 0, result.stderr
    assert "OK" in result.stdout + result.stderr


@needs_xmlsec1
def test_xmlsec1_refuses_a_tampered_document(
    requests_dir: Path, pki_dir: Path, supplier_signer: Signer, tmp_path: Path
) -> None:
    """xmlsec1 refuses a hanota-signed document changed after signing (so the check above can fail)."""
    signed = supplier_signer.sign((requests_dir / SERVED_SAMPLES[0]).read_bytes())
    signed_file = tmp_path / "signed.xml"
    signed_file.write_bytes(signed.replace(b"00-DB-12-34-56-78-90-A4", b"00-DB-12-34-56-78-90-A5"))
    result = _xmlsec1(
        "--verify", "--pubkey-cert-pem", pki_dir / "xml-sign-90B3D51F30010000-ds.pem", signed_file
    )
    assert result.returncode != 0


@needs_xmlsec1
def test_xmlsec1_agrees_on_the_reference_canonicalisation(
    signed_sample: bytes, supplier_signer: Signer, pki_dir: Path, tmp_path: Path
) -> None:
    """xmlsec1 digests an enveloped-only reference with inclusive C14N 1.0, as hanota does."""
    certificate = pki_dir / "xml-sign-90B3D51F30010000-ds.pem"
    exclusive = tmp_path / "exclusive.xml"
    exclusive.write_bytes(_resign(signed_sample, supplier_signer._key, exclusive_digest=True))
    assert _xmlsec1("--verify", "--pubkey-cert-pem", certificate, exclusive).returncode != 0
    inclusive = tmp_path / "inclusive.xml"
    inclusive.write_bytes(_resign(signed_sample, supplier_signer._key))
    assert _xmlsec1("--verify", "--pubkey-cert-pem", certificate, inclusive).returncode == 0


@needs_xmlsec1
@pytest.mark.parametrize(
    ("name", "certificate"),
    [
        ("read-inventory-response-5.4.xml", "Z1-accessControlBroker-dSPXmlSign.pem"),
        ("read-inventory-response-4g.xml", "dsp-xml-sign-90B3D51F30000002-ds.pem"),
    ],
)
def test_xmlsec1_verifies_the_dcc_boxed_responses(
    name: str, certificate: str, responses_dir: Path, pki_dir: Path
) -> None:
    """xmlsec1 verifies DCC Boxed's own signed responses with their certificates (the samples the tests rely
    on are genuine)."""
    result = _xmlsec1("--verify", "--pubkey-cert-pem", pki_dir / certificate, responses_dir / name)
    assert result.returncode == 0, result.stderr


TEMPLATE_SIGNATURE = (
    b'<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo>'
    b'<ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>'
    b'<ds:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"/>'
    b'<ds:Reference URI=""><ds:Transforms>'
    b'<ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/></ds:Transforms>'
    b'<ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/><ds:DigestValue/></ds:Reference>'
    b"</ds:SignedInfo><ds:SignatureValue/>"
    b"<ds:KeyInfo><ds:X509Data><ds:X509IssuerSerial/></ds:X509Data></ds:KeyInfo></ds:Signature>"
)


@needs_xmlsec1
def test_hanota_verifies_what_xmlsec1_signs(
    pki_dir: Path, request_verifier: Verifier, tmp_path: Path
) -> None:
    """xmlsec1 --sign fills DigestValue, SignatureValue and X509IssuerSerial (with its own line breaks)."""
    template = tmp_path / "template.xml"
    template.write_bytes(
        _replace(_unsigned_request(), b"</sr:Request>", TEMPLATE_SIGNATURE + b"</sr:Request>")
    )
    output = tmp_path / "signed.xml"
    key = pki_dir / "xml-sign-90B3D51F30010000-ds.key.pem"
    cert = pki_dir / "xml-sign-90B3D51F30010000-ds.pem"
    result = _xmlsec1("--sign", "--privkey-pem", f"{key},{cert}", "--output", output, template)
    assert result.returncode == 0, result.stderr
    data = output.read_bytes()
    assert b"<ds:X509IssuerName>CN=Z1,OU=07</ds:X509IssuerName>" in data
    verified = request_verifier.verify(data, now=NOW, expected_signer_eui=SUPPLIER_EUI)
    request = parse_request(verified.root)
    assert request.request_id.counter == 7
    # ... and what it signed is exactly what hanota would have signed.
    assert request == parse_request(parse_document(_unsigned_request(), max_bytes=MAX_REQUEST_BYTES))


def test_signed_data_is_the_inclusive_canonical_document(signed: bytes, request_verifier: Verifier) -> None:
    """What a verification returns as signed data is exactly what the DigestValue digests, and its root is the
    sr:Request."""
    verified = request_verifier.verify(signed, now=NOW)
    digest = parse_document(signed, max_bytes=MAX_REQUEST_BYTES).findtext(
        f"{DS}Signature/{DS}SignedInfo/{DS}Reference/{DS}DigestValue"
    )
    assert base64.b64encode(hashlib.sha256(verified.signed_data).digest()).decode() == digest
    assert binascii.a2b_base64(digest or "") == hashlib.sha256(verified.signed_data).digest()
    assert verified.root.tag == SR + "Request"
