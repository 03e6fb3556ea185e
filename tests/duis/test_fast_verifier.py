"""`Verifier` does the profile's cryptography itself (issue 15); signxml, the general XMLDSig library it used
before, is kept here as the reference it is checked against.

`SignxmlVerifier` is `Verifier` with its cryptography (`check_signature`) done by signxml as before: every
other check is the same code. For every document of the corpus (signed requests, the public DCC Boxed
samples, and tampered, re-spaced, commented and re-prefixed variants) and for random byte changes, the two
give the same verdict: the same signed octets, or a refusal with the same message.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from duis_testkit import NOW, SUPPLIER_EUI, Identity, TestPKI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree
from signxml.algorithms import CanonicalizationMethod, DigestAlgorithm, SignatureMethod
from signxml.exceptions import InvalidDigest, SignXMLException
from signxml.exceptions import InvalidSignature as SignxmlInvalidSignature
from signxml.verifier import SignatureConfiguration, XMLVerifier

from hanota.duis import codes, models
from hanota.duis.profile import signature_invalid
from hanota.duis.requests import Request
from hanota.duis.signing import Signer, StaticTrustStore, Verifier
from hanota.duis.trust import IssuedByCache
from hanota.duis.values import RequestID
from hanota.duis.verifying import Profiled
from hanota.duis.xmlparse import SR, document_parser, parse_document
from hanota.errors import HanotaError, SignatureError


class SignxmlVerifier(Verifier):
    """The reference: every check of `Verifier`, with its cryptography done by signxml as it was before."""

    def check_signature(
        self, root: etree._Element, profiled: Profiled, certificate: x509.Certificate, now: datetime
    ) -> tuple[etree._Element, bytes]:
        config = SignatureConfiguration(
            require_x509=True,
            location="./",
            expect_references=1,
            signature_methods=frozenset({SignatureMethod.ECDSA_SHA256}),
            digest_algorithms=frozenset({DigestAlgorithm.SHA256}),
            verification_time=now,
            default_reference_c14n_method=CanonicalizationMethod.CANONICAL_XML_1_0,
        )
        try:
            result = XMLVerifier().verify(
                copy.deepcopy(root), x509_cert=certificate, expect_config=config, parser=document_parser()
            )
        except InvalidDigest as exc:
            raise signature_invalid("digest mismatch: the signed content was altered after signing") from exc
        except SignxmlInvalidSignature as exc:
            raise signature_invalid("signature value does not verify with the certificate's key") from exc
        except (SignXMLException, etree.LxmlError, ValueError) as exc:
            raise signature_invalid(f"signature rejected: {str(exc)[:300]}") from exc
        assert not isinstance(result, list) and result.signed_xml is not None
        return result.signed_xml, result.signed_data


def verdict(verifier: Verifier, data: bytes, now: datetime) -> bytes | str:
    """The octets the verifier returns for `data`, or the message of its refusal."""
    try:
        return verifier.verify(data, now=now).signed_data
    except HanotaError as exc:
        return exc.message


def agree(verifier: Verifier, reference: Verifier, data: bytes, now: datetime) -> bool:
    """Both verdicts, asserted equal (the same octets, or the same refusal); whether the document passed."""
    ours, theirs = verdict(verifier, data, now), verdict(reference, data, now)
    assert ours == theirs, "the verifier and the signxml reference disagree"
    return isinstance(ours, bytes)


def _pair(trust: StaticTrustStore, **kw: Any) -> tuple[Verifier, Verifier]:
    return Verifier(trust, **kw), SignxmlVerifier(trust, **kw)


@pytest.fixture(scope="module")
def identity(test_pki: TestPKI) -> Identity:
    return test_pki.leaf(test_pki.ca())


@pytest.fixture(scope="module")
def verifiers(identity: Identity) -> tuple[Verifier, Verifier]:
    return _pair(StaticTrustStore(pinned=[identity.certificate]))


def _request(body: models.RequestBody, srv: str, counter: int = 1) -> bytes:
    rid = RequestID(SUPPLIER_EUI, codes.DCC_EUI, counter)
    return models.render_request(Request("5.4", rid, 8, codes.service_reference_of(srv), srv, body))


def _signed_corpus(identity: Identity) -> Iterator[tuple[str, bytes]]:
    signer = identity.signer()
    read = signer.sign(_request(models.ReadInventory(uprn=5), "8.2"))
    yield "8.2 read inventory", read
    assert read.startswith(b"<?xml ")
    yield "8.2 without its XML declaration", read.split(b"?>", 1)[1].lstrip()
    # an enveloped signature whose tail text stays in the signed document: sign a document that ends with
    # whitespace after its last child, so the signature's tail is that whitespace
    spaced = signer.sign(read.split(b"<ds:Signature")[0] + b"</sr:Request>")
    yield "8.2 re-signed", spaced
    root = parse_document(read, max_bytes=1 << 20)
    sig = root[-1]
    sig.tail = "\n  "
    yield "signature with a whitespace tail added after signing", etree.tostring(root)
    yield (
        "a comment in the body (comments are not signed)",
        read.replace(b"<sr:Body>", b"<sr:Body><!-- not signed -->", 1),
    )
    yield "a comment in SignedInfo", read.replace(b"<ds:SignedInfo>", b"<ds:SignedInfo><!-- x -->", 1)
    yield "the body changed", read.replace(b"<sr:UPRN>5<", b"<sr:UPRN>6<", 1)
    sv = re.search(rb"<ds:SignatureValue>([^<]+)<", read)
    assert sv is not None
    flipped = sv.group(1)[:10] + (b"A" if sv.group(1)[10:11] != b"A" else b"B") + sv.group(1)[11:]
    yield "the signature value changed", read.replace(sv.group(1), flipped, 1)
    dv = re.search(rb"<ds:DigestValue>([^<]+)<", read)
    assert dv is not None
    yield "the digest value changed", read.replace(dv.group(1), dv.group(1)[::-1], 1)
    yield "a namespace re-prefixed", read.replace(b"sr:", b"x:").replace(b"xmlns:sr=", b"xmlns:x=")
    yield (
        "an unused namespace added to the root",
        read.replace(b"<sr:Request ", b'<sr:Request xmlns:u="urn:unused" ', 1),
    )
    yield "an attribute added to the body", read.replace(b"<sr:Body>", b'<sr:Body a="1">', 1)
    yield "8.2 counter 2", signer.sign(_request(models.ReadInventory(uprn=77), "8.2", counter=2))


def test_the_verifier_and_signxml_agree_on_the_whole_corpus(
    identity: Identity, verifiers: tuple[Verifier, Verifier]
) -> None:
    """Every document of the corpus: the same verdict, and the same signed octets when accepted."""
    passed = {name: agree(*verifiers, data, NOW) for name, data in _signed_corpus(identity)}
    assert passed == {
        "8.2 read inventory": True,
        "8.2 without its XML declaration": True,
        "8.2 re-signed": True,
        "signature with a whitespace tail added after signing": False,  # the tail is signed content
        "a comment in the body (comments are not signed)": True,
        "a comment in SignedInfo": True,
        "the body changed": False,
        "the signature value changed": False,
        "the digest value changed": False,
        "a namespace re-prefixed": False,
        "an unused namespace added to the root": False,
        "an attribute added to the body": False,
        "8.2 counter 2": True,
    }


def test_the_tree_given_is_left_as_it_was(identity: Identity, verifiers: tuple[Verifier, Verifier]) -> None:
    """Verifying a parsed root takes the signature out to digest the document and puts it back, tail and
    all: the caller's tree serialises to the same octets afterwards, also when verification fails."""
    verifier = verifiers[0]
    root = parse_document(
        identity.signer().sign(_request(models.ReadInventory(uprn=5), "8.2")), max_bytes=1 << 20
    )
    before = etree.tostring(root)
    verifier.verify(root, now=NOW)
    assert etree.tostring(root) == before
    root[-1].tail = "\n"  # the signature's tail is signed content: now the digest differs
    root[-2].tail = " "
    changed = etree.tostring(root)
    with pytest.raises(SignatureError, match="digest mismatch"):
        verifier.verify(root, now=NOW)
    assert etree.tostring(root) == changed


