"""Benchmark: SR 11.4 at full size — 50,000 devices against a 1,000,000-device estate, end to end over HTTP.

For each backend (SQLite, PostgreSQL) it generates the estate (`hanota estate generate`), writes the test PKI,
starts ONE `hanota serve` process and POSTs pre-signed 11.4 requests (signing is not timed) with one httpx
client. A run is timed from sending the POST to holding the whole signed answer; by then everything is
committed. After each run the answer's signature is verified, its code must be W110401 or I0, and the store
must hold 50,000 request_devices rows for that request.

The request: a real OTA file of the newest Active release of the 121D PPMID model (the estate's CPL), sent by
the supplier interested in the most PPMIDs/IHDs, with 50,000 of its PPMID/IHD IDs (filled, if it has fewer,
with other suppliers' IDs, which land in InvalidDeviceIDList).

After each answer the bench waits (up to 30 s) until the server's distribution worker has sent the run's
jobs to the in-process CSP gateways, so that neither the floor nor the next run shares the CPU with the
previous run's routing. Then the request tables are emptied (request_devices, distribution_jobs,
service_requests, firmware_images, alert_outbox rows of requests, and the anomaly-detection usage counts) so
that every run sees the same store, no device lands in OtherRequestInProgressList because of the run before
and no run is quarantined for the volume of the runs before. One small 8.2 request warms the server up first
(schema loading) and is not timed.

The floor, measured in this process in the same run: hardened parse of the signed bytes, signature
verification (DbTrustStore on the same store), hashing the image, and one set-based lookup of the 50,000 IDs.
Peak memory is the server's VmHWM after the runs. The machine's load average is printed with each run: on a
shared machine compare a run with the floor of the same run, not with figures from another time.

Targets (issue "SR 11.4 at full size"): median <= 1.0 s, server peak <= 400 MiB, <= 3x the floor.
Usage: python bench/bench_update_firmware.py [--backend sqlite|postgres|both] [--runs 3] [--homes 205000]
       [--timeout 600]   (a run with no answer by then is reported as such; the backend's later runs are skipped)
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import Engine, bindparam, inspect, text

sys.path.insert(0, str(Path(__file__).parent))
from hanota.clock import SystemClock
from hanota.db.engine import make_engine
from hanota.db.types import UTCDateTime
from hanota.dsp.trust import DbTrustStore, dsp_signer
from hanota.duis import (
    MAX_REQUEST_BYTES,
    MAX_RESPONSE_BYTES,
    Request,
    RequestID,
    Signer,
    StaticTrustStore,
    Verifier,
    codes,
    load_certificate,
    load_private_key,
    parse_document,
    parse_response,
    render_request,
)
from hanota.duis.requests import ReadInventory, UpdatePPMIDFirmware
from hanota.estate.catalogue import IMAGE_SIZE, MODELS, synthetic_manufacturer_image
from hanota.firmware import build_image, parse_image
from hanota.inventory.interest import INTERESTED_FROM
from machine import describe, median

DEVICES = 50_000
PG_BASE = "postgresql://postgres@127.0.0.1:5432/test"
PG_SCHEMA = "bench_fw"
TARGET_SECONDS, TARGET_MIB, TARGET_RATIO = 1.0, 400, 3.0
RESET_TABLES = ("request_devices", "distribution_jobs", "service_requests", "firmware_images")
OPTIONAL_RESET_TABLES = ("anomaly_usage",)  # present once anomaly detection is in the store

# PPMID/IHD devices and the suppliers interested in them (the rule of hanota.inventory.interest).
INTERESTED = INTERESTED_FROM + "WHERE d.device_type IN ('PPMID', 'IHD')"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def hanota(env: dict[str, str], *args: str) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "hanota.cli.main", *args], env=env, capture_output=True, text=True
    )
    if out.returncode != 0:
        sys.exit(f"hanota {' '.join(args)} failed:\n{out.stdout}\n{out.stderr}")


def ppmid_image() -> tuple[bytes, str]:
    """A real OTA file for the newest Active release of the 121D PPMID model, and that release's version."""
    model = next(m for m in MODELS if m.device_type == "PPMID" and m.manufacturer == "121D")
    release = [r for r in model.releases if r.status == "Active"][-1]
    image = build_image(
        manufacturer_code=int(model.manufacturer, 16),
        image_type=model.image_type,
        file_version=int(release.version, 16),
        manufacturer_image=synthetic_manufacturer_image(release.version, IMAGE_SIZE["PPMID"]),
        header_string=f"hanota bench PPMID {release.version}",
        minimum_hardware_version=model.hw_min,
        maximum_hardware_version=model.hw_max,
    )
    return image, release.version


