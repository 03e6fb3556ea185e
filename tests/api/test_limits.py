"""Bounded work per request (issue 12, item 13).

A hostile document's shape is refused by the hardened parse, in milliseconds, before the signature check
(C14N is quadratic in one element's attributes and namespace declarations: 100,000 attributes took 17 s to
refuse). And DUIS requests no longer queue on one thread: small requests keep their latency while a
hostile request or a full 50,000-device 11.4 is being handled.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

import crafted as c
from duisclient import request, signed, signer_for
from hanota.api.app import create_app
from hanota.bootstrap import build_context
from hanota.clock import ManualClock
from hanota.db.engine import make_engine
from hanota.db.migrate import upgrade
from hanota.db.models import User
from hanota.duis import Signer, render_request
from hanota.duis.requests import ReadInventory, UpdatePPMIDFirmware
from hanota.duis.xmlparse import DEFAULT_LIMITS, MAX_REQUEST_BYTES, XmlLimits, parse_document
from hanota.errors import InputError
from hanota.estate.pki import init_pki
from hanota.settings import Settings
from liveserver import LiveServer

XML = {"content-type": "application/xml"}
CLIENTS = 4
SUPPLIERS = [f"90-B3-D5-1F-71-00-00-{i:02X}" for i in range(CLIENTS)]


# -- the parse -------------------------------------------------------------------------------------------


def _doc(root_attrs: bytes = b"", inner: bytes = b"") -> bytes:
    return b'<?xml version="1.0" encoding="UTF-8"?><r xmlns="urn:r"' + root_attrs + b">" + inner + b"</r>"


def _attrs(n: int) -> bytes:
    return b"".join(b' a%d="x"' % i for i in range(n))


def _namespaces(n: int) -> bytes:
    return b"".join(b' xmlns:n%d="urn:n%d"' % (i, i) for i in range(n))


def _nested(depth: int) -> bytes:
    return b"<e>" * depth + b"</e>" * depth


def _refused(data: bytes, limits: XmlLimits = DEFAULT_LIMITS) -> str:
    with pytest.raises(InputError) as caught:
        parse_document(data, max_bytes=MAX_REQUEST_BYTES, limits=limits)
    assert caught.value.code == "E100"
    return caught.value.message


LIMITS = XmlLimits(max_depth=10, max_elements=50, max_attributes=5, max_namespace_declarations=4)


@pytest.mark.parametrize(
    ("name", "within", "over"),
    [
        ("attributes", _doc(inner=b"<e" + _attrs(5) + b"/>"), _doc(inner=b"<e" + _attrs(6) + b"/>")),
        ("namespace declarations", _doc(_namespaces(3)), _doc(_namespaces(4))),  # + the default namespace
        ("depth", _doc(inner=_nested(9)), _doc(inner=_nested(10))),
        ("elements", _doc(inner=b"<e/>" * 49), _doc(inner=b"<e/>" * 50)),
    ],
)
def test_each_limit_admits_its_maximum_and_refuses_one_more(name: str, within: bytes, over: bytes) -> None:
    """Each XML shape limit (attributes or namespace declarations on one element, depth, element count) admits
    a document exactly at its maximum and refuses one more, naming the limit."""
    parse_document(within, max_bytes=MAX_REQUEST_BYTES, limits=LIMITS)
    message = _refused(over, LIMITS)
    assert name.split()[0].rstrip("s") in message or "nested" in message, message


def test_an_element_over_a_limit_in_the_last_bytes_is_still_refused() -> None:
    """libxml2 holds back the end of a document until the parser is closed: its events are checked too."""
    data = _doc(inner=_nested(3) + b"<last" + _attrs(40) + b"/>")
    assert len(data) < 64 * 1024
    assert "attributes" in _refused(data)


@pytest.mark.parametrize(
    ("name", "tag"),
    [
        ("100,000 attributes", _attrs(100_000)),
        ("40,000 namespace declarations", _namespaces(40_000)),
        ("attributes with spaces around '='", b"".join(b' a%d = "x"' % i for i in range(100_000))),
        ("'>' inside attribute values", b"".join(b' a%d=">"' % i for i in range(100_000))),
    ],
)
def test_a_huge_start_tag_is_refused_before_it_is_parsed(name: str, tag: bytes) -> None:
    """A start tag with 100,000 attributes or 40,000 namespace declarations (however spaced or quoted) is
    refused by a byte scan in under a second, before libxml2 parses it."""
    data = _doc(inner=b"<e" + tag + b"/>")
    t0 = time.perf_counter()
    message = _refused(data)
    elapsed = time.perf_counter() - t0
    assert "'=' signs" in message or "over 32" in message, message
    assert elapsed < 1.0, f"{name}: {elapsed:.3f} s"  # ~1 ms; the full parse and C14N took 17 s and more


def test_a_full_firmware_request_is_far_inside_the_limits() -> None:
    """A full 11.4 (50,000 IDs, a 10,240,000-octet image) parses with the default limits; its shape is tiny."""
    ids = tuple(f"CC-00-00-00-00-{i >> 16:02X}-{(i >> 8) & 255:02X}-{i & 255:02X}" for i in range(50_000))
    image = (c.NEW_IMAGE * (10_240_000 // len(c.NEW_IMAGE) + 1))[:10_240_000]
    data = render_request(request(c.S1, "11.4", UpdatePPMIDFirmware(image, c.NEW_VERSION, ids)))
    assert len(data) > 14_000_000
    root = parse_document(data, max_bytes=MAX_REQUEST_BYTES)
    assert sum(1 for _ in root.iter()) < 50
    # and 50,000 DeviceID elements (were IDs ever sent one per element) are within the default limits
    parse_document(
        _doc(inner=(b"<DeviceID>" + ids[0].encode() + b"</DeviceID>") * 50_000), max_bytes=MAX_REQUEST_BYTES
    )


# -- over HTTP -------------------------------------------------------------------------------------------


@dataclass
class Busy:
    url: str
    engine: Engine
    pki: Path
    signers: list[Signer]

    @property
    def api(self) -> str:
        return f"{self.url}/api/v1/serviceD"


@contextmanager
def _busy(url: str, tmp_path: Path) -> Iterator[Busy]:
    """A live DSP on the crafted estate with CLIENTS extra suppliers, one per traffic client."""
    upgrade(url)
    engine = make_engine(url)
    c.build(engine)
    with Session(engine) as s, s.begin():
        s.add_all(
            [User(eui=e, name=f"T{i}", roles="IS GS", status="Active") for i, e in enumerate(SUPPLIERS)]
        )
    init_pki(engine, tmp_path / "pki", now=c.NOW)
    settings = Settings(data_dir=tmp_path, database_url=url)
    ctx = build_context(settings, clock=ManualClock(c.NOW), migrate=False)
    try:
        with LiveServer(create_app(ctx)) as server:
            yield Busy(
                server.url, engine, tmp_path / "pki", [signer_for(tmp_path / "pki", e) for e in SUPPLIERS]
            )
    finally:
        ctx.engine.dispose()
        engine.dispose()


@pytest.fixture
def busy(db_url: str, tmp_path: Path) -> Iterator[Busy]:
    with _busy(db_url, tmp_path) as b:
        yield b


@pytest.fixture
def busy_pg(pg_url: str, tmp_path: Path) -> Iterator[Busy]:
    with _busy(pg_url, tmp_path) as b:
        yield b


def _ok(busy: Busy, counter: int = 1) -> bytes:
    return signed(
        busy.signers[0], request(SUPPLIERS[0], "8.2", ReadInventory(device_id=c.P_OK), counter=counter)
    )


def _with_tag(data: bytes, tag: bytes) -> bytes:
    """A signed-looking request with `tag` written into the start tag of its sr:Body."""
    at = data.index(b"<sr:Body") + len(b"<sr:Body")
    return data[:at] + tag + data[at:]


HOSTILE: dict[str, Callable[[bytes], bytes]] = {
    "100,000 attributes on one element": lambda ok: _with_tag(ok, _attrs(100_000)),
    "40,000 namespace declarations": lambda ok: _with_tag(ok, _namespaces(40_000)),
    "elements nested 1,000 deep": lambda ok: ok.replace(
        b"</sr:Body>", b"<x>" * 1000 + b"</x>" * 1000 + b"</sr:Body>", 1
    ),
}


@pytest.mark.parametrize("shape", list(HOSTILE))
def test_hostile_shapes_are_answered_in_milliseconds(busy: Busy, shape: str) -> None:
    """Over HTTP, each hostile XML shape under the size limit is answered 400 'not a DUIS request' in under
    100 ms (best of three)."""
    body = HOSTILE[shape](_ok(busy))
    assert len(body) < 2 * 1024 * 1024
    with httpx.Client(timeout=10) as client:
        assert client.get(f"{busy.url}/healthz").status_code == 200  # connected and warm
        times = []
        for _ in range(3):  # the best of three: a busy shared machine must not fail the test
            t0 = time.perf_counter()
            r = client.post(busy.api, content=body, headers=XML)
            times.append(time.perf_counter() - t0)
            assert r.status_code == 400, r.text[:200]
            assert r.text.startswith("not a DUIS request: "), r.text[:200]
    assert min(times) < 0.1, f"{shape}: {times}"  # before: 17 s (100,000 attributes), 11.5 s (namespaces)


@dataclass
class Traffic:
    """CLIENTS threads, each a supplier sending signed 8.2s one after another, every answer timed."""

    busy: Busy
    answers: list[tuple[float, float, str]] = field(default_factory=list)  # (sent, answered, code)
    failures: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)

    def __post_init__(self) -> None:
        bodies = [
            [
                signed(s, request(e, "8.2", ReadInventory(device_id=c.P_OK), counter=n + 10))
                for n in range(300)
            ]
            for s, e in zip(self.busy.signers, SUPPLIERS, strict=True)
        ]
        self.threads = [threading.Thread(target=self._client, args=(b,), daemon=True) for b in bodies]

    def _client(self, bodies: list[bytes]) -> None:
        with httpx.Client(timeout=10) as client:  # well under the 17 s a hostile request used to take
            for body in bodies:
                if self.stop.is_set():
                    return
                t0 = time.perf_counter()
                try:
                    r = client.post(self.busy.api, content=body, headers=XML)
                except httpx.HTTPError as e:
                    self.failures.append(f"{type(e).__name__} after {time.perf_counter() - t0:.1f} s")
                    return
                self.answers.append((t0, time.perf_counter(), r.headers.get("x-duis-response-code", "?")))

    def __enter__(self) -> Traffic:
        for t in self.threads:
            t.start()
        deadline = time.monotonic() + 30
        while len(self.answers) < 10 * CLIENTS and time.monotonic() < deadline and not self.failures:
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=30)

    def overlapping(self, start: float, end: float) -> list[float]:
        return [b - a for a, b, _ in self.answers if a < end and b > start]

    def answered_within(self, start: float, end: float) -> int:
        return sum(1 for a, b, _ in self.answers if a >= start and b <= end)


def test_small_requests_are_not_held_by_a_hostile_one(busy: Busy) -> None:
    """While hostile requests are refused, 8.2 requests sent alongside are all answered I0 within 2 s each: a
    hostile body never holds the small requests' lane."""
    hostile = [build(_ok(busy)) for build in HOSTILE.values()]
    with Traffic(busy) as traffic, httpx.Client(timeout=60) as client:
        windows = []
        for body in hostile:
            t0 = time.perf_counter()
            r = client.post(busy.api, content=body, headers=XML)
            windows.append((t0, time.perf_counter()))
            assert r.status_code == 400
            time.sleep(0.2)
    assert not traffic.failures, traffic.failures
    assert {code for _, _, code in traffic.answers} == {"I0"}
    during = [x for start, end in windows for x in traffic.overlapping(start, end)]
    assert during, "no 8.2 overlapped the hostile requests"
    # before: every 8.2 sent meanwhile waited the 17 s the hostile request took
    assert max(during) < 2.0, sorted(during)[-5:]
    assert max(end - start for start, end in windows) < 2.0, windows