def test_dcc_boxeds_signed_answers_get_the_same_verdicts(responses_dir: Path, pki_dir: Path) -> None:
    """The public DCC Boxed answers (wrapped base64, ds declared on ds:Signature, whitespace tails, and the
    bad-signature, unsigned and unknown-serial ones): the same verdict from both, each also with its header
    changed; the genuine ones pass."""
    verifiers = _pair(StaticTrustStore.from_directory(pki_dir), accepted_roles=[codes.ROLE_DSP_XML_SIGNING])
    passed = {}
    for path in sorted(responses_dir.iterdir()):
        data = path.read_bytes()
        try:
            root = parse_document(data, max_bytes=1 << 22)
        except HanotaError:
            continue  # the hostile sample (a DOCTYPE) never reaches a verifier
        stamp = root.findtext(f".//{SR}ResponseDateTime")
        assert stamp is not None, path.name
        now = datetime.fromisoformat(stamp)  # when DCC Boxed signed it
        passed[path.name] = agree(*verifiers, data, now)
        tampered = data.replace(b"<sr:RequestID>", b"<sr:RequestID>0", 1)
        assert tampered != data
        assert not agree(*verifiers, tampered, now), path.name
    assert passed == {
        "acknowledgement-error.xml": False,
        "read-inventory-response-4g.xml": True,
        "read-inventory-response-5.4.xml": True,
        "readfw-response-badsignature.xml": False,
        "readfw-response-invalid.xml": False,
        "readfw-response-no-signature.xml": False,
        "readfw-response-nonexist-serial.xml": False,
        "readfw-response.xml": False,  # intact, but signed by a certificate no public file holds
    }