def pick_devices(engine: Engine, n: int) -> tuple[str, list[str], int]:
    """The supplier interested in the most PPMIDs/IHDs, n IDs (its own first), and how many are its own."""
    now = bindparam("now", type_=UTCDateTime())
    params = {"now": SystemClock().now()}
    with engine.connect() as conn:
        counts = conn.execute(
            text(f"SELECT r.supplier_eui, COUNT(DISTINCT d.device_id) {INTERESTED} "
                 "GROUP BY r.supplier_eui ORDER BY 2 DESC, 1").bindparams(now),
            params,
        ).all()  # fmt: skip
        sender = str(counts[0][0])
        # its devices of the image's model first (a supplier targets them), then the rest, by ID
        own = [
            str(r[0])
            for r in conn.execute(
                text(f"SELECT DISTINCT d.device_id, CASE WHEN d.device_type = 'PPMID' AND d.manufacturer = '121D' "
                     f"THEN 0 ELSE 1 END AS k {INTERESTED} AND r.supplier_eui = :sender "
                     "ORDER BY k, d.device_id").bindparams(now),
                {**params, "sender": sender},
            )
        ][:n]  # fmt: skip
        ids = list(own)
        if len(ids) < n:
            others = conn.execute(
                text(
                    "SELECT device_id FROM devices WHERE device_type IN ('PPMID', 'IHD') ORDER BY device_id"
                ),
            ).scalars()
            mine = set(own)
            for did in others:
                if did not in mine:
                    ids.append(str(did))
                    if len(ids) == n:
                        break
    random.Random(1).shuffle(ids)  # a realistic list is in no particular order
    return sender, ids, len(own)


def reset_requests(engine: Engine) -> None:
    tables = set(inspect(engine).get_table_names())
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM alert_outbox WHERE request_pk IS NOT NULL"))
        for table in RESET_TABLES:
            conn.execute(text(f"DELETE FROM {table}"))  # noqa: S608 - our names
        for table in OPTIONAL_RESET_TABLES:
            if table in tables:
                conn.execute(text(f"DELETE FROM {table}"))  # noqa: S608 - our names


