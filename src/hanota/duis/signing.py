"""Signing with the DUIS profile (`Signer`), and the one module to import the profile's names from.

What the profile allows, and why the reference is digested with inclusive C14N 1.0, is in `profile`.
`Signer` writes exactly that: one enveloped signature, the root's last child, naming the certificate by
issuer and serial. The certificates and trust stores (`trust`) and the verifier (`verifying`) live apart;
their public names are re-exported here, so ``hanota.duis.signing.Verifier`` and the like keep working.
"""

from __future__ import annotations

import binascii
import hashlib
from dataclasses import dataclass
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils
from lxml import etree

from hanota.errors import ConfigError, InputError

from . import codes
from .profile import ECDSA_SHA256, ENVELOPED, EXC_C14N, INCLUSIVE_C14N, SHA256, signature_invalid
from .trust import (
    StaticTrustStore,
    TrustStore,
    certificate_eui,
    certificate_role,
    load_certificate,
    load_private_key,
    normalise_dn,
)
from .verifying import Verified, Verifier
from .xmlparse import DS, DS_NS, MAX_REQUEST_BYTES, parse_document

__all__ = [
    "ECDSA_SHA256",
    "ENVELOPED",
    "EXC_C14N",
    "INCLUSIVE_C14N",
    "SHA256",
    "Signer",
    "StaticTrustStore",
    "TrustStore",
    "Verified",
    "Verifier",
    "certificate_eui",
    "certificate_role",
    "compact",
    "load_certificate",
    "load_private_key",
    "normalise_dn",
    "signature_invalid",
]

