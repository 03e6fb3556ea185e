"""A test PKI with the DUIS certificate fields, and loading of the DCC Boxed test identities.

`init_pki` makes an issuing CA (subject `OU=07, CN=H1`, the shape of the DCC test issuer `OU=07, CN=Z1`),
an XML-signing certificate and key per User (subject `OU=87` = role 135, `x500UniqueIdentifier` = the
User's EUI as a BIT STRING, as in the DCC Boxed certificates) and the DSP's own response-signing identity
(`OU=89` = role 137, the Access Control Broker's EUI). Certificates go into the store's trust table; keys
and certificates into files under the data folder.

`trust_dccboxed` loads the public DCC Boxed test identities (e.g. `tests/data/duis/pki/`) as Users and pinned
certificates (the Z1 CA certificate is not public, so each DCC Boxed leaf is trusted as a pinned anchor),
and makes the DSP sign with `Z1-accessControlBroker-dSPXmlSign`, as DCC Boxed does.
"""

from __future__ import annotations

import json
import secrets
import shutil
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.name import _ASN1Type
from cryptography.x509.oid import NameOID
from sqlalchemy import Engine, delete, select
from sqlalchemy.orm import Session

from hanota.db.models import Certificate, Role, Setting, User
from hanota.duis import eui_bytes
from hanota.duis.codes import DCC_EUI as DSP_EUI
from hanota.duis.codes import ROLE_DSP_XML_SIGNING, ROLE_XML_SIGNING
from hanota.duis.signing import certificate_eui, certificate_role
from hanota.errors import InputError, SignatureError
from hanota.pki import DSP_CERT_SETTING as DSP_CERT_SETTING
from hanota.pki import DSP_KEY_SETTING as DSP_KEY_SETTING


def _subject_fields(cert: x509.Certificate) -> tuple[str | None, int | None]:
    """(EUI, role code) of a certificate's subject, None where it has none (a CA, a malformed leaf)."""
    try:
        eui: str | None = certificate_eui(cert)
    except SignatureError:
        eui = None
    try:
        role: int | None = certificate_role(cert)
    except SignatureError:
        role = None
    return eui, role


def _subject(eui: str, role: int) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, f"{role:02X}"),
            x509.NameAttribute(
                NameOID.X500_UNIQUE_IDENTIFIER, b"\x00" + eui_bytes(eui), _type=_ASN1Type.BitString
            ),
        ]
    )


def _serial() -> int:
    return secrets.randbits(127) | (1 << 120)  # 37–39 decimal digits, like the DCC's


@dataclass(frozen=True)
class Identity:
    eui: str
    key_path: Path
    cert_path: Path


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    path.chmod(0o600)


def _write_cert(path: Path, cert: x509.Certificate) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _cert_row(cert: x509.Certificate, kind: str) -> Certificate:
    eui, role = _subject_fields(cert)
    return Certificate(
        issuer=cert.issuer.rfc4514_string(),  # as DUIS KeyInfo writes it: CN=Z1,OU=07
        serial=str(cert.serial_number),
        kind=kind,
        subject_eui=eui,
        role_code=role,
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        pem=cert.public_bytes(serialization.Encoding.PEM).decode(),
    )


def _set(session: Session, key: str, value: str) -> None:
    session.merge(Setting(key=key, value=value))


def init_pki(engine: Engine, out_dir: Path, *, now: datetime, years: int = 10) -> list[Identity]:
    """Create the CA, one XML-signing identity per User (not the DCC operator), and the DSP identity."""
    out_dir.mkdir(parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "07"),
            x509.NameAttribute(NameOID.COMMON_NAME, "H1"),
        ]
    )
    not_before = now - timedelta(days=1)
    not_after = now + timedelta(days=365 * years)
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(_serial())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    _write_key(out_dir / "ca.key.pem", ca_key)
    _write_cert(out_dir / "ca.pem", ca)

    def leaf(eui: str, role: int) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            x509.CertificateBuilder()
            .subject_name(_subject(eui, role))
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(_serial())
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(
                x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
            )
            .sign(ca_key, hashes.SHA256())
        )
        return key, cert

    identities: list[Identity] = []
    with Session(engine) as session, session.begin():
        session.execute(delete(Certificate).where(Certificate.kind.in_(("ca", "leaf"))))
        session.add(_cert_row(ca, "ca"))
        users = session.scalars(select(User).order_by(User.eui)).all()
        for user in users:
            if Role.DCC.value in user.role_set():
                continue  # the operator signs in to the SSI; it sends no DUIS
            key, cert = leaf(user.eui, ROLE_XML_SIGNING)
            stem = user.eui.replace("-", "")
            ident = Identity(
                user.eui, out_dir / "users" / f"{stem}.key.pem", out_dir / "users" / f"{stem}.pem"
            )
            _write_key(ident.key_path, key)
            _write_cert(ident.cert_path, cert)
            session.add(_cert_row(cert, "leaf"))
            identities.append(ident)
        dsp_key, dsp_cert = leaf(DSP_EUI, ROLE_DSP_XML_SIGNING)
        _write_key(out_dir / "dsp.key.pem", dsp_key)
        _write_cert(out_dir / "dsp.pem", dsp_cert)
        session.add(_cert_row(dsp_cert, "leaf"))
        _set(session, DSP_KEY_SETTING, str((out_dir / "dsp.key.pem").resolve()))
        _set(session, DSP_CERT_SETTING, str((out_dir / "dsp.pem").resolve()))
    return identities


