"""Counting requests and devices in rolling windows, race-free on SQLite and PostgreSQL.

Storage: one row per (subject, SRV, clock hour) in ``anomaly_usage`` with the requests and distinct devices
counted in that hour; the subject is a User's EUI or ``DCC`` (all Users together). A window of ``W`` hours
is the sum of the buckets from the start of the hour ``W`` hours before the current one: it covers at
least the last ``W`` hours and at most ``W + 1`` (a request keeps counting up to an hour longer than an
exact sliding window would — the conservative side for a guard). A check is one indexed range sum over at
most 169 rows, whatever the traffic; buckets older than the longest window (168 h) are pruned once an hour
per (subject, SRV).

Races: every check-and-count of (subject, SRV) first locks that pair's row in ``anomaly_meters`` (one
``INSERT … ON CONFLICT DO UPDATE … RETURNING``: created if missing, row-locked on PostgreSQL; on SQLite
every write transaction already holds the store's single write lock). The lock is held until the request's
transaction commits, so the next request for the same pair sees this one's count: two requests racing past
a threshold cannot both pass.
Locks are always taken User first, then DCC, so two transactions never wait on each other in a cycle.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, bindparam, text

from hanota.anomaly.thresholds import MAX_WINDOW_HOURS
from hanota.db.types import UTCDateTime

#: The subject of DCC-wide counts.
DCC_SUBJECT = "DCC"

# The statements run on every request are built once (building SQLAlchemy expressions per request cost more
# than executing them); the same SQL runs on SQLite (3.35+) and PostgreSQL.
_HOUR = bindparam("hour", type_=UTCDateTime())
_LOCK = (
    text(
        "INSERT INTO anomaly_meters (subject, srv, hour, requests_total, devices_total) "
        "VALUES (:subject, :srv, :hour, 0, 0) "
        "ON CONFLICT (subject, srv) DO UPDATE SET requests_total = anomaly_meters.requests_total "
        "RETURNING hour"
    )
    .bindparams(_HOUR)
    .columns(hour=UTCDateTime())
)
_PRUNE = text(
    "DELETE FROM anomaly_usage WHERE subject = :subject AND srv = :srv AND hour < :before"
).bindparams(bindparam("before", type_=UTCDateTime()))
_MOVE = text("UPDATE anomaly_meters SET hour = :hour WHERE subject = :subject AND srv = :srv").bindparams(
    _HOUR
)
_SUM = text(
    "SELECT coalesce(sum(requests), 0), coalesce(sum(devices), 0) FROM anomaly_usage "
    "WHERE subject = :subject AND srv = :srv AND hour >= :since"
).bindparams(bindparam("since", type_=UTCDateTime()))
_ADD = text(
    "INSERT INTO anomaly_usage (subject, srv, hour, requests, devices) "
    "VALUES (:subject, :srv, :hour, :requests, :devices) "
    "ON CONFLICT (subject, srv, hour) DO UPDATE SET requests = anomaly_usage.requests + excluded.requests, "
    "devices = anomaly_usage.devices + excluded.devices"
).bindparams(_HOUR)
_TOTALS = text(
    "UPDATE anomaly_meters SET requests_total = requests_total + :requests, "
    "devices_total = devices_total + :devices WHERE subject = :subject AND srv = :srv"
)


@dataclass(frozen=True)
class Usage:
    """Requests and devices counted in a window."""

    requests: int
    devices: int


def hour_of(now: datetime) -> datetime:
    """The start of the clock hour (UTC) that `now` is in."""
    return now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def lock_meter(conn: Connection, subject: str, srv: str, now: datetime) -> None:
    """Create (if missing) and lock the meter of (subject, SRV) for the rest of `conn`'s transaction — one
    upsert whose DO UPDATE takes the row lock on PostgreSQL and waits for any holder; the first lock in a
    new hour also prunes that pair's buckets older than the longest window."""
    hour = hour_of(now)
    last = conn.execute(_LOCK, {"subject": subject, "srv": srv, "hour": hour}).scalar_one()
    if last < hour:
        before = hour - timedelta(hours=MAX_WINDOW_HOURS)
        conn.execute(_PRUNE, {"subject": subject, "srv": srv, "before": before})
        conn.execute(_MOVE, {"subject": subject, "srv": srv, "hour": hour})


def window_usage(conn: Connection, subject: str, srv: str, window_hours: int, now: datetime) -> Usage:
    """What (subject, SRV) has used in the `window_hours` window ending now (see the module docstring)."""
    since = hour_of(now) - timedelta(hours=window_hours)
    requests, devices = conn.execute(_SUM, {"subject": subject, "srv": srv, "since": since}).one()
    return Usage(int(requests), int(devices))


def add(conn: Connection, subject: str, srv: str, *, requests: int, devices: int, now: datetime) -> None:
    """Count `requests` and `devices` for (subject, SRV) in the current hour (the meter must be locked)."""
    params = {"subject": subject, "srv": srv, "requests": requests, "devices": devices}
    conn.execute(_ADD, {**params, "hour": hour_of(now)})
    conn.execute(_TOTALS, params)
