"""The ESI inventory extract and the billing counts, from the command line and the web."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, update
from typer.testing import CliRunner

import crafted as c
from hanota.cli.main import app
from hanota.clock import SystemClock
from hanota.db.engine import read_engine
from hanota.db.models import Device
from hanota.logs import configure_logging
from hanota.ssi.billing import billing_rows, parse_month
from hanota.ssi.esi import ESI_COLUMNS, write_extract
from hanota.ssi.queries import Scope
from ssi.conftest import OPERATOR, SSILive, fake_request, seed_users


def csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """The CLI configures structlog to print to the sys.stderr of the moment, which CliRunner swaps for a
    buffer it then closes: put logging back on the real stderr after each test."""
    yield
    configure_logging()


@pytest.fixture
def estate(engine: Engine) -> Engine:
    c.build(engine)
    seed_users(engine)
    return engine


def test_extract_holds_every_device_with_display_firmware(estate: Engine) -> None:
    """The operator's extract has one row per device, in device ID order, with firmware version, version
    status, model CPL status and upgradeability — an IHD without a version is blank and not upgradeable."""
    out = io.StringIO()
    n = write_extract(read_engine(estate), Scope("", True, c.NOW), out)
    rows = csv_rows(out.getvalue())
    assert n == len(rows) == 15 and list(rows[0]) == list(ESI_COLUMNS)
    assert [r["device_id"] for r in rows] == sorted(r["device_id"] for r in rows)
    by_id = {r["device_id"]: r for r in rows}
    assert by_id[c.I_OK] | {} == by_id[c.I_OK] and by_id[c.I_OK]["firmware_version"] == c.OLD_VERSION
    assert by_id[c.I_OK]["firmware_version_status"] == "Active" and by_id[c.I_OK]["upgradeable"] == "true"
    assert by_id[c.I_OK]["smi_status"] == "" and by_id[c.I_OK]["device_type"] == "IHD"
    assert by_id[c.I_NOFW]["firmware_version"] == "" and by_id[c.I_NOFW]["upgradeable"] == "false"
    assert (
        by_id[c.P_OLDFW]["firmware_version"] == c.STUCK_VERSION and by_id[c.P_OLDFW]["upgradeable"] == "false"
    )
    assert by_id[c.P_NOTMINE]["csp_region"] == "South" and by_id[c.P_NOTMINE]["hub_id"] == c.H3
    assert by_id[c.P_HW]["hardware_version"] == "1300" and by_id[c.P_OK]["model_cpl_status"] == "Active"
    assert by_id[c.P_OK]["uprn"] == "000000000001" and by_id[c.P_OK]["postcode"] == "T1 1AA"


def test_extract_for_a_user_is_its_devices(estate: Engine) -> None:
    """`--user` style extracts hold exactly the devices that User is interested in."""
    out = io.StringIO()
    write_extract(read_engine(estate), Scope(c.S3, False, c.NOW), out)
    assert {r["device_id"] for r in csv_rows(out.getvalue())} == {c.E3, c.P_NOTMINE}


def test_esi_extract_command_writes_the_file(estate: Engine, db_url: str, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    """`hanota esi extract OUT.csv` writes the whole extract (no partial file left behind) and says how
    many devices; `--user` restricts it; a bad User ID is refused with exit code 2."""
    monkeypatch.setenv("HANOTA_DATABASE_URL", db_url)
    monkeypatch.setenv("HANOTA_DATA_DIR", str(tmp_path))
    out = tmp_path / "esi.csv"
    r = CliRunner().invoke(app, ["esi", "extract", str(out)])
    assert r.exit_code == 0, r.output
    assert len(csv_rows(out.read_text())) == 15 and not (tmp_path / "esi.csv.part").exists()
    r = CliRunner().invoke(app, ["esi", "extract", str(out), "--user", c.S1.replace("-", "").lower()])
    assert r.exit_code == 0 and len(csv_rows(out.read_text())) == 12
    r = CliRunner().invoke(app, ["esi", "extract", str(out), "--user", "nobody"])
    assert r.exit_code == 2


def _billing_fixture(engine: Engine) -> None:
    def at(y: int, m: int, d: int = 5) -> datetime:
        return datetime(y, m, d, 12, tzinfo=UTC)

    dev = [{"device_id": f"CF-00-00-00-00-00-00-{i:02X}"} for i in range(10)]
    fake_request(engine, c.S1, dev, received=at(2026, 4))
    fake_request(engine, c.S1, [*dev[:4], {"device_id": "CF-00-00-00-00-00-01-00", "outcome": "InvalidDeviceIDList", "state": "rejected"}], received=at(2026, 4, 30))  # fmt: skip
    fake_request(engine, c.S1, dev[:2], received=at(2026, 5, 1))
    fake_request(engine, c.S2, dev[:3], received=at(2026, 4, 2), srv="11.1")
    fake_request(engine, c.S2, [], received=at(2026, 4, 3), srv="8.2", status="rejected")
    fake_request(engine, c.S2, [], received=at(2026, 3, 31), srv="8.2", status="rejected")


def test_billing_counts_per_user_srv_and_month(estate: Engine) -> None:
    """Requests are counted per User, SRV and UTC month; 11.4/11.1 also count devices listed and accepted;
    other SRVs have no device counts; a month range keeps only its months."""
    _billing_fixture(estate)
    with read_engine(estate).connect() as conn:
        rows = billing_rows(conn)
        got = {
            (b.month, b.user_eui, b.srv): (b.requests, b.requests_accepted, b.devices, b.devices_accepted)
            for b in rows
        }
        assert got == {
            ("2026-05", c.S1, "11.4"): (1, 1, 2, 2),
            ("2026-04", c.S1, "11.4"): (2, 2, 15, 14),
            ("2026-04", c.S2, "11.1"): (1, 1, 3, 3),
            ("2026-04", c.S2, "8.2"): (1, 0, None, None),
            ("2026-03", c.S2, "8.2"): (1, 0, None, None),
        }
        assert [b.month for b in rows] == sorted((b.month for b in rows), reverse=True)
        april = billing_rows(conn, start=parse_month("2026-04"), end=parse_month("2026-05"))
        assert {b.month for b in april} == {"2026-04"} and len(april) == 3
        s2 = billing_rows(conn, user=c.S2)
        assert {b.user_eui for b in s2} == {c.S2} and len(s2) == 3


def test_billing_web_report_and_csv_are_scoped(ssi: SSILive) -> None:
    """A supplier's billing page and CSV hold only its own counts; the operator sees every User and may
    filter by User and month; a malformed month is a 400."""
    _billing_fixture(ssi.engine)
    with ssi.sign_in(c.S2) as s2, ssi.sign_in(OPERATOR) as op:
        mine = csv_rows(s2.get("/ssi/billing.csv").text)
        assert {r["user_eui"] for r in mine} == {c.S2} and len(mine) == 3
        assert s2.get("/ssi/billing", params={"user": c.S1}).status_code == 200
        assert {r["user_eui"] for r in csv_rows(s2.get("/ssi/billing.csv", params={"user": c.S1}).text)} == {
            c.S2
        }
        every = csv_rows(op.get("/ssi/billing.csv").text)
        assert {r["user_eui"] for r in every} == {c.S1, c.S2} and len(every) == 5
        one = csv_rows(
            op.get("/ssi/billing.csv", params={"user": c.S1, "from": "2026-05", "to": "2026-05"}).text
        )
        assert one == [{"month": "2026-05", "user_eui": c.S1, "user_name": "S1", "srv": "11.4", "requests": "1",
                        "requests_accepted": "1", "devices": "2", "devices_accepted": "2"}]  # fmt: skip
        page = op.get("/ssi/billing")
        assert page.status_code == 200 and "2026-04" in page.text
        assert op.get("/ssi/billing", params={"from": "2026-13"}).status_code == 400
        assert op.get("/ssi/billing", params={"user": "x"}).status_code == 400


def test_billing_command_prints_and_writes_csv(estate: Engine, db_url: str, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    """`hanota billing` prints the table; `--csv` writes the same counts; a bad month is refused."""
    _billing_fixture(estate)
    monkeypatch.setenv("HANOTA_DATABASE_URL", db_url)
    monkeypatch.setenv("HANOTA_DATA_DIR", str(tmp_path))
    r = CliRunner().invoke(app, ["billing", "--from", "2026-04", "--to", "2026-04"])
    assert r.exit_code == 0 and "2026-04" in r.output and "2026-05" not in r.output
    out = tmp_path / "b.csv"
    r = CliRunner().invoke(app, ["billing", "--csv", str(out)])
    assert r.exit_code == 0 and len(csv_rows(out.read_text())) == 5
    assert CliRunner().invoke(app, ["billing", "--from", "April"]).exit_code == 2


def test_users_set_password_command(
    estate: Engine, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`hanota users set-password` sets a password from stdin or generates one and prints it once; it refuses
    short passwords and unknown Users; `dev-passwords` covers suppliers and the operator, not in production."""
    from hanota.ssi.auth import authenticate

    monkeypatch.setenv("HANOTA_DATABASE_URL", db_url)
    monkeypatch.setenv("HANOTA_DATA_DIR", str(tmp_path))
    runner = CliRunner()
    r = runner.invoke(
        app, ["users", "set-password", c.S3, "--password-stdin"], input="a-good-long-password\n"
    )
    assert r.exit_code == 0, r.output
    assert authenticate(estate, c.S3, "a-good-long-password", SystemClock().now())[0] == c.S3
    r = runner.invoke(app, ["users", "set-password", c.S3, "--generate"])
    generated = r.output.split()[-1]
    assert r.exit_code == 0 and len(generated) == 23
    assert authenticate(estate, c.S3, generated, SystemClock().now())[0] == c.S3
    assert (
        runner.invoke(app, ["users", "set-password", c.S3, "--password-stdin"], input="short\n").exit_code
        == 2
    )
    assert (
        runner.invoke(app, ["users", "set-password", "90-B3-D5-1F-00-00-00-99", "--generate"]).exit_code == 2
    )
    r = runner.invoke(app, ["users", "dev-passwords"])
    assert r.exit_code == 0 and c.GONE in r.output and c.S1 not in r.output, "only Users without a password"
    r = runner.invoke(app, ["users", "dev-passwords"])
    assert r.exit_code == 0 and "already have a password" in r.output
    r = runner.invoke(app, ["users", "dev-passwords", "--all"])
    assert r.exit_code == 0 and OPERATOR in r.output and c.S1 in r.output and c.OTHER not in r.output
    monkeypatch.setenv("HANOTA_ENVIRONMENT", "production")
    monkeypatch.setenv("HANOTA_SESSION_SECRET", "s" * 40)
    monkeypatch.setenv("HANOTA_CSP_SECRET", "t" * 40)
    assert runner.invoke(app, ["users", "dev-passwords"]).exit_code == 2


def test_extract_file_neutralises_spreadsheet_formulas(ssi: SSILive) -> None:
    """`write_extract` (the CLI's ESI extract) writes a text value that a spreadsheet would run as a formula
    with a leading quote, as the HTTP exports do."""
    with ssi.engine.begin() as conn:
        conn.execute(update(Device).where(Device.device_id == c.P_OK).values(model="=1+2"))
    out = io.StringIO()
    reader = read_engine(ssi.engine)
    try:
        n = write_extract(reader, Scope(OPERATOR, True, c.NOW), out)
    finally:
        if reader is not ssi.engine:
            reader.dispose()
    rows = {r["device_id"]: r for r in csv_rows(out.getvalue())}
    assert n == len(rows)
    assert rows[c.P_OK]["model"] == "'=1+2"
    assert not any(re.match(r"^[=+@]", v) for r in rows.values() for v in r.values() if v)
