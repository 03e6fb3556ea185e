"""Every `hanota` command that can meet a down server, a missing file, bad input or a refusal ends with ONE
line on stderr and a meaningful exit code (1 refused or unavailable, 2 usage or input), never a traceback;
and bad input changes nothing."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from cli.conftest import Hanota
from hanota.db.engine import make_engine
from hanota.db.models import Certificate, Setting

EUI = "90-B3-D5-1F-30-01-00-00"  # the DCC Boxed supplier: in the estate, with a key from `pki init`


@dataclass
class Store:
    hanota: Hanota
    files: Path  # request files and such
    down: str  # a URL nothing listens on

    @property
    def key(self) -> Path:
        return self.hanota.data_dir / "pki" / "users" / "90B3D51F30010000.key.pem"

    @property
    def cert(self) -> Path:
        return self.hanota.data_dir / "pki" / "users" / "90B3D51F30010000.pem"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    root = tmp_path_factory.mktemp("cli-errors")
    h = Hanota(root / "data", f"sqlite:///{root / 'hanota.db'}")
    h.ok("estate", "generate", "--homes", "10", "--dccboxed")
    h.ok("pki", "init")
    files = root / "files"
    files.mkdir()
    h.ok(
        "sr",
        "build",
        "8.2",
        "--originator",
        EUI,
        "--device",
        "00-DB-12-34-56-78-90-A4",
        "-o",
        str(files / "r.xml"),
    )
    s = Store(h, files, f"http://127.0.0.1:{_free_port()}")
    h.ok(
        "sr",
        "sign",
        "--key",
        str(s.key),
        "--cert",
        str(s.cert),
        str(files / "r.xml"),
        "-o",
        str(files / "r.signed.xml"),
    )
    (files / "not-xml.xml").write_text("this is not XML")
    (files / "empty-pki").mkdir()
    return s


@dataclass(frozen=True)
class Case:
    code: int
    args: tuple[str, ...]
    expect: str
    env: dict[str, str]


def case(code: int, *args: str, expect: str = "", **env: str) -> Case:
    return Case(code, args, expect, env)


# {files}, {down}, {key}, {cert}, {data} are filled in from the store
CASES = [
    # a server that is down or refuses
    case(1, "sr", "submit", "{down}", "{files}/r.signed.xml", expect="cannot reach {down}/api/v1/serviceD"),
    case(
        1,
        "sr",
        "submit",
        "{down}",
        "{files}/r.signed.xml",
        "--dsp-cert",
        "{data}/pki/dsp.pem",
        expect="cannot reach",
    ),
    case(
        1,
        "alerts",
        "pull",
        "--user",
        EUI,
        expect="cannot reach http://127.0.0.1:{port}/api/v1/alerts/pull",
        HANOTA_PORT="{port}",
    ),
    case(
        1, "alerts", "pull", "--user", EUI, "--url", "{down}", expect="cannot reach {down}/api/v1/alerts/pull"
    ),
    case(
        1,
        "estate",
        "summary",
        expect="the store refused or is unavailable",
        HANOTA_DATABASE_URL="postgresql://postgres@127.0.0.1:{port}/x",
    ),
    case(1, "quarantine", "release", "999", "--reason", "r", expect="refused: "),
    case(
        1,
        "thresholds",
        "set",
        "00-00-00-00-00-00-00-99",
        "8.2",
        "--reason",
        "r",
        "--max-requests",
        "1",
        expect="refused: ",
    ),
    # missing files and folders
    case(
        2,
        "sr",
        "submit",
        "{down}",
        "{files}/missing.xml",
        expect="No such file or directory: {files}/missing.xml",
    ),
    case(
        2,
        "sr",
        "submit",
        "{down}",
        "{files}/r.signed.xml",
        "--dsp-cert",
        "{files}/missing.pem",
        expect="missing.pem",
    ),
    case(
        2,
        "sr",
        "sign",
        "--key",
        "{files}/missing.key",
        "--cert",
        "{cert}",
        "{files}/r.xml",
        expect="missing.key",
    ),
    case(2, "sr", "sign", "--key", "{key}", "--cert", "{cert}", "{files}/missing.xml", expect="missing.xml"),
    case(
        2,
        "sr",
        "build",
        "11.4",
        "--originator",
        EUI,
        "--image",
        "{files}/missing.bin",
        "--firmware-version",
        "00000000",
        "--device",
        "00-DB-12-34-56-78-90-A4",
        expect="missing.bin",
    ),
    case(
        2,
        "sr",
        "build",
        "8.2",
        "--originator",
        EUI,
        "--devices-file",
        "{files}/missing.txt",
        expect="missing.txt",
    ),
    case(
        2,
        "alerts",
        "pull",
        "--user",
        "90-B3-D5-1F-00-00-00-77",
        "--url",
        "{down}",
        expect="no XML-signing key for 90-B3-D5-1F-00-00-00-77",
    ),
    case(
        2,
        "alerts",
        "pull",
        "--user",
        EUI,
        "--url",
        "{down}",
        "--key",
        "{files}/missing.key",
        expect="missing.key",
    ),
    case(2, "alerts", "receive", "--dsp-cert", "{files}/missing.pem", "--port", "0", expect="missing.pem"),
    case(
        2,
        "pki",
        "trust-dccboxed",
        "{files}/empty-pki",
        expect="does not hold Z1-accessControlBroker-dSPXmlSign.key.pem",
    ),
    case(2, "pki", "trust-dccboxed", "{files}/no-such-folder", expect="is not a folder"),
    case(2, "esi", "extract", "{files}/no-such-folder/x.csv", expect="is not a folder"),
    case(2, "billing", "--csv", "{files}/no-such-folder/x.csv", expect="is not a folder"),
    case(2, "capacity", "run", "{files}/missing.toml", expect="no scenario file"),
    case(2, "firmware", "sample", "{files}/no-such-folder/image.bin", expect="No such file or directory"),
    # malformed input and bad arguments
    case(
        2,
        "sr",
        "sign",
        "--key",
        "{key}",
        "--cert",
        "{cert}",
        "{files}/not-xml.xml",
        expect="not well-formed XML",
    ),
    case(2, "sr", "sign", "--key", "{cert}", "--cert", "{cert}", "{files}/r.xml"),
    case(2, "sr", "build", "9.9", "--originator", EUI, expect="not one this tool builds"),
    case(2, "sr", "build", "8.2", "--originator", EUI, "--counter", "soon", expect="--counter 'soon'"),
    case(2, "sr", "build", "11.4", "--originator", EUI, expect="needs --image"),
    case(2, "sr", "build", expect="Missing argument"),
    case(2, "sr", "submit", "127.0.0.1:1", "{files}/r.signed.xml", expect="not an http:// or https:// URL"),
    case(2, "estate", "generate", "--homes", "10", expect="already holds"),
    case(2, "billing", "--from", "April", expect="YYYY-MM"),
    case(2, "users", "set-password", "not-an-eui", "--generate", expect="is not a User ID"),
    case(2, "thresholds", "policy-set", "8.2", "nonsense", "--reason", "r", expect="FIELD=NUMBER"),
    case(2, "csp", "serve", "--region", "west", expect="unknown region"),
    case(2, "db", "downgrade", expect="Missing argument 'revision'"),
    case(2, "db", "downgrade", "0099", expect="unknown revision '0099'"),
    case(2, "db", "upgrade", "0099"),
    case(
        2,
        "firmware",
        "sample",
        "{files}/x.bin",
        "--device-type",
        "TOASTER",
        expect="IHD, PPMID, ESME or GSME",
    ),
    case(2, "no-such-command", expect="No such command"),
    case(2, "estate", "summary", expect="HANOTA_PORT", HANOTA_PORT="eighty"),
    case(2, "estate", "summary", expect="database URL is not usable", HANOTA_DATABASE_URL="not a url"),
]


def run_case(store: Store, c: Case) -> str | None:
    """None if the case keeps the rule, else what went wrong."""
    port = store.down.rsplit(":", 1)[1]
    values = {
        "files": str(store.files),
        "down": store.down,
        "key": str(store.key),
        "cert": str(store.cert),
        "data": str(store.hanota.data_dir),
        "port": port,
    }
    args = [a.format(**values) for a in c.args]
    try:
        line = store.hanota.fails(c.code, *args, **{k: v.format(**values) for k, v in c.env.items()})
    except AssertionError as e:
        return str(e)
    if c.expect.format(**values) not in line:
        return f"{args}: {c.expect.format(**values)!r} not in {line!r}"
    return None


def test_each_failure_is_one_line_and_an_exit_code(store: Store) -> None:
    """Each command of CASES, run through CliRunner: the exit code, one line on stderr saying what is wrong,
    no traceback, no exception escaping. All cases run; the failures are reported together."""
    problems = [p for p in (run_case(store, c) for c in CASES) if p is not None]
    assert not problems, f"{len(problems)} of {len(CASES)} cases break the rule:\n\n" + "\n\n".join(problems)


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield int(s.getsockname()[1])


def test_a_busy_port_is_one_line(store: Store, busy_port: int) -> None:
    """The sample alert receiver and a standalone CSP gateway refuse a port they cannot listen on before
    starting, instead of uvicorn's log line and a RuntimeError."""
    for args in (("alerts", "receive"), ("csp", "serve", "--region", "north")):
        line = store.hanota.fails(1, *args, "--port", str(busy_port))
        assert f"cannot listen on 127.0.0.1:{busy_port}" in line