_XML_DECLARATION: Final = b'<?xml version="1.0" encoding="UTF-8"?>'
# markers cut out of a signature written once, to make its templates: base64 never holds "@" or "_"
_DIGEST_MARK: Final = "@@_DIGEST_@@"
_VALUE_MARK: Final = "@@_VALUE_@@"
_MAX_TEMPLATES: Final = 64
_ECDSA_SHA256: Final = ec.ECDSA(hashes.SHA256())


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
        self._templates: dict[tuple[tuple[str, str], ...], _Template] = {}

    def sign(self, xml_bytes: bytes, *, max_bytes: int = MAX_REQUEST_BYTES) -> bytes:
        """The signed document: compact UTF-8 bytes with the signature as the root's last child.

        An enveloped signature already present as a child of the root (a template placeholder) is replaced;
        a ``ds:Signature`` anywhere else is refused (InputError), as is a document that C14N 1.0 cannot
        canonicalise (a relative namespace URI). These bytes are the ones to send: do not re-indent them.
        """
        return self.sign_element(parse_document(xml_bytes, max_bytes=max_bytes))

    def sign_element(self, root: etree._Element) -> bytes:
        """Sign a root element and return the bytes to send.

        The root is compacted and any enveloped signature placeholder taken out, in place. The signature
        itself is written from templates: the exclusive-C14N SignedInfo and the serialised ds:Signature are
        the same bytes for every document but for the digest and the signature value, so they are cut once
        (per set of namespaces declared on the root, which decide the signature's prefix and declarations)
        from what `sign_tree` writes, and filled in. `sign_tree`, which builds the signature as elements, is the
        reference the templates are tested against (`tests/duis/test_fast_signer.py`: the same bytes)."""
        canonical = self._prepare(root)
        template = self._template_for(root)
        body = etree.tostring(root, encoding="UTF-8")
        end = body.rfind(b"</")
        if template is None or end < 0:  # pragma: no cover - a DUIS root always has children
            return self._sign_tree(root, canonical)
        digest = binascii.b2a_base64(hashlib.sha256(canonical).digest(), newline=False)
        value = self._sign_raw(template.signed_info[0] + digest + template.signed_info[1])
        before, middle, after = template.signature
        return b"".join((_XML_DECLARATION, body[:end], before, digest, middle, value, after, body[end:]))

    def sign_tree(self, root: etree._Element) -> bytes:
        """Sign a root element in place (it gains the signature as its last child) and return the bytes to
        send: the reference `sign_element` is checked against, writing the same bytes."""
        return self._sign_tree(root, self._prepare(root))

    def _prepare(self, root: etree._Element) -> bytes:
        """Take out an enveloped signature placeholder, compact, and return the reference's canonical octets
        (inclusive C14N 1.0, the XMLDSig default after the enveloped transform)."""
        for signature in root.iter(DS + "Signature"):
            if signature.getparent() is not root:
                raise InputError(
                    "a ds:Signature inside the document cannot be signed over", code=codes.MALFORMED_REQUEST
                )
        for signature in root.findall(DS + "Signature"):
            root.remove(signature)
        if self._compact:
            compact(root)
        try:
            return etree.tostring(root, method="c14n", exclusive=False, with_comments=False)
        except etree.C14NError as exc:  # e.g. a relative namespace URI, which C14N 1.0 refuses
            raise InputError(
                f"the document cannot be canonicalised for signing ({exc})", code=codes.MALFORMED_REQUEST
            ) from exc

    def _signature(self, digest: str) -> tuple[etree._Element, etree._Element, etree._Element]:
        """A ds:Signature for a reference of `digest` (base64), its SignedInfo and its empty SignatureValue."""
        signature = _ds(None, "Signature")
        signed_info = _ds(signature, "SignedInfo")
        _ds(signed_info, "CanonicalizationMethod", Algorithm=EXC_C14N)
        _ds(signed_info, "SignatureMethod", Algorithm=ECDSA_SHA256)
        reference = _ds(signed_info, "Reference", URI="")
        _ds(_ds(reference, "Transforms"), "Transform", Algorithm=ENVELOPED)
        _ds(reference, "DigestMethod", Algorithm=SHA256)
        _ds(reference, "DigestValue", digest)
        value = _ds(signature, "SignatureValue")
        issuer_serial = _ds(_ds(_ds(signature, "KeyInfo"), "X509Data"), "X509IssuerSerial")
        _ds(issuer_serial, "X509IssuerName", self.issuer_name)
        _ds(issuer_serial, "X509SerialNumber", str(self.serial))
        return signature, signed_info, value

    def _sign_raw(self, signed_info_c14n: bytes) -> bytes:
        """The SignatureValue text: base64 of raw r||s (64 octets) over the canonical SignedInfo."""
        r, s = utils.decode_dss_signature(self._key.sign(signed_info_c14n, _ECDSA_SHA256))
        return binascii.b2a_base64(r.to_bytes(32, "big") + s.to_bytes(32, "big"), newline=False)

    def _sign_tree(self, root: etree._Element, canonical: bytes) -> bytes:
        digest = binascii.b2a_base64(hashlib.sha256(canonical).digest(), newline=False).decode("ascii")
        signature, signed_info, value = self._signature(digest)
        root.append(signature)
        signed_info_c14n = etree.tostring(signed_info, method="c14n", exclusive=True, with_comments=False)
        value.text = self._sign_raw(signed_info_c14n).decode("ascii")
        return _XML_DECLARATION + etree.tostring(root, encoding="UTF-8")

    def _template_for(self, root: etree._Element) -> _Template | None:
        """The signature as `sign_tree` writes it as the last child of a root declaring the namespaces `root`
        declares (which decide the prefix it takes and whether it declares it), cut around the digest and the
        signature value; cached per set of declarations."""
        key = tuple(sorted((prefix or "", uri) for prefix, uri in root.nsmap.items()))
        template = self._templates.get(key)
        if template is None:
            dummy = etree.Element(root.tag, nsmap=root.nsmap)  # type: ignore[arg-type]  # None: default ns
            signature, signed_info, value = self._signature(_DIGEST_MARK)
            value.text = _VALUE_MARK
            dummy.append(signature)
            digest_mark, value_mark = _DIGEST_MARK.encode("ascii"), _VALUE_MARK.encode("ascii")
            info = etree.tostring(signed_info, method="c14n", exclusive=True, with_comments=False)
            text = etree.tostring(dummy, encoding="UTF-8")
            text = text[text.find(b">") + 1 : text.rfind(b"</")]
            if info.count(digest_mark) != 1 or text.count(digest_mark) != 1 or text.count(value_mark) != 1:
                return None  # pragma: no cover - the marks are plain text in elements of their own
            before, rest = text.split(digest_mark)
            middle, after = rest.split(value_mark)
            info_before, info_after = info.split(digest_mark)
            template = _Template((info_before, info_after), (before, middle, after))
            if len(self._templates) < _MAX_TEMPLATES:
                self._templates[key] = template
        return template


@dataclass(frozen=True, slots=True)
class _Template:
    """A signature cut around its variable parts: the exclusive-C14N SignedInfo around the digest, and the
    serialised ds:Signature around the digest and the signature value."""

    signed_info: tuple[bytes, bytes]
    signature: tuple[bytes, bytes, bytes]
