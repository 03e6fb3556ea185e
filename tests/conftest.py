"""Fixtures every test package shares: the public DUIS test material, the databases, and the CI rule.

The CI rule: a test that needs something the machine lacks (PostgreSQL, xmlsec1, chromium)
skips with the reason on a developer's machine, and FAILS when `CI` is set, so CI can never pass by
skipping.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from hanota.db.engine import make_engine
from hanota.db.migrate import upgrade
from support import need, shared_path

PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/test"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """The folder holding `duis/` (DCC Boxed PKI, request samples, golden responses): the vendored
    `tests/data`, or $HANOTA_SHARED_DIR. A folder without `duis/` is an error, never a skip."""
    p = shared_path()
    if not (p / "duis").is_dir():
        hint = (
            "HANOTA_SHARED_DIR names a folder without" if os.environ.get("HANOTA_SHARED_DIR") else "missing:"
        )
        pytest.fail(f"{hint} {p / 'duis'} (the vendored copy is tests/data/duis)")
    return p


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'hanota.db'}"


def _pg_base() -> str:
    return os.environ.get("HANOTA_TEST_PG_URL", PG_DEFAULT)


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh schema, dropped afterwards."""
    base = _pg_base()
    admin = make_engine(base)
    try:
        with admin.connect() as c:
            c.execute(text("SELECT 1"))
    except Exception as e:
        admin.dispose()
        need(False, f"needs PostgreSQL at {base}: {e.__class__.__name__}")
    schema = f"t_{secrets.token_hex(6)}"
    with admin.begin() as c:
        c.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in base else "?"
    url = f"{base}{sep}options=-csearch_path%3D{schema}"
    try:
        yield url
    finally:
        with admin.begin() as c:
            c.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each test that takes `db_url` runs on SQLite (make test) and on PostgreSQL (make test-pg)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'hanota.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """A migrated, empty store on each database."""
    upgrade(db_url)
    eng = make_engine(db_url)
    yield eng
    eng.dispose()
