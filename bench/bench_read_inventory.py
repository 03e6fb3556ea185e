"""Benchmark: SR 8.2 Read Inventory over loopback HTTP, signatures verified and answers signed.

Starts `hanota serve --workers W` on a fresh estate, pre-signs the requests (client-side signing is not
timed), then replays them with wrk from C concurrent clients, one supplier each, in counter order.
Prints throughput and p50/p99 latency (median of R runs).
Target (issue 3): >= 500 requests/s on this 2-core machine.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from hanota.duis import Request, RequestID, Signer, load_certificate, load_private_key, render_request
from hanota.duis.codes import DCC_EUI
from hanota.duis.requests import ReadInventory
from machine import describe, median


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def hanota(env: dict[str, str], *args: str) -> None:
    subprocess.run([sys.executable, "-m", "hanota.cli.main", *args], env=env, check=True, capture_output=True)


def fire_wrk(
    url: str, per_client: list[list[bytes]], seconds: float, workdir: Path
) -> tuple[int, int, float, float, float]:
    """Replay with wrk (one thread and one connection per supplier); returns answered, errors, p50, p99, s."""
    for n, bodies in enumerate(per_client, start=1):
        assert all(b"\n" not in b for b in bodies)
        (workdir / f"client-{n}.req").write_bytes(b"\n".join(bodies) + b"\n")
    out = subprocess.run(
        ["wrk", "-t", str(len(per_client)), "-c", str(len(per_client)), "-d", f"{int(seconds)}s", "--timeout", "10s",
         "-s", str(Path(__file__).parent / "replay.lua"), url.rsplit("/api/", 1)[0], "--", str(workdir)],
        capture_output=True, text=True,
    )  # fmt: skip
    if out.stderr.strip():
        print(out.stderr.strip()[:600])
    if out.returncode != 0:
        sys.exit(f"wrk failed: {out.stderr or out.stdout}")
    line = next(x for x in out.stdout.splitlines() if x.startswith("RESULT"))
    kv = dict(part.split("=") for part in line.split()[1:])
    return (int(kv["answered"]), int(kv["errors"]), int(kv["p50_us"]) / 1000, int(kv["p99_us"]) / 1000,
            float(kv["seconds"]))  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=10.0, help="length of each run")
    ap.add_argument("--concurrency", type=int, default=16, help="clients, one supplier each (at most 18)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--homes", type=int, default=2000)
    args = ap.parse_args()
    print(f"machine: {describe()}")
    if shutil.which("wrk") is None:
        sys.exit(
            "this benchmark drives the DSP with wrk: apt-get install wrk (Python clients cap near 500 req/s)"
        )
    with tempfile.TemporaryDirectory() as d:
        env = {**os.environ, "HANOTA_DATA_DIR": d, "HANOTA_LOG_LEVEL": "warning"}
        env.pop("HANOTA_DATABASE_URL", None)
        hanota(env, "estate", "generate", "--homes", str(args.homes), "--dccboxed")
        hanota(env, "pki", "init")
        port = free_port()
        server = subprocess.Popen(
            [sys.executable, "-m", "hanota.cli.main", "serve", "--port", str(port), "--workers", str(args.workers)],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            url = f"http://127.0.0.1:{port}/api/v1/serviceD"
            for _ in range(100):
                try:
                    httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                    break
                except httpx.HTTPError:
                    time.sleep(0.1)
            suppliers = [f"90-B3-D5-1F-40-{i + 1:02X}-00-00" for i in range(args.concurrency)]
            signers = [
                Signer(
                    load_private_key(Path(d) / "pki/users" / f"{s.replace('-', '')}.key.pem"),
                    load_certificate(Path(d) / "pki/users" / f"{s.replace('-', '')}.pem"),
                )
                for s in suppliers
            ]
            counter = 1
            results = []
            # enough pre-signed requests that no supplier runs out, even if one connection gets most of the
            # server (a supplier that ran out would replay its last request and be answered E41)
            per = int(2500 * args.seconds / args.concurrency) + 50
            for run in range(args.runs):
                per_client: list[list[bytes]] = [[] for _ in suppliers]
                for _ in range(per):
                    counter += 1
                    for i, (supplier, signer) in enumerate(zip(suppliers, signers, strict=True)):
                        req = Request("5.4", RequestID(supplier, DCC_EUI, counter), 8, "8.2", "8.2",
                                      ReadInventory(device_id="00-DB-12-34-56-78-90-A4"))  # fmt: skip
                        per_client[i].append(signer.sign(render_request(req)))
                answered, errors, p50, p99, secs = fire_wrk(url, per_client, args.seconds, Path(d))
                rps = (answered - errors) / secs
                results.append((rps, p50, p99, errors))
                print(
                    f"run {run + 1}: {answered:,} answers in {secs:.1f} s, {rps:,.0f} I0/s, "
                    f"p50 {p50:.1f} ms, p99 {p99:.1f} ms, non-I0 {errors}"
                )
        finally:
            server.terminate()
            server.wait(timeout=10)
    print(
        f"SR 8.2 over HTTP (wrk), {args.seconds:.0f} s x {args.runs} runs, {args.concurrency} clients, "
        f"{args.workers} server processes, SQLite: median {median([r[0] for r in results]):,.0f} req/s, "
        f"p50 {median([r[1] for r in results]):.1f} ms, p99 {median([r[2] for r in results]):.1f} ms "
        f"[target: >= 500 req/s]"
    )


if __name__ == "__main__":
    main()
