"""Things only size or concurrency shows: statements over more IDs than SQLite has variables, the first
counter of an originator raced by two requests, two firmware requests of one sender racing for a device,
the store's one writer left free while an 11.4 classifies, and the trust store seeing a new certificate at
once."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from sqlalchemy import Engine, func, insert, select, text

import crafted as c
from duisclient import request, signed, signer_for
from hanota.clock import ManualClock
from hanota.db.bulk import insert_rows, ts
from hanota.db.engine import make_engine
from hanota.db.migrate import upgrade
from hanota.db.models import Certificate, RequestDevice, ServiceRequest
from hanota.dsp import update_firmware
from hanota.dsp.router import mark_csp_rejected
from hanota.dsp.service import DSPService
from hanota.dsp.trust import DbTrustStore, dsp_signer
from hanota.duis.requests import ReadInventory, UpdatePPMIDFirmware
from hanota.estate.pki import _cert_row, init_pki
from hanota.inventory.interest import interested_suppliers

MANY = 40_000  # over SQLite's 32,766 bound variables


def ids(n: int) -> list[str]:
    return [f"DD-00-00-00-00-{i >> 16:02X}-{(i >> 8) & 255:02X}-{i & 255:02X}" for i in range(n)]


def test_csp_rejections_of_a_whole_file_are_one_statement(engine: Engine) -> None:
    """Marking every device of a whole 50,000-target file csp_rejected works beyond SQLite's variable limit,
    in one statement, with the CSP's reason on each."""
    now = datetime(2026, 1, 1, tzinfo=UTC)
    devices = ids(MANY)
    with engine.begin() as conn:
        pk = conn.execute(
            insert(ServiceRequest).values(request_id="a:b:1", originator_eui=c.S1, srv="11.4", received_at=now,
                                          status="accepted", response_code="I0").returning(ServiceRequest.id)
        ).scalar_one()  # fmt: skip
        insert_rows(conn, "request_devices", ("request_pk", "device_id", "outcome", "state", "updated_at"),
                    [(pk, d, "Accepted", "sent", ts(now)) for d in devices])  # fmt: skip
        mark_csp_rejected(conn, pk, devices, "UnknownCommsHub", now)
    with engine.connect() as conn:
        got = conn.execute(
            select(RequestDevice.state, RequestDevice.failure, func.count()).group_by(
                RequestDevice.state, RequestDevice.failure
            )
        ).all()
    assert got == [("csp_rejected", "UnknownCommsHub", MANY)]


def test_interested_suppliers_of_more_devices_than_sqlite_has_variables(engine: Engine) -> None:
    """The interested suppliers of more devices than SQLite allows bound variables are found in one statement
    (unknown IDs have none)."""
    c.build(engine)
    with engine.connect() as conn:
        got = interested_suppliers(conn, [c.P_OK, *ids(MANY)], c.NOW)
    assert got == {c.P_OK: [c.S1, c.S2]}


def _service(engine: Engine) -> DSPService:
    return DSPService(engine=engine, clock=ManualClock(c.NOW), signer=dsp_signer(engine), trust=DbTrustStore(engine),
                      max_body_bytes=1_000_000)  # fmt: skip


