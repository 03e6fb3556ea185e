"""Benchmark: the DCC Alerts of a 50,000-device campaign built, signed, stored and delivered over HTTP.

The campaign (ASSUMED shares, stated here and printed): 50,000 PPMIDs/IHDs; each has one interested supplier
(70 %) or two (30 %) among 20 suppliers; per device and interested supplier exactly two alerts — on success
(95 %) a CommsHubAlert/FirmwareTransferAlert FileTransferSuccess (N62) and a PPMIDAlert/
PPMIDFirmwareUpgradeAlert ActivationSuccess (N63); on failure (5 %) a CSPFirmwareDeliveryStatus Failure (N61)
and a FirmwareTransferAlert FileTransferFailure (N62). About 130,000 alerts.

Stages, each timed on its own (median of --runs):
  build+sign   `AlertWriter.render` of every alert (typed model → sr:Response → XMLDSig with the DSP key),
               in this process, and in a process pool of --pool processes;
  store        `AlertWriter.write(..., rendered=…)` into SQLite, 5,000 alerts per transaction;
  deliver      one `DeliveryWorker` (aiohttp, keep-alive, --concurrency in flight, at most 16 per recipient,
               batches of 1,000) draining the outbox to a receiver in another process, run as `hanota serve`
               runs it (`run_forever`: claims, POSTs and records pipelined).
End to end: the three stages pipelined as the product runs them — the pool signs while this process writes
batches to the outbox and a delivery worker process drains it — timed from the first render to the last
alert marked delivered; afterwards the receiver must hold every alert ID exactly once.

The receiver is `hanota.supplier.receiver.Receiver` under uvicorn (uvloop + httptools) in its own process. In
the timed runs it is lean (`Receiver(None)`: hardened parse, deduplication, counts, no signature check — the
supplier's cost, not the DSP's); one extra delivery run goes to a verifying receiver, reported separately.

Usage: python bench/bench_alerts.py [--devices 50000] [--runs 3] [--pool 2] [--concurrency 64]
       [--skip-verifying]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session

sys.path.insert(0, str(Path(__file__).parent))
from hanota.alerts.delivery import DeliveryWorker
from hanota.alerts.outbox import AlertWriter, PendingAlert
from hanota.clock import SystemClock
from hanota.db.engine import make_engine
from hanota.db.migrate import upgrade
from hanota.db.models import AlertOutbox, ServiceRequest, User
from hanota.dsp.trust import dsp_signer
from hanota.duis import RequestID, Signer, codes, load_certificate, load_private_key
from hanota.duis.alerts import (
    CommsHubAlert,
    CSPFirmwareDeliveryStatus,
    FirmwareTransferAlert,
    PPMIDAlert,
    PPMIDFirmwareUpgradeAlert,
)
from hanota.duis.values import ActivationResult, TransferResponseCode, TransferStatus
from hanota.estate.pki import init_pki
from machine import describe, median

SUPPLIERS = 20
TWO_SUPPLIERS, FAILURE = 0.30, 0.05  # ASSUMED shares (see the docstring)
STORE_BATCH = 5_000
VERSION = "A0000002"


def _eui(prefix: int, n: int) -> str:
    raw = f"{prefix:04X}{n:012X}"
    return "-".join(raw[i : i + 2] for i in range(0, 16, 2))


def campaign(devices: int, seed: int = 1) -> list[PendingAlert]:
    rng = random.Random(seed)
    suppliers = [_eui(0x90B3, 0xD51F70000000 + i) for i in range(SUPPLIERS)]
    rid = RequestID(suppliers[0], codes.DCC_EUI, 1_767_225_600_000)
    now = SystemClock().now()
    out: list[PendingAlert] = []
    for d in range(devices):
        dev, hub = _eui(0xBB00, d), _eui(0xAA00, d // 2)
        interested = rng.sample(suppliers, 2 if rng.random() < TWO_SUPPLIERS else 1)
        failed = rng.random() < FAILURE
        for s in interested:
            pair: list[tuple[str, Any]]
            if failed:
                pair = [
                    ("dlv", CSPFirmwareDeliveryStatus(rid, hub, dev, VERSION, now, TransferStatus.FAILURE)),
                    ("xfer", CommsHubAlert(hub, 0x8F89, now, FirmwareTransferAlert(
                        dev, VERSION, TransferResponseCode.FILE_TRANSFER_FAILURE, rid))),
                ]  # fmt: skip
            else:
                pair = [
                    ("xfer", CommsHubAlert(hub, 0x8F8A, now, FirmwareTransferAlert(
                        dev, VERSION, TransferResponseCode.FILE_TRANSFER_SUCCESS, rid))),
                    ("act", PPMIDAlert(dev, 0x8F8B, now, PPMIDFirmwareUpgradeAlert(VERSION, ActivationResult.SUCCESS))),
                ]  # fmt: skip
            for tag, alert in pair:
                out.append(
                    PendingAlert(f"{tag}:1:{dev}:{s}", s, alert, request_pk=1, request_id=rid, device_id=dev)
                )
    return out


# -- the signing pool ------------------------------------------------------------------------------------

_writer: AlertWriter | None = None


def _pool_init(key: str, cert: str) -> None:
    global _writer
    _writer = AlertWriter(Signer(load_private_key(key), load_certificate(cert)))


def _pool_render(args: tuple[Sequence[PendingAlert], datetime]) -> list[tuple[str, bytes]]:
    alerts, now = args
    assert _writer is not None
    return [_writer.render(a, now) for a in alerts]


def _chunks(xs: Sequence[PendingAlert], n: int) -> list[Sequence[PendingAlert]]:
    return [xs[i : i + n] for i in range(0, len(xs), n)]


# -- the receiver process --------------------------------------------------------------------------------


def serve_receiver(port: int, dsp_cert: str | None) -> None:
    import uvicorn

    from hanota.supplier.receiver import Receiver

    receiver = Receiver(load_certificate(dsp_cert) if dsp_cert else None)
    uvicorn.run(receiver, host="127.0.0.1", port=port, log_level="warning", access_log=False, loop="uvloop",
                http="httptools", lifespan="on")  # fmt: skip


class ReceiverProcess:
    def __init__(self, dsp_cert: str | None) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        args = [sys.executable, __file__, "--serve-receiver", str(self.port)]
        if dsp_cert:
            args += ["--dsp-cert", dsp_cert]
        self.proc = subprocess.Popen(args)
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def counts(self) -> dict[str, Any]:
        data: dict[str, Any] = httpx.get(f"{self.url}/counts", timeout=60).json()
        return data

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


# -- the store -------------------------------------------------------------------------------------------


def prepare(workdir: Path) -> tuple[str, Engine, tuple[str, str]]:
    url = f"sqlite:///{workdir / 'bench.db'}"
    upgrade(url)
    engine = make_engine(url)
    now = SystemClock().now()
    with Session(engine) as s, s.begin():
        for i in range(SUPPLIERS):
            s.add(
                User(
                    eui=_eui(0x90B3, 0xD51F70000000 + i), name=f"Supplier {i}", roles="IS GS", status="Active"
                )
            )
        s.add(ServiceRequest(id=1, request_id="bench", originator_eui=_eui(0x90B3, 0xD51F70000000), srv="11.4",
                             received_at=now, status="accepted", response_code="I0"))  # fmt: skip
    init_pki(engine, workdir / "pki", now=now)
    return url, engine, (str(workdir / "pki" / "dsp.key.pem"), str(workdir / "pki" / "dsp.pem"))


def point_endpoints(engine: Engine, base: str) -> None:
    with engine.begin() as conn:
        conn.execute(text("UPDATE users SET alert_endpoint = :b || '/alerts/' || eui"), {"b": base})
        conn.execute(text("DELETE FROM alert_outbox"))


def store(
    engine: Engine, alerts: Sequence[PendingAlert], rendered: Sequence[tuple[str, bytes]], now: datetime
) -> None:
    writer = AlertWriter(dsp_signer(engine))
    for i in range(0, len(alerts), STORE_BATCH):
        with engine.begin() as conn:
            writer.write(conn, alerts[i : i + STORE_BATCH], now, rendered=rendered[i : i + STORE_BATCH])


def _until_drained(engine: Engine, worker: DeliveryWorker, producer_done: Any = None) -> None:
    """Run the worker as `hanota serve` does (`run_forever`: claims, POSTs and records pipelined) until the
    producer is done and nothing is left to deliver."""
    stop = threading.Event()
    thread = threading.Thread(target=worker.run_forever, args=(stop, 0.002), name="bench-delivery")
    thread.start()
    try:
        while True:
            # a count of what is left scans the outbox's pending index: 4 times a second costs ~1 % of a core
            # (every 10 ms it took a fifth of the CPU the worker and receiver share) and ends within 0.25 s
            time.sleep(0.25)
            if producer_done is not None and not producer_done.is_set():
                continue
            with engine.connect() as conn:
                left = conn.execute(
                    select(func.count()).select_from(AlertOutbox).where(AlertOutbox.delivered_at.is_(None))
                ).scalar_one()
            if not left:
                return
    finally:
        stop.set()
        thread.join()


def _drain(url: str, concurrency: int, producer_done: Any, result: Any) -> None:
    """A delivery worker process: drain until the producer is done and nothing is left to deliver."""
    engine = make_engine(url)
    worker = DeliveryWorker(engine, SystemClock(), name="bench", batch_size=1000, concurrency=concurrency)
    _until_drained(engine, worker, producer_done)
    worker.close()
    result.put((worker.totals.delivered, worker.totals.failed))
    engine.dispose()


def deliver(url: str, concurrency: int) -> float:
    engine = make_engine(url)
    worker = DeliveryWorker(engine, SystemClock(), name="bench", batch_size=1000, concurrency=concurrency)
    t0 = time.perf_counter()
    _until_drained(engine, worker)
    dt = time.perf_counter() - t0
    if worker.totals.failed:
        raise RuntimeError(f"{worker.totals.failed} delivery attempts failed")
    worker.close()
    engine.dispose()
    return dt


def end_to_end(url: str, engine: Engine, alerts: Sequence[PendingAlert], pool: ProcessPoolExecutor,
               concurrency: int) -> float:  # fmt: skip
    ctx = mp.get_context("spawn")
    done, result = ctx.Event(), ctx.Queue()
    proc = ctx.Process(target=_drain, args=(url, concurrency, done, result))
    proc.start()
    time.sleep(1.0)  # let the worker process import and connect before the clock starts
    writer = AlertWriter(dsp_signer(engine))
    now = SystemClock().now()
    t0 = time.perf_counter()
    chunks = _chunks(alerts, 1_000)
    for chunk, rendered in zip(chunks, pool.map(_pool_render, [(c, now) for c in chunks]), strict=True):
        with engine.begin() as conn:
            writer.write(conn, chunk, now, rendered=rendered)
    done.set()
    _delivered, failed = result.get(timeout=600)
    dt = time.perf_counter() - t0
    proc.join(timeout=30)
    if failed:
        raise RuntimeError(f"{failed} delivery attempts failed")
    return dt


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--devices", type=int, default=50_000)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--pool", type=int, default=2)
    p.add_argument("--concurrency", type=int, default=64)
    p.add_argument("--skip-verifying", action="store_true")
    p.add_argument("--serve-receiver", type=int, help=argparse.SUPPRESS)
    p.add_argument("--dsp-cert", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.serve_receiver:
        serve_receiver(a.serve_receiver, a.dsp_cert)
        return
    print(f"machine: {describe()}")
    alerts = campaign(a.devices)
    codes_ = {}
    for x in alerts:
        c = type(x.alert).__name__
        codes_[c] = codes_.get(c, 0) + 1
    print(f"campaign: {a.devices:,} devices, {len(alerts):,} alerts ({len(alerts) / a.devices:.2f} per device; "
          f"{', '.join(f'{k} {v:,}' for k, v in sorted(codes_.items()))}), {SUPPLIERS} suppliers")  # fmt: skip
    n = len(alerts)
    fig: dict[str, list[float]] = {k: [] for k in ("sign1", "signpool", "store", "deliver", "e2e")}
    with tempfile.TemporaryDirectory(prefix="bench-alerts-") as tmp:
        url, engine, (key, cert) = prepare(Path(tmp))
        writer = AlertWriter(dsp_signer(engine))
        with ProcessPoolExecutor(a.pool, mp_context=mp.get_context("spawn"), initializer=_pool_init,
                                 initargs=(key, cert)) as pool:  # fmt: skip
            list(pool.map(_pool_render, [(alerts[:10], SystemClock().now())] * a.pool))  # warm up the pool
            for run in range(a.runs):
                now = SystemClock().now()
                t0 = time.perf_counter()
                rendered = [writer.render(x, now) for x in alerts]
                fig["sign1"].append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                pooled = [
                    r
                    for part in pool.map(_pool_render, [(c, now) for c in _chunks(alerts, 2_000)])
                    for r in part
                ]
                fig["signpool"].append(time.perf_counter() - t0)
                assert len(pooled) == n and pooled[0][0] == rendered[0][0]
                receiver = ReceiverProcess(None)
                try:
                    point_endpoints(engine, receiver.url)
                    t0 = time.perf_counter()
                    store(engine, alerts, rendered, now)
                    fig["store"].append(time.perf_counter() - t0)
                    fig["deliver"].append(deliver(url, a.concurrency))
                    got = receiver.counts()
                    assert got["unique"] == n and got["duplicates"] == 0, got
                finally:
                    receiver.stop()
                receiver = ReceiverProcess(None)
                try:
                    point_endpoints(engine, receiver.url)
                    fig["e2e"].append(end_to_end(url, engine, alerts, pool, a.concurrency))
                    got = receiver.counts()
                    assert got["unique"] == n and got["duplicates"] == 0 and got["rejected"] == 0, got
                finally:
                    receiver.stop()
                print(f"run {run + 1}: " + ", ".join(f"{k} {n / v[-1]:,.0f}/s ({v[-1]:.2f} s)" for k, v in fig.items()),
                      flush=True)  # fmt: skip
            verifying = None
            if not a.skip_verifying:
                receiver = ReceiverProcess(cert)
                try:
                    point_endpoints(engine, receiver.url)
                    store(engine, alerts, rendered, SystemClock().now())
                    verifying = deliver(url, a.concurrency)
                    got = receiver.counts()
                    assert got["unique"] == n and got["rejected"] == 0, got
                finally:
                    receiver.stop()
        engine.dispose()
    print(f"\n{n:,} alerts, median of {a.runs} runs (alerts per second; higher is better):")
    names = {
        "sign1": "build+sign (AlertWriter.render), 1 process",
        "signpool": f"build+sign, process pool of {a.pool}",
        "store": f"store (AlertWriter.write, {STORE_BATCH:,} per transaction, SQLite)",
        "deliver": f"deliver (DeliveryWorker, aiohttp, {a.concurrency} in flight) to a lean receiver process",
        "e2e": "END TO END (pool signs | outbox writes | worker process delivers), pipelined",
    }
    for k, label in names.items():
        print(f"  {label:<92} {n / median(fig[k]):>9,.0f}/s  ({median(fig[k]):.2f} s)")
    if verifying is not None:
        print(f"  {'deliver to a VERIFYING receiver (signature checked per alert), 1 run':<92} {n / verifying:>9,.0f}/s  "
              f"({verifying:.2f} s)")  # fmt: skip
    e2e = n / median(fig["e2e"])
    print(
        f"\ntarget >= 5,000 alerts/s end to end: {'MET' if e2e >= 5000 else 'NOT MET'} ({e2e:,.0f}/s); "
        f"cpu count {os.cpu_count()}"
    )


if __name__ == "__main__":
    main()
