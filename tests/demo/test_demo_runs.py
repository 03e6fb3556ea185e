"""`hanota demo` as a newcomer runs it: twice on one data folder, piped (issue 12, items 3-6).

One small demo (2,000 homes, 200 IHDs, 50 ESMEs, clock x20,000) runs on a fresh data folder; the folder is
copied; then the demo runs again on the folder and on its copy. The real CLI runs in a subprocess with
stdout a pipe, as under `make demo | tee log` or in CI.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select

from hanota.db.engine import make_engine
from hanota.db.models import RequestDevice, ServiceRequest
from hanota.duis.codes import alert_code, response_code

pytestmark = pytest.mark.slow

HANOTA = str(Path(sys.executable).parent / "hanota")
SMALL = ["--homes", "2000", "--devices", "200", "--esme", "50", "--speed", "20000", "--timeout", "4"]
EUI = re.compile(r"90-B3-D5-(?:[0-9A-F]{2}-){4}[0-9A-F]{2}")
_ANY_EUI = re.compile(r"\b(?:[0-9A-F]{2}-){7}[0-9A-F]{2}\b")
_SINGLE_HEX = re.compile(r"(?<![0-9A-Fx–-])0x[0-9A-F]+(?![0-9A-F–-])")
PROGRESS = re.compile(
    r"^\+\d+d \d\d:\d\d \(\d{4}-\d\d-\d\d \d\d:\d\d UTC, wall \d+ s\) "
    r"SR 11\.4 IHD: [\d,]+/[\d,]+ done, sent ([\d,]+)  transferred ([\d,]+)  activated ([\d,]+)  failed [\d,]+; "
    r"SR 11\.1 ESME: [\d,]+/[\d,]+ done, sent ([\d,]+)  transferred ([\d,]+)  activated ([\d,]+)  failed [\d,]+$"
)


@dataclass(frozen=True)
class Run:
    data_dir: Path
    rc: int
    out: str
    err: str

    @property
    def lines(self) -> list[str]:
        return self.out.splitlines()

    def summary(self) -> list[str]:
        """The summary's lines with the numbers, without the wall-clock ones."""
        start = self.lines.index(next(x for x in self.lines if x.startswith("=== summary")))
        end = self.lines.index("=== where to look next")
        return [x for x in self.lines[start:end] if not x.startswith(("wall time", "receiver:"))]


def _env(data_dir: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("HANOTA_") and k not in ("FORCE_COLOR", "TTY_COMPATIBLE")
    }
    return {**env, "HANOTA_DATA_DIR": str(data_dir), "COLUMNS": "80", "TERM": "dumb"}


def demo(data_dir: Path, *args: str) -> Run:
    p = subprocess.run(
        [HANOTA, "demo", *args], env=_env(data_dir), capture_output=True, text=True, timeout=600, check=False
    )
    return Run(data_dir, p.returncode, p.stdout, p.stderr)


@dataclass(frozen=True)
class Runs:
    first: Run
    second: Run
    second_on_copy: Run


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Runs:
    folder = tmp_path_factory.mktemp("demo-a")
    first = demo(folder, *SMALL, "--port", "0", "--exit-when-done")
    copy = tmp_path_factory.mktemp("demo-b")
    shutil.copytree(folder, copy, dirs_exist_ok=True)
    second = demo(folder, *SMALL, "--port", "0", "--exit-when-done")
    second_on_copy = demo(copy, *SMALL, "--port", "0", "--exit-when-done")
    return Runs(first, second, second_on_copy)


def _ok(run: Run) -> None:
    assert run.rc == 0, f"exit {run.rc}\n{run.out[-3000:]}\n{run.err[-3000:]}"
    assert any(x.startswith("=== summary") for x in run.lines)
    assert "=== where to look next" in run.lines


def test_a_second_demo_on_the_same_data_folder_reaches_its_summary(runs: Runs) -> None:
    """Item 3: the second run's summary used to ask its network engines for the first run's distributions."""
    _ok(runs.first)
    _ok(runs.second)
    assert any(x.startswith("estate: reusing") for x in runs.second.lines)


