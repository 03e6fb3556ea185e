"""The distribution worker: claims pending distribution jobs and sends each CSP its file.

Claiming is safe with several workers: on PostgreSQL `FOR UPDATE SKIP LOCKED`, on SQLite the store's
single writer (`hanota.retry.claimable`, shared with the alert delivery worker). A claim is a lease: a job
left in `sending` by a crashed worker is claimed again after `LEASE_SECONDS`, and the CSP answers a resend
of the same `distribution_id` with its first answer, so a file is never queued twice. A CSP that does not
take a file is tried again under the shared retry policy (`hanota.retry`: wall-clock backoff whatever the
clock's speed, a cap of attempts and age, a 4xx other than 408/425/429 given up after three tries); a job
past the cap is dead-lettered (``status = 'dead'``, its last error kept), shown by ``hanota dead-letters``
and sent again by hand with ``hanota dead-letters retry``.

The file (`hanota.csp.interface.Distribution`) carries everything the gateway needs about each target, read
in one statement when it is sent: the device, its hub and device type as validated (`request_devices`),
and what the inventory says now of the hub (its CSP region, 4G or not) and of the device (the hub whose HAN
it is on, its hardware version). It goes over a `hanota.csp.transport.CSPTransport`: HTTP
(`hanota.csp.client`) in a deployment, or in-process calls of this process's gateways.

A job is per geographic region: its file holds the region's accepted devices, those behind a 4G Comms Hub
(request device region `4G <region>`) included, and goes to that region's CSP gateway, which carries them
over its 4G WAN link (`hanota.csp.gateway` says why there are no separate 4G gateways).

Targets a CSP rejects are marked `csp_rejected` and the sender gets one
`FirmwareDistributionFailure` DCC Alert per job (stable ID `fdf:<job>`), in the same transaction.
"""

from __future__ import annotations

import base64
import random
import threading
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine, bindparam, select, text, update

from hanota.alerts.outbox import AlertWriter, PendingAlert
from hanota.background import poll_until_stopped
from hanota.clock import Clock
from hanota.csp.interface import Distribution, DistributionAnswer, PriorityClass, Target
from hanota.csp.transport import CSPTransport, CSPUnavailable
from hanota.db.bulk import id_list_sql, id_list_value
from hanota.db.models import (
    CommsHub,
    Device,
    DistributionJob,
    FirmwareImageBlob,
    RequestDevice,
    ServiceRequest,
)
from hanota.db.types import UTCDateTime
from hanota.duis import RequestID
from hanota.duis.alerts import FirmwareDistributionFailure
from hanota.lifecycle import DeviceState, JobStatus, Outcome, distribution_id, hub_regions_of
from hanota.logs import get_logger
from hanota.retry import Backoff, Lease, RetryPolicy, claimable

log = get_logger("hanota.router")
LEASE_SECONDS = 300


@dataclass(frozen=True)
class Claimed:
    job_id: int
    request_pk: int
    region: str
    priority: int
    attempts: int  # including this one
    failing_since: datetime | None = None  # when the CSP first failed to take it (None: it has not)


def mark_csp_rejected(
    conn: Connection, request_pk: int, devices: Sequence[str], reason: str, now: datetime
) -> None:
    """One statement for any number of devices (a CSP may reject a whole 50,000-target file)."""
    ids = id_list_sql(conn)  # a constant fragment naming the bind parameter, never input
    conn.execute(
        text(
            f"UPDATE request_devices SET state = '{DeviceState.CSP_REJECTED}', failure = :reason, "  # noqa: S608
            "finished_at = :now, "
            "updated_at = :now WHERE request_pk = :pk "
            "AND device_id IN (SELECT device_id FROM " + ids + " i)"
        ).bindparams(bindparam("now", type_=UTCDateTime())),
        {"reason": reason, "now": now, "pk": request_pk, "ids": id_list_value(conn, devices)},
    )


