"""`hanota demo` watching its requests: per request and CSP region, how far delivery got, until every
device, distribution job and alert of the run is done (or the time limit). A live display on a terminal; a
complete line every few virtual hours when piped."""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime

from rich.console import Group
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn
from rich.text import Text
from sqlalchemy import Engine, func, select

from hanota.bootstrap import AppContext
from hanota.cli.common import console
from hanota.cli.demo_common import Submitted, fmt_virtual, plain, say
from hanota.db.models import AlertOutbox, DistributionJob, RequestDevice
from hanota.lifecycle import FAILED, HUB_REGIONS, IN_FLIGHT, REACHED, DeviceState, JobStatus, Outcome

#: when piped, a progress line each time this many virtual hours have passed (or PLAIN_EVERY_WALL_S)
PLAIN_EVERY_H = 3
PLAIN_EVERY_WALL_S = 30.0


def _window(ctx: AppContext) -> str:
    w = ctx.runners[0].profile.window if ctx.runners else None
    return f"{w.start_h:02.0f}:00-{w.end_h:02.0f}:00" if w else "-"


def _state_counts(engine: Engine, pks: list[int]) -> dict[tuple[int, str], Counter[str]]:
    """Per (request, region): how many accepted devices are in each delivery state."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(RequestDevice.request_pk, RequestDevice.region, RequestDevice.state, func.count())
            .where(RequestDevice.request_pk.in_(pks), RequestDevice.outcome == Outcome.ACCEPTED)
            .group_by(RequestDevice.request_pk, RequestDevice.region, RequestDevice.state)
        ).all()
    per: dict[tuple[int, str], Counter[str]] = defaultdict(Counter)
    for pk, region, state, n in rows:
        per[(pk, region or "?")][state] += int(n)
    return per


@dataclass(frozen=True)
class _Stages:
    """Cumulative counts: how many accepted devices got at least this far."""

    accepted: int
    sent: int  # handed to the CSP (and taken by it)
    transferred: int  # the image is on the device
    activated: int
    failed: int

    @classmethod
    def of(cls, c: Counter[str]) -> _Stages:
        total = sum(c.values())
        return cls(
            accepted=total,
            sent=total - c[DeviceState.ACCEPTED] - c[DeviceState.CSP_REJECTED],
            transferred=sum(c[s] for s in REACHED),
            activated=c[DeviceState.ACTIVATED],
            failed=sum(c[s] for s in FAILED),
        )

    @property
    def done(self) -> int:
        return self.activated + self.failed

    def line(self) -> str:
        return (
            f"sent {self.sent:,}  transferred {self.transferred:,}  activated {self.activated:,}  "
            f"failed {self.failed:,}"
        )


def _finished(engine: Engine, pks: list[int]) -> bool:
    with engine.connect() as conn:
        open_devices = conn.execute(
            select(func.count()).where(RequestDevice.request_pk.in_(pks), RequestDevice.state.in_(IN_FLIGHT))
        ).scalar_one()
        open_jobs = conn.execute(
            select(func.count()).where(
                DistributionJob.request_pk.in_(pks), DistributionJob.status != JobStatus.SENT
            )
        ).scalar_one()
        undelivered = conn.execute(
            select(func.count()).where(
                AlertOutbox.request_pk.in_(pks),
                AlertOutbox.delivered_at.is_(None),
                AlertOutbox.mailbox.is_(False),
            )
        ).scalar_one()
    return open_devices == 0 and open_jobs == 0 and undelivered == 0


def watch(ctx: AppContext, submitted: list[Submitted], limit_s: float, wall0: float) -> bool:
    """Show progress until the campaigns end (True) or `limit_s` wall seconds pass (False)."""
    start = min(s.submitted_at for s in submitted)
    han = ctx.runners[0].profile.han if ctx.runners else None
    fetch = (
        f"each device fetches its image at its OTA query (every {han.query_interval_s / 3600:g} h), and one that "
        f"never does is reported DeviceUnreachable after {han.unreachable_timeout_s / 3600:g} h"
        if han
        else "each device fetches its image at its next OTA query"
    )
    say(
        f"progress, cumulative per request: sent = handed to the CSP, transferred = the image is on the device, "
        f"activated, failed (at any stage). The WAN takes images to the hubs only in the night window "
        f"{_window(ctx)} UTC; {fetch}"
    )
    if plain():
        done = _watch_plain(ctx, submitted, start, limit_s, wall0)
    else:
        done = _watch_live(ctx, submitted, start, limit_s, wall0)
    if not done:
        say(f"stopped after {limit_s / 60:.0f} wall minutes with work still open")
    return done


def _watch_plain(
    ctx: AppContext, submitted: list[Submitted], start: datetime, limit_s: float, wall0: float
) -> bool:
    """A plain line every PLAIN_EVERY_H virtual hours (or PLAIN_EVERY_WALL_S wall seconds), and at the end."""
    pks = [s.request_pk for s in submitted]
    deadline = time.monotonic() + limit_s
    last_mark, last_wall = -1, 0.0
    while True:
        finished = _finished(ctx.engine, pks)
        now = ctx.clock.now()
        elapsed = (now - start).total_seconds()
        mark = int(elapsed // (PLAIN_EVERY_H * 3600))
        timed_out = time.monotonic() >= deadline
        if finished or timed_out or mark != last_mark or time.monotonic() - last_wall >= PLAIN_EVERY_WALL_S:
            per = _state_counts(ctx.engine, pks)
            parts = []
            for s in submitted:
                total: Counter[str] = Counter()
                for region in HUB_REGIONS:
                    total.update(per.get((s.request_pk, region), Counter()))
                st = _Stages.of(total)
                parts.append(
                    f"SR {s.campaign.srv} {s.campaign.model.device_type}: {st.done:,}/{st.accepted:,} done, "
                    f"{st.line()}"
                )
            say(
                f"+{fmt_virtual(elapsed)} ({now:%Y-%m-%d %H:%M} UTC, wall {time.monotonic() - wall0:.0f} s) "
                + "; ".join(parts)
            )
            last_mark, last_wall = mark, time.monotonic()
        if finished:
            return True
        if timed_out:
            return False
        time.sleep(0.5)


def _watch_live(
    ctx: AppContext, submitted: list[Submitted], start: datetime, limit_s: float, wall0: float
) -> bool:
    pks = [s.request_pk for s in submitted]
    progress = Progress(
        TextColumn("{task.description}", justify="left"),
        BarColumn(bar_width=30),
        MofNCompleteColumn(),
        TextColumn("{task.fields[detail]}"),
        console=console,
        auto_refresh=False,
    )
    tasks: dict[tuple[int, str], TaskID] = {}
    for s in submitted:
        for region in HUB_REGIONS:
            label = f"{region:<8} SR {s.campaign.srv} {s.campaign.model.device_type:<5}"
            tasks[(s.request_pk, region)] = progress.add_task(label, total=1, detail="")
    deadline = time.monotonic() + limit_s
    clock_line = Text("")
    with Live(Group(clock_line, progress), console=console, refresh_per_second=4, transient=False):
        while time.monotonic() < deadline:
            finished = _finished(ctx.engine, pks)
            per = _state_counts(ctx.engine, pks)
            for key, task in tasks.items():
                st = _Stages.of(per.get(key, Counter()))
                progress.update(task, total=max(st.accepted, 1), completed=st.done, detail=st.line())
            now = ctx.clock.now()
            clock_line.plain = (
                f"virtual time {now:%Y-%m-%d %H:%M} UTC, {fmt_virtual((now - start).total_seconds())} after "
                f"submission (night window {_window(ctx)}); wall {time.monotonic() - wall0:.0f} s"
            )
            progress.refresh()
            if finished:
                return True
            time.sleep(0.5)
    return False
