"""The `hanota` command run through Typer's CliRunner against a real store (and, where a command talks to
the DSP, a real DSP over HTTP): what it prints, on which stream, and its exit code.

`Hanota(tmp_path, db_url)` runs commands with HANOTA_DATA_DIR and HANOTA_DATABASE_URL set, stdout and stderr
apart, not on a terminal and with no COLUMNS (so Rich's 80-column default would show), and
HANOTA_TRACEBACK unset. `Hanota.fails` asserts the error rule: the exit code, ONE line on stderr, no
traceback, and no exception escaping the command.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from hanota.cli.main import app
from hanota.logs import configure_logging


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """The CLI configures structlog to print to the sys.stderr of the moment, which CliRunner swaps for a
    buffer it then closes: put logging back on the real stderr after each test."""
    yield
    configure_logging()


@dataclass
class Hanota:
    data_dir: Path
    database_url: str
    settings: dict[str, str | None] = field(default_factory=dict)  # more HANOTA_* for every run

    def env(self, **extra: str | None) -> dict[str, str | None]:
        return {
            "HANOTA_DATA_DIR": str(self.data_dir),
            "HANOTA_DATABASE_URL": self.database_url,
            "HANOTA_TRACEBACK": None,
            "COLUMNS": None,
            "LINES": None,
            "TERMINAL_WIDTH": None,
            **self.settings,
            **extra,
        }

    def run(self, *args: str, input: str | None = None, **env: str | None) -> Result:
        return CliRunner().invoke(app, list(args), env=self.env(**env), input=input)

    def ok(self, *args: str, input: str | None = None, **env: str | None) -> Result:
        r = self.run(*args, input=input, **env)
        assert r.exit_code == 0, (r.exit_code, r.stdout, r.stderr, r.exception)
        return r

    def fails(self, code: int, *args: str, input: str | None = None, **env: str | None) -> str:
        """Run a command that must fail with `code`; return its one line of stderr."""
        r = self.run(*args, input=input, **env)
        shown = (
            f"{args}: exit {r.exit_code}\nstdout: {r.stdout}\nstderr: {r.stderr}\nexception: {r.exception!r}"
        )
        assert r.exit_code == code, shown
        assert r.exception is None or isinstance(r.exception, SystemExit), shown
        assert "Traceback" not in r.output, shown
        lines = r.stderr.splitlines()
        assert len(lines) == 1 and lines[0].strip(), f"not one line on stderr: {shown}"
        return lines[0]


@pytest.fixture
def hanota(tmp_path: Path, db_url: str) -> Hanota:
    return Hanota(tmp_path / "data", db_url)


@pytest.fixture
def sqlite_hanota(tmp_path: Path, sqlite_url: str) -> Hanota:
    return Hanota(tmp_path / "data", sqlite_url)