def test_trust_dccboxed_with_a_wrong_key_changes_nothing(store: Store, tmp_path: Path) -> None:
    """A folder whose DSP key is not its certificate's is refused before anything is copied or pinned."""
    folder = tmp_path / "pki"
    folder.mkdir()
    (folder / "Z1-accessControlBroker-dSPXmlSign.pem").write_bytes(store.cert.read_bytes())
    (folder / "Z1-accessControlBroker-dSPXmlSign.key.pem").write_bytes(
        (store.hanota.data_dir / "pki" / "ca.key.pem").read_bytes()
    )
    engine = make_engine(store.hanota.database_url)
    try:
        with engine.connect() as conn:
            before = (
                conn.execute(select(func.count()).select_from(Certificate)).scalar_one(),
                conn.execute(select(Setting.key, Setting.value).order_by(Setting.key)).all(),
            )
        line = store.hanota.fails(2, "pki", "trust-dccboxed", str(folder))
        assert "is not the private key of" in line
        with engine.connect() as conn:
            after = (
                conn.execute(select(func.count()).select_from(Certificate)).scalar_one(),
                conn.execute(select(Setting.key, Setting.value).order_by(Setting.key)).all(),
            )
        assert after == before
        assert not (store.hanota.data_dir / "pki" / "dccboxed").exists()
    finally:
        engine.dispose()


def test_hanota_traceback_lets_the_traceback_through(tmp_path: Path) -> None:
    """A store at a revision hanota does not know is one line (exit 2); HANOTA_TRACEBACK=1 lets the exception
    (and so the traceback) through, for whoever debugs it."""
    url = f"sqlite:///{tmp_path / 'broken.db'}"
    h = Hanota(tmp_path / "data", url)
    h.ok("db", "upgrade")
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'zzzz'"))
    engine.dispose()
    line = h.fails(2, "estate", "summary")
    assert "zzzz" in line
    r = h.run("estate", "summary", HANOTA_TRACEBACK="1")
    assert r.exit_code != 0 and r.exception is not None and not isinstance(r.exception, SystemExit)
