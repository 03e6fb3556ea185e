"""The ESI inventory extract: every device (or every device a User is interested in) as CSV, including the
IHD/PPMID firmware versions, their CPL status and whether they can be updated (SECMP0007).

One SQL statement streams the devices with their hub and home in device ID order; the CPL (a few hundred
rows) is looked up in memory. Memory stays bounded whatever the estate's size: rows are fetched in batches
(`yield_per`, a server-side cursor on PostgreSQL) and written in 64 KiB chunks.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
from datetime import date
from typing import IO, Any

from sqlalchemy import Engine

from hanota.ssi.cpl_queries import load_cpl
from hanota.ssi.csvout import CHUNK, cell, csv_chunks
from hanota.ssi.inventory_queries import DEVICE_CSV, Search, inventory_stmt
from hanota.ssi.queries import Scope

ESI_COLUMNS = DEVICE_CSV


def _rows(engine: Engine, scope: Scope) -> Iterator[Sequence[Any]]:
    with engine.connect() as conn:
        cpl = load_cpl(conn)
        stmt, params = inventory_stmt(conn, scope, Search("all"), None, None)
        versions = cpl.versions
        models = cpl.models
        result = conn.execution_options(stream_results=True, yield_per=5000).execute(stmt, params)
        for r in result:
            (did, dtype, smi, mfr, model, hw, fw, hub, region, uprn, postcode, commissioned) = r
            v = versions.get(fw) if fw is not None else None
            upgradeable = "true" if v is not None and v[1] else "false"
            if isinstance(commissioned, date):
                commissioned = commissioned.isoformat()
            yield (
                did, dtype, smi, mfr, model, f"{hw:04X}" if hw is not None else None, fw,
                v[0] if v is not None else None, models.get((mfr.upper(), model.upper())), upgradeable,
                hub, region, uprn, postcode, commissioned,
            )  # fmt: skip


def extract_chunks(engine: Engine, scope: Scope) -> Iterator[bytes]:
    """The extract as CSV byte chunks (for an HTTP download)."""
    return csv_chunks(ESI_COLUMNS, _rows(engine, scope))


def write_extract(engine: Engine, scope: Scope, out: IO[str]) -> int:
    """Write the extract to a text file; returns the number of devices written."""
    w = csv.writer(out, lineterminator="\r\n")
    w.writerow(ESI_COLUMNS)
    n = 0
    batch: list[Sequence[Any]] = []
    for row in _rows(engine, scope):
        batch.append([cell(v) for v in row])  # as the HTTP export: no cell runs as a formula
        if len(batch) >= CHUNK // 64:
            w.writerows(batch)
            n += len(batch)
            batch.clear()
    w.writerows(batch)
    return n + len(batch)
