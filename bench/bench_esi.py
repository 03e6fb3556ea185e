# ruff: noqa: E501 - the child programs below are source text for `python -c`, kept as written
"""Benchmark: the ESI inventory extract of a 1,000,000-device estate (target ≤ 30 s, bounded memory), and
the SSI's queries on the same estate with a 50,000-device request (pages must stay fast).

The estate is generated once (`hanota.estate.generate`, as bench_estate.py does); each extract run is a
fresh process writing the CSV to a file, so its peak RSS is its own.
Usage: python bench/bench_esi.py [--homes 205000] [--runs 3] [--url postgresql://…] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from machine import describe, median

BUILD = r"""
import json, random, sys, time
from datetime import UTC, datetime, timedelta
from sqlalchemy import func, insert, select, text
from hanota.db.engine import make_engine
from hanota.db.migrate import upgrade
from hanota.db.models import Device, RequestDevice, ServiceRequest
from hanota.estate.generate import generate
url, homes = sys.argv[1], int(sys.argv[2])
upgrade(url)
engine = make_engine(url)
with engine.connect() as conn:
    have = conn.execute(select(func.count()).select_from(Device)).scalar_one()
t0 = time.perf_counter()
if not have:
    generate(engine, homes=homes, seed=1, replace=True)
with engine.connect() as conn:
    n = conn.execute(select(func.count()).select_from(Device)).scalar_one()
    big = conn.execute(text("SELECT supplier_eui FROM supplier_registrations GROUP BY supplier_eui ORDER BY count(*) DESC LIMIT 1")).scalar_one()
    pk = conn.execute(select(ServiceRequest.id).where(ServiceRequest.request_id == "bench:esi:1")).scalar()
if pk is None:
    # a 50,000-device SR 11.4 of the biggest supplier, half-way through delivery over 6 virtual hours
    rng = random.Random(7)
    t0r = datetime(2026, 6, 1, tzinfo=UTC)
    with engine.connect() as conn:
        ids = conn.execute(text("SELECT device_id, hub_id FROM devices WHERE device_type IN ('PPMID', 'IHD') ORDER BY device_id LIMIT 50000")).all()
    with engine.begin() as conn:
        pk = conn.execute(insert(ServiceRequest).values(request_id="bench:esi:1", originator_eui=big, srv="11.4", received_at=t0r,
            status="accepted", response_code="I0", firmware_version="00000001", device_count=len(ids), accepted_count=len(ids))
            .returning(ServiceRequest.id)).scalar_one()
        rows = []
        for did, hub in ids:
            state = rng.choices(["sent", "transferred", "activated", "transfer_failed", "activation_failed"], [30, 10, 50, 7, 3])[0]
            tr = t0r + timedelta(seconds=rng.uniform(600, 20000)) if state in ("transferred", "activated", "activation_failed") else None
            fin = tr + timedelta(seconds=rng.uniform(60, 900)) if tr and state != "transferred" else (t0r + timedelta(seconds=rng.uniform(600, 20000)) if state == "transfer_failed" else None)
            rows.append({"request_pk": pk, "device_id": did, "device_type": "PPMID", "hub_id": hub, "region": rng.choice(["North", "Central", "South"]),
                         "outcome": "Accepted", "reason": None, "state": state, "failure": "FileTransferFailure" if state == "transfer_failed" else None,
                         "updated_at": fin or tr or t0r, "sent_at": t0r + timedelta(seconds=60), "transferred_at": tr, "finished_at": fin})
        conn.execute(insert(RequestDevice), rows)
print(json.dumps({"devices": n, "build_seconds": time.perf_counter() - t0, "supplier": big, "request_pk": pk}))
"""

EXTRACT = r"""
import json, resource, sys, time
from datetime import UTC, datetime
from hanota.db.engine import make_engine
from hanota.ssi.esi import write_extract
from hanota.ssi.queries import Scope
from hanota.ssi.store import read_engine
url, out, user = sys.argv[1], sys.argv[2], sys.argv[3]
reader = read_engine(make_engine(url))
now = datetime(2026, 6, 1, tzinfo=UTC)
scope = Scope(user, False, now) if user else Scope("", True, now)
t0 = time.perf_counter()
with open(out, "w", newline="", encoding="utf-8") as f:
    n = write_extract(reader, scope, f)
dt = time.perf_counter() - t0
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"rows": n, "seconds": dt, "peak_bytes": rss}))
"""

PAGES = r"""
import json, statistics, sys, time
from datetime import UTC, datetime
from hanota.db.engine import make_engine
from hanota.ssi import queries as q
from hanota.ssi.billing import billing_rows
from hanota.ssi.store import read_engine
url, big, pk = sys.argv[1], sys.argv[2], int(sys.argv[3])
reader = read_engine(make_engine(url))
now = datetime(2026, 6, 1, 3, tzinfo=UTC)
op, sup = q.Scope("", True, now), q.Scope(big, False, now)
out = {}
def timed(name, fn, runs=5):
    xs = []
    for _ in range(runs):
        with reader.connect() as conn:
            t0 = time.perf_counter(); fn(conn); xs.append(time.perf_counter() - t0)
    out[name] = statistics.median(xs)
