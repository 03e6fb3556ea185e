"""The DSP's trust store, backed by the `certificates` table, and the DSP's own signing identity."""

from __future__ import annotations

import time
from pathlib import Path

from cryptography import x509
from sqlalchemy import Engine, select

from hanota.db.models import Certificate, Setting
from hanota.duis import Signer, StaticTrustStore, load_certificate, load_private_key
from hanota.errors import ConfigError
from hanota.pki import DSP_CERT_SETTING, DSP_KEY_SETTING

RELOAD_MIN_SECONDS = 1.0


class DbTrustStore:
    """The `certificates` table as a `TrustStore`: an in-memory `StaticTrustStore` snapshot, swapped whole on
    reload. An unknown serial triggers a reload at most once a second, so a new User's certificate is seen
    at once and a flood of unknown serials costs nothing."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._loaded_at = 0.0
        self._snapshot = StaticTrustStore()
        self.reload()

    def reload(self) -> None:
        with self._engine.connect() as conn:
            rows = conn.execute(select(Certificate.kind, Certificate.pem)).all()
        by_kind: dict[str, list[x509.Certificate]] = {"ca": [], "pinned": [], "leaf": []}
        for kind, pem in rows:
            by_kind.setdefault(kind, []).append(x509.load_pem_x509_certificate(pem.encode()))
        self._snapshot = StaticTrustStore(
            pinned=by_kind["pinned"], issued=by_kind["leaf"], issuers=by_kind["ca"]
        )
        self._loaded_at = time.monotonic()

    def certificate_by_serial(self, serial: int, issuer: str) -> x509.Certificate | None:
        found = self._snapshot.certificate_by_serial(serial, issuer)
        if found is None and time.monotonic() - self._loaded_at >= RELOAD_MIN_SECONDS:
            self.reload()
            found = self._snapshot.certificate_by_serial(serial, issuer)
        return found

    def trusted_issuers(self) -> list[x509.Certificate]:
        return self._snapshot.trusted_issuers()

    def is_pinned(self, certificate: x509.Certificate) -> bool:
        return self._snapshot.is_pinned(certificate)


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
