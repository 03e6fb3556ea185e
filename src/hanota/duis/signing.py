"""XML signatures with the DUIS profile, and nothing else.

The profile (DUIS templates, DCC Boxed signing tool, domain.md §4): one enveloped ``ds:Signature``, the last
child of the root; ``SignedInfo`` canonicalised with exclusive C14N; ECDSA P-256 with SHA-256, the value raw
r‖s (64 octets); exactly one ``Reference URI=""`` whose only transform is enveloped-signature, digest SHA-256;
``KeyInfo/X509Data/X509IssuerSerial`` naming the certificate by issuer (``CN=Z1,OU=07`` style) and decimal
serial. The certificate itself is not in the message.

**Reference canonicalisation.** With only the enveloped-signature transform, the node-set is turned into
octets with the XMLDSig default, *inclusive* Canonical XML 1.0 (XMLDSig core, reference processing model).
That is what DCC Boxed and xmlsec1 do: the digests of the real DCC Boxed responses in the shared samples
match inclusive C14N 1.0 and do not match exclusive C14N (the root declares namespaces the body does not
use). So the signer digests with inclusive C14N 1.0 and the verifier gives signxml
``default_reference_c14n_method=CANONICAL_XML_1_0``. (The shared gotchas page says exclusive; the samples and
xmlsec1 say otherwise — tests pin this down.)

Verification checks, each failing with its own `SignatureError` message (code SIGNATURE_INVALID):
exactly one signature, last child of the root; exactly the profile's algorithms, one reference,
``URI=""``, only the enveloped transform; ``X509IssuerSerial`` present; the certificate found in the trust
store by serial and issuer; valid at ``now``; trusted (a pinned leaf, or issued by a trusted CA whose ECDSA
signature on it verifies); an ECDSA P-256 key allowed to sign; a role in ``accepted_roles``; the signer EUI
the expected one; then signxml checks the signature value and the digest. The result carries only what
the signature covers: signxml's re-parsed canonical form of the signed document, never the tree that was
received (no signature wrapping).
"""

from __future__ import annotations

import binascii
import hashlib
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Final, Protocol

from cryptography import x509
from cryptography.exceptions import InvalidSignature as CryptoInvalidSignature
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils
from cryptography.x509.oid import NameOID
from lxml import etree
from signxml.algorithms import CanonicalizationMethod, DigestAlgorithm, SignatureMethod
from signxml.exceptions import (
    InvalidCertificate,
    InvalidDigest,
    InvalidInput,
    InvalidSignature,
    SignXMLException,
)
from signxml.verifier import SignatureConfiguration, XMLVerifier

from hanota.errors import ConfigError, InputError, SignatureError

from . import codes
from .values import format_eui
from .xmlparse import DS, DS_NS, MAX_REQUEST_BYTES, check_hostile_constructs, document_parser, parse_document

EXC_C14N: Final = "http://www.w3.org/2001/10/xml-exc-c14n#"
INCLUSIVE_C14N: Final = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
ECDSA_SHA256: Final = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"
ENVELOPED: Final = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
SHA256: Final = "http://www.w3.org/2001/04/xmlenc#sha256"

_XML_DECLARATION: Final = b'<?xml version="1.0" encoding="UTF-8"?>'
_RAW_SIGNATURE_OCTETS: Final = 64
#: X.509 serials are at most 20 octets (RFC 5280 §4.1.2.2), 49 decimal digits; int() of a hostile string of
#: over 4,300 digits raises ValueError, so the text is bounded before it is converted.
_MAX_SERIAL_DIGITS: Final = 64
_MAX_SHOWN: Final = 100


