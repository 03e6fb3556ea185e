"""Signing certificates and whom to trust: the EUI and role a certificate carries, loading certificates and
keys, the `TrustStore` the verifier asks and its in-memory implementation, and the checks a signing
certificate must pass (valid at a time, pinned or issued by a trusted CA, an ECDSA P-256 key allowed to sign).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Protocol

from cryptography import x509
from cryptography.exceptions import InvalidSignature as CryptoInvalidSignature
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from hanota.errors import ConfigError

from . import codes
from .profile import signature_invalid
from .values import format_eui

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
        raise signature_invalid(
            f"certificate subject has {len(attributes)} x500UniqueIdentifier attributes, expected 1"
        )
    value = attributes[0].value
    if isinstance(value, bytes):
        if len(value) == 9 and value[0] == 0:
            return format_eui(value[1:])
        if len(value) == 8:
            return format_eui(value)
    raise signature_invalid(f"certificate x500UniqueIdentifier {value!r} is not an 8-octet EUI")


def certificate_role(certificate: x509.Certificate) -> int:
    """The role code in the subject OU, two hex digits (``87`` = 135 XML signing, ``89`` = 137 DSP)."""
    units = certificate.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)
    if len(units) != 1:
        raise signature_invalid(f"certificate subject has {len(units)} OU attributes, expected 1 (the role)")
    value = units[0].value
    text = value.decode("ascii", "replace") if isinstance(value, bytes) else value
    if len(text) != 2 or any(c not in "0123456789abcdefABCDEF" for c in text):
        raise signature_invalid(f"certificate subject OU {text!r} is not a two-hex-digit role code")
    return int(text, 16)


def role_name(role: int) -> str:
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
            if is_ca(certificate):
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


def is_ca(certificate: x509.Certificate) -> bool:
    try:
        return bool(certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def valid_at(certificate: x509.Certificate, now: datetime) -> bool:
    return certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc


class IssuedByCache:
    """The verdicts of `x509.Certificate.verify_directly_issued_by` that succeeded, per (certificate, issuer)
    pair: a pure function of the two certificates' bytes, so a verdict never goes stale. Which issuers are
    trusted, and whether each is valid now, is still decided on every call. Bounded: cleared when full."""

    def __init__(self, capacity: int = 4096) -> None:
        self.capacity = capacity
        self._verified: set[tuple[x509.Certificate, x509.Certificate]] = set()  # equal when the DER is

    def verified(self, certificate: x509.Certificate, issuer: x509.Certificate) -> bool:
        """Whether `issuer`'s signature on `certificate` verifies (raises like `verify_directly_issued_by`)."""
        key = (certificate, issuer)
        if key in self._verified:
            return True
        certificate.verify_directly_issued_by(issuer)
        if len(self._verified) >= self.capacity:
            self._verified.clear()
        self._verified.add(key)
        return True


def check_trusted(
    certificate: x509.Certificate, trust: TrustStore, now: datetime, *, issued_by: IssuedByCache | None = None
) -> None:
    """A certificate is trusted if it is pinned, or issued by a trusted issuer valid at `now` whose signature
    on it verifies; SignatureError otherwise, saying why."""
    if trust.is_pinned(certificate):
        return
    problems: list[str] = []
    for issuer in trust.trusted_issuers():
        if issuer.subject != certificate.issuer:
            continue
        if not valid_at(issuer, now):
            problems.append(f"issuer {issuer.subject.rfc4514_string()} is not valid at {now.isoformat()}")
            continue
        try:
            if issued_by is None:
                certificate.verify_directly_issued_by(issuer)
            else:
                issued_by.verified(certificate, issuer)
        except (ValueError, TypeError, CryptoInvalidSignature, UnsupportedAlgorithm) as exc:
            problems.append(
                f"signature of issuer {issuer.subject.rfc4514_string()} does not verify ({exc!r})"
            )
            continue
        return
    detail = f": {'; '.join(problems)}" if problems else ""
    raise signature_invalid(
        f"certificate serial {certificate.serial_number} is neither pinned nor issued by a trusted issuer"
        f" ({certificate.issuer.rfc4514_string()}){detail}"
    )


def check_key(certificate: x509.Certificate) -> None:
    key = certificate.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise signature_invalid("certificate key is not ECDSA P-256")
    try:
        usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return
    if not usage.digital_signature:
        raise signature_invalid("certificate key usage does not allow digital signatures")
