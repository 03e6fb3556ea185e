"""Clients that leave, stall or trickle (issue 12, item 14), against a live server over raw sockets.

A client that goes away mid-body is an ordinary event: one info line, no traceback (it used to log
"Exception in ASGI application" with Starlette's ClientDisconnect). A body that stalls is answered 408 and
its connection closed (one used to stay open for good), and only `max_incomplete_requests` bodies may be
arriving at once: the next request is answered 503 at once.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

import crafted as c
from duisclient import request, signed, signer_for
from hanota.api.app import create_app
from hanota.bootstrap import build_context
from hanota.clock import ManualClock
from hanota.db.engine import make_engine
from hanota.db.migrate import upgrade
from hanota.duis.requests import ReadInventory
from hanota.estate.pki import init_pki
from hanota.settings import Settings
from liveserver import LiveServer

LEFT = "client left before its request was answered"


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@dataclass
class Door:
    host: str
    port: int
    url: str
    pki: Path
    uvicorn_log: _Records
    capsys: pytest.CaptureFixture[str]
    seen: str = ""

    def connect(self) -> socket.socket:
        s = socket.create_connection((self.host, self.port), timeout=10)
        return s

    def logs(self) -> str:
        """Everything hanota logged so far (structlog writes one line per event to stdout or stderr)."""
        out, err = self.capsys.readouterr()
        self.seen += out + err
        return self.seen

    def wait_for(self, text: str, count: int = 1, timeout: float = 10.0) -> str:
        deadline = time.monotonic() + timeout
        while self.logs().count(text) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.seen

    def assert_no_tracebacks(self) -> None:
        text = self.logs()
        assert "Traceback" not in text, text[-2000:]
        assert "unexpected error" not in text, text[-2000:]
        bad = [r for r in self.uvicorn_log.records if r.exc_info or "Exception in ASGI" in r.getMessage()]
        assert not bad, [r.getMessage() for r in bad]


@contextmanager
def door(tmp: Path, capsys: pytest.CaptureFixture[str], **limits: Any) -> Iterator[Door]:
    """A live DSP (crafted estate on SQLite) with the given body limits."""
    url = f"sqlite:///{tmp / 'hanota.db'}"
    upgrade(url)
    engine = make_engine(url)
    c.build(engine)
    init_pki(engine, tmp / "pki", now=c.NOW)
    engine.dispose()
    ctx = build_context(
        Settings(data_dir=tmp, database_url=url, **limits), clock=ManualClock(c.NOW), migrate=False
    )
    records = _Records()
    with LiveServer(create_app(ctx)) as server:
        uvicorn_error = logging.getLogger("uvicorn.error")
        uvicorn_error.addHandler(records)  # after the server configured uvicorn's logging
        try:
            host, port = server.url.removeprefix("http://").rsplit(":", 1)
            yield Door(host, int(port), server.url, tmp / "pki", records, capsys)
        finally:
            uvicorn_error.removeHandler(records)
    ctx.engine.dispose()


def _head(path: str, content_type: str, extra: str) -> bytes:
    return f"POST {path} HTTP/1.1\r\nHost: dsp\r\nContent-Type: {content_type}\r\n{extra}\r\n".encode()


ROUTES = {
    "DUIS": ("/api/v1/serviceD", "application/xml", b"<sr:Request xmlns:sr="),
    "CSP events": ("/api/v1/csp/central/events", "application/json", b'{"region": "Cent'),
    "SSI sign-in form": ("/ssi/login", "application/x-www-form-urlencoded", b"user=90-B3-D5-1F&pass"),
}


def _bad_chunk_size(s: socket.socket, path: str, ctype: str, part: bytes) -> None:
    s.sendall(_head(path, ctype, "Transfer-Encoding: chunked\r\n") + b"zz\r\n" + part + b"\r\n")


def _content_length_larger(s: socket.socket, path: str, ctype: str, part: bytes) -> None:
    s.sendall(_head(path, ctype, "Content-Length: 1000\r\n") + part)
    s.shutdown(socket.SHUT_WR)  # "that's all": the 1,000 bytes promised never come


def _gone_mid_body(s: socket.socket, path: str, ctype: str, part: bytes) -> None:
    s.sendall(_head(path, ctype, "Content-Length: 1000\r\n") + part)
    time.sleep(0.2)  # the app is waiting for the rest
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")  # RST on close


SHAPES: dict[str, Callable[[socket.socket, str, str, bytes], None]] = {
    "chunked body with a bad size": _bad_chunk_size,
    "Content-Length larger than the body": _content_length_larger,
    "client gone mid-body": _gone_mid_body,
}


@pytest.mark.parametrize("route", list(ROUTES))
@pytest.mark.parametrize("shape", list(SHAPES))
def test_a_client_that_leaves_is_one_info_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], shape: str, route: str
) -> None:
    """A client that leaves mid-request (each broken body shape, each route) is logged as exactly one info
    line naming the path, with no traceback, and the server goes on answering."""
    path, ctype, part = ROUTES[route]
    with door(tmp_path, capsys) as d:
        d.logs()
        s = d.connect()
        try:
            SHAPES[shape](s, path, ctype, part)
            if shape != "client gone mid-body":
                with contextlib.suppress(OSError):
                    s.recv(4096)  # uvicorn's 400 for the bad chunk, nothing for the others
        finally:
            s.close()
        text = d.wait_for(LEFT)
        time.sleep(0.3)  # anything logged after the line (a traceback came after the error line)
        text = d.logs()
        assert text.count(LEFT) == 1, text[-2000:]
        assert f"path={path}" in text.split(LEFT, 1)[1].splitlines()[0]
        d.assert_no_tracebacks()
        with httpx.Client(timeout=10) as client:  # the server is fine
            assert client.get(f"{d.url}/healthz").text == "ok\n"


def _read_all(s: socket.socket, timeout: float) -> tuple[bytes, bool]:
    """What the server sends until it closes the connection (True) or `timeout` passes (False)."""
    s.settimeout(timeout)
    data = b""
    try:
        while chunk := s.recv(4096):
            data += chunk
    except TimeoutError:
        return data, False
    except ConnectionResetError:
        pass
    return data, True


def test_a_stalled_body_is_answered_408_and_closed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A body that stops arriving is answered 408 and the connection closed after the idle timeout (not
    kept open), logged as an idle body timeout without a traceback."""
    with door(tmp_path, capsys, body_idle_timeout_seconds=0.5, body_timeout_seconds=30) as d:
        s = d.connect()
        t0 = time.monotonic()
        s.sendall(_head("/api/v1/serviceD", "application/xml", "Content-Length: 1000\r\n") + b"<sr:Request")
        data, closed = _read_all(s, timeout=10)  # before: nothing, ever (a connection was open after 200 s)
        took = time.monotonic() - t0
        s.close()
        assert data.startswith(b"HTTP/1.1 408"), data[:200]
        assert closed, "the server kept the connection open"
        assert 0.4 < took < 5, took
        text = d.wait_for("request body timed out")
        assert "why=idle" in text
        d.assert_no_tracebacks()