def _clip(text: str, limit: int = _MAX_SHOWN) -> str:
    """Hostile text as it goes into a message: a document can put megabytes in KeyInfo."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _fail(message: str) -> SignatureError:
    return SignatureError(message, code=codes.SIGNATURE_INVALID)


# --------------------------------------------------------------------------------------------------
# Certificates
# --------------------------------------------------------------------------------------------------


def certificate_eui(certificate: x509.Certificate) -> str:
    """The EUI in the subject's x500UniqueIdentifier (OID 2.5.4.45), canonical form.

    In DCC certificates it is an ASN.1 BIT STRING of the 8 octets; cryptography hands the content back with
    its leading unused-bits octet (0), i.e. 9 octets. 8 octets are accepted too. SignatureError otherwise.
    """
    attributes = certificate.subject.get_attributes_for_oid(NameOID.X500_UNIQUE_IDENTIFIER)
    if len(attributes) != 1:
        raise _fail(f"certificate subject has {len(attributes)} x500UniqueIdentifier attributes, expected 1")
    value = attributes[0].value
    if isinstance(value, bytes):
        if len(value) == 9 and value[0] == 0:
            return format_eui(value[1:])
        if len(value) == 8:
            return format_eui(value)
    raise _fail(f"certificate x500UniqueIdentifier {value!r} is not an 8-octet EUI")


def certificate_role(certificate: x509.Certificate) -> int:
    """The role code in the subject OU, two hex digits (``87`` = 135 XML signing, ``89`` = 137 DSP)."""
    units = certificate.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)
    if len(units) != 1:
        raise _fail(f"certificate subject has {len(units)} OU attributes, expected 1 (the role)")
    value = units[0].value
    text = value.decode("ascii", "replace") if isinstance(value, bytes) else value
    if len(text) != 2 or any(c not in "0123456789abcdefABCDEF" for c in text):
        raise _fail(f"certificate subject OU {text!r} is not a two-hex-digit role code")
    return int(text, 16)


def _role_name(role: int) -> str:
    name = codes.CERT_ROLE_NAMES.get(role)
    return f"0x{role:02X} ({role}, {name})" if name else f"0x{role:02X} ({role})"


def _split_dn(text: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    escaped = False
    for char in text:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\":
            current.append(char)
            escaped = True
        elif char in ",+":
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def normalise_dn(text: str) -> tuple[tuple[str, str], ...]:
    """Issuer name as sorted (TYPE, value) pairs: ``CN=Z1,OU=07`` == ``CN=Z1, OU=07`` == ``OU=07,CN=Z1``.

    Lenient on spacing and RDN order (KeyInfo writers differ: DCC Boxed, xmlsec1, the DUIS templates);
    strict on types and values. Used only to pick a certificate by serial, which must then be trusted anyway.
    """
    pairs = []
    for part in _split_dn(text):
        if not part.strip():
            continue
        key, sep, value = part.partition("=")
        if not sep:
            return (("?", text),)
        pairs.append((key.strip().upper(), value.strip()))
    return tuple(sorted(pairs))


def load_certificate(path: str | Path) -> x509.Certificate:
    """A certificate from a PEM or DER file; ConfigError if it is neither."""
    data = Path(path).read_bytes()
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_certificate(data)
        return x509.load_der_x509_certificate(data)
    except ValueError as exc:
        raise ConfigError(f"{path}: not a PEM or DER X.509 certificate ({exc})") from exc


def load_private_key(path: str | Path) -> ec.EllipticCurvePrivateKey:
    """An unencrypted EC P-256 private key from a PEM or DER (PKCS#8 or SEC1) file; ConfigError otherwise."""
    data = Path(path).read_bytes()
    try:
        if b"-----BEGIN" in data:
            key = serialization.load_pem_private_key(data, password=None)
        else:
            key = serialization.load_der_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise ConfigError(f"{path}: not an unencrypted PEM or DER private key ({exc})") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise ConfigError(f"{path}: the DUIS profile needs an ECDSA P-256 key")
    return key


# --------------------------------------------------------------------------------------------------
# Trust
# --------------------------------------------------------------------------------------------------


class TrustStore(Protocol):
    """Where the verifier finds signing certificates and what it trusts.

    A certificate is trusted either because it is **pinned** (a leaf the operator trusts as it is — the DCC
    Boxed test identities, whose Z1 CA certificate is not published with them) or because it is **issued by a
    trusted issuer** (a CA certificate from `trusted_issuers`, whose signature on it must verify).
    """

    def certificate_by_serial(self, serial: int, issuer: str) -> x509.Certificate | None:
        """The certificate with this serial whose issuer matches the KeyInfo issuer name, or None."""
        ...

    def trusted_issuers(self) -> list[x509.Certificate]:
        """CA certificates that may issue signing certificates."""
        ...

    def is_pinned(self, certificate: x509.Certificate) -> bool:
        """True if `certificate` is trusted as it is, without a chain."""
        ...


class StaticTrustStore:
    """An in-memory `TrustStore`: pinned leaves, issued leaves (need a trusted issuer) and issuer CAs."""

    def __init__(
        self,
        *,
        pinned: Iterable[x509.Certificate] = (),
        issued: Iterable[x509.Certificate] = (),
        issuers: Iterable[x509.Certificate] = (),
    ) -> None:
        self._pinned = list(pinned)
        self._issuers = list(issuers)
        self._by_serial: dict[int, list[x509.Certificate]] = {}
        for certificate in [*self._pinned, *issued]:
            self._by_serial.setdefault(certificate.serial_number, []).append(certificate)

    @classmethod
    def from_directory(cls, path: str | Path, *, pin_leaves: bool = True) -> StaticTrustStore:
        """Every ``*.pem`` / ``*.crt`` / ``*.der`` certificate in `path` (``*.key.pem`` skipped).

        CA certificates (basicConstraints cA) become trusted issuers; leaves are pinned if `pin_leaves`, else
        they must be issued by one of the CAs. The DCC Boxed folder holds no CA certificate, so its leaves are
        loaded pinned.
        """
        pinned: list[x509.Certificate] = []
        issued: list[x509.Certificate] = []
        issuers: list[x509.Certificate] = []
        for file in sorted(Path(path).iterdir()):
            if file.name.endswith(".key.pem") or file.suffix not in (".pem", ".crt", ".der", ".cer"):
                continue
            certificate = load_certificate(file)
            if _is_ca(certificate):
                issuers.append(certificate)
            elif pin_leaves:
                pinned.append(certificate)
            else:
                issued.append(certificate)
        return cls(pinned=pinned, issued=issued, issuers=issuers)

    def certificate_by_serial(self, serial: int, issuer: str) -> x509.Certificate | None:
        wanted = normalise_dn(issuer)
        for certificate in self._by_serial.get(serial, []):
            if normalise_dn(certificate.issuer.rfc4514_string()) == wanted:
                return certificate
        return None

    def trusted_issuers(self) -> list[x509.Certificate]:
        return list(self._issuers)

    def is_pinned(self, certificate: x509.Certificate) -> bool:
        return any(certificate == pinned for pinned in self._pinned)


def _is_ca(certificate: x509.Certificate) -> bool:
    try:
        return bool(certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def _valid_at(certificate: x509.Certificate, now: datetime) -> bool:
    return certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc


def _check_trusted(certificate: x509.Certificate, trust: TrustStore, now: datetime) -> None:
    if trust.is_pinned(certificate):
        return
    problems: list[str] = []
    for issuer in trust.trusted_issuers():
        if issuer.subject != certificate.issuer:
            continue
        if not _valid_at(issuer, now):
            problems.append(f"issuer {issuer.subject.rfc4514_string()} is not valid at {now.isoformat()}")
            continue
        try:
            certificate.verify_directly_issued_by(issuer)
        except (ValueError, TypeError, CryptoInvalidSignature, UnsupportedAlgorithm) as exc:
            problems.append(
                f"signature of issuer {issuer.subject.rfc4514_string()} does not verify ({exc!r})"
            )
            continue
        return
    detail = f": {'; '.join(problems)}" if problems else ""
    raise _fail(
        f"certificate serial {certificate.serial_number} is neither pinned nor issued by a trusted issuer"
        f" ({certificate.issuer.rfc4514_string()}){detail}"
    )


def _check_key(certificate: x509.Certificate) -> None:
    key = certificate.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise _fail("certificate key is not ECDSA P-256")
    try:
        usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return
    if not usage.digital_signature:
        raise _fail("certificate key usage does not allow digital signatures")


# --------------------------------------------------------------------------------------------------
# Signing
# --------------------------------------------------------------------------------------------------


def _ds(
    parent: etree._Element | None, name: str, text: str | None = None, **attributes: str
) -> etree._Element:
    if parent is None:
        element = etree.Element(DS + name, attributes, nsmap={"ds": DS_NS})
    else:
        element = etree.SubElement(parent, DS + name, attributes)
    if text is not None:
        element.text = text
    return element


def _remove_keeping_tail(node: etree._Element) -> None:
    parent = node.getparent()
    if parent is None:  # pragma: no cover - only children are removed
        return
    tail = node.tail
    if tail and tail.strip():
        previous = node.getprevious()
        if previous is not None:
            previous.tail = (previous.tail or "") + tail
        else:
            parent.text = (parent.text or "") + tail
    parent.remove(node)


def compact(root: etree._Element) -> None:
    """Strip comments and whitespace-only text between elements, in place (DUIS has no mixed content).

    DCC Boxed strips inter-element whitespace before it verifies and strict verifiers do not: a compact
    document verifies the same in both.
    """
    for comment in list(root.iter(etree.Comment)):
        _remove_keeping_tail(comment)
    for element in root.iter():
        if len(element) and element.text is not None and not element.text.strip():
            element.text = None
        for child in element:
            if child.tail is not None and not child.tail.strip():
                child.tail = None


class Signer:
    """Signs DUIS documents with one key and its certificate, DUIS profile only."""

    def __init__(
        self, private_key: ec.EllipticCurvePrivateKey, certificate: x509.Certificate, *, compact: bool = True
    ) -> None:
        if not isinstance(private_key, ec.EllipticCurvePrivateKey) or not isinstance(
            private_key.curve, ec.SECP256R1
        ):
            raise ConfigError("the DUIS profile needs an ECDSA P-256 private key")
        spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        if private_key.public_key().public_bytes(*spki) != certificate.public_key().public_bytes(*spki):
            raise ConfigError("the private key does not belong to the certificate")
        self._key = private_key
        self.certificate = certificate
        self._compact = compact
        self.issuer_name = certificate.issuer.rfc4514_string()
        self.serial = certificate.serial_number

    def sign(self, xml_bytes: bytes, *, max_bytes: int = MAX_REQUEST_BYTES) -> bytes:
        """The signed document: compact UTF-8 bytes with the signature as the root's last child.

        An enveloped signature already present as a child of the root (a template placeholder) is replaced;
        a ``ds:Signature`` anywhere else is refused (InputError), as is a document that C14N 1.0 cannot
        canonicalise (a relative namespace URI). These bytes are the ones to send: do not re-indent them.
        """
        return self.sign_element(parse_document(xml_bytes, max_bytes=max_bytes))

    def sign_element(self, root: etree._Element) -> bytes:
        """Sign a root element in place (it gains the signature) and return the bytes to send."""
        for signature in root.iter(DS + "Signature"):
            if signature.getparent() is not root:
                raise InputError(
                    "a ds:Signature inside the document cannot be signed over", code=codes.MALFORMED_REQUEST
                )
        for signature in root.findall(DS + "Signature"):
            root.remove(signature)
        if self._compact:
            compact(root)
        # Reference digest: inclusive C14N 1.0 (the XMLDSig default after the enveloped transform).
        try:
            canonical = etree.tostring(root, method="c14n", exclusive=False, with_comments=False)
        except etree.C14NError as exc:  # e.g. a relative namespace URI, which C14N 1.0 refuses
            raise InputError(
                f"the document cannot be canonicalised for signing ({exc})", code=codes.MALFORMED_REQUEST
            ) from exc
        digest = hashlib.sha256(canonical).digest()
        signature = _ds(None, "Signature")
        signed_info = _ds(signature, "SignedInfo")
        _ds(signed_info, "CanonicalizationMethod", Algorithm=EXC_C14N)
        _ds(signed_info, "SignatureMethod", Algorithm=ECDSA_SHA256)
        reference = _ds(signed_info, "Reference", URI="")
        _ds(_ds(reference, "Transforms"), "Transform", Algorithm=ENVELOPED)
        _ds(reference, "DigestMethod", Algorithm=SHA256)
        _ds(reference, "DigestValue", binascii.b2a_base64(digest, newline=False).decode("ascii"))
        value = _ds(signature, "SignatureValue")
        issuer_serial = _ds(_ds(_ds(signature, "KeyInfo"), "X509Data"), "X509IssuerSerial")
        _ds(issuer_serial, "X509IssuerName", self.issuer_name)
        _ds(issuer_serial, "X509SerialNumber", str(self.serial))
        root.append(signature)
        signed_info_c14n = etree.tostring(signed_info, method="c14n", exclusive=True, with_comments=False)
        r, s = utils.decode_dss_signature(self._key.sign(signed_info_c14n, ec.ECDSA(hashes.SHA256())))
        value.text = binascii.b2a_base64(
            r.to_bytes(32, "big") + s.to_bytes(32, "big"), newline=False
        ).decode()
        return _XML_DECLARATION + etree.tostring(root, encoding="UTF-8")


# --------------------------------------------------------------------------------------------------
# Verifying
# --------------------------------------------------------------------------------------------------


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
        raise _fail(f"{where} has unexpected text")
    result: list[etree._Element] = []
    for child in parent:
        if child.tail is not None and child.tail.strip():
            raise _fail(f"{where} has unexpected text")
        if isinstance(child.tag, str):
            result.append(child)
        elif not isinstance(child, etree._Comment):
            raise _fail(f"{where} has an unexpected node")
    return result


def _expect(parent: etree._Element, where: str, names: list[str]) -> list[etree._Element]:
    children = _elements(parent, where)
    got = [child.tag for child in children]
    if got != [DS + name for name in names]:
        shown = ", ".join(t.replace(DS, "ds:") for t in got) or "nothing"
        raise _fail(f"{where} must contain exactly {', '.join('ds:' + n for n in names)}; found {shown}")
    return children


def _algorithm(element: etree._Element, expected: str, what: str) -> None:
    algorithm = element.get("Algorithm")
    if algorithm != expected:
        raise _fail(f"{what} must be {expected}, not {algorithm}")
    if len(element):
        raise _fail(f"{what} must have no parameters")


def _check_profile(root: etree._Element) -> tuple[str, int]:
    """Check the signature's shape and algorithms; return the KeyInfo (issuer name, serial)."""
    signatures = list(root.iter(DS + "Signature"))
    if not signatures:
        raise _fail("the document has no ds:Signature")
    if len(signatures) > 1:
        raise _fail(f"the document has {len(signatures)} ds:Signature elements; exactly one is allowed")
    signature = signatures[0]
    if signature.getparent() is not root or root[-1] is not signature:
        raise _fail("ds:Signature must be the last child of the root element")
    if set(signature.attrib) - {"Id"}:
        raise _fail("ds:Signature has unexpected attributes")
    signed_info, signature_value, key_info = _expect(
        signature, "ds:Signature", ["SignedInfo", "SignatureValue", "KeyInfo"]
    )
    c14n, method, reference = _expect(
        signed_info, "ds:SignedInfo", ["CanonicalizationMethod", "SignatureMethod", "Reference"]
    )
    _algorithm(c14n, EXC_C14N, "CanonicalizationMethod")
    _algorithm(method, ECDSA_SHA256, "SignatureMethod")
    if reference.get("URI") != "" or set(reference.attrib) != {"URI"}:
        raise _fail('the Reference must have URI="" and no other attribute')
    transforms, digest_method, digest_value = _expect(
        reference, "ds:Reference", ["Transforms", "DigestMethod", "DigestValue"]
    )
    (transform,) = _expect(transforms, "ds:Transforms", ["Transform"])
    _algorithm(transform, ENVELOPED, "the only Transform")
    _algorithm(digest_method, SHA256, "DigestMethod")
    digest = _base64(digest_value, "DigestValue")
    raw = _base64(signature_value, "SignatureValue")
    if len(digest) != 32:
        raise _fail(f"DigestValue must be 32 octets (SHA-256), not {len(digest)}")
    if len(raw) != _RAW_SIGNATURE_OCTETS:
        raise _fail(f"SignatureValue must be 64 octets (raw r||s for P-256), not {len(raw)}")
    (x509_data,) = _expect(key_info, "ds:KeyInfo", ["X509Data"])
    (issuer_serial,) = _expect(x509_data, "ds:X509Data", ["X509IssuerSerial"])
    issuer_el, serial_el = _expect(
        issuer_serial, "ds:X509IssuerSerial", ["X509IssuerName", "X509SerialNumber"]
    )
    issuer = (issuer_el.text or "").strip()
    serial_text = (serial_el.text or "").strip()
    if not issuer:
        raise _fail("X509IssuerName is empty")
    if not serial_text.isdigit() or not serial_text.isascii():
        raise _fail(f"X509SerialNumber {serial_text[:50]!r} is not a decimal serial number")
    if len(serial_text) > _MAX_SERIAL_DIGITS:
        raise _fail(
            f"X509SerialNumber has {len(serial_text):,} digits, over {_MAX_SERIAL_DIGITS}: not an X.509 serial"
        )
    return issuer, int(serial_text)


def _base64(element: etree._Element, what: str) -> bytes:
    """DigestValue / SignatureValue: strict base64 in ASCII, whitespace allowed.

    Non-ASCII is refused before decoding: binascii raises a plain ValueError for it, and signxml's b64decode
    would too, after ``str.split()`` had let U+00A0 and friends through our own check.
    """
    text = element.text or ""
    if not text.isascii():
        raise _fail(f"{what} is not base64 (it has non-ASCII characters)")
    try:
        return binascii.a2b_base64("".join(text.split()), strict_mode=True)
    except binascii.Error as exc:
        raise _fail(f"{what} is not base64 ({exc})") from exc


class _ProfileXMLVerifier(XMLVerifier):
    """signxml's verifier, fed the tree we already parsed with the hardened parser.

    signxml re-serialises and re-parses any element it is given (to detach it from a parent). Our element is
    a document root from `parse_document`, so that copy is skipped; signxml still copies the tree before it
    applies the transforms, so `root` is never modified.
    """

    def get_root(self, data: Any) -> Any:
        if isinstance(data, etree._Element) and data.getparent() is None:
            return data
        return super().get_root(data)  # type: ignore[no-untyped-call]  # signxml leaves get_root unannotated


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

        issuer, serial = _check_profile(root)
        certificate = self.trust.certificate_by_serial(serial, issuer)
        if certificate is None:
            raise _fail(f"no trusted certificate with serial {serial} issued by {_clip(issuer)!r}")
        if not _valid_at(certificate, now):
            raise _fail(
                f"certificate serial {serial} is not valid at {now.isoformat()} (valid from"
                f" {certificate.not_valid_before_utc.isoformat()}"
                f" to {certificate.not_valid_after_utc.isoformat()})"
            )
        _check_trusted(certificate, self.trust, now)
        _check_key(certificate)
        role = certificate_role(certificate)
        if role not in self.accepted_roles:
            accepted = ", ".join(_role_name(r) for r in sorted(self.accepted_roles))
            raise _fail(f"certificate role {_role_name(role)} may not sign here (accepted: {accepted})")
        signer_eui = certificate_eui(certificate)
        if expected_signer_eui is not None and signer_eui != expected_signer_eui.upper():
            raise _fail(f"signed by {signer_eui}, not by the originator {expected_signer_eui.upper()}")

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
            result = _ProfileXMLVerifier().verify(
                root, x509_cert=certificate, expect_config=config, parser=document_parser()
            )
        except InvalidDigest as exc:
            raise _fail("digest mismatch: the signed content was altered after signing") from exc
        except InvalidCertificate as exc:
            raise _fail(f"certificate rejected: {exc}") from exc
        except InvalidSignature as exc:
            raise _fail("signature value does not verify with the certificate's key") from exc
        except (InvalidInput, SignXMLException, etree.LxmlError, ValueError) as exc:
            # ValueError: signxml decodes base64 and enum values with the standard library; the profile check
            # above already refuses every input known to reach one, this keeps an unknown one off a 500.
            raise _fail(f"signature rejected: {_clip(str(exc), 300)}") from exc
        if isinstance(result, list):  # pragma: no cover - expect_references=1 returns one result
            raise _fail("expected exactly one verified reference")
        signed_xml = result.signed_xml
        if signed_xml is None:  # pragma: no cover - URI="" always signs an XML document
            raise _fail("the signed data is not XML")
        return Verified(
            root=signed_xml,
            signed_data=result.signed_data,
            certificate=certificate,
            signer_eui=signer_eui,
            role=role,
        )