def test_two_first_requests_of_an_originator_racing(engine: Engine, tmp_path: Path) -> None:
    """No primary-key collision on the first counter: both get a DUIS answer; of two requests with the
    same counter exactly one is accepted."""
    c.build(engine)
    init_pki(engine, tmp_path / "pki", now=c.NOW)
    svc = _service(engine)
    s1 = signer_for(tmp_path / "pki", c.S1)
    for round_, counters in enumerate(((5, 5), (7, 8))):
        eui = (c.S1, c.S2)[round_]
        signer = s1 if round_ == 0 else signer_for(tmp_path / "pki", c.S2)
        bodies = [
            signed(signer, request(eui, "8.2", ReadInventory(device_id=c.P_OK), counter=n)) for n in counters
        ]
        codes: list[str | None] = [None, None]
        barrier = threading.Barrier(2)

        def go(i: int, barrier: threading.Barrier = barrier, bodies: list[bytes] = bodies,
               codes: list[str | None] = codes) -> None:  # fmt: skip
            barrier.wait()
            codes[i] = svc.handle(bodies[i]).code

        threads = [threading.Thread(target=go, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if counters[0] == counters[1]:
            assert sorted(codes) == ["E41", "I0"], codes  # type: ignore[type-var]
        else:
            assert "I0" in codes and set(codes) <= {"I0", "E41"}, codes
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM request_counters")).scalar_one() == 2


def test_trust_store_sees_a_new_certificate_at_once_and_reloads_at_most_once_a_second(
    engine: Engine, tmp_path: Path
) -> None:
    """The database trust store finds a certificate added to the store at once (an unknown serial reloads),
    but reloads at most once a second."""
    c.build(engine)
    init_pki(engine, tmp_path / "pki", now=c.NOW)
    cert = x509.load_pem_x509_certificate(
        (tmp_path / "pki/users" / f"{c.S1.replace('-', '')}.pem").read_bytes()
    )
    issuer = cert.issuer.rfc4514_string()
    row = {k: getattr(_cert_row(cert, "leaf"), k)
           for k in ("issuer", "serial", "kind", "subject_eui", "role_code", "not_before", "not_after", "pem")}  # fmt: skip
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM certificates WHERE serial = :s"), {"s": str(cert.serial_number)})
    store = DbTrustStore(engine)
    assert store.certificate_by_serial(cert.serial_number, issuer) is None
    with engine.begin() as conn:  # a User's certificate is registered while the DSP runs
        conn.execute(insert(Certificate), [row])
    loaded = store._loaded_at
    assert store.certificate_by_serial(cert.serial_number, issuer) is None, "within the second: no reload"
    assert store._loaded_at == loaded
    store._loaded_at -= 1.5  # a second and a half later
    assert store.certificate_by_serial(cert.serial_number, issuer) == cert, "an unknown serial reloads"
    assert store.is_pinned(cert) is False and store.trusted_issuers()


def _after_classification(monkeypatch: pytest.MonkeyPatch, action: Callable[[], None]) -> list[float]:
    """Run `action` in another thread just after the FIRST classification has read the store (its result
    not yet recorded), waiting for it at most 2 s; the returned list gets the seconds it took once it has
    finished (empty: it did not finish in time)."""
    real = update_firmware.classify_all
    done: list[float] = []
    calls: list[int] = []

    def classify_all(*args: Any, **kwargs: Any) -> list[update_firmware.DeviceOutcome]:
        calls.append(1)
        result = real(*args, **kwargs)
        if len(calls) == 1:
            t0 = time.perf_counter()
            worker = threading.Thread(target=lambda: (action(), done.append(time.perf_counter() - t0)))
            worker.start()
            worker.join(timeout=2)
        return result

    monkeypatch.setattr(update_firmware, "classify_all", classify_all)
    return done


def _firmware(tmp_path: Path, counter: int, device_ids: Sequence[str] = (c.P_OK,)) -> bytes:
    body = UpdatePPMIDFirmware(c.NEW_IMAGE, c.NEW_VERSION, tuple(device_ids))
    return signed(signer_for(tmp_path / "pki", c.S1), request(c.S1, "11.4", body, counter=counter))


def test_two_firmware_requests_of_one_sender_never_both_take_a_device(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another 11.4 of the sender, for the same image and device, arrives when the first one's devices have
    been classified: the device is put in flight once. On SQLite (classification before the write lock) the
    other one, with the lower counter, is recorded first and the first one must find the device in flight
    when it records; on PostgreSQL the other one waits on the sender's counter row and is then a replay."""
    c.build(engine)
    init_pki(engine, tmp_path / "pki", now=c.NOW)
    svc = _service(engine)
    other: list[str | None] = []
    finished = _after_classification(
        monkeypatch, lambda: other.append(svc.handle(_firmware(tmp_path, 1)).code)
    )
    first = svc.handle(_firmware(tmp_path, 2)).code
    deadline = time.monotonic() + 30
    while not other and time.monotonic() < deadline:  # PostgreSQL: the other waits for the first
        time.sleep(0.01)
    expected = ("E110405", "I0") if engine.dialect.name == "sqlite" else ("I0", "E41")
    assert (first, *other) == expected, (first, other, finished)
    with engine.connect() as conn:
        states = conn.execute(
            select(RequestDevice.outcome, func.count())
            .where(RequestDevice.device_id == c.P_OK)
            .group_by(RequestDevice.outcome)
        ).all()
    refused = (
        [("OtherRequestInProgressList", 1)] if engine.dialect.name == "sqlite" else []
    )  # a replay: no rows
    assert sorted(states) == [("Accepted", 1), *refused], states


def test_a_firmware_request_classifies_without_holding_the_sqlite_writer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite has one writer: when an 11.4 has classified its devices, another write (here an 8.2, which
    advances its sender's counter) still commits at once. (Before: the classification ran inside the 11.4's
    write transaction, and the 8.2 waited for all of it.)"""
    url = f"sqlite:///{tmp_path / 'hanota.db'}"
    upgrade(url)
    engine = make_engine(url)
    try:
        c.build(engine)
        init_pki(engine, tmp_path / "pki", now=c.NOW)
        svc = _service(engine)
        read = signed(
            signer_for(tmp_path / "pki", c.S2), request(c.S2, "8.2", ReadInventory(device_id=c.P_OK))
        )
        codes: list[str | None] = []
        finished = _after_classification(monkeypatch, lambda: codes.append(svc.handle(read).code))
        assert svc.handle(_firmware(tmp_path, 1)).code == "I0"
        assert codes == ["I0"] and finished, "the 8.2 waited for the 11.4's classification"
    finally:
        engine.dispose()
