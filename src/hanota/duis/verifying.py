"""Verifying DUIS-profile signatures (`Verifier`), returning only what the signature covers (`Verified`).

Verification checks, each failing with its own `SignatureError` message (code SIGNATURE_INVALID):
exactly one signature, last child of the root; exactly the profile's algorithms, one reference,
``URI=""``, only the enveloped transform; ``X509IssuerSerial`` present; the certificate found in the trust
store by serial and issuer; valid at ``now``; trusted (a pinned leaf, or issued by a trusted CA whose ECDSA
signature on it verifies); an ECDSA P-256 key allowed to sign; a role in ``accepted_roles``; the signer EUI
the expected one; then the signature value over the exclusive-C14N SignedInfo, and the digest of the
document without its signature (inclusive C14N 1.0, `profile`). The result carries only what the signature
covers: the canonical octets that were digested, re-parsed with the hardened parser, never the tree that was
received (no signature wrapping).

The cryptography is done here, specialised to the one profile, rather than by a general XMLDSig library:
signxml (the reference, still the oracle of `tests/duis/test_fast_verifier.py`) copies the document twice and
re-serialises it before canonicalising, which cost ten times the floor on a small request. What is cached is
only what cannot change: an issuing CA's signature verdict on a certificate, per (certificate, CA) pair.
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, utils
from lxml import etree

from hanota.errors import ConfigError

from . import codes
from .profile import ECDSA_SHA256, ENVELOPED, EXC_C14N, SHA256, signature_invalid
from .trust import (
    IssuedByCache,
    TrustStore,
    certificate_eui,
    certificate_role,
    check_key,
    check_trusted,
    role_name,
    valid_at,
)
from .xmlparse import DS, MAX_REQUEST_BYTES, check_hostile_constructs, document_parser, parse_document

_ECDSA_SHA256: Final = ec.ECDSA(hashes.SHA256())

_RAW_SIGNATURE_OCTETS: Final = 64
#: X.509 serials are at most 20 octets (RFC 5280 §4.1.2.2), 49 decimal digits; int() of a hostile string of
#: over 4,300 digits raises ValueError, so the text is bounded before it is converted.
_MAX_SERIAL_DIGITS: Final = 64
_MAX_SHOWN: Final = 100


def clip(text: str, limit: int = _MAX_SHOWN) -> str:
    """Hostile text as it goes into a message: a document can put megabytes in KeyInfo."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True)
class Verified:
    """A verified document: only what the signature covers, and who signed it."""

    root: etree._Element = field(repr=False)
    """The signed document (without its signature), re-parsed from the canonical octets that were digested."""
    signed_data: bytes = field(repr=False)
    """Those canonical octets (inclusive C14N 1.0 of the document without its signature)."""
    certificate: x509.Certificate
    signer_eui: str
    role: int


def _elements(parent: etree._Element, where: str) -> list[etree._Element]:
    """Element children; comments ignored; any non-whitespace text or other node is refused."""
    if parent.text is not None and parent.text.strip():
        raise signature_invalid(f"{where} has unexpected text")
    result: list[etree._Element] = []
    for child in parent:
        if child.tail is not None and child.tail.strip():
            raise signature_invalid(f"{where} has unexpected text")
        if isinstance(child.tag, str):
            result.append(child)
        elif not isinstance(child, etree._Comment):
            raise signature_invalid(f"{where} has an unexpected node")
    return result


def _expect(parent: etree._Element, where: str, names: list[str]) -> list[etree._Element]:
    children = _elements(parent, where)
    got = [child.tag for child in children]
    if got != [DS + name for name in names]:
        shown = ", ".join(t.replace(DS, "ds:") for t in got) or "nothing"
        raise signature_invalid(
            f"{where} must contain exactly {', '.join('ds:' + n for n in names)}; found {shown}"
        )
    return children


def _algorithm(element: etree._Element, expected: str, what: str) -> None:
    algorithm = element.get("Algorithm")
    if algorithm != expected:
        raise signature_invalid(f"{what} must be {expected}, not {algorithm}")
    if len(element):
        raise signature_invalid(f"{what} must have no parameters")


@dataclass(frozen=True)
class Profiled:
    """What `_check_profile` found: the signature's parts the cryptography needs, and the KeyInfo."""

    signature: etree._Element
    signed_info: etree._Element
    digest: bytes
    raw_signature: bytes
    issuer: str
    serial: int


