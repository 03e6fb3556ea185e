"""What the commands print when their output is not a terminal (a pipe, a file, CliRunner): whole values,
no 80-column cut, no colour codes; help that agrees with the README; text, not Python reprs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from cli.conftest import Hanota
from hanota.cli.main import app
from hanota.estate.catalogue import DCC_OPERATOR_EUI

PASSWORD = re.compile(r"\b[a-z2-9]{5}-[a-z2-9]{5}-[a-z2-9]{5}-[a-z2-9]{5}\b")
EUI = re.compile(r"\b[0-9A-F]{2}(?:-[0-9A-F]{2}){7}\b")


@pytest.fixture
def estate(sqlite_hanota: Hanota) -> Hanota:
    sqlite_hanota.ok("estate", "generate", "--homes", "10", "--dccboxed")
    return sqlite_hanota


def test_dev_passwords_are_whole_when_piped(estate: Hanota) -> None:
    """Every User ID and password whole, one User per line, however long the names (the table used to cut
    them at 80 columns when piped), and a banner with the URL and port the SSI is really served at."""
    out = estate.ok("users", "dev-passwords", HANOTA_HOST="0.0.0.0", HANOTA_PORT="8111").stdout  # noqa: S104
    lines = out.splitlines()
    assert lines[0] == "SSI passwords (shown once): sign in at http://127.0.0.1:8111/ssi/"
    rows = lines[1:]
    assert len(rows) >= 5
    for row in rows:
        assert EUI.match(row) and PASSWORD.search(row), row
    assert any(row.startswith(DCC_OPERATOR_EUI) for row in rows)
    assert "\x1b[" not in out
    again = estate.ok("users", "dev-passwords", "--all", HANOTA_DSP_URL="https://dsp.example:8443/").stdout
    assert again.splitlines()[0].endswith("sign in at https://dsp.example:8443/ssi/")


def test_tables_are_not_cut_when_piped(estate: Hanota) -> None:
    """A table wider than 80 columns comes out whole, without colour codes."""
    out = estate.ok("users", "list").stdout
    assert "…" not in out and "\x1b[" not in out
    assert "DCC Boxed Supplier" in out and "90-B3-D5-1F-30-01-00-00" in out
    assert max(len(line) for line in out.splitlines()) > 80


def _all_commands() -> list[list[str]]:
    paths: list[list[str]] = []

    def walk(cmd: object, path: list[str]) -> None:
        sub = getattr(cmd, "commands", None)
        if sub:
            for name, child in sub.items():
                walk(child, [*path, name])
        else:
            paths.append(path)

    walk(get_command(app), [])
    return paths


@pytest.mark.parametrize("path", [pytest.param(p, id=" ".join(p)) for p in _all_commands()])
def test_help_is_plain_and_whole(path: list[str]) -> None:
    """No `<bool>` beside each flag, no help text or default cut with `…`, no box drawing, even piped."""
    r = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": None, "TERMINAL_WIDTH": None})
    assert r.exit_code == 0, r.output
    assert "<bool>" not in r.stdout and "╭" not in r.stdout, r.stdout
    cut = [line for line in r.stdout.splitlines()[1:] if line.rstrip().endswith(("…", "..."))]
    assert not cut, r.stdout


def test_help_documents_exit_codes_and_the_readme_options() -> None:
    """`--help` lists the exit codes, and each command's help documents the options the README uses."""

    def help_of(*args: str) -> str:
        r = CliRunner().invoke(app, [*args, "--help"])
        return " ".join(r.stdout.split())

    top = help_of()
    assert (
        "Exit codes: 0 done; 1 a server refused or could not be reached" in top and "2 usage or input" in top
    )
    assert "--csv FILE" in help_of("billing")
    assert "--reuse" in help_of("estate", "generate")
    assert "--counter <str>" in help_of("sr", "sign") and "'now'" in help_of("sr", "sign")
    assert "--operator <str> the acting DCC operator's EUI [default: 90-B3-D5-1F-60-00-00-01]" in help_of(
        "quarantine", "release"
    )
    assert "Exits 0 when the DSP accepted" in help_of("sr", "submit")
    assert "--yes" in help_of("db", "downgrade") and "REVISION" in help_of("db", "downgrade")


def test_thresholds_read_as_text(estate: Hanota, tmp_path: Path) -> None:
    """`thresholds set` says "1 request", not "1 requests"; `thresholds audit` shows the detail as
    `key=value`, not a Python dict."""
    user = "90-B3-D5-1F-30-01-00-00"
    out = estate.ok("thresholds", "set", user, "8.2", "--reason", "pilot", "--max-requests", "1").stdout
    assert " ".join(out.split()) == f"{user} SRV 8.2: at most 1 request per 24 h"
    out = estate.ok("thresholds", "set", user, "11.4", "--reason", "pilot", "--max-devices", "2000").stdout
    assert "and 2,000 devices per 24 h" in out
    audit = estate.ok("thresholds", "audit").stdout
    assert "{" not in audit and "'" not in audit and "None" not in audit
    assert "after: max_devices=none, max_requests=1, source=user, window_hours=24" in audit
