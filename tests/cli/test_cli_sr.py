"""`hanota sr build|sign|submit` and `hanota firmware sample` against `hanota serve` over HTTP: the exit code
follows the DUIS answer (0 accepted, 1 refused), a request or a sample gets a fresh counter with
`--counter now`, and the README's 11.4 walkthrough works with an image from `hanota firmware sample`."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from typer.testing import Result

from cli.conftest import Hanota
from hanota.duis import parse_document, parse_request
from hanota.estate.dccboxed import PPMID, SAMPLE_PPMID_IMAGE, SUPPLIER_EUI
from hanota.firmware import parse_image


@dataclass
class Live:
    hanota: Hanota
    url: str
    work: Path

    def key_cert(self, eui: str) -> tuple[str, str]:
        stem = self.hanota.data_dir / "pki" / "users" / eui.replace("-", "")
        return str(stem) + ".key.pem", str(stem) + ".pem"

    def sign(self, eui: str, unsigned: Path, *extra: str) -> Path:
        key, cert = self.key_cert(eui)
        signed = unsigned.with_name(unsigned.stem + ".signed.xml")
        self.hanota.ok("sr", "sign", "--key", key, "--cert", cert, str(unsigned), "-o", str(signed), *extra)
        return signed

    def submit(self, signed: Path) -> Result:
        return self.hanota.run("sr", "submit", self.url, str(signed))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def live(tmp_path: Path, sqlite_url: str) -> Iterator[Live]:
    """A store with the DCC Boxed home and a PKI, and `hanota serve` on it in its own process (so that what
    the commands print is theirs alone, at the default log level)."""
    h = Hanota(tmp_path / "data", sqlite_url)
    h.ok("estate", "generate", "--homes", "30", "--dccboxed")
    h.ok("pki", "init")
    work = tmp_path / "work"
    work.mkdir()
    port = _free_port()
    env = {**os.environ, "HANOTA_DATA_DIR": str(h.data_dir), "HANOTA_DATABASE_URL": sqlite_url,
           "HANOTA_RUN_WORKER": "false", "HANOTA_INPROCESS_GATEWAYS": "false", "HANOTA_RUN_NETWORK": "false"}  # fmt: skip
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "hanota.cli.main", "serve", "--port", str(port)],
            env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            while True:
                try:
                    httpx.get(f"{url}/api/v1/serviceD", timeout=1)
                    break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline or server.poll() is not None:
                    pytest.fail(f"hanota serve did not start: {log.read_text()[-2000:]}")
                time.sleep(0.1)
            yield Live(h, url, work)
        finally:
            server.terminate()
            server.wait(timeout=30)


def counter_of(path: Path) -> int:
    return parse_request(parse_document(path.read_bytes(), max_bytes=1 << 24)).request_id.counter


def test_sr_submit_exit_code_follows_the_answer(live: Live) -> None:
    """Accepted (I0): exit 0 and the answer on stdout. The same request again (E41, counter used), or one
    signed by another User's key (E40/E1…): exit 1 and one line naming the code on stderr. Not XML at all
    (HTTP 400): exit 1."""
    unsigned = live.work / "r.xml"
    live.hanota.ok("sr", "build", "8.2", "--originator", SUPPLIER_EUI, "--device", PPMID, "--counter", "1000",
                   "-o", str(unsigned))  # fmt: skip
    assert counter_of(unsigned) == 1000
    signed = live.sign(SUPPLIER_EUI, unsigned)
    first = live.submit(signed)
    assert first.exit_code == 0 and first.stdout.startswith("I0 ") and first.stderr == "", (
        first.stdout,
        first.stderr,
    )
    assert PPMID in first.stdout

    again = live.hanota.fails(1, "sr", "submit", live.url, str(signed))
    assert again.startswith("refused: E41 "), again

    other = live.sign("90-B3-D5-1F-40-01-00-00", unsigned, "--counter", "now")
    refused = live.hanota.fails(1, "sr", "submit", live.url, str(other))
    assert refused.startswith("refused: E"), refused

    (live.work / "junk.xml").write_text("not xml")
    assert "the DSP answered HTTP 400" in live.hanota.fails(
        1, "sr", "submit", live.url, str(live.work / "junk.xml")
    )

    fresh = live.sign(SUPPLIER_EUI, unsigned, "--counter", "now")
    assert counter_of(fresh) > 1000
    assert live.submit(fresh).exit_code == 0


def test_the_11_4_walkthrough_with_a_sample_image_and_a_fresh_counter(live: Live) -> None:
    """README, "Driving the DSP as a supplier": `hanota firmware sample --dccboxed` writes the public 11.4
    sample's image (on the CPL for the DCC Boxed PPMID); built, signed and submitted it is accepted (exit 0);
    re-signed with `--counter now` the DSP takes the counter but refuses the update it already has (exit 1)."""
    image = live.work / "ppmid.bin"
    out = live.hanota.ok("firmware", "sample", str(image), "--dccboxed").stdout
    assert image.read_bytes() == SAMPLE_PPMID_IMAGE
    assert f"hanota sr build 11.4 --originator {SUPPLIER_EUI} --image {image}" in out
    unsigned = live.work / "r.xml"
    live.hanota.ok("sr", "build", "11.4", "--originator", SUPPLIER_EUI, "--image", str(image),
                   "--firmware-version", "00000000", "--device", PPMID, "-o", str(unsigned))  # fmt: skip
    accepted = live.submit(live.sign(SUPPLIER_EUI, unsigned))
    assert accepted.exit_code == 0 and accepted.stdout.startswith("I0 "), (accepted.stdout, accepted.stderr)
    repeat = live.hanota.fails(
        1, "sr", "submit", live.url, str(live.sign(SUPPLIER_EUI, unsigned, "--counter", "now"))
    )
    assert repeat.startswith("refused: E") and not repeat.startswith("refused: E41"), repeat


def test_firmware_sample_from_the_catalogue_is_accepted(live: Live) -> None:
    """Without --dccboxed: the most common IHD model's newest Active release (the demo's campaign image),
    with the store's devices of that model its biggest supplier may update; sent as printed, it is accepted
    (I0, or W110401 with the devices a real list always holds that cannot take it)."""
    image, ids = live.work / "image.bin", live.work / "ids.txt"
    out = live.hanota.ok("firmware", "sample", str(image), "--devices-file", str(ids)).stdout
    assert parse_image(image.read_bytes()).firmware_hash in out
    command = next(line for line in out.splitlines() if line.startswith("send it: "))[
        len("send it: hanota ") :
    ]
    args = command.split()
    sender = args[args.index("--originator") + 1]
    assert ids.read_text().split() and args[args.index("--devices-file") + 1] == str(ids)
    args[args.index("-o") + 1] = str(live.work / "r.xml")
    live.hanota.ok(*args)
    answer = live.submit(live.sign(sender, live.work / "r.xml"))
    assert answer.exit_code == 0 and answer.stdout.split()[0] in ("I0", "W110401"), (
        answer.stdout,
        answer.stderr,
    )