def test_a_trickling_body_meets_the_total_timeout(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A byte every 0.1 s never trips the idle timeout; the total one ends it."""
    with door(tmp_path, capsys, body_idle_timeout_seconds=1.0, body_timeout_seconds=1.5) as d:
        s = d.connect()
        s.sendall(_head("/api/v1/serviceD", "application/xml", "Content-Length: 100000\r\n"))
        t0 = time.monotonic()
        stop = threading.Event()

        def trickle() -> None:
            while not stop.is_set():
                try:
                    s.sendall(b" ")
                except OSError:
                    return
                time.sleep(0.1)

        sender = threading.Thread(target=trickle, daemon=True)
        sender.start()
        try:
            data, closed = _read_all(s, timeout=10)
        finally:
            stop.set()
            sender.join(timeout=5)
            s.close()
        took = time.monotonic() - t0
        assert data.startswith(b"HTTP/1.1 408"), data[:200]
        assert closed
        assert 1.0 < took < 6, took
        assert "why=total" in d.wait_for("request body timed out")
        d.assert_no_tracebacks()


def test_incomplete_requests_are_capped(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """With room for 4 bodies arriving at once, 40 stalled clients get 4 slots and 36 prompt 503s; the
    server still answers everyone else, and once the stalled ones go a signed 8.2 is answered again."""
    limits = {"max_incomplete_requests": 4, "body_idle_timeout_seconds": 60.0, "body_timeout_seconds": 120.0}
    with door(tmp_path, capsys, **limits) as d:
        stalled = []
        head = _head("/api/v1/serviceD", "application/xml", "Content-Length: 1000\r\n") + b"<sr:Request"
        for _ in range(4):
            s = d.connect()
            s.sendall(head)
            stalled.append(s)
        with httpx.Client(timeout=10) as client:  # all four are in, waiting for their bodies
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                if client.post(f"{d.url}/api/v1/serviceD", content=b"x", headers={"content-type": "application/xml"}).status_code == 503:  # fmt: skip
                    break
                time.sleep(0.05)
        refused = 0
        for _ in range(36):
            s = d.connect()
            s.sendall(head)
            data, closed = _read_all(s, timeout=5)  # before: no answer (all 1,000 were held)
            s.close()
            assert data.startswith(b"HTTP/1.1 503"), data[:200]
            assert b"retry-after: 1" in data.lower()
            assert closed
            refused += 1
        assert refused == 36
        with httpx.Client(timeout=10) as client:
            assert client.get(f"{d.url}/healthz").text == "ok\n"  # requests without a body are not held
            for s in stalled:
                s.close()
            d.wait_for(LEFT, count=4)
            body = signed(signer_for(d.pki, c.S1), request(c.S1, "8.2", ReadInventory(device_id=c.P_OK)))
            r = client.post(
                f"{d.url}/api/v1/serviceD", content=body, headers={"content-type": "application/xml"}
            )
            assert r.headers["x-duis-response-code"] == "I0"
        assert d.logs().count("too many request bodies arriving") >= 36
        d.assert_no_tracebacks()