def settle(engine: Engine, timeout: float = 30.0) -> float:
    """Wait until no distribution job is waiting or being sent (the server's worker is idle again)."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        with engine.connect() as conn:
            busy = conn.execute(
                text("SELECT COUNT(*) FROM distribution_jobs WHERE status IN ('pending', 'sending')")
            ).scalar_one()
        if not busy:
            break
        time.sleep(0.2)
    return time.perf_counter() - t0


def load() -> str:
    return "load " + " ".join(f"{x:.1f}" for x in os.getloadavg())


@dataclass
class Floor:
    parse: float
    verify: float
    hash: float
    lookup: float

    @property
    def total(self) -> float:
        return self.parse + self.verify + self.hash + self.lookup


def measure_floor(engine: Engine, verifier: Verifier, signed: bytes, image: bytes, ids: list[str],
                  sender: str) -> Floor:  # fmt: skip
    t0 = time.perf_counter()
    root = parse_document(signed, max_bytes=MAX_REQUEST_BYTES)
    t1 = time.perf_counter()
    verifier.verify(root, now=SystemClock().now(), expected_signer_eui=sender)
    t2 = time.perf_counter()
    parse_image(image, expect_signature=False).firmware_hash  # noqa: B018 - the hash is what is timed
    t3 = time.perf_counter()
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            sql = ("SELECT d.device_id, d.device_type, d.hub_id FROM json_each(:ids) i "
                   "LEFT JOIN devices d ON d.device_id = i.value")  # fmt: skip
            param: Any = json.dumps(ids)
        else:
            sql = ("SELECT d.device_id, d.device_type, d.hub_id FROM unnest(CAST(:ids AS text[])) i(value) "
                   "LEFT JOIN devices d ON d.device_id = i.value")  # fmt: skip
            param = ids
        rows = conn.execute(text(sql), {"ids": param}).all()
    t4 = time.perf_counter()
    assert len(rows) == len(ids)
    return Floor(t1 - t0, t2 - t1, t3 - t2, t4 - t3)


def vm_hwm_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def run_backend(backend: str, args: argparse.Namespace) -> None:
    label = "SQLite" if backend == "sqlite" else "PostgreSQL"
    with tempfile.TemporaryDirectory() as d:
        env = {**os.environ, "HANOTA_DATA_DIR": d, "HANOTA_LOG_LEVEL": "warning"}
        admin: Engine | None = None
        if backend == "postgres":
            url = f"{args.pg_url}?options=-csearch_path%3D{PG_SCHEMA}"
            admin = make_engine(args.pg_url)
            with admin.begin() as conn:
                conn.execute(text(f"DROP SCHEMA IF EXISTS {PG_SCHEMA} CASCADE"))
                conn.execute(text(f"CREATE SCHEMA {PG_SCHEMA}"))
            env["HANOTA_DATABASE_URL"] = url
        else:
            url = f"sqlite:///{Path(d) / 'hanota.db'}"
            env.pop("HANOTA_DATABASE_URL", None)
        server: subprocess.Popen[bytes] | None = None
        engine: Engine | None = None
        try:
            t0 = time.perf_counter()
            hanota(env, "estate", "generate", "--homes", str(args.homes))
            gen_s = time.perf_counter() - t0
            hanota(env, "pki", "init")
            engine = make_engine(url)
            with engine.connect() as conn:
                n_devices = int(conn.execute(text("SELECT COUNT(*) FROM devices")).scalar_one())
            sender, ids, own = pick_devices(engine, args.devices)
            image, version = ppmid_image()
            print(
                f"[{label}] estate: {args.homes:,} homes, {n_devices:,} devices (generated in {gen_s:.0f} s); "
                f"sender {sender} with {own:,} interested PPMIDs/IHDs, {len(ids) - own:,} other suppliers' "
                f"IDs added; image {len(image):,} bytes, version {version}"
            )

            key = Path(d) / "pki/users" / f"{sender.replace('-', '')}.key.pem"
            signer = Signer(
                load_private_key(key), load_certificate(key.with_name(key.name.replace(".key", "")))
            )
            base = int(time.time() * 1000)
            warmup = signer.sign(render_request(Request(
                "5.4", RequestID(sender, codes.DCC_EUI, base), codes.CV_NON_DEVICE, "8.2", "8.2",
                ReadInventory(device_id=ids[0]))))  # fmt: skip
            t0 = time.perf_counter()
            bodies = [
                signer.sign(render_request(Request(
                    "5.4", RequestID(sender, codes.DCC_EUI, base + 1 + i), codes.CV_NON_DEVICE,
                    "11.4", "11.4", UpdatePPMIDFirmware(image, version, tuple(ids)))))
                for i in range(args.runs)
            ]  # fmt: skip
            print(f"[{label}] {args.runs} requests of {len(bodies[0]):,} bytes pre-signed in "
                  f"{time.perf_counter() - t0:.1f} s (not timed)")  # fmt: skip

            verifier = Verifier(DbTrustStore(engine), accepted_roles=(codes.ROLE_XML_SIGNING,))
            answer_verifier = Verifier(
                StaticTrustStore(pinned=[dsp_signer(engine).certificate]),
                accepted_roles=(codes.ROLE_DSP_XML_SIGNING,),
                max_bytes=MAX_RESPONSE_BYTES,
            )

            port = free_port()
            server = subprocess.Popen(
                [sys.executable, "-m", "hanota.cli.main", "serve", "--port", str(port)],
                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            base_url = f"http://127.0.0.1:{port}"
            for _ in range(300):
                try:
                    httpx.get(f"{base_url}/healthz", timeout=1)
                    break
                except httpx.HTTPError:
                    time.sleep(0.1)
            headers = {"content-type": "application/xml"}
            e2e: list[float] = []
            floors: list[Floor] = []
            timed_out = False
            with httpx.Client(base_url=base_url, timeout=args.timeout) as client:
                r = client.post("/api/v1/serviceD", content=warmup, headers=headers)
                if r.headers.get("X-DUIS-Response-Code") != codes.SUCCESS:
                    sys.exit(f"warm-up 8.2 failed: HTTP {r.status_code} {r.text[:300]}")
                print(
                    f"[{label}] server up and warmed (one 8.2): VmHWM {vm_hwm_bytes(server.pid) / 2**20:.0f} MiB"
                )
                for i, body in enumerate(bodies):
                    reset_requests(engine)
                    t0 = time.perf_counter()
                    try:
                        r = client.post("/api/v1/serviceD", content=body, headers=headers)
                    except httpx.TimeoutException:
                        timed_out = True
                    if timed_out:
                        # the server still holds the store (on SQLite, the write lock): stop it, then measure
                        peak = vm_hwm_bytes(server.pid)
                        stop(server)
                        server = None
                        floor = measure_floor(engine, verifier, body, image, ids, sender)
                        floors.append(floor)
                        print(f"[{label}] run {i + 1}: NO ANSWER within {args.timeout:.0f} s (server stopped; "
                              f"later runs skipped); floor {floor.total:.3f} s (parse {floor.parse:.3f}, "
                              f"verify {floor.verify:.3f}, hash {floor.hash:.3f}, lookup {floor.lookup:.3f})")  # fmt: skip
                        break
                    answer = r.content
                    dt = time.perf_counter() - t0
                    code = r.headers.get("X-DUIS-Response-Code")
                    if r.status_code != 200 or code not in (codes.PPMID_DEVICES_EXCLUDED, codes.SUCCESS):
                        sys.exit(f"run {i + 1}: HTTP {r.status_code}, code {code}: {answer[:300]!r}")
                    resp = parse_response(answer_verifier.verify(answer, now=SystemClock().now()).root)
                    rid = str(RequestID(sender, codes.DCC_EUI, base + 1 + i))
                    with engine.connect() as conn:
                        stored: dict[str, int] = dict(conn.execute(text(
                            "SELECT rd.outcome, COUNT(*) FROM request_devices rd "
                            "JOIN service_requests s ON s.id = rd.request_pk WHERE s.request_id = :rid "
                            "GROUP BY rd.outcome"), {"rid": rid}).all())  # fmt: skip
                    if sum(stored.values()) != len(ids) or resp.response_code != code:
                        sys.exit(
                            f"run {i + 1}: {sum(stored.values())} request_devices rows, answer {resp.response_code}"
                        )
                    settled = settle(engine)
                    floor = measure_floor(engine, verifier, body, image, ids, sender)
                    e2e.append(dt)
                    floors.append(floor)
                    mix = ", ".join(f"{k} {v:,}" for k, v in sorted(stored.items(), key=lambda kv: -kv[1]))
                    print(f"[{label}] run {i + 1}: {dt:.2f} s end to end, answer {code} ({len(answer):,} bytes, "
                          f"signature verified), {sum(stored.values()):,} request_devices rows ({mix}); "
                          f"floor {floor.total:.3f} s (parse {floor.parse:.3f}, verify {floor.verify:.3f}, "
                          f"hash {floor.hash:.3f}, lookup {floor.lookup:.3f}), ratio {dt / floor.total:.1f}x; "
                          f"server VmHWM so far {vm_hwm_bytes(server.pid) / 2**20:.0f} MiB; routing settled in "
                          f"{settled:.1f} s; {load()}")  # fmt: skip
            if server is not None:
                peak = vm_hwm_bytes(server.pid)
        finally:
            if server is not None:
                stop(server)
            if engine is not None:
                engine.dispose()
            if admin is not None:
                with admin.begin() as conn:
                    conn.execute(text(f"DROP SCHEMA IF EXISTS {PG_SCHEMA} CASCADE"))
                admin.dispose()
    fmed = median([f.total for f in floors])
    floor_text = (
        f"floor median {fmed:.3f} s (parse {median([f.parse for f in floors]):.3f} + verify "
        f"{median([f.verify for f in floors]):.3f} + hash {median([f.hash for f in floors]):.3f} + lookup "
        f"{median([f.lookup for f in floors]):.3f})"
    )
    targets = f"[targets: <= {TARGET_SECONDS:.1f} s, <= {TARGET_MIB} MiB, <= {TARGET_RATIO:.0f}x the floor"
    head = f"SR 11.4 over HTTP, {len(ids):,} devices, {n_devices:,}-device estate, {label}, 1 server process"
    if timed_out:
        print(
            f"{head}: run {len(e2e) + 1} of {args.runs} gave no answer within {args.timeout:.0f} s; server peak "
            f"RSS {peak / 2**20:.0f} MiB (until stopped); {floor_text}, ratio > {args.timeout / fmed:,.0f}x "
            f"{targets}: NOT met]"
        )
        return
    med = median(e2e)
    per_run = ", ".join(f"{d / f.total:.1f}x" for d, f in zip(e2e, floors, strict=True))
    ok = med <= TARGET_SECONDS and peak / 2**20 <= TARGET_MIB and med / fmed <= TARGET_RATIO
    print(
        f"{head}, {args.runs} runs: median {med:.2f} s end to end, server peak RSS {peak / 2**20:.0f} MiB; "
        f"{floor_text}, ratio {med / fmed:.1f}x (run by run: {per_run}) "
        f"{targets}: {'met' if ok else 'NOT met'}]; {load()}"
    )


def stop(server: subprocess.Popen[bytes]) -> None:
    """Stop the server: gracefully, or (when a request is still running in its thread) by SIGKILL."""
    server.terminate()
    try:
        server.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait(timeout=10)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--homes", type=int, default=205_000, help="205,000 homes ≈ 1,000,000 devices")
    ap.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for one answer")
    ap.add_argument(
        "--devices", type=int, default=DEVICES, help="device IDs per request (DUIS allows 50,000)"
    )
    ap.add_argument(
        "--pg-url", default=PG_BASE, help=f"PostgreSQL database (schema {PG_SCHEMA} is made and dropped)"
    )
    args = ap.parse_args()
    print(f"machine: {describe()}")
    print("note: request tables (request_devices, distribution_jobs, service_requests, firmware_images) are "
          "emptied before each run so every run meets the same store")  # fmt: skip
    for backend in ("sqlite", "postgres") if args.backend == "both" else (args.backend,):
        run_backend(backend, args)


if __name__ == "__main__":
    main()
