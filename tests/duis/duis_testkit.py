"""Helpers shared by the DUIS tests (imported by name: tests/duis has no __init__.py, so the name is unique)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.name import _ASN1Type  # the BIT STRING type DCC certificates use for 2.5.4.45
from cryptography.x509.oid import NameOID

from hanota.duis import signing

#: Inside every DCC Boxed test certificate's validity that the tests use.
NOW = datetime(2026, 1, 1, tzinfo=UTC)
SUPPLIER_EUI = "90-B3-D5-1F-30-01-00-00"
DSP_EUI = "90-B3-D5-1F-30-00-00-02"


# ---------------------------------------------------------------------------------------------------
# A test PKI built with cryptography (for CA chains, expiry, roles and key usage)
# ---------------------------------------------------------------------------------------------------


@dataclass
class Identity:
    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate

    def signer(self) -> signing.Signer:
        return signing.Signer(self.key, self.certificate)


def eui_bit_string(eui: str) -> bytes:
    """The x500UniqueIdentifier value as cryptography expects it: unused-bits octet 0, then the 8 octets."""
    return b"\x00" + bytes.fromhex(eui.replace("-", ""))


class TestPKI:
    """Makes CAs and leaves shaped like the DCC's (OU role, x500UniqueIdentifier BIT STRING EUI)."""

    __test__ = False  # not a test class

    def __init__(self) -> None:
        self._serial = 1000

    def _next_serial(self) -> int:
        self._serial += 1
        return self._serial

    def ca(
        self, name: str = "Z1", *, not_before: datetime | None = None, not_after: datetime | None = None
    ) -> Identity:
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "07"),
                x509.NameAttribute(NameOID.COMMON_NAME, name),
            ]
        )
        certificate = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(self._next_serial())
            .not_valid_before(not_before or NOW - timedelta(days=3650))
            .not_valid_after(not_after or NOW + timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .sign(key, hashes.SHA256())
        )
        return Identity(key, certificate)

    def leaf(
        self,
        issuer: Identity,
        *,
        eui: str = SUPPLIER_EUI,
        role: str = "87",
        not_before: datetime | None = None,
        not_after: datetime | None = None,
        digital_signature: bool = True,
        serial: int | None = None,
    ) -> Identity:
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, role),
                x509.NameAttribute(
                    NameOID.X500_UNIQUE_IDENTIFIER,
                    eui_bit_string(eui),
                    _type=_ASN1Type.BitString,
                ),
            ]
        )
        usage = x509.KeyUsage(
            digital_signature=digital_signature,
            content_commitment=False,
            key_encipherment=False,
            data_encipherment=False,
            key_agreement=not digital_signature,
            key_cert_sign=False,
            crl_sign=False,
            encipher_only=False,
            decipher_only=False,
        )
        certificate = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer.certificate.subject)
            .public_key(key.public_key())
            .serial_number(serial if serial is not None else self._next_serial())
            .not_valid_before(not_before or NOW - timedelta(days=365))
            .not_valid_after(not_after or NOW + timedelta(days=365))
            .add_extension(usage, critical=True)
            .sign(issuer.key, hashes.SHA256())
        )
        return Identity(key, certificate)


@dataclass
class Listener:
    """A local TCP listener's URL and the connections it saw."""

    url: str
    connections: list[str]
