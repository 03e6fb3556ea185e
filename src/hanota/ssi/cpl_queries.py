"""The CPL as the SSI reads it: in memory as a small lookup (the inventory's pages and the ESI extract ask
it about each device's firmware version and model), and as a list (the CPL page and its CSV)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from sqlalchemy import Connection, text

from hanota.db.models import CPLStatus
from hanota.ssi.queries import Page, finish, page_of, stream

CPL_STATUSES: Final = tuple(CPLStatus)
"""The CPL page's status filter, in the order it lists them."""


# --- the CPL, as a small lookup ---------------------------------------------------------------------


@dataclass(frozen=True)
class CPLView:
    """The CPL in memory (tens to hundreds of rows): version → (status, upgradeable); model → status."""

    versions: dict[str, tuple[str, bool]]
    models: dict[tuple[str, str], str]
    latest: dict[tuple[str, str], str] = field(default_factory=dict)

    def version_status(self, version: str | None) -> str | None:
        v = self.versions.get(version or "")
        return v[0] if v else None

    def upgradeable(self, version: str | None) -> tuple[bool, str]:
        """Whether a device on `version` accepts an OTA update, and why not (seed A-001)."""
        if version is None:
            return False, "no recorded firmware version (A-001)"
        v = self.versions.get(version)
        if v is None:
            return False, "version not on the CPL"
        return (True, "") if v[1] else (False, "version not upgradeable")

    def model_status(self, manufacturer: str, model: str) -> str | None:
        return self.models.get((manufacturer.upper(), model.upper()))


def load_cpl(conn: Connection) -> CPLView:
    versions: dict[str, tuple[str, bool]] = {}
    by_model: dict[tuple[str, str], list[tuple[str, str]]] = defaultdict(list)
    for r in conn.execute(
        text("SELECT manufacturer, model, firmware_version, status, upgradeable FROM cpl_entries ORDER BY id")
    ):
        versions[r.firmware_version] = (r.status, bool(r.upgradeable))
        by_model[(r.manufacturer.upper(), r.model.upper())].append((r.firmware_version, r.status))
    models: dict[tuple[str, str], str] = {}
    latest: dict[tuple[str, str], str] = {}
    for key, entries in by_model.items():
        statuses = {s for _, s in entries}
        # as SR 8.2 answers: Active if any version of the model is Active
        models[key] = CPLStatus.ACTIVE.value if CPLStatus.ACTIVE in statuses else max(statuses)
        active = [v for v, s in entries if s == CPLStatus.ACTIVE]
        if active:
            latest[key] = max(active)
    return CPLView(versions, models, latest)


# --- CPL browser -------------------------------------------------------------------------------------

CPL_CSV = (
    "id", "device_type", "manufacturer", "model", "hw_version_min", "hw_version_max", "firmware_version",
    "firmware_hash", "gbcs_version", "status", "upgradeable", "image_type",
)  # fmt: skip


def _cpl_stmt(device_type: str | None, status: str | None, after: int | None,
              limit: int | None) -> tuple[Any, dict[str, Any]]:  # fmt: skip
    where: list[str] = []
    params: dict[str, Any] = {}
    if device_type:
        where.append("device_type = :t")
        params["t"] = device_type
    if status:
        where.append("status = :s")
        params["s"] = status
    if after is not None:
        where.append("id > :after")
        params["after"] = after
    select = f"SELECT {', '.join(CPL_CSV)} FROM cpl_entries"  # noqa: S608 - our own column names
    return text(finish(select, where, "id", params, limit)), params


def _cpl_row(r: Any) -> dict[str, Any]:
    d = dict(r._mapping)
    d["upgradeable"] = bool(d["upgradeable"])
    d["hw_version_min"] = f"{d['hw_version_min']:04X}"
    d["hw_version_max"] = f"{d['hw_version_max']:04X}"
    d["image_type"] = f"{d['image_type']:04X}" if d["image_type"] is not None else None
    return d


def cpl_page(
    conn: Connection, device_type: str | None, status: str | None, after: int | None, size: int
) -> Page:
    stmt, params = _cpl_stmt(device_type, status, after, size + 1)
    return page_of([_cpl_row(r) for r in conn.execute(stmt, params)], size, "id")


def cpl_csv(conn: Connection, device_type: str | None, status: str | None) -> Iterator[Sequence[Any]]:
    stmt, params = _cpl_stmt(device_type, status, None, None)
    for r in stream(conn, stmt, params):
        d = _cpl_row(r)
        yield [d[c] for c in CPL_CSV]
