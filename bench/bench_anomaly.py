"""Benchmark: what the anomaly check costs the DSP, and quarantining / releasing a full 11.4.

1. Per-request overhead: N signed 8.2 requests through `DSPService.handle`, with the check as shipped and
   with it switched off (the guard's `admit` replaced by a no-op), alternating, median of several runs;
   once with 8.2 unguarded (the default: only the User's bucket is counted) and once with a User and a
   DCC-wide threshold on 8.2 (both meters locked and both windows summed).
2. A 50,000-device 11.4 held by an attribute limit (the answer E43 with its AD1 alert), then released by an
   operator (signature verified again, the 50,000 devices validated and recorded, the answer signed into the
   outbox).

The store is the small crafted estate of the tests (tests/crafted.py): the figures are the check's own
cost, not inventory lookups. Usage: python bench/bench_anomaly.py [--backend sqlite|postgres|both]
[--requests 300] [--runs 5] [--pg-url postgresql://postgres@127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, text

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tests" / "anomaly"))
import anomaly_testkit as kit  # noqa: E402 - the tests' DSP over the crafted estate

import crafted as c  # noqa: E402 - the tests' small estate
from hanota.anomaly.quarantine import release  # noqa: E402
from hanota.anomaly.thresholds import set_dcc_policy, set_user_threshold  # noqa: E402
from hanota.db.engine import make_engine  # noqa: E402
from hanota.db.migrate import upgrade  # noqa: E402
from hanota.duis.requests import ReadInventory, UpdatePPMIDFirmware  # noqa: E402
from hanota.logs import configure_logging  # noqa: E402
from machine import describe  # noqa: E402


@contextmanager
def store(backend: str, pg_url: str) -> Iterator[tuple[Engine, Path]]:
    with tempfile.TemporaryDirectory() as d:
        if backend == "sqlite":
            url = f"sqlite:///{Path(d) / 'bench.db'}"
            upgrade(url)
            engine = make_engine(url)
            try:
                yield engine, Path(d)
            finally:
                engine.dispose()
            return
        schema = f"bench_{secrets.token_hex(4)}"
        admin = make_engine(pg_url)
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = f"{pg_url}{'&' if '?' in pg_url else '?'}options=-csearch_path%3D{schema}"
        upgrade(url)
        engine = make_engine(url)
        try:
            yield engine, Path(d)
        finally:
            engine.dispose()
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()


def per_request(env: Any, n: int, runs: int) -> tuple[float, float]:
    """Median ms per 8.2 with the check and without it (alternating runs, fresh counters each)."""
    real = env.dsp.anomaly.admit
    with_check: list[float] = []
    without: list[float] = []
    for _ in range(runs):
        for on in (True, False):
            env.dsp.anomaly.admit = real if on else (lambda *a, **k: None)
            bodies = [env.signed(c.S1, "8.2", ReadInventory(device_id=c.P_OK)) for _ in range(n)]
            t0 = time.perf_counter()
            for b in bodies:
                if env.dsp.handle(b).code not in ("I0",):
                    raise SystemExit("unexpected answer")
            (with_check if on else without).append((time.perf_counter() - t0) * 1000 / n)
            env.clock.advance(3 * 24 * 3600)  # a fresh window: nothing is ever held
    env.dsp.anomaly.admit = real
    return statistics.median(with_check), statistics.median(without)


def run(backend: str, args: argparse.Namespace) -> None:
    with store(backend, args.pg_url) as (engine, tmp):
        env = kit.build_env(engine, tmp / "pki")
        on, off = per_request(env, args.requests, args.runs)
        print(f"[{backend}] 8.2, unguarded (User bucket counted): {on:.2f} ms/request with the check, "
              f"{off:.2f} ms without → {on - off:+.2f} ms ({(on - off) / off * 100:+.0f} %)")  # fmt: skip
        now = env.clock.now()
        with engine.begin() as conn:
            set_user_threshold(
                conn, user_eui=c.S1, srv="8.2", max_requests=10_000_000, actor_eui=c.S1, now=now
            )
            set_dcc_policy(conn, srv="8.2", changes={"dcc_max_requests": 100_000_000}, operator_eui=kit.OPERATOR,
                           reason="bench", now=now)  # fmt: skip
        on, off = per_request(env, args.requests, args.runs)
        print(f"[{backend}] 8.2, User + DCC-wide thresholds: {on:.2f} ms/request with the check, "
              f"{off:.2f} ms without → {on - off:+.2f} ms ({(on - off) / off * 100:+.0f} %)")  # fmt: skip

        filler = [
            f"CC-00-00-00-00-{i >> 16:02X}-{(i >> 8) & 255:02X}-{i & 255:02X}" for i in range(50_000 - 1)
        ]
        ids = (c.P_OK, *filler)
        with engine.begin() as conn:
            set_dcc_policy(conn, srv="11.4", changes={"max_devices_per_request": 49_999},
                           operator_eui=kit.OPERATOR, reason="bench", now=env.clock.now())  # fmt: skip
        held_ms: list[float] = []
        release_ms: list[float] = []
        for _ in range(args.runs):
            data = env.signed(c.S1, "11.4", UpdatePPMIDFirmware(c.NEW_IMAGE, c.NEW_VERSION, ids))
            t0 = time.perf_counter()
            answer = env.dsp.handle(data)
            held_ms.append((time.perf_counter() - t0) * 1000)
            if answer.code != "E43":
                raise SystemExit(f"expected E43, got {answer.code}")
            with engine.connect() as conn:
                ref = conn.execute(text("SELECT max(id) FROM quarantined_requests")).scalar_one()
            t0 = time.perf_counter()
            with engine.begin() as conn:
                d = release(conn, env.dsp, event_ref=ref, operator_eui=kit.OPERATOR, reason="bench",
                            now=env.clock.now())  # fmt: skip
            release_ms.append((time.perf_counter() - t0) * 1000)
            if d.response_code not in (
                "W110401",
                "E110405",
            ):  # E110405: P_OK still in flight from a run before
                raise SystemExit(f"release answered {d.response_code}")
            env.clock.advance(3 * 24 * 3600)
        print(f"[{backend}] 11.4 with 50,000 IDs ({len(data):,} bytes): held (E43 + AD1 alert) in "
              f"{statistics.median(held_ms):.0f} ms, released and processed in {statistics.median(release_ms):.0f} ms "
              f"(medians of {args.runs})")  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--backend", choices=("sqlite", "postgres", "both"), default="both")
    ap.add_argument("--requests", type=int, default=300)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--pg-url", default="postgresql://postgres@127.0.0.1:5432/test")
    args = ap.parse_args()
    configure_logging("warning")
    print(f"machine: {describe()}")
    print(f"sizes: {args.requests} 8.2 requests per run, {args.runs} runs per figure, crafted estate")
    for backend in ("sqlite", "postgres") if args.backend == "both" else (args.backend,):
        run(backend, args)


if __name__ == "__main__":
    main()
