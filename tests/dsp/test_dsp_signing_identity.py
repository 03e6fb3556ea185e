"""The DSP finds its response-signing identity where `hanota pki init` records it, by keys owned by
`hanota.pki`, without importing the estate's test-PKI generator."""

from __future__ import annotations

import ast
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, delete, insert

import hanota.dsp as dsp_package
from hanota.db.models import Setting
from hanota.dsp.trust import dsp_signer
from hanota.duis import load_certificate
from hanota.errors import ConfigError
from hanota.estate.pki import init_pki
from hanota.pki import DSP_CERT_SETTING, DSP_KEY_SETTING


def test_the_dsp_signs_with_the_identity_pki_init_recorded(engine: Engine, tmp_path: Path) -> None:
    """After `init_pki` the DSP's signer is the recorded DSP certificate; without the key row it refuses."""
    init_pki(engine, tmp_path / "pki", now=datetime(2026, 1, 1, tzinfo=UTC))
    assert dsp_signer(engine).certificate == load_certificate(tmp_path / "pki" / "dsp.pem")
    for setting in (DSP_KEY_SETTING, DSP_CERT_SETTING):
        with engine.begin() as conn:
            value = conn.execute(
                delete(Setting).where(Setting.key == setting).returning(Setting.value)
            ).scalar_one()
        with pytest.raises(ConfigError):
            dsp_signer(engine)
        with engine.begin() as conn:
            conn.execute(insert(Setting).values(key=setting, value=value))


def test_no_dsp_module_imports_the_estate_package() -> None:
    """`hanota.dsp` may not depend on the estate generator (`hanota.estate`), for constants or otherwise."""
    offenders = []
    for path in Path(dsp_package.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            names += [a.name for a in node.names] if isinstance(node, ast.Import) else []
            offenders += [
                f"{path.name}: {n}" for n in names if n == "hanota.estate" or n.startswith("hanota.estate.")
            ]
    assert offenders == []