def test_the_public_request_samples_signed_as_they_are_get_the_same_verdicts(
    requests_dir: Path, pki_trust: StaticTrustStore, supplier_signer: Signer
) -> None:
    """The public request samples (indented: whitespace text everywhere, the signature's tail included),
    signed with the DCC Boxed supplier's key: both accept them with the same octets; with a changed header
    both refuse them the same way."""
    verifiers = _pair(pki_trust)
    now = supplier_signer.certificate.not_valid_before_utc + timedelta(days=1)
    names = []
    for path in sorted(requests_dir.glob("*.XML")):
        signed = supplier_signer.sign(path.read_bytes())
        assert agree(*verifiers, signed, now), path.name
        tampered = signed.replace(b"<sr:RequestID>", b"<sr:RequestID>0", 1)
        assert not agree(*verifiers, tampered, now), path.name
        names.append(path.name)
    assert len(names) >= 5


_SIGNED: dict[str, bytes] = {}


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_random_byte_changes_get_the_same_verdict(
    identity: Identity, verifiers: tuple[Verifier, Verifier], data: st.DataObject
) -> None:
    """A signed request with one byte changed anywhere: whenever it still parses, both give the same verdict
    (almost always the same refusal)."""
    signed = _SIGNED.setdefault("read", identity.signer().sign(_request(models.ReadInventory(uprn=5), "8.2")))
    at = data.draw(st.integers(0, len(signed) - 1))
    byte = data.draw(st.integers(0x20, 0x7E))
    changed = signed[:at] + bytes([byte]) + signed[at + 1 :]
    try:
        parse_document(changed, max_bytes=1 << 20)
    except HanotaError:
        return
    agree(*verifiers, changed, NOW)


def test_an_issuers_verdict_is_cached_per_certificate_and_issuer_pair(test_pki: TestPKI) -> None:
    """A CA-issued leaf is checked against its CA once; another leaf is checked afresh; a leaf checked against
    a CA that did not sign it is refused and the refusal is not kept; a full cache starts again."""
    ca = test_pki.ca()
    leaf, other = test_pki.leaf(ca), test_pki.leaf(ca)
    cache = IssuedByCache(capacity=2)
    assert cache.verified(leaf.certificate, ca.certificate)
    assert len(cache._verified) == 1
    assert cache.verified(leaf.certificate, ca.certificate)
    assert len(cache._verified) == 1
    assert cache.verified(other.certificate, ca.certificate)
    assert len(cache._verified) == 2
    with pytest.raises(InvalidSignature):
        cache.verified(leaf.certificate, test_pki.ca().certificate)
    assert len(cache._verified) == 2
    assert cache.verified(test_pki.leaf(ca).certificate, ca.certificate)
    assert len(cache._verified) == 1
