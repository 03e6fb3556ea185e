"""Benchmark: SR 8.2 Read Inventory over loopback HTTP, signatures verified and answers signed.

Starts `hanota serve --workers W` on a fresh estate, pre-signs N requests (client-side signing is not
timed), then fires them from C concurrent clients. Prints throughput and p50/p99 latency (median of R runs).
Target (issue 3): >= 500 requests/s on this 2-core machine.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from machine import describe, median  # noqa: E402

from hanota.duis import Request, RequestID, Signer, load_certificate, load_private_key, render_request  # noqa: E402
from hanota.duis.codes import DCC_EUI  # noqa: E402
from hanota.duis.models import ReadInventory  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def hanota(env: dict[str, str], *args: str) -> None:
    subprocess.run([sys.executable, "-m", "hanota.cli.main", *args], env=env, check=True, capture_output=True)


async def fire(url: str, per_client: list[list[bytes]]) -> tuple[float, list[float], int]:
    """Each client is one supplier sending its own requests in counter order (as DUIS requires)."""
    latencies: list[float] = []
    errors = 0
    limits = httpx.Limits(max_connections=len(per_client), max_keepalive_connections=len(per_client))
    async with httpx.AsyncClient(limits=limits, timeout=60) as client:

        async def worker(bodies: list[bytes]) -> None:
            nonlocal errors
            for body in bodies:
                t = time.perf_counter()
                r = await client.post(url, content=body, headers={"content-type": "application/xml"})
                latencies.append(time.perf_counter() - t)
                if r.status_code != 200 or r.headers.get("x-duis-response-code") != "I0":
                    errors += 1

        t0 = time.perf_counter()
        await asyncio.gather(*(worker(b) for b in per_client))
        return time.perf_counter() - t0, latencies, errors


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=3000)
    ap.add_argument("--concurrency", type=int, default=16, help="clients, one supplier each (at most 18)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--homes", type=int, default=2000)
    args = ap.parse_args()
    print(f"machine: {describe()}")
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
            per = args.requests // args.concurrency
            for run in range(args.runs):
                per_client: list[list[bytes]] = [[] for _ in suppliers]
                for _ in range(per):
                    counter += 1
                    for i, (supplier, signer) in enumerate(zip(suppliers, signers, strict=True)):
                        req = Request("5.4", RequestID(supplier, DCC_EUI, counter), 8, "8.2", "8.2",
                                      ReadInventory(device_id="00-DB-12-34-56-78-90-A4"))  # fmt: skip
                        per_client[i].append(signer.sign(render_request(req)))
                bodies = [b for bs in per_client for b in bs]
                secs, lat, errors = asyncio.run(fire(url, per_client))
                lat.sort()
                rps = len(bodies) / secs
                p50, p99 = lat[len(lat) // 2] * 1000, lat[int(len(lat) * 0.99)] * 1000
                results.append((rps, p50, p99, errors))
                print(f"run {run + 1}: {rps:,.0f} req/s, p50 {p50:.1f} ms, p99 {p99:.1f} ms, non-I0 {errors}")
        finally:
            server.terminate()
            server.wait(timeout=10)
    print(
        f"SR 8.2 over HTTP, {args.requests:,} requests x {args.runs} runs, {args.concurrency} clients, "
        f"{args.workers} server processes, SQLite: median {median([r[0] for r in results]):,.0f} req/s, "
        f"p50 {median([r[1] for r in results]):.1f} ms, p99 {median([r[2] for r in results]):.1f} ms "
        f"[target: >= 500 req/s]"
    )


if __name__ == "__main__":
    main()