def test_the_same_seed_on_the_same_store_gives_the_same_numbers(runs: Runs) -> None:
    """Item 4: each run starts at a stated virtual time, so what it reports depends on the seed and the store,
    not on the wall clock (the copy runs later in wall time than the original)."""
    _ok(runs.second)
    _ok(runs.second_on_copy)
    starts = [
        next(x for x in r.lines if x.startswith("virtual time:")) for r in (runs.second, runs.second_on_copy)
    ]
    assert starts[0] == starts[1]
    assert re.search(r"the requests go in at \d{4}-\d\d-\d\d 10:00 UTC, the first 10:00 after ", starts[0])
    assert runs.second.summary() == runs.second_on_copy.summary()
    assert any(" Accepted " in x and x.rstrip().endswith("activated") for x in runs.second.summary())


def test_piped_output_is_plain_complete_lines(runs: Runs) -> None:
    """Item 5: no live display, bars, cut IDs or cut cells when stdout is a pipe (COLUMNS=80 as in CI)."""
    for run in (runs.first, runs.second):
        _ok(run)
        for bad in ("\r", "\x1b", "━", "│", "┃", "…"):
            assert bad not in run.out, f"{bad!r} in piped output"
        for at in (m.start() for m in re.finditer("90-B3-D5-", run.out)):
            assert EUI.match(run.out, at), f"cut EUI: {run.out[at : at + 30]!r}"
        progress = [x for x in run.lines if x.startswith("+")]
        assert len(progress) >= 3
        for line in progress:
            m = PROGRESS.match(line)
            assert m, f"not a complete progress line: {line!r}"
            ihd, esme = (
                [int(g.replace(",", "")) for g in m.groups()[:3]],
                [int(g.replace(",", "")) for g in m.groups()[3:]],
            )
            for sent, transferred, activated in (ihd, esme):  # cumulative: each stage counts the later ones
                assert sent >= transferred >= activated
        after = run.lines[run.lines.index(progress[-1]) + 1]
        assert after == "", "the summary starts on a line of its own"


def _reasons(data_dir: Path) -> set[str]:
    """The exclusion reasons recorded in the store for the newest run's requests."""
    engine = make_engine(f"sqlite:///{data_dir / 'hanota.db'}")
    try:
        with engine.connect() as conn:
            last = conn.execute(
                select(ServiceRequest.id).order_by(ServiceRequest.id.desc()).limit(2)
            ).scalars()
            rows = conn.execute(
                select(RequestDevice.reason).where(
                    RequestDevice.request_pk.in_(list(last)), RequestDevice.outcome != "Accepted"
                )
            ).scalars()
            return {r for r in rows if r}
    finally:
        engine.dispose()


def test_the_summary_says_what_happened(runs: Runs) -> None:
    """Item 6: the answer codes, every exclusion reason in the store, the alert codes, the other suppliers'
    alerts, and where to look next (the SSI, the passwords, how to keep the service up)."""
    run = runs.second
    _ok(run)
    out = run.out
    for code in ("W110401", "W110101"):
        if f"answered {code}" in out:
            assert response_code(code).meaning in out
    reasons = _reasons(run.data_dir)
    assert reasons
    for reason in reasons:
        shown = _SINGLE_HEX.sub("<hex>", _ANY_EUI.sub("<EUI>", reason))  # the device's own details
        assert shown in out, f"exclusion reason not explained: {reason}"
    title = next(i for i, x in enumerate(run.lines) if x.startswith("DCC alerts this run caused"))
    codes = [c for c in run.lines[title + 1].split() if re.fullmatch(r"N\d\d", c)]  # the table's columns
    assert codes
    for code in codes:
        assert f"  {code}: {alert_code(code).meaning}" in out
    assert re.search(
        r"\d+ other supplier\(s\) got [\d,]+ alerts about [\d,]+ device\(s\): an alert goes to every", out
    )
    tail = out[out.index("=== where to look next") :]
    assert "/ssi/" in tail and "signs in as" in tail
    assert "hanota serve" in tail and "--exit-when-done" in tail
    first_tail = runs.first.out[runs.first.out.index("=== where to look next") :]
    assert re.search(r"with password [a-z0-9]{5}-[a-z0-9]{5}-[a-z0-9]{5}-[a-z0-9]{5}", first_tail)


def test_an_explicit_port_in_use_is_refused(tmp_path: Path) -> None:
    """`hanota demo --port N` serves on N, and says so when N is taken instead of failing later."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        busy = s.getsockname()[1]
        r = demo(tmp_path, "--port", str(busy), "--exit-when-done")
    assert r.rc == 2
    assert f"port {busy} is in use" in r.err