class Router:
    def __init__(
        self,
        engine: Engine,
        clock: Clock,
        client: CSPTransport,
        alerts: AlertWriter,
        *,
        name: str,
        policy: RetryPolicy | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.engine = engine
        self.clock = clock
        self.client = client
        self.alerts = alerts
        self.name = name
        self.policy = policy or RetryPolicy()
        self.rng = rng or random.Random()  # noqa: S311 - jitter, not a secret
        self.lease = Lease(clock, LEASE_SECONDS)

    @property
    def backoff(self) -> Backoff:
        """The retry policy on this worker's clock (built on use: tests swap `policy` and `rng`)."""
        return Backoff(self.policy, self.clock, self.rng)

    def claim(self, limit: int = 1) -> list[Claimed]:
        now = self.clock.now()
        stale = self.lease.stale_before(now)  # wall seconds, whatever the speed
        query = (
            select(
                DistributionJob.id,
                DistributionJob.request_pk,
                DistributionJob.region,
                DistributionJob.priority,
                DistributionJob.attempts,
                DistributionJob.failing_since,
            )
            .where(
                ((DistributionJob.status == JobStatus.PENDING) & (DistributionJob.next_attempt_at <= now))
                | ((DistributionJob.status == JobStatus.SENDING) & (DistributionJob.claimed_at < stale))
            )
            .order_by(DistributionJob.priority, DistributionJob.id)
            .limit(limit)
        )
        with self.engine.begin() as conn:
            rows = conn.execute(claimable(query, self.engine.dialect.name)).all()
            if not rows:
                return []
            conn.execute(
                update(DistributionJob)
                .where(DistributionJob.id.in_([r.id for r in rows]))  # at most `limit` IDs
                .values(
                    status=JobStatus.SENDING,
                    claimed_by=self.name,
                    claimed_at=now,
                    attempts=DistributionJob.attempts + 1,
                )
            )
        return [
            Claimed(r.id, r.request_pk, r.region, r.priority, r.attempts + 1, r.failing_since) for r in rows
        ]

    def _file(self, job: Claimed) -> tuple[Distribution, RequestID]:
        with self.engine.connect() as conn:
            req = conn.execute(
                select(ServiceRequest.request_id, ServiceRequest.firmware_version, ServiceRequest.firmware_hash,
                       FirmwareImageBlob.data)
                .join(FirmwareImageBlob, FirmwareImageBlob.id == ServiceRequest.image_id)
                .where(ServiceRequest.id == job.request_pk)
            ).one()  # fmt: skip
            # one statement for the whole file: each target as validated, with what the inventory says now of
            # its hub (region, 4G) and of the device (the hub whose HAN it is on, its hardware version)
            targets = conn.execute(
                select(RequestDevice.device_id, RequestDevice.hub_id, RequestDevice.device_type,
                       CommsHub.region, Device.hub_id, Device.hardware_version)
                .join(CommsHub, CommsHub.chf_id == RequestDevice.hub_id, isouter=True)
                .join(Device, Device.device_id == RequestDevice.device_id, isouter=True)
                .where(
                    RequestDevice.request_pk == job.request_pk,
                    RequestDevice.region.in_(hub_regions_of(job.region)),
                    RequestDevice.outcome == Outcome.ACCEPTED,
                )
            ).all()  # fmt: skip
        dist = Distribution(
            distribution_id=distribution_id(job.job_id),
            request_id=req.request_id,
            priority=PriorityClass.ESME_GSME if job.priority == 0 else PriorityClass.HAN,
            firmware_version=req.firmware_version,
            firmware_hash=req.firmware_hash,
            image=base64.b64encode(req.data).decode(),
            targets=[
                Target(
                    device_id=d,
                    chf_id=h,
                    device_type=t,
                    hub_region=region,
                    han_hub_id=han,
                    hardware_version=hw,
                )
                for d, h, t, region, han, hw in targets
            ],
        )
        return dist, RequestID.parse(req.request_id)

    def send(self, job: Claimed) -> DistributionAnswer | None:
        dist, rid = self._file(job)
        try:
            answer = self.client.send(job.region, dist)
        except CSPUnavailable as e:
            self._retry_later(job, str(e), e.status)
            return None
        self._apply(job, rid, answer)
        return answer

    def _retry_later(self, job: Claimed, error: str, status: int | None) -> None:
        """Back off in wall seconds, or dead-letter the job past the policy's cap (one log line per change)."""
        now = self.clock.now()
        since = job.failing_since
        retry = self.backoff.after_failure(job.attempts, since or now, now, status=status)
        verdict = retry.verdict
        values: dict[str, object] = {"failing_since": since or now, "last_error": error[:1000]}
        if verdict.dead:
            values.update(
                status=JobStatus.DEAD, dead_at=now,
                last_error=f"{error}; dead-lettered: {verdict.dead_reason}"[:1000],
            )  # fmt: skip
        else:
            values.update(status=JobStatus.PENDING, next_attempt_at=retry.at)
        with self.engine.begin() as conn:
            conn.execute(
                update(DistributionJob)
                .where(DistributionJob.id == job.job_id, DistributionJob.claimed_by == self.name)
                .values(**values)
            )
        if verdict.dead:
            log.error("distribution dead-lettered: the CSP did not take it", job=job.job_id, region=job.region,
                      attempts=job.attempts, reason=verdict.dead_reason, error=error[:200])  # fmt: skip
        elif since is None:
            log.warning("CSP did not take the distribution; retrying with backoff", job=job.job_id,
                        region=job.region, error=error[:200])  # fmt: skip

    def _apply(self, job: Claimed, rid: RequestID, answer: DistributionAnswer) -> None:
        now = self.clock.now()
        rejected = {r.device_id: r.reason.value for r in answer.rejected}
        with self.engine.begin() as conn:
            conn.execute(
                update(RequestDevice)
                .where(
                    RequestDevice.request_pk == job.request_pk,
                    RequestDevice.region.in_(hub_regions_of(job.region)),
                    RequestDevice.outcome == Outcome.ACCEPTED,
                    RequestDevice.state == DeviceState.ACCEPTED,
                )
                .values(state=DeviceState.SENT, sent_at=now, updated_at=now)
            )
            by_reason: dict[str, list[str]] = defaultdict(list)
            for device, reason in rejected.items():
                by_reason[reason].append(device)
            for reason, devices in by_reason.items():
                mark_csp_rejected(conn, job.request_pk, devices, reason, now)
            conn.execute(
                update(DistributionJob)
                .where(DistributionJob.id == job.job_id)
                .values(
                    status=JobStatus.SENT,
                    sent_at=now,
                    rejected_count=len(rejected),
                    last_error=None,
                    failing_since=None,
                )
            )
            if rejected:
                self.alerts.write(
                    conn,
                    [
                        PendingAlert(
                            alert_id=f"fdf:{job.job_id}",
                            recipient=rid.originator,
                            alert=FirmwareDistributionFailure(rid, tuple(sorted(rejected))),
                            request_pk=job.request_pk,
                            request_id=rid,
                        )
                    ],
                    now,
                )
        log.info("distribution sent", job=job.job_id, region=job.region, accepted=answer.accepted,
                 rejected=len(rejected), failing_since=job.failing_since)  # fmt: skip

    def close(self) -> None:
        self.client.close()

    def run_once(self, limit: int = 4) -> int:
        """Claim and send up to `limit` jobs; returns how many were claimed."""
        jobs = self.claim(limit)
        for job in jobs:
            self.send(job)
        return len(jobs)

    def run_forever(self, stop: threading.Event, poll_seconds: float) -> None:
        poll_until_stopped(self.run_once, stop, poll_seconds, what="distribution router")


def retry_dead_jobs(conn: Connection, now: datetime, job_ids: Sequence[int] = ()) -> int:
    """Send dead-lettered distribution jobs again (the named ones, or all): due now, a fresh attempt count."""
    query = update(DistributionJob).where(DistributionJob.status == JobStatus.DEAD)
    if job_ids:
        query = query.where(DistributionJob.id.in_(list(job_ids)))
    n = conn.execute(
        query.values(
            status=JobStatus.PENDING, attempts=0, dead_at=None, failing_since=None, next_attempt_at=now
        )
    ).rowcount
    if n:
        log.info("dead-lettered distribution jobs queued again by hand", count=n)
    return int(n)