def _check_profile(root: etree._Element) -> Profiled:
    """Check the signature's shape and algorithms; return its parts and the KeyInfo (issuer name, serial)."""
    signatures = list(root.iter(DS + "Signature"))
    if not signatures:
        raise signature_invalid("the document has no ds:Signature")
    if len(signatures) > 1:
        raise signature_invalid(
            f"the document has {len(signatures)} ds:Signature elements; exactly one is allowed"
        )
    signature = signatures[0]
    if signature.getparent() is not root or root[-1] is not signature:
        raise signature_invalid("ds:Signature must be the last child of the root element")
    if set(signature.attrib) - {"Id"}:
        raise signature_invalid("ds:Signature has unexpected attributes")
    signed_info, signature_value, key_info = _expect(
        signature, "ds:Signature", ["SignedInfo", "SignatureValue", "KeyInfo"]
    )
    c14n, method, reference = _expect(
        signed_info, "ds:SignedInfo", ["CanonicalizationMethod", "SignatureMethod", "Reference"]
    )
    _algorithm(c14n, EXC_C14N, "CanonicalizationMethod")
    _algorithm(method, ECDSA_SHA256, "SignatureMethod")
    if reference.get("URI") != "" or set(reference.attrib) != {"URI"}:
        raise signature_invalid('the Reference must have URI="" and no other attribute')
    transforms, digest_method, digest_value = _expect(
        reference, "ds:Reference", ["Transforms", "DigestMethod", "DigestValue"]
    )
    (transform,) = _expect(transforms, "ds:Transforms", ["Transform"])
    _algorithm(transform, ENVELOPED, "the only Transform")
    _algorithm(digest_method, SHA256, "DigestMethod")
    digest = _base64(digest_value, "DigestValue")
    raw = _base64(signature_value, "SignatureValue")
    if len(digest) != 32:
        raise signature_invalid(f"DigestValue must be 32 octets (SHA-256), not {len(digest)}")
    if len(raw) != _RAW_SIGNATURE_OCTETS:
        raise signature_invalid(f"SignatureValue must be 64 octets (raw r||s for P-256), not {len(raw)}")
    (x509_data,) = _expect(key_info, "ds:KeyInfo", ["X509Data"])
    (issuer_serial,) = _expect(x509_data, "ds:X509Data", ["X509IssuerSerial"])
    issuer_el, serial_el = _expect(
        issuer_serial, "ds:X509IssuerSerial", ["X509IssuerName", "X509SerialNumber"]
    )
    issuer = (issuer_el.text or "").strip()
    serial_text = (serial_el.text or "").strip()
    if not issuer:
        raise signature_invalid("X509IssuerName is empty")
    if not serial_text.isdigit() or not serial_text.isascii():
        raise signature_invalid(f"X509SerialNumber {serial_text[:50]!r} is not a decimal serial number")
    if len(serial_text) > _MAX_SERIAL_DIGITS:
        raise signature_invalid(
            f"X509SerialNumber has {len(serial_text):,} digits, over {_MAX_SERIAL_DIGITS}: not an X.509 serial"
        )
    return Profiled(signature, signed_info, digest, raw, issuer, int(serial_text))


def _base64(element: etree._Element, what: str) -> bytes:
    """DigestValue / SignatureValue: strict base64 in ASCII, whitespace allowed.

    Non-ASCII is refused before decoding: binascii raises a plain ValueError for it, and signxml's b64decode
    would too, after ``str.split()`` had let U+00A0 and friends through our own check.
    """
    text = element.text or ""
    if not text.isascii():
        raise signature_invalid(f"{what} is not base64 (it has non-ASCII characters)")
    try:
        return binascii.a2b_base64("".join(text.split()), strict_mode=True)
    except binascii.Error as exc:
        raise signature_invalid(f"{what} is not base64 ({exc})") from exc


def _document_without(root: etree._Element, signature: etree._Element) -> bytes:
    """Inclusive C14N 1.0 (no comments) of the document with the enveloped signature removed (its tail text
    kept, as the enveloped-signature transform removes the element node only). The signature is put back
    where it was, so the caller's tree is unchanged."""
    tail = signature.tail
    previous = signature.getprevious()
    saved = root.text if previous is None else previous.tail
    if tail:  # the signature is the root's last child (`_check_profile`): its tail stays in the document
        if previous is None:
            root.text = (saved or "") + tail
        else:
            previous.tail = (saved or "") + tail
    root.remove(signature)
    try:
        return etree.tostring(root, method="c14n", exclusive=False, with_comments=False)
    finally:
        if previous is None:
            root.text = saved
        else:
            previous.tail = saved
        root.append(signature)
        signature.tail = tail


