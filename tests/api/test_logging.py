"""The two logging promises (docs/conventions.md): one structured log line per DUIS request (request ID,
originator, SRV, outcome, duration), and never key material in a log: no private key, no HMAC secret, no
session secret, no password, whether the log is read as structlog events or as the text on stderr."""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import structlog
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from sqlalchemy import Engine
from structlog.testing import capture_logs
from typer.testing import CliRunner

import crafted as c
from api.conftest import Live, running_live
from duisclient import request, signed, signer_for
from hanota.api.app import create_app
from hanota.bootstrap import build_context
from hanota.cli.main import app as cli_app
from hanota.csp.interface import SIGNATURE_HEADER, region_key, sign_body
from hanota.duis import render_request
from hanota.duis.requests import ReadInventory, UpdatePPMIDFirmware
from hanota.logs import configure_logging
from hanota.settings import Settings
from hanota.ssi.auth import set_password
from liveserver import LiveServer

CSP_SECRET = "csp-hmac-" + secrets.token_hex(16)
SESSION_SECRET = "ssi-session-" + secrets.token_hex(16)
PASSWORD = "pw-" + secrets.token_hex(12)
SHORT_PASSWORD = "s-" + secrets.token_hex(4)  # under the 12 characters a password needs
REQUEST_FIELDS = {"event", "request_id", "originator", "srv", "code", "reason", "ms", "log_level"}


@pytest.fixture
def live(db_url: str, engine: Engine, tmp_path: Path) -> Iterator[Live]:
    """A live DSP (as tests/api/conftest.py's) whose CSP HMAC and session secrets are this module's."""
    with running_live(db_url, engine, tmp_path, csp_secret=CSP_SECRET, session_secret=SESSION_SECRET) as live:
        yield live


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """Put structlog's configuration back as it was after a test that configures it for stderr."""
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)


# -- requests ----------------------------------------------------------------------------------------------


def read_8_2(live: Live, counter: int | None = None) -> bytes:
    return signed(
        signer_for(live.pki, c.S1), request(c.S1, "8.2", ReadInventory(device_id=c.P_OK), counter=counter)
    )


def bad_signature(live: Live) -> bytes:
    """A signed 8.2 whose device ID was changed after signing (the digest no longer matches)."""
    body = read_8_2(live)
    assert c.P_OK.encode() in body
    return body.replace(c.P_OK.encode(), c.P_PENDING.encode(), 1)


def unknown_srv(live: Live) -> bytes:
    """A signed 8.2 whose SRV text was changed after signing to one the schema does not have."""
    body = read_8_2(live)
    old = b"<sr:ServiceReferenceVariant>8.2<"
    assert old in body
    return body.replace(old, b"<sr:ServiceReferenceVariant>99.9<", 1)


def wrong_role(live: Live) -> bytes:
    """An 11.4 from a User whose role may not send it (answered E2 in the write transaction)."""
    body = UpdatePPMIDFirmware(c.NEW_IMAGE, c.NEW_VERSION, (c.P_OK,))
    return signed(signer_for(live.pki, c.OTHER), request(c.OTHER, "11.4", body))


def wrong_command_variant(live: Live) -> bytes:
    """An 8.2 with command variant 3, not the SRV's (answered E12 by routing, before any handler)."""
    return signed(signer_for(live.pki, c.S1), request(c.S1, "8.2", ReadInventory(device_id=c.P_OK), cv=3))


def replayed(live: Live) -> bytes:
    """An 8.2 whose counter was already accepted (sent once first)."""
    body = read_8_2(live, counter=5_000)
    assert live.post(body).headers["x-duis-response-code"] == "I0"
    return read_8_2(live, counter=5_000)


def rid_of(body: bytes) -> str:
    start = body.index(b"<sr:RequestID>") + len(b"<sr:RequestID>")
    return body[start : body.index(b"</sr:RequestID>")].decode()