def test_small_requests_are_not_held_by_a_full_firmware_request(busy: Busy) -> None:
    """A 50,000-device 11.4 takes most of a second; 8.2s sent meanwhile go on being answered. (Before, on
    one thread, every 8.2 sent meanwhile waited for the whole 11.4: a p99 of 1.3 s beside 0.2 s. Then, on
    SQLite, where an 8.2 advances its sender's counter in the store's one write transaction at a time, the
    8.2s waited for the 11.4's classification and record: 0 to 11 answered meanwhile, now ~60.)"""
    filler = [f"CC-00-00-00-00-{i >> 16:02X}-{(i >> 8) & 255:02X}-{i & 255:02X}" for i in range(50_000 - 1)]
    s1 = signer_for(busy.pki, c.S1)
    big = signed(
        s1, request(c.S1, "11.4", UpdatePPMIDFirmware(c.NEW_IMAGE, c.NEW_VERSION, (c.P_OK, *filler)))
    )
    with Traffic(busy) as traffic, httpx.Client(timeout=120) as client:
        t0 = time.perf_counter()
        r = client.post(busy.api, content=big, headers=XML)
        t1 = time.perf_counter()
        time.sleep(0.2)
    assert r.headers["x-duis-response-code"] == "W110401"
    assert not traffic.failures, traffic.failures
    during = traffic.overlapping(t0, t1)
    answered = traffic.answered_within(t0, t1)
    took = t1 - t0
    # before, on one thread: no 8.2 sent after the 11.4 was answered before it (0 or 1 seen here), and the
    # 8.2s that overlapped it waited about as long as it took; now ~30 are answered meanwhile, median ~40 ms
    assert answered >= 2 * CLIENTS, (answered, took)
    assert statistics.median(during) < took / 2, (statistics.median(during), took)