DCCBOXED_USERS = (
    ("90-B3-D5-1F-30-01-00-00", "DCC Boxed Supplier", "IS GS"),
    ("90-B3-D5-1F-30-02-00-00", "DCC Boxed Network Operator", "ED"),
    ("00-DB-12-34-56-78-00-04", "DCC Boxed Other User", "OU"),
)
DCCBOXED_DSP = "Z1-accessControlBroker-dSPXmlSign"


def _load_dccboxed_certs(src: Path) -> dict[int, x509.Certificate]:
    """Every signing certificate in the folder (*.pem and keystore.json), by serial.

    A *.pem that is not a certificate, or a keystore.json that is not the DCC Boxed shape, is refused
    (InputError); one keystore entry of the public folder is deliberately malformed and is skipped."""
    certs: dict[int, x509.Certificate] = {}
    for pem in sorted(src.glob("*.pem")):
        if pem.name.endswith(".key.pem"):
            continue
        try:
            cert = x509.load_pem_x509_certificate(pem.read_bytes())
        except ValueError as e:
            raise InputError(f"{pem} is not a PEM certificate") from e
        certs[cert.serial_number] = cert
    keystore = src / "keystore.json"
    if keystore.exists():
        try:
            entries = [
                entry
                for usages in json.loads(keystore.read_text(encoding="utf-8")).values()
                for entry in usages.get("digitalSignature", {}).values()
            ]
        except (ValueError, AttributeError) as e:
            raise InputError(f"{keystore} is not a DCC Boxed keystore (EUI → usage → serial → entry)") from e
        for entry in entries:
            try:
                cert = x509.load_pem_x509_certificate(str(entry["certificate"]).encode())
            except (ValueError, TypeError, KeyError):
                continue  # one keystore entry is deliberately malformed; it can never verify anything
            certs.setdefault(cert.serial_number, cert)
    return certs


def trust_dccboxed(engine: Engine, src: Path, data_dir: Path) -> int:
    """Load the DCC Boxed identities from `src`; return the number of certificates pinned.

    Everything is read and checked before anything changes: a folder without the DSP's key and certificate,
    a key that is not an EC private key, a key that does not match its certificate, an unreadable
    certificate, or no XML-signing certificate for one of the three DCC Boxed Users is refused (InputError)
    with the store and the data folder untouched."""
    key = src / f"{DCCBOXED_DSP}.key.pem"
    cert_file = src / f"{DCCBOXED_DSP}.pem"
    if not src.is_dir():
        raise InputError(f"{src} is not a folder (give the DCC Boxed PKI folder, e.g. tests/data/duis/pki)")
    missing = [p.name for p in (key, cert_file) if not p.is_file()]
    if missing:
        raise InputError(
            f"{src} does not hold {' and '.join(missing)} (the DCC Boxed DSP's signing identity)"
        )
    try:
        dsp_key = serialization.load_pem_private_key(key.read_bytes(), password=None)
    except (ValueError, TypeError) as e:
        raise InputError(f"{key} is not an unencrypted PEM private key") from e
    try:
        dsp_cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
    except ValueError as e:
        raise InputError(f"{cert_file} is not a PEM certificate") from e
    if not isinstance(dsp_key, ec.EllipticCurvePrivateKey) or dsp_key.public_key() != dsp_cert.public_key():
        raise InputError(f"{key.name} is not the private key of {cert_file.name}")
    certs = _load_dccboxed_certs(src)
    signers = {_subject_fields(c) for c in certs.values()}
    unsigned = [eui for eui, _, _ in DCCBOXED_USERS if (eui, ROLE_XML_SIGNING) not in signers]
    if unsigned:
        raise InputError(
            f"{src} holds no XML-signing certificate (role {ROLE_XML_SIGNING}) for {', '.join(unsigned)} "
            "(the DCC Boxed Users' xml-sign-<EUI>-ds.pem files or keystore.json)"
        )
    dest = data_dir / "pki" / "dccboxed"
    dest.mkdir(parents=True, exist_ok=True)
    for source in (key, cert_file):
        tmp = dest / (source.name + ".part")
        tmp.unlink(missing_ok=True)
        tmp.touch(
            mode=0o600 if source is key else 0o644
        )  # the key is never readable by others, not even briefly
        shutil.copyfile(source, tmp)
        tmp.replace(dest / source.name)
    with Session(engine) as session, session.begin():
        for eui, name, roles in DCCBOXED_USERS:
            existing = session.get(User, eui)
            if existing is None:
                session.add(User(eui=eui, name=name, roles=roles, status="Active"))
            else:
                existing.roles = " ".join(sorted(existing.role_set() | set(roles.split())))
        serials = [str(s) for s in certs]
        session.execute(delete(Certificate).where(Certificate.serial.in_(serials)))
        for cert in certs.values():
            session.add(_cert_row(cert, "pinned"))
        _set(session, DSP_KEY_SETTING, str((dest / key.name).resolve()))
        _set(session, DSP_CERT_SETTING, str((dest / cert_file.name).resolve()))
    return len(certs)