# -- one log line per request ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "build", "status", "code", "srv", "originator"),
    [
        ("accepted", read_8_2, 200, "I0", "8.2", c.S1),
        ("bad signature", bad_signature, 200, "E40", "8.2", c.S1),
        ("replayed counter", replayed, 200, "E41", "8.2", c.S1),
        ("role may not send it", wrong_role, 200, "E2", "11.4", c.OTHER),
        ("command variant not the SRV's", wrong_command_variant, 200, "E12", "8.2", c.S1),
        ("SRV not in the schema", unknown_srv, 400, "E40", None, c.S1),
    ],
    ids=["accepted", "bad-signature", "replayed-counter", "wrong-role", "wrong-cv", "srv-not-in-schema"],
)
def test_each_duis_request_is_one_log_event_with_its_id_originator_srv_outcome_and_duration(
    live: Live, name: str, build: Any, status: int, code: str, srv: str | None, originator: str
) -> None:
    """A DUIS request over HTTP, answered or refused, logs exactly one event ('request'), carrying its
    RequestID, originator, SRV, response code, the refusal's reason, and a duration within the round trip."""
    body = build(live)
    with capture_logs() as logs:
        t0 = time.perf_counter()
        r = live.post(body)
        round_trip_ms = (time.perf_counter() - t0) * 1000
    assert r.status_code == status, (name, r.text[:300])
    assert len(logs) == 1, (name, logs)
    event = logs[0]
    assert set(event) == REQUEST_FIELDS, event
    assert event["event"] == "request" and event["log_level"] == "info"
    assert event["request_id"] == rid_of(body) and event["originator"] == originator
    assert event["srv"] == srv and event["code"] == code
    if code == "I0":
        assert event["reason"] is None
    else:
        assert isinstance(event["reason"], str) and event["reason"], event
    assert 0 < event["ms"] <= round_trip_ms, (event["ms"], round_trip_ms)


def test_a_large_firmware_request_is_one_log_event_too(live: Live) -> None:
    """An SR 11.4 for several devices, accepted with a warning (some excluded), still logs
    one event: nothing per device, nothing per step."""
    ids = tuple(e.device_id for e in c.MIXED)
    body = signed(
        signer_for(live.pki, c.S1),
        request(c.S1, "11.4", UpdatePPMIDFirmware(c.NEW_IMAGE, c.NEW_VERSION, ids)),
    )
    with capture_logs() as logs:
        r = live.post(body)
    assert r.headers["x-duis-response-code"] == "W110401"
    assert [(e["event"], e["srv"], e["code"]) for e in logs] == [("request", "11.4", "W110401")]


@pytest.mark.parametrize(
    ("content", "content_type", "status"),
    [
        (None, "application/xml", 413),  # None: a body over the server's limit
        (b"<a/>", "text/plain", 415),
        (b"not xml at all", "application/xml", 400),
    ],
    ids=["413", "415", "400-not-xml"],
)
def test_a_request_refused_before_it_is_read_is_one_log_event(
    live: Live, content: bytes | None, content_type: str, status: int
) -> None:
    """A request refused over size, media type or for not being XML is still one log event, carrying its
    HTTP status (there is no RequestID to carry)."""
    if content is None:
        content = b"<a>" + b"x" * live.ctx.settings.max_body_bytes + b"</a>"
    with capture_logs() as logs:
        r = live.post(content, content_type=content_type)
    assert r.status_code == status
    assert len(logs) == 1 and status in logs[0].values(), logs


@pytest.mark.parametrize("json_lines", [False, True], ids=["console", "json"])
def test_on_stderr_each_request_is_exactly_one_line(
    live: Live, json_lines: bool, capfd: pytest.CaptureFixture[str], restore_logging: None
) -> None:
    """With the logging `hanota serve` configures (key=value or JSON on stderr), each DUIS request, accepted
    or refused, is one line, whatever its reason text holds."""
    configure_logging("info", json=json_lines)
    bodies = [read_8_2(live), bad_signature(live), unknown_srv(live)]
    capfd.readouterr()
    for body in bodies:
        live.post(body)
    lines = capfd.readouterr().err.splitlines()
    for body in bodies:
        rid = rid_of(body)
        mine = [line for line in lines if rid in line]
        assert len(mine) == 1, (rid, lines)
        if json_lines:
            assert json.loads(mine[0])["request_id"] == rid
        else:
            assert " request " in mine[0] and f"request_id={rid}" in mine[0]
    assert len(lines) == len(bodies), lines


