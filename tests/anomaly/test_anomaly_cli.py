"""`hanota quarantine list|release|delete` and `hanota thresholds …` against a store: what they print,
what they change, and that refusals exit 1 with the reason and change nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from anomaly_testkit import OPERATOR, Env, build_env
from typer.testing import CliRunner

import crafted as c
from hanota.anomaly import audit
from hanota.anomaly.quarantine import get_quarantined, list_quarantined
from hanota.anomaly.thresholds import dcc_policy, set_user_threshold, user_threshold
from hanota.cli.main import app
from hanota.db.engine import make_engine
from hanota.db.migrate import upgrade


@pytest.fixture
def store(sqlite_url: str, tmp_path: Path) -> Env:
    upgrade(sqlite_url)
    return build_env(make_engine(sqlite_url), tmp_path / "pki")


def hanota(tmp_path: Path, url: str, *args: str) -> tuple[int, str]:
    env = {"HANOTA_DATA_DIR": str(tmp_path), "HANOTA_DATABASE_URL": url, "COLUMNS": "300"}
    result = CliRunner().invoke(app, list(args), env=env)
    return result.exit_code, " ".join(result.output.split())


def hold_two(store: Env) -> list[int]:
    with store.engine.begin() as conn:
        set_user_threshold(conn, user_eui=c.S1, srv="8.2", max_requests=1, actor_eui=c.S1, now=c.NOW)
    assert [store.read() for _ in range(3)] == ["I0", "E43", "E43"]
    with store.engine.connect() as conn:
        return [e.event_ref for e in list_quarantined(conn)]


def test_quarantine_list_release_and_delete(store: Env, sqlite_url: str, tmp_path: Path) -> None:
    """`hanota quarantine list` shows the held requests; `release` answers the User (I0) and `delete` tells it E43,
    each by the operator with the reason; a second decision on the same event is refused (exit 1, already
    deleted); `list --status all` shows both decided, and both decisions are in the audit log."""
    first, second = hold_two(store)
    code, out = hanota(tmp_path, sqlite_url, "quarantine", "list")
    assert code == 0 and "2 shown" in out and "ADUserThresholdBreach" in out and c.S1 in out
    code, out = hanota(
        tmp_path, sqlite_url, "quarantine", "release", str(first), "--reason", "expected burst"
    )
    assert code == 0, out
    assert f"quarantine event {first}" in out and f"released by {OPERATOR}" in out and "answered I0" in out
    code, out = hanota(tmp_path, sqlite_url, "quarantine", "delete", str(second), "--reason", "duplicate")
    assert code == 0 and "deleted" in out and "answered E43" in out, out
    code, out = hanota(
        tmp_path, sqlite_url, "quarantine", "release", str(second), "--reason", "changed my mind"
    )
    assert code == 1 and "refused: quarantine event" in out and "already deleted" in out
    code, out = hanota(tmp_path, sqlite_url, "quarantine", "list", "--status", "all")
    assert "released" in out and "deleted" in out and "2 shown" in out
    with store.engine.connect() as conn:
        assert (get_quarantined(conn, first).status, get_quarantined(conn, second).status) == (
            "released",
            "deleted",
        )
        entries = audit.list_audit(conn)
    assert [(e.action, e.actor_eui, e.reason) for e in entries[:2]] == [
        ("quarantine.delete", OPERATOR, "duplicate"), ("quarantine.release", OPERATOR, "expected burst"),
    ]  # fmt: skip


def test_a_decision_needs_a_reason_and_an_operator(store: Env, sqlite_url: str, tmp_path: Path) -> None:
    """A release without --reason is a usage error (exit 2) and one by a User who is not a DCC operator is refused
    (exit 1); either way the request stays quarantined."""
    first, _ = hold_two(store)
    code, out = hanota(tmp_path, sqlite_url, "quarantine", "release", str(first))
    assert code == 2 and "--reason" in out
    code, out = hanota(
        tmp_path, sqlite_url, "quarantine", "release", str(first), "--reason", "x", "--operator", c.S1
    )
    assert code == 1 and "not a DCC operator" in out
    with store.engine.connect() as conn:
        assert get_quarantined(conn, first).status == "quarantined"


def test_thresholds_show_set_clear_and_refuse(store: Env, sqlite_url: str, tmp_path: Path) -> None:
    """`hanota thresholds show` prints a User's thresholds (the DCC default), `set` refuses a value above the DCC
    bound (exit 1) and stores one within it, and `clear` brings back the default."""
    code, out = hanota(tmp_path, sqlite_url, "thresholds", "show", c.S1)
    assert code == 0 and "dcc-default" in out and "250,000" in out
    code, out = hanota(tmp_path, sqlite_url, "thresholds", "set", c.S1, "11.4", "--max-devices", "5000000",
                       "--reason", "asked")  # fmt: skip
    assert code == 1 and "above the DCC bound of 1,000,000" in out
    code, out = hanota(tmp_path, sqlite_url, "thresholds", "set", c.S1, "11.4", "--max-requests", "3",
                       "--max-devices", "9000", "--reason", "asked by the supplier")  # fmt: skip
    assert code == 0 and "at most 3 requests and 9,000 devices per 24 h" in out
    with store.engine.connect() as conn:
        assert user_threshold(conn, c.S1, "11.4").max_devices == 9_000
    code, out = hanota(tmp_path, sqlite_url, "thresholds", "clear", c.S1, "11.4", "--reason", "campaign over")
    assert code == 0 and "dcc-default applies" in out


def test_policies_audit_and_tokens(store: Env, sqlite_url: str, tmp_path: Path) -> None:
    """`hanota thresholds policy` prints the DCC policies; `policy-set` refuses an unguarded SRV (exit 1) or a value
    that is not FIELD=NUMBER (exit 2), stores a valid change by the operator and `policy-reset` undoes it,
    both in `audit`; `token` issues a User's API token once and `--revoke` revokes it."""
    code, out = hanota(tmp_path, sqlite_url, "thresholds", "policy")
    assert code == 0 and "2,000,000" in out and "2,097,152" in out
    code, out = hanota(tmp_path, sqlite_url, "thresholds", "policy-set", "11.4", "default_max_devices=none",
                       "--reason", "try")  # fmt: skip
    assert code == 1 and "never unguarded" in out
    code, out = hanota(
        tmp_path, sqlite_url, "thresholds", "policy-set", "11.4", "dcc_max_devices=abc", "--reason", "x"
    )
    assert code == 2 and "not FIELD=NUMBER" in out
    code, out = hanota(tmp_path, sqlite_url, "thresholds", "policy-set", "11.4", "dcc_max_devices=3000000",
                       "max_image_bytes=1048576", "--reason", "campaign week")  # fmt: skip
    assert code == 0 and "dcc_max_devices=3,000,000" in out
    with store.engine.connect() as conn:
        p = dcc_policy(conn, "11.4")
    assert (p.dcc_max_devices, p.max_image_bytes, p.updated_by) == (3_000_000, 1_048_576, OPERATOR)
    code, out = hanota(tmp_path, sqlite_url, "thresholds", "policy-reset", "11.4", "--reason", "week over")
    assert code == 0
    code, out = hanota(tmp_path, sqlite_url, "thresholds", "audit", "--target", "srv:11.4")
    assert code == 0 and "policy.reset" in out and "policy.set" in out and "campaign week" in out
    code, out = hanota(tmp_path, sqlite_url, "thresholds", "token", c.S1, "--reason", "API access")
    assert code == 0 and "shown once" in out
    code, out = hanota(tmp_path, sqlite_url, "thresholds", "token", c.S1, "--revoke", "--reason", "left")
    assert code == 0 and "revoked 1" in out


def test_counts_seen_by_the_cli_come_from_the_store(store: Env, sqlite_url: str, tmp_path: Path) -> None:
    """`thresholds show` reads the usage another process (the DSP) counted."""
    assert store.ppmid([c.UNKNOWN]) == "E110405"
    store.clock.set(datetime.now(UTC))  # the command reads the usage at the system's time
    assert store.ppmid([c.UNKNOWN]) == "E110405"
    code, out = hanota(tmp_path, sqlite_url, "thresholds", "show", c.S1)
    assert code == 0 and "1 / 1" in out, out
