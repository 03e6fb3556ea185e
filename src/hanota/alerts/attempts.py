"""What the alert delivery worker holds and learns: a claimed alert, the outcome of one attempt, the counts
of a run, and which recipients an attempt's outcomes show up, failing or only released."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class ClaimedAlert:
    pk: int
    alert_id: str
    recipient: str
    code: str
    endpoint: str
    body: bytes
    attempts: int  # including this one: the fencing token of this claim
    tries: int  # POSTs made before this claim
    created_at: datetime
    lease_until: datetime  # in the clock's time, as stored
    wall_deadline: float  # the same moment in this process's monotonic seconds


@dataclass(frozen=True)
class Outcome:
    """What one attempt got: an HTTP status, or none (`error` says why); `skipped` = not sent at all."""

    alert: ClaimedAlert
    status: int | None = None
    error: str | None = None
    retry_after: float | None = None
    skipped: bool = False
    permanent: bool = False  # a refusal no retry changes (a 4xx but 408/425/429, an unusable endpoint)

    @property
    def delivered(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


@dataclass(frozen=True)
class RunCounts:
    claimed: int = 0
    delivered: int = 0
    failed: int = 0
    released: int = 0
    to_mailbox: int = 0
    dead: int = 0


def judge(outcomes: Sequence[Outcome]) -> tuple[set[str], dict[str, Outcome], set[str]]:
    """The recipients that got an alert delivered, those whose endpoint failed (with one such outcome), and
    those whose alerts were only given back unsent."""
    ok = {o.alert.recipient for o in outcomes if o.delivered}
    bad: dict[str, Outcome] = {}
    for o in outcomes:  # a permanent refusal is about that alert: the endpoint is up and answering
        if not o.delivered and not o.skipped and not o.permanent and o.alert.recipient not in ok:
            bad[o.alert.recipient] = o
    released = {o.alert.recipient for o in outcomes if o.skipped} - ok - set(bad)
    return ok, bad, released


def add_counts(a: RunCounts, b: RunCounts) -> RunCounts:
    return RunCounts(
        a.claimed + b.claimed,
        a.delivered + b.delivered,
        a.failed + b.failed,
        a.released + b.released,
        a.to_mailbox + b.to_mailbox,
        a.dead + b.dead,
    )


__all__ = ["ClaimedAlert", "Outcome", "RunCounts", "add_counts", "judge"]
