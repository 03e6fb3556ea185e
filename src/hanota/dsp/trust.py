"""The DSP's trust store, backed by the `certificates` table, and the DSP's own signing identity."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from sqlalchemy import Engine, select

from hanota.db.models import Certificate, Setting
from hanota.duis import Signer, load_certificate, load_private_key
from hanota.duis.signing import normalise_dn
from hanota.errors import ConfigError
from hanota.estate.pki import DSP_CERT_SETTING, DSP_KEY_SETTING

RELOAD_MIN_SECONDS = 1.0
_SHA256 = hashes.SHA256()


class DbTrustStore:
    """Certificates from the store, cached in memory; an unknown serial triggers a reload at most once a
    second (so a new User's certificate is seen at once, and a flood of unknown serials costs nothing)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._lock = threading.Lock()
        self._loaded_at = 0.0
        self._by_serial: dict[int, list[x509.Certificate]] = {}
        self._issuers: list[x509.Certificate] = []
        self._pinned: set[bytes] = set()
        self.reload()

    def reload(self) -> None:
        with self._engine.connect() as conn:
            rows = conn.execute(select(Certificate.kind, Certificate.pem)).all()
        by_serial: dict[int, list[x509.Certificate]] = {}
        issuers: list[x509.Certificate] = []
        pinned: set[bytes] = set()
        for kind, pem in rows:
            cert = x509.load_pem_x509_certificate(pem.encode())
            if kind == "ca":
                issuers.append(cert)
                continue
            by_serial.setdefault(cert.serial_number, []).append(cert)
            if kind == "pinned":
                pinned.add(cert.fingerprint(_SHA256))
        with self._lock:
            self._by_serial, self._issuers, self._pinned = by_serial, issuers, pinned
            self._loaded_at = time.monotonic()

    def _find(self, serial: int, issuer: str) -> x509.Certificate | None:
        wanted = normalise_dn(issuer)
        for cert in self._by_serial.get(serial, []):
            if normalise_dn(cert.issuer.rfc4514_string()) == wanted:
                return cert
        return None

    def certificate_by_serial(self, serial: int, issuer: str) -> x509.Certificate | None:
        found = self._find(serial, issuer)
        if found is None and time.monotonic() - self._loaded_at >= RELOAD_MIN_SECONDS:
            self.reload()
            found = self._find(serial, issuer)
        return found

    def trusted_issuers(self) -> list[x509.Certificate]:
        return list(self._issuers)

    def is_pinned(self, certificate: x509.Certificate) -> bool:
        return certificate.fingerprint(_SHA256) in self._pinned


def dsp_signer(engine: Engine) -> Signer:
    """The DSP's response-signing identity, as `hanota pki init` or `pki trust-dccboxed` last set it."""
    with engine.connect() as conn:
        settings = dict(conn.execute(select(Setting.key, Setting.value)).all())
    key, cert = settings.get(DSP_KEY_SETTING), settings.get(DSP_CERT_SETTING)
    if not key or not cert or not Path(key).exists() or not Path(cert).exists():
        raise ConfigError(
            "the DSP has no signing key: run `hanota pki init` (or `hanota pki trust-dccboxed DIR`)"
        )
    return Signer(load_private_key(key), load_certificate(cert))