with reader.connect() as conn:
    req = q.get_request(conn, op, pk)
    mid = conn.execute(q.text("SELECT device_id FROM request_devices WHERE request_pk = :pk ORDER BY device_id LIMIT 1 OFFSET 40000"), {"pk": pk}).scalar_one()
    sample = conn.execute(q.text(
        "SELECT d.device_id FROM supplier_registrations r JOIN devices m ON m.device_id = r.device_id "
        "JOIN devices d ON d.hub_id = m.hub_id AND d.device_type = 'IHD' "
        "WHERE r.supplier_eui = :big AND r.effective_to IS NULL ORDER BY r.id LIMIT 1 OFFSET 1000"), {"big": big}).scalar_one()
timed("inventory page 1 (operator)", lambda c: q.inventory_page(c, op, q.Search("all"), None, 50))
timed("inventory page 1 (largest supplier)", lambda c: q.inventory_page(c, sup, q.Search("all"), None, 50))
timed("inventory search by device ID (largest supplier)", lambda c: q.inventory_page(c, sup, q.Search("device", sample), None, 50))
timed("device page (largest supplier)", lambda c: q.device_detail(c, sup, sample))
timed("firmware report IHD+PPMID (operator)", lambda c: q.firmware_report(c, op, q.HAN_TYPES), runs=3)
timed("firmware report IHD+PPMID (largest supplier)", lambda c: q.firmware_report(c, sup, q.HAN_TYPES), runs=3)
timed("distribution report page 1 of 50,000", lambda c: q.distribution_page(c, req, q.DistFilter(), None, 50))
timed("distribution report page 801 of 50,000 (keyset)", lambda c: q.distribution_page(c, req, q.DistFilter(), mid, 50))
timed("distribution report filtered by state", lambda c: q.distribution_page(c, req, q.DistFilter(state="transfer_failed"), None, 50))
timed("progress (counts + chart series) of 50,000", lambda c: q.progress(c, req, now))
timed("distribution CSV of 50,000 rows", lambda c: sum(1 for _ in q.distribution_csv(c, req, q.DistFilter())), runs=3)
timed("billing counts (all Users)", lambda c: billing_rows(c))
print(json.dumps(out))
"""


def run(code: str, *args: str) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, "-c", code, *args], check=True, capture_output=True, text=True
    ).stdout
    result: dict[str, object] = json.loads(out.strip().splitlines()[-1])
    return result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--homes", type=int, default=205_000, help="205,000 homes ≈ 1,000,000 devices")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--url", default="", help="database URL (default: a SQLite file)")
    ap.add_argument("--keep", default="", help="keep the SQLite estate in this folder (reused next time)")
    args = ap.parse_args()
    print(f"machine: {describe()}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.keep or tmp)
        folder.mkdir(parents=True, exist_ok=True)
        url = args.url or f"sqlite:///{folder / 'bench-esi.db'}"
        built = run(BUILD, url, str(args.homes))
        n = int(str(built["devices"]))
        print(
            f"estate: {n:,} devices ({float(str(built['build_seconds'])):.1f} s to build or reuse) in {args.url or 'SQLite'}"
        )
        for label, user in (("operator (all devices)", ""), ("largest supplier", str(built["supplier"]))):
            results = []
            for i in range(args.runs):
                out = folder / "extract.csv"
                r = run(EXTRACT, url, str(out), user)
                size = out.stat().st_size
                out.unlink()
                results.append(r)
                secs, rows, peak = float(str(r["seconds"])), int(str(r["rows"])), int(str(r["peak_bytes"]))
                print(f"  extract {label}, run {i + 1}: {rows:,} rows, {size / 2**20:.0f} MiB CSV in {secs:.1f} s "
                      f"({rows / secs:,.0f} rows/s), peak RSS {peak / 2**20:.0f} MiB")  # fmt: skip
            secs = median([float(str(r["seconds"])) for r in results])
            peak = max(int(str(r["peak_bytes"])) for r in results)
            print(f"ESI extract, {label}: median {secs:.1f} s, worst peak RSS {peak / 2**20:.0f} MiB "
                  f"[target: <= 30 s, bounded memory]")  # fmt: skip
        pages = run(PAGES, url, str(built["supplier"]), str(built["request_pk"]))
        print(f"SSI queries on {n:,} devices (median of 3-5 runs):")
        for name, secs in pages.items():
            print(f"  {name:55} {float(str(secs)) * 1000:8.1f} ms")


if __name__ == "__main__":
    main()
