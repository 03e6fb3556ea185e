"""The test PKI carries the DUIS certificate fields; DCC Boxed identities load as Users and pinned certs."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy import Engine, select

from hanota.db.models import Certificate, Setting, User
from hanota.duis.codes import DCC_EUI as DSP_EUI
from hanota.duis.signing import certificate_eui as cert_eui
from hanota.duis.signing import certificate_role as cert_role
from hanota.estate.generate import generate
from hanota.estate.pki import (
    DSP_CERT_SETTING,
    DSP_KEY_SETTING,
    init_pki,
    trust_dccboxed,
)

NOW = datetime(2026, 11, 20, tzinfo=UTC)


def _verify_issued_by(cert: x509.Certificate, ca: x509.Certificate) -> None:
    pub = ca.public_key()
    assert isinstance(pub, ec.EllipticCurvePublicKey)
    assert cert.signature_hash_algorithm is not None
    pub.verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(cert.signature_hash_algorithm))
    assert cert.issuer == ca.subject


def test_init_pki_issues_duis_shaped_certificates(engine: Engine, tmp_path: Path) -> None:
    """The test PKI issues, under a CA named like the DCC's, one certificate per signing User with its EUI,
    the digital-signing role and validity at the time given, private keys readable by the owner only,
    and the DSP's own certificate (role 137) and key, all recorded in the store."""
    generate(engine, homes=5, seed=1)
    ids = init_pki(engine, tmp_path / "pki", now=NOW)
    ca = x509.load_pem_x509_certificate((tmp_path / "pki/ca.pem").read_bytes())
    assert ca.subject.rfc4514_string() == "CN=H1,OU=07"
    with engine.connect() as c:
        users = {u.eui: u for u in c.execute(select(User)).all()}
        certs = c.execute(select(Certificate)).all()
        settings = dict(c.execute(select(Setting.key, Setting.value)).all())
    signing_users = {e for e, u in users.items() if "DCC" not in u.roles.split()}
    assert {i.eui for i in ids} == signing_users
    for ident in ids:
        cert = x509.load_pem_x509_certificate(ident.cert_path.read_bytes())
        assert cert_eui(cert) == ident.eui
        assert cert_role(cert) == 135
        ou = cert.subject.get_attributes_for_oid(NameOID.ORGANIZATIONAL_UNIT_NAME)[0].value
        assert ou == "87"
        _verify_issued_by(cert, ca)
        assert cert.not_valid_before_utc <= NOW <= cert.not_valid_after_utc
        assert ident.key_path.stat().st_mode & 0o077 == 0, "private keys are not world-readable"
    dsp = x509.load_pem_x509_certificate(Path(settings[DSP_CERT_SETTING]).read_bytes())
    assert cert_eui(dsp) == DSP_EUI and cert_role(dsp) == 137
    assert Path(settings[DSP_KEY_SETTING]).exists()
    kinds = {c.kind for c in certs}
    assert kinds == {"ca", "leaf"}
    assert len([c for c in certs if c.kind == "leaf"]) == len(ids) + 1


def test_x500_unique_identifier_is_encoded_like_dcc_boxed(
    engine: Engine, tmp_path: Path, shared_dir: Path
) -> None:
    """Same ASN.1 shape as the DCC Boxed certificates: a BIT STRING holding the 8-byte EUI."""
    generate(engine, homes=1, seed=1)
    ids = init_pki(engine, tmp_path / "pki", now=NOW)
    ours = x509.load_pem_x509_certificate(ids[0].cert_path.read_bytes())
    theirs = x509.load_pem_x509_certificate(
        (shared_dir / "duis/pki/xml-sign-90B3D51F30010000-ds.pem").read_bytes()
    )
    a = ours.subject.get_attributes_for_oid(NameOID.X500_UNIQUE_IDENTIFIER)[0]
    b = theirs.subject.get_attributes_for_oid(NameOID.X500_UNIQUE_IDENTIFIER)[0]
    assert a._type == b._type
    assert len(a.value) == len(b.value) == 9
    assert cert_eui(theirs) == "90-B3-D5-1F-30-01-00-00"
    assert ours.signature_hash_algorithm is not None
    assert isinstance(ours.signature_hash_algorithm, hashes.SHA256)


def test_trust_dccboxed_loads_users_certs_and_the_dsp_key(
    engine: Engine, tmp_path: Path, shared_dir: Path
) -> None:
    """Trusting the public DCC Boxed PKI registers its Users with their roles, pins their certificates and the
    DSP's with EUI and role, and makes its DSP key the signing key; loading it twice changes nothing."""
    n = trust_dccboxed(engine, shared_dir / "duis/pki", tmp_path)
    assert n >= 8
    with engine.connect() as c:
        users = {u.eui: set(u.roles.split()) for u in c.execute(select(User)).all()}
        pinned = {
            c.serial: c for c in c.execute(select(Certificate).where(Certificate.kind == "pinned")).all()
        }
        settings = dict(c.execute(select(Setting.key, Setting.value)).all())
    assert users["90-B3-D5-1F-30-01-00-00"] == {"IS", "GS"}
    assert users["90-B3-D5-1F-30-02-00-00"] == {"ED"}
    assert users["00-DB-12-34-56-78-00-04"] == {"OU"}
    supplier = pinned["27572613927499351639968579586655397031"]
    assert supplier.subject_eui == "90-B3-D5-1F-30-01-00-00" and supplier.role_code == 135
    assert supplier.issuer == "CN=Z1,OU=07"
    dsp = pinned["20315062944123339095836004026371736578"]
    assert dsp.role_code == 137 and dsp.subject_eui == "90-B3-D5-1F-30-00-00-02"
    assert settings[DSP_KEY_SETTING].endswith("Z1-accessControlBroker-dSPXmlSign.key.pem")
    assert Path(settings[DSP_KEY_SETTING]).exists()
    # loading twice is idempotent
    assert trust_dccboxed(engine, shared_dir / "duis/pki", tmp_path) == n
