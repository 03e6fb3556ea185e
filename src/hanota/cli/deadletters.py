"""`hanota dead-letters …`: what every retry loop gave up on, and sending it again by hand.

Three loops send to a peer and retry under `hanota.retry.RetryPolicy`: alert delivery (DSP → a supplier's
endpoint), the distribution worker (DSP → a CSP gateway) and each gateway's event sender (CSP → DSP). What
passed a loop's cap is dead-lettered, never dropped: this command lists it with its last error, and
``retry`` makes it due again (an alert keeps its ID and bytes; a job its distribution ID, which the CSP
answers idempotently; a batch its sequence number).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy import func, select

from hanota.alerts.delivery import redeliver
from hanota.bootstrap import make_clock
from hanota.cli.common import console, load_settings, migrated_engine
from hanota.csp.runner import resend_dead_batches
from hanota.db.models import AlertOutbox, AlertRecipient, CSPEventBatch, DistributionJob
from hanota.dsp.router import retry_dead_jobs
from hanota.lifecycle import JobStatus, Region

dead_letters_app = typer.Typer(
    help="What the retry loops gave up on (alerts, CSP distributions, CSP event batches); send it again.",
    no_args_is_help=True,
)

KINDS = ("alerts", "jobs", "batches")


def _when(at: datetime | None) -> str:
    return f"{at:%Y-%m-%d %H:%M:%S}" if at is not None else "-"


def _one_line(text: str | None, limit: int = 160) -> str:
    flat = " ".join((text or "").split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


@dead_letters_app.command("list")
def list_dead(
    limit: Annotated[int, typer.Option(min=1, max=100_000, help="alerts listed one per line at most")] = 50,
) -> None:
    """Dead-lettered alerts (per recipient, then the newest one by one), distribution jobs and event batches,
    each with its last error; and the recipients whose endpoint is failing now."""
    engine = migrated_engine(load_settings())
    try:
        with engine.connect() as conn:
            per_recipient = conn.execute(
                select(AlertOutbox.recipient_eui, func.count(), func.max(AlertOutbox.dead_at))
                .where(AlertOutbox.dead_at.is_not(None), AlertOutbox.delivered_at.is_(None))
                .group_by(AlertOutbox.recipient_eui)
                .order_by(AlertOutbox.recipient_eui)
            ).all()
            alerts = conn.execute(
                select(AlertOutbox.alert_id, AlertOutbox.recipient_eui, AlertOutbox.code, AlertOutbox.tries,
                       AlertOutbox.dead_at, AlertOutbox.last_error)
                .where(AlertOutbox.dead_at.is_not(None), AlertOutbox.delivered_at.is_(None))
                .order_by(AlertOutbox.dead_at.desc(), AlertOutbox.id.desc())
                .limit(limit)
            ).all()  # fmt: skip
            failing = conn.execute(
                select(AlertRecipient)
                .where(AlertRecipient.failures > 0)
                .order_by(AlertRecipient.failing_since)
            ).all()
            jobs = conn.execute(
                select(DistributionJob.id, DistributionJob.request_pk, DistributionJob.region,
                       DistributionJob.attempts, DistributionJob.dead_at, DistributionJob.last_error)
                .where(DistributionJob.status == JobStatus.DEAD)
                .order_by(DistributionJob.id)
            ).all()  # fmt: skip
            batches = conn.execute(
                select(CSPEventBatch.region, CSPEventBatch.seq, CSPEventBatch.attempts, CSPEventBatch.dead_at,
                       CSPEventBatch.last_error)
                .where(CSPEventBatch.dead_at.is_not(None), CSPEventBatch.sent_at.is_(None))
                .order_by(CSPEventBatch.region, CSPEventBatch.seq)
            ).all()  # fmt: skip
    finally:
        engine.dispose()
    total = sum(int(n) for _, n, _ in per_recipient)
    console.print(
        f"dead-lettered: {total:,} alerts, {len(jobs):,} distribution jobs, {len(batches):,} event batches"
    )
    if failing:
        t = Table(title="alert endpoints failing now (alerts wait, then go one at a time)")
        for col in ("recipient", "failed POSTs", "failing since", "next try", "last error"):
            t.add_column(col)
        for r in failing:
            t.add_row(r.recipient_eui, str(r.failures), _when(r.failing_since), _when(r.paused_until),
                      _one_line(r.last_error))  # fmt: skip
        console.print(t)
    if per_recipient:
        t = Table(title="dead-lettered alerts per recipient")
        for col in ("recipient", "alerts", "last dead-lettered"):
            t.add_column(col)
        for eui, n, last in per_recipient:
            t.add_row(eui, f"{int(n):,}", _when(last))
        console.print(t)
        t = Table(title=f"dead-lettered alerts, newest first (at most {limit:,})")
        for col in ("alert ID", "recipient", "code", "tries", "dead-lettered", "last error"):
            t.add_column(col)
        for a in alerts:
            t.add_row(a.alert_id, a.recipient_eui, a.code, str(a.tries), _when(a.dead_at),
                      _one_line(a.last_error))  # fmt: skip
        console.print(t)
    if jobs:
        t = Table(title="dead-lettered distribution jobs (the CSP did not take the file)")
        for col in ("job", "request", "region", "attempts", "dead-lettered", "last error"):
            t.add_column(col)
        for j in jobs:
            t.add_row(
                str(j.id),
                str(j.request_pk),
                j.region,
                str(j.attempts),
                _when(j.dead_at),
                _one_line(j.last_error),
            )
        console.print(t)
    if batches:
        t = Table(title="dead-lettered CSP event batches (the DSP did not take them; later batches wait)")
        for col in ("region", "batch", "attempts", "dead-lettered", "last error"):
            t.add_column(col)
        for b in batches:
            t.add_row(
                b.region,
                str(b.seq),
                str(b.attempts),
                _when(b.dead_at),
                _one_line(b.last_error),
            )
        console.print(t)


@dead_letters_app.command("retry")
def retry(
    kind: Annotated[str, typer.Argument(help="alerts, jobs or batches", metavar="KIND")],
    alert: Annotated[list[str] | None, typer.Option(help="only this alert ID (repeatable)")] = None,
    recipient: Annotated[str | None, typer.Option(help="only this recipient's alerts (EUI)")] = None,
    job: Annotated[list[int] | None, typer.Option(help="only this distribution job (repeatable)")] = None,
    region: Annotated[
        str | None, typer.Option(help="only this region's batches (North, Central, South)")
    ] = None,
) -> None:
    """Make dead-lettered items due again now: their automatic retries start afresh (same IDs)."""
    if kind not in KINDS:
        raise typer.BadParameter(f"KIND must be one of {', '.join(KINDS)}", param_hint="KIND")
    batches_of: str | None = None
    if region is not None:
        try:
            batches_of = Region.parse(region).value
        except ValueError:
            raise typer.BadParameter(
                "the regions are North, Central and South", param_hint="--region"
            ) from None
    settings = load_settings()
    engine = migrated_engine(settings)
    # the store's own time: under a scaled clock (a demo's data folder) "now" is its virtual now
    now = make_clock(engine, settings).now()
    try:
        with engine.begin() as conn:
            if kind == "alerts":
                n = redeliver(
                    conn, now, alert_ids=alert or (), recipient=recipient.upper() if recipient else None
                )
            elif kind == "jobs":
                n = retry_dead_jobs(conn, now, job or ())
            else:
                n = resend_dead_batches(conn, now, batches_of)
    finally:
        engine.dispose()
    console.print(f"{n:,} dead-lettered {kind} queued again")
