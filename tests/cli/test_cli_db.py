"""`hanota db downgrade` on a populated store (SQLite and PostgreSQL): it needs an explicit target and a
confirmation, walks down every revision with the data in place (devices referred to by registrations,
history and CSP targets; pre-notified devices; requests, alerts, quarantine, credentials), comes back up
with `hanota db upgrade`, and a downgrade that cannot be completed changes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, func, inspect, select, text

from cli.conftest import Hanota
from hanota.api.app import create_app
from hanota.bootstrap import build_context, make_router
from hanota.db.engine import make_engine
from hanota.db.migrate import head_revision, history
from hanota.db.models import Base
from hanota.estate.dccboxed import (
    PPMID,
    PPMID_MODEL,
    SAMPLE_FIRMWARE_VERSION,
    SAMPLE_PPMID_IMAGE,
    SUPPLIER_EUI,
)
from hanota.settings import Settings
from liveserver import LiveServer

NEW_DEVICE = "00-DB-12-34-56-78-90-B9"
# tables whose rows the populated store must hold, so that the walk down meets them
POPULATED = ("devices", "supplier_registrations", "firmware_history", "service_requests", "request_devices",
             "distribution_jobs", "alert_outbox", "csp_distributions", "csp_targets", "quarantined_requests",
             "anomaly_user_thresholds", "anomaly_audit", "web_credentials")  # fmt: skip


def populate(h: Hanota, work: Path) -> None:
    """An estate with the DCC Boxed home, PKI, SSI passwords, a threshold; through a live DSP: an accepted
    SR 11.4 (sent on to the in-process CSP gateway), an SR 12.2 pre-notification, and an SR 8.2 held in
    quarantine."""
    h.ok("estate", "generate", "--homes", "10", "--dccboxed")
    h.ok("pki", "init")
    h.ok("users", "dev-passwords")
    stem = h.data_dir / "pki" / "users" / SUPPLIER_EUI.replace("-", "")
    key, cert = f"{stem}.key.pem", f"{stem}.pem"
    ctx = build_context(Settings(data_dir=h.data_dir, database_url=h.database_url), migrate=False)
    try:
        with LiveServer(create_app(ctx)) as server:

            def send(name: str, *build: str) -> str:
                h.ok("sr", "build", *build, "--originator", SUPPLIER_EUI, "-o", str(work / f"{name}.xml"))
                h.ok("sr", "sign", "--key", key, "--cert", cert, str(work / f"{name}.xml"), "-o",
                     str(work / f"{name}.signed.xml"))  # fmt: skip
                r = h.run("sr", "submit", server.url, str(work / f"{name}.signed.xml"))
                return str((r.stdout or r.stderr).replace("refused: ", "").split()[0])

            (work / "image.bin").write_bytes(SAMPLE_PPMID_IMAGE)
            assert send("ppmid", "11.4", "--image", str(work / "image.bin"), "--firmware-version",
                        SAMPLE_FIRMWARE_VERSION, "--device", PPMID) == "I0"  # fmt: skip
            assert send("prenotify", "12.2", "--device", NEW_DEVICE, "--device-type", "PPMID", "--manufacturer",
                        PPMID_MODEL.manufacturer, "--model", PPMID_MODEL.model, "--firmware-version",
                        SAMPLE_FIRMWARE_VERSION) == "I0"  # fmt: skip
            h.ok("thresholds", "set", SUPPLIER_EUI, "8.2", "--reason", "pilot", "--max-requests", "1")
            assert send("read1", "8.2", "--device", PPMID) == "I0"
            assert send("read2", "8.2", "--device", PPMID) == "E43"
            router = make_router(ctx, server.url, name="test")
            try:
                assert router.run_once() == 1
            finally:
                router.close()
    finally:
        ctx.engine.dispose()


@pytest.fixture
def store(tmp_path: Path, db_url: str) -> Iterator[tuple[Hanota, Engine]]:
    h = Hanota(tmp_path / "data", db_url, {"HANOTA_LOG_LEVEL": "warning"})
    work = tmp_path / "work"
    work.mkdir()
    populate(h, work)
    engine = make_engine(db_url)
    with engine.connect() as conn:
        for table in POPULATED:
            assert conn.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one() > 0, table  # noqa: S608
        assert conn.execute(text("SELECT COUNT(*) FROM devices WHERE premises_id IS NULL")).scalar_one() == 1
    yield h, engine
    engine.dispose()


def version(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {t: conn.execute(select(func.count()).select_from(text(t))).scalar_one() for t in POPULATED}


def test_downgrade_needs_a_target_and_a_confirmation(store: tuple[Hanota, Engine]) -> None:
    """No default target (it used to be `base`: everything wiped without a word); unknown or higher
    targets are refused; the plan is shown and nothing happens unless it is confirmed."""
    h, engine = store
    head, before = version(engine), counts(engine)
    assert head == head_revision()
    assert "Missing argument 'revision'" in h.fails(2, "db", "downgrade")
    assert "unknown revision '0099'" in h.fails(2, "db", "downgrade", "0099")
    declined = h.run("db", "downgrade", "0005", input="n\n")
    assert declined.exit_code == 1 and "not confirmed: nothing changed" in declined.stderr
    assert "0006  anomaly thresholds" in declined.stdout and "0005  " not in declined.stdout
    assert h.run("db", "downgrade", "base", input="").exit_code == 1  # no answer is no
    assert (version(engine), counts(engine)) == (head, before)
    assert "already at" in h.ok("db", "downgrade", head or "").stdout


def test_downgrade_a_populated_store_to_every_revision_and_back(store: tuple[Hanota, Engine]) -> None:
    """Down one revision at a time to base (0003 drops the pre-notified device it cannot hold), then up
    again: the schema matches the models. The estate's own rows survive every step they can."""
    h, engine = store
    devices = counts(engine)["devices"]
    revisions = [step.revision for step in history()]  # newest first
    for target in [*revisions[1:], "base"]:
        out = h.ok("db", "downgrade", target, input="y\n").stdout
        assert f"to {target}" in out
        assert version(engine) == (None if target == "base" else target)
        if target == "0002":
            assert counts_of(engine, "devices") == devices - 1
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    h.ok("db", "upgrade")
    assert version(engine) == head_revision()
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []


