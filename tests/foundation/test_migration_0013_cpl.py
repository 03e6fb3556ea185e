"""Migration 0013 (CPL entries per model) on a populated store, both backends: after it two models may list
the same firmware version, one model may not list it twice, and the way down keeps one entry per version."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from hanota.db.engine import make_engine
from hanota.db.migrate import current_revision, downgrade, upgrade

INSERT = text(
    "INSERT INTO cpl_entries (device_type, manufacturer, model, hw_version_min, hw_version_max, "
    "firmware_version, firmware_hash, gbcs_version, status, upgradeable, image_type) "
    "VALUES (:t, '121D', :model, 0, 65535, '00000000', :hash, '4.2', 'Active', :up, 0)"
)


def _rows(url: str) -> list[tuple[str, str]]:
    eng = make_engine(url)
    try:
        with eng.connect() as conn:
            return [
                tuple(r) for r in conn.execute(text("SELECT device_type, model FROM cpl_entries ORDER BY id"))
            ]
    finally:
        eng.dispose()


def test_0013_keys_the_cpl_by_model_and_version_and_goes_back_down(db_url: str) -> None:
    """Before migration 0013 a firmware version is listed once whatever the model; after it two models may
    list the same version but one model not twice; going down keeps the first entry per version."""
    upgrade(db_url, "0012")
    eng = make_engine(db_url)
    try:
        with eng.begin() as conn:
            conn.execute(INSERT, {"t": "PPMID", "model": "00000084", "hash": "a" * 64, "up": True})
            # before: one entry per version, whatever the model
            with pytest.raises(IntegrityError), conn.begin_nested():
                conn.execute(INSERT, {"t": "ESME", "model": "00000001", "hash": "a" * 64, "up": True})
        upgrade(db_url, "0013")
        assert current_revision(db_url) == "0013"
        with eng.begin() as conn:
            conn.execute(INSERT, {"t": "ESME", "model": "00000001", "hash": "a" * 64, "up": True})
        with eng.begin() as conn, pytest.raises(IntegrityError):  # one model still lists a version once
            conn.execute(INSERT, {"t": "ESME", "model": "00000001", "hash": "b" * 64, "up": False})
    finally:
        eng.dispose()
    assert _rows(db_url) == [("PPMID", "00000084"), ("ESME", "00000001")]
    downgrade(db_url, "0012")
    assert current_revision(db_url) == "0012"
    assert _rows(db_url) == [("PPMID", "00000084")]  # the first entry of the version is kept
