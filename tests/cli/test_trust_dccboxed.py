"""`hanota pki trust-dccboxed DIR` on the vendored DCC Boxed PKI (a plain clone has it), and on folders that
lack what it needs: ONE line naming what is missing, exit 2, no traceback, nothing changed."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy import select

from cli.conftest import Hanota
from hanota.db.engine import make_engine
from hanota.db.models import Certificate, Setting
from hanota.estate.pki import DSP_KEY_SETTING
from support import REPO

PKI = REPO / "tests" / "data" / "duis" / "pki"
DSP = "Z1-accessControlBroker-dSPXmlSign"
SUPPLIER = "90-B3-D5-1F-30-01-00-00"
NETWORK_OPERATOR = "90-B3-D5-1F-30-02-00-00"
OTHER_USER = "00-DB-12-34-56-78-00-04"


def _copy_without(tmp_path: Path, *left_out: str) -> Path:
    """The vendored PKI folder without the files named (a name with no dot: every file it begins)."""
    folder = tmp_path / "pki-src"
    folder.mkdir()
    for file in PKI.iterdir():
        if not any(file.name == n or (file.name.startswith(n) and "." not in n) for n in left_out):
            shutil.copyfile(file, folder / file.name)
    return folder


def _nothing_trusted(h: Hanota) -> None:
    engine = make_engine(h.database_url)
    try:
        with engine.connect() as c:
            assert c.execute(select(Certificate.serial)).first() is None
            assert c.execute(select(Setting.value).where(Setting.key == DSP_KEY_SETTING)).first() is None
    finally:
        engine.dispose()
    assert not (h.data_dir / "pki" / "dccboxed").exists()


def test_the_vendored_folder_is_trusted(sqlite_hanota: Hanota) -> None:
    """The README walkthrough's folder, relative to the checkout: every DCC Boxed certificate is pinned and
    the DSP key is copied into the data folder."""
    out = sqlite_hanota.ok("pki", "trust-dccboxed", str(PKI)).stdout
    assert out.startswith("pinned 20 DCC Boxed certificates;"), out
    assert (sqlite_hanota.data_dir / "pki" / "dccboxed" / f"{DSP}.key.pem").is_file()


@pytest.mark.parametrize(
    ("left_out", "expect"),
    [
        ((f"{DSP}.key.pem",), f"does not hold {DSP}.key.pem (the DCC Boxed DSP's signing identity)"),
        ((f"{DSP}.pem",), f"does not hold {DSP}.pem (the DCC Boxed DSP's signing identity)"),
        ((f"{DSP}.pem", f"{DSP}.key.pem"), f"does not hold {DSP}.key.pem and {DSP}.pem"),
        (
            ("keystore.json", "xml-sign-", "Z1-supplier", "Z1-networkOperator", "dsp-xml-sign-"),
            f"holds no XML-signing certificate (role 135) for {SUPPLIER}, {NETWORK_OPERATOR}, {OTHER_USER}",
        ),
        (
            ("keystore.json", "xml-sign-90B3D51F30010000-ds.pem"),
            f"holds no XML-signing certificate (role 135) for {SUPPLIER} (the DCC Boxed Users'",
        ),
    ],
)
def test_a_folder_without_what_it_needs_is_one_line(
    sqlite_hanota: Hanota, tmp_path: Path, left_out: tuple[str, ...], expect: str
) -> None:
    """A DCC Boxed PKI folder missing a file it needs is a usage error in one line naming the folder and
    what is missing; nothing is trusted."""
    folder = _copy_without(tmp_path, *left_out)
    line = sqlite_hanota.fails(2, "pki", "trust-dccboxed", str(folder))
    assert line.startswith(f"{folder} "), line
    assert expect in line, line
    _nothing_trusted(sqlite_hanota)


def test_a_file_or_a_missing_folder_is_one_line(sqlite_hanota: Hanota, tmp_path: Path) -> None:
    """A file or a folder that does not exist, given as the PKI folder, is a usage error in one line;
    nothing is trusted."""
    for path in (PKI / f"{DSP}.pem", tmp_path / "shared" / "duis" / "pki"):
        line = sqlite_hanota.fails(2, "pki", "trust-dccboxed", str(path))
        assert line == f"{path} is not a folder (give the DCC Boxed PKI folder, e.g. tests/data/duis/pki)"
    _nothing_trusted(sqlite_hanota)