def test_downgrade_in_one_step_from_head_to_0002(store: tuple[Hanota, Engine]) -> None:
    """`db downgrade 0002` goes from the head to 0002 in one command and keeps the data the older schema
    has; `db upgrade` brings the store back to the head."""
    h, engine = store
    h.ok("db", "downgrade", "0002", "--yes")
    assert version(engine) == "0002"
    assert counts_of(engine, "request_devices") > 0 and counts_of(engine, "supplier_registrations") > 0
    h.ok("db", "upgrade")
    assert version(engine) == head_revision()


def counts_of(engine: Engine, table: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(text(table))).scalar_one())


def test_a_downgrade_that_cannot_complete_changes_nothing(sqlite_hanota: Hanota, tmp_path: Path) -> None:
    """SQLite: a row that refers to a missing row (written with enforcement off, behind hanota's back) makes
    the downgrade fail at its final check, in one line; every step before it is undone with it."""
    h = sqlite_hanota
    h.ok("estate", "generate", "--homes", "5")
    engine = make_engine(h.database_url)
    try:
        raw = engine.raw_connection()
        try:
            raw.driver_connection.execute("PRAGMA foreign_keys=OFF")  # type: ignore[union-attr]
            raw.driver_connection.execute(  # type: ignore[union-attr]
                "INSERT INTO firmware_history (device_id, firmware_version, recorded_at, source) "
                "VALUES ('AA-AA-AA-AA-AA-AA-AA-AA', '01010000', '2026-01-01', 'orphan')"
            )
            raw.commit()
        finally:
            raw.close()
        head, tables = version(engine), sorted(inspect(engine).get_table_names())
        line = h.fails(2, "db", "downgrade", "0005", "--yes")
        assert "refer" in line and "firmware_history" in line and "nothing was changed" in line
        engine.dispose()
        assert version(engine) == head and sorted(inspect(engine).get_table_names()) == tables
    finally:
        engine.dispose()
