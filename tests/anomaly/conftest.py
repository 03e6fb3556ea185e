"""Fixtures of the anomaly tests: `env` (a DSP over the crafted estate, on SQLite and PostgreSQL) and the
`live` server of tests/api."""

from __future__ import annotations

from pathlib import Path

import pytest
from anomaly_testkit import Env, build_env
from sqlalchemy import Engine

from api.conftest import live  # noqa: F401 - re-exported fixture: a real uvicorn server over the crafted estate


@pytest.fixture
def env(engine: Engine, tmp_path: Path) -> Env:
    return build_env(engine, tmp_path / "pki")