class Verifier:
    """Verifies DUIS-profile signatures against a `TrustStore`.

    `accepted_roles` are the certificate role codes allowed to sign what this verifier checks: 135 (0x87)
    for Service User requests, 137 (0x89) for DSP responses and alerts.
    """

    def __init__(
        self,
        trust: TrustStore,
        *,
        accepted_roles: Collection[int] = (codes.ROLE_XML_SIGNING,),
        max_bytes: int = MAX_REQUEST_BYTES,
    ) -> None:
        if not accepted_roles:
            raise ConfigError("a Verifier needs at least one accepted role")
        self.trust = trust
        self.accepted_roles = frozenset(accepted_roles)
        self.max_bytes = max_bytes
        self._issued_by = IssuedByCache()

    def verify(
        self, data: bytes | etree._Element, *, now: datetime, expected_signer_eui: str | None = None
    ) -> Verified:
        """Verify `data` (bytes, or a root from `parse_document`) at `now` (aware).

        Raises InputError/TooLarge if it does not parse, SignatureError (SIGNATURE_INVALID) for every other
        failure, each with its own message.
        """
        if now.tzinfo is None or now.utcoffset() is None:
            raise ValueError("now must be timezone-aware")
        if isinstance(data, bytes):
            root = parse_document(data, max_bytes=self.max_bytes)
        else:
            if data.getparent() is not None:
                raise ValueError("verify takes a document root element")
            check_hostile_constructs(data)
            root = data

        profiled = _check_profile(root)
        issuer, serial = profiled.issuer, profiled.serial
        certificate = self.trust.certificate_by_serial(serial, issuer)
        if certificate is None:
            raise signature_invalid(f"no trusted certificate with serial {serial} issued by {clip(issuer)!r}")
        if not valid_at(certificate, now):
            raise signature_invalid(
                f"certificate serial {serial} is not valid at {now.isoformat()} (valid from"
                f" {certificate.not_valid_before_utc.isoformat()}"
                f" to {certificate.not_valid_after_utc.isoformat()})"
            )
        check_trusted(certificate, self.trust, now, issued_by=self._issued_by)
        check_key(certificate)
        role = certificate_role(certificate)
        if role not in self.accepted_roles:
            accepted = ", ".join(role_name(r) for r in sorted(self.accepted_roles))
            raise signature_invalid(
                f"certificate role {role_name(role)} may not sign here (accepted: {accepted})"
            )
        signer_eui = certificate_eui(certificate)
        if expected_signer_eui is not None and signer_eui != expected_signer_eui.upper():
            raise signature_invalid(
                f"signed by {signer_eui}, not by the originator {expected_signer_eui.upper()}"
            )

        signed_xml, signed_data = self.check_signature(root, profiled, certificate, now)
        return Verified(
            root=signed_xml,
            signed_data=signed_data,
            certificate=certificate,
            signer_eui=signer_eui,
            role=role,
        )

    def check_signature(
        self, root: etree._Element, profiled: Profiled, certificate: x509.Certificate, now: datetime
    ) -> tuple[etree._Element, bytes]:
        """The cryptography, once everything else is checked: the signature value over the exclusive-C14N
        SignedInfo with the certificate's key, then the digest of the document without its signature
        (inclusive C14N 1.0). Returns those octets re-parsed with the hardened parser, and the octets.
        (`tests/duis/test_fast_verifier.py` overrides this with signxml, the reference it is checked against.)"""
        key = certificate.public_key()
        if not isinstance(key, ec.EllipticCurvePublicKey):  # pragma: no cover - check_key refused it above
            raise signature_invalid("certificate key is not ECDSA P-256")
        try:  # C14N refuses what it cannot canonicalise, e.g. a relative namespace URI
            signed_info = etree.tostring(
                profiled.signed_info, method="c14n", exclusive=True, with_comments=False
            )
            signed_data = _document_without(root, profiled.signature)
        except etree.LxmlError as exc:
            raise signature_invalid(f"signature rejected: {clip(str(exc), 300)}") from exc
        half = _RAW_SIGNATURE_OCTETS // 2
        r = int.from_bytes(profiled.raw_signature[:half], "big")
        s_ = int.from_bytes(profiled.raw_signature[half:], "big")
        try:
            key.verify(utils.encode_dss_signature(r, s_), signed_info, _ECDSA_SHA256)
        except InvalidSignature as exc:
            raise signature_invalid("signature value does not verify with the certificate's key") from exc
        if not hmac.compare_digest(hashlib.sha256(signed_data).digest(), profiled.digest):
            raise signature_invalid("digest mismatch: the signed content was altered after signing")
        try:
            signed_xml = etree.fromstring(signed_data, document_parser())
        except etree.LxmlError as exc:  # pragma: no cover - canonical XML of a parsed document parses
            raise signature_invalid(f"signature rejected: {clip(str(exc), 300)}") from exc
        return signed_xml, signed_data