# -- no key material in a log ------------------------------------------------------------------------------


def secrets_of(pki: Path) -> dict[str, str]:
    """Every secret this test's deployment has, as it could appear in a log: each private key file's PEM
    lines and private scalar, the CSP secret and each region's derived HMAC key, the session secret and
    the SSI password."""
    needles = {"PEM header": "PRIVATE KEY", "CSP secret": CSP_SECRET, "session secret": SESSION_SECRET,
               "password": PASSWORD}  # fmt: skip
    for path in sorted(pki.rglob("*.key.pem")):
        pem = path.read_bytes()
        body = [line for line in pem.decode().splitlines() if line and not line.startswith("-----")]
        for i, line in enumerate(body):
            if len(line) >= 16:
                needles[f"{path.name} line {i}"] = line
        key = load_pem_private_key(pem, None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        value = key.private_numbers().private_value
        needles[f"{path.name} scalar"] = str(value)
        needles[f"{path.name} scalar hex"] = f"{value:x}"
    for region in ("North", "Central", "South"):
        key = region_key(CSP_SECRET, region)
        needles[f"{region} HMAC key hex"] = key.hex()
        needles[f"{region} HMAC key repr"] = repr(key)[2:-1]
    return needles


def leaks(text: str, needles: dict[str, str]) -> list[str]:
    return [name for name, needle in needles.items() if needle in text]


def exercise(live: Live) -> list[str]:
    """Signed requests (accepted, refused), an 11.4 routed to the CSP over HTTP with HMAC, signed and
    badly signed CSP event batches, and SSI sign-ins with a wrong password, with the password typed into the
    User ID field, and with the right password. Returns the
    RequestIDs sent."""
    bodies = [read_8_2(live), bad_signature(live), unknown_srv(live)]
    bodies.append(signed(signer_for(live.pki, c.S1),
                         request(c.S1, "11.4", UpdatePPMIDFirmware(c.NEW_IMAGE, c.NEW_VERSION, (c.P_OK,)))))  # fmt: skip
    answers = [live.post(body) for body in bodies]
    assert [r.headers.get("x-duis-response-code") for r in answers] == ["I0", "E40", "E40", "I0"]
    assert live.router().run_once() == 1, "the 11.4 went to its CSP"
    event = {"distribution_id": "dsp-job-1", "device_id": c.P_OK, "chf_id": c.H1, "kind": "transferred",
             "reason": None, "at": c.NOW.isoformat()}  # fmt: skip
    batch = json.dumps({"region": "Central", "seq": 1, "events": [event]}).encode()
    url = f"{live.url}/api/v1/csp/central/events"
    good = sign_body(region_key(CSP_SECRET, "Central"), batch)
    for signature, status in ((sign_body(b"wrong key", batch), 401), (good, 200)):
        r = live.client.post(
            url, content=batch, headers={"content-type": "application/json", SIGNATURE_HEADER: signature}
        )
        assert r.status_code == status, r.text
    with live.engine.begin() as conn:
        set_password(conn, c.S1, PASSWORD, c.NOW)
    with httpx.Client(base_url=live.url, timeout=30) as browser:
        # a wrong password, the password typed into the User ID field, then the right one
        for user, password, status in (
            (c.S1, PASSWORD[::-1], 401),
            (PASSWORD, "", 401),
            (c.S1, PASSWORD, 303),
        ):
            form = browser.get("/ssi/login")
            csrf = form.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
            r = browser.post("/ssi/login", data={"user": user, "password": password, "csrf": csrf})
            assert r.status_code == status, r.text[:300]
    return [rid_of(b) for b in bodies]


def test_no_key_material_in_the_log_events(live: Live, caplog: pytest.LogCaptureFixture) -> None:
    """Across signed DUIS requests (accepted and refused), DSP-CSP traffic signed with HMAC both ways and
    SSI sign-ins, no log event (structlog or stdlib) holds a private key, an HMAC secret or key, the
    session secret or a password."""
    caplog.set_level(logging.DEBUG)
    needles = secrets_of(live.pki)
    assert "dsp.key.pem line 0" in leaks((live.pki / "dsp.key.pem").read_text(), needles), "needles work"
    with capture_logs() as logs:
        rids = exercise(live)
    text = repr(logs) + caplog.text
    assert all(rid in text for rid in rids), "the events were captured"
    assert {"ssi sign-in", "ssi sign-in refused"} <= {e["event"] for e in logs}
    assert leaks(text, needles) == []


def test_no_key_material_in_the_text_on_stderr(
    live: Live, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture, restore_logging: None
) -> None:
    """The same traffic with the logging `hanota serve` configures, at debug level and as JSON: nothing
    written to stderr (or through stdlib logging) holds a private key, a secret or a password."""
    configure_logging("debug", json=True)
    caplog.set_level(logging.DEBUG)
    needles = secrets_of(live.pki)
    rids = exercise(live)
    text = capfd.readouterr().err + caplog.text
    assert all(rid in text for rid in rids), "the log lines were captured"
    assert leaks(text, needles) == []


def test_no_key_material_from_the_cli_commands_that_load_keys(
    tmp_path: Path, sqlite_url: str, restore_logging: None
) -> None:
    """`hanota pki init`, `hanota sr sign` (with the right key, and with key and certificate swapped),
    `hanota alerts pull` (signing its pulls with the User's key, against a live DSP on the same store) and
    `hanota users set-password` (accepted, and too short), at debug level: neither their stderr (the log
    and the one error line) nor their stdout holds a private key or a password."""
    env = {"HANOTA_DATA_DIR": str(tmp_path / "data"), "HANOTA_DATABASE_URL": sqlite_url,
           "HANOTA_LOG_LEVEL": "debug", "HANOTA_TRACEBACK": None, "COLUMNS": "200"}  # fmt: skip
    runner = CliRunner()
    outputs: list[str] = []

    def run(*args: str, input: str | None = None, exit_code: int = 0) -> None:
        r = runner.invoke(cli_app, list(args), env=env, input=input)
        assert r.exit_code == exit_code, (args, r.exit_code, r.stdout, r.stderr, r.exception)
        outputs.append(r.stdout + r.stderr)

    run("estate", "generate", "--homes", "20", "--seed", "3")
    run("pki", "init")
    pki = tmp_path / "data" / "pki"
    key = sorted((pki / "users").glob("*.key.pem"))[0]
    cert = key.with_name(key.name.replace(".key.pem", ".pem"))
    stem = cert.name.removesuffix(".pem")
    eui = "-".join(stem[i : i + 2] for i in range(0, 16, 2))
    unsigned = tmp_path / "request.xml"
    unsigned.write_bytes(render_request(request(eui, "8.2", ReadInventory(uprn=1))))
    run("sr", "sign", str(unsigned), "--key", str(key), "--cert", str(cert))
    assert "<ds:SignatureValue>" in outputs[-1]
    run("sr", "sign", str(unsigned), "--key", str(cert), "--cert", str(key), exit_code=2)
    ctx = build_context(Settings(data_dir=tmp_path / "data", database_url=sqlite_url), migrate=False)
    try:
        with LiveServer(create_app(ctx)) as server:
            run("alerts", "pull", "--user", eui, "--url", server.url)
    finally:
        ctx.engine.dispose()
    assert f"Mailbox of {eui}" in outputs[-1]
    run("users", "set-password", eui, "--password-stdin", input=PASSWORD + "\n")
    run("users", "set-password", eui, "--password-stdin", input=SHORT_PASSWORD + "\n", exit_code=2)
    needles = secrets_of(pki) | {"short password": SHORT_PASSWORD}
    text = "\n".join(outputs)
    assert leaks(text, needles) == [], text[-2000:]
