"""The DSP → CSP and CSP → DSP loops never storm: wall-clock backoff at any clock speed, a cap, dead letters.

Issue 12 item 2: the distribution worker backed off 2^n *clock* seconds (at ×3,000 its 10-minute cap was
0.2 wall seconds) and a gateway resent an undelivered event batch on every tick, forever. Here each loop
runs against a peer that is down or refuses, on a ×3,000 `ScaledClock` for a few wall seconds, and the
attempts are counted.
"""

from __future__ import annotations

import socket
import threading
import time

from sqlalchemy import select
from structlog.testing import capture_logs

import crafted as c
from api.conftest import Live
from api.test_routing import submit
from hanota.alerts.outbox import AlertWriter
from hanota.clock import ScaledClock
from hanota.csp.client import CSPClient
from hanota.csp.gateway import Gateway
from hanota.csp.interface import EventBatch, EventKind, TargetEvent
from hanota.csp.runner import GatewayRunner, resend_dead_batches
from hanota.db.models import CSPEventBatch, DistributionJob
from hanota.dsp.router import Router, retry_dead_jobs
from hanota.network.profile import load_profile

SPEED = 3000.0


def _dead_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"  # nothing listens once closed


def _job(live: Live) -> DistributionJob:
    with live.engine.connect() as conn:
        return conn.execute(select(DistributionJob)).one()  # type: ignore[return-value]


def test_at_x3000_a_down_csp_gets_a_handful_of_attempts_not_a_storm(live: Live) -> None:
    """The distribution worker, ×3,000 clock, the CSP down for 8 wall seconds: its backoff is wall seconds
    (1-2, 2-4, 4-8 s), so at most 4 attempts (before: one every poll, ~40 in 8 s). The job stays pending,
    its error kept, and one warning is logged, not one per attempt."""
    assert submit(live, (c.P_OK,)) == "I0"
    clock = ScaledClock(c.NOW, SPEED)
    client = CSPClient({"Central": _dead_url()}, live.ctx.settings.csp_secret, timeout=2)
    router = Router(live.engine, clock, client, AlertWriter(live.ctx.dsp.signer), name="fast")
    stop = threading.Event()
    with capture_logs() as logs:
        thread = threading.Thread(target=router.run_forever, args=(stop, 0.05), daemon=True)
        thread.start()
        time.sleep(8)
        stop.set()
        thread.join(timeout=10)
    router.close()
    job = _job(live)
    assert 1 <= job.attempts <= 4 and job.status == "pending" and "Central" in (job.last_error or "")
    assert job.failing_since is not None and job.dead_at is None
    assert len([e for e in logs if e["event"].startswith("CSP did not take")]) == 1


def test_a_csp_that_refuses_with_a_4xx_dead_letters_the_job_which_can_be_sent_again_by_hand(
    live: Live,
) -> None:
    """A CSP answering 401 (the wrong shared secret) three times: the job is dead-lettered with its reason and
    never claimed again by itself; `retry_dead_jobs` (``hanota dead-letters retry``) sends it again."""
    assert submit(live, (c.P_OK,)) == "I0"
    router = live.router()
    router.client.close()
    router.client = CSPClient(live.ctx.settings.csp_urls(live.url), "not-the-secret", timeout=5)
    for _ in range(3):
        assert router.run_once() == 1
        live.clock.advance(3600)
    job = _job(live)
    assert job.status == "dead" and job.dead_at is not None
    assert "HTTP 401" in (job.last_error or "") and "dead-lettered" in (job.last_error or "")
    live.clock.advance(86_400)
    assert live.router().run_once() == 0
    with live.engine.begin() as conn:
        assert retry_dead_jobs(conn, live.clock.now()) == 1
    assert live.router().run_once() == 1
    assert _job(live).status == "sent"


def _runner(live: Live, clock: ScaledClock | None, dsp_url: str, key: bytes | None = None) -> GatewayRunner:
    central = next(g for g in live.ctx.gateways if g.region == "Central")
    gateway = Gateway("Central", live.engine, clock or live.clock, key or central.key)
    return GatewayRunner(gateway, load_profile(None), dsp_url)


def _body(seq: int) -> bytes:
    """A well-formed batch of one event for a distribution the DSP does not know (it ignores such events)."""
    return EventBatch(
        region="Central", seq=seq,
        events=[TargetEvent(distribution_id="dsp-job-999999", device_id=c.P_OK, chf_id=c.H1,
                            kind=EventKind.TRANSFERRED, at=c.NOW)],
    ).model_dump_json().encode()  # fmt: skip


def _batches(live: Live, *seqs: int) -> None:
    with live.engine.begin() as conn:
        for seq in seqs:
            conn.execute(
                CSPEventBatch.__table__.insert().values(
                    region="Central", seq=seq, created_at=c.NOW, event_count=0,
                    body=_body(seq), attempts=0,
                )
            )  # fmt: skip


def _batch_rows(live: Live) -> list[CSPEventBatch]:
    with live.engine.connect() as conn:
        return list(conn.execute(select(CSPEventBatch).order_by(CSPEventBatch.seq)).all())  # type: ignore[arg-type]


def test_at_x3000_a_gateway_whose_dsp_is_down_backs_off_in_wall_seconds(live: Live) -> None:
    """A gateway ticking every 50 ms with its DSP down for 8 wall seconds at ×3,000: at most 4 sends of the
    first batch (before: one per tick, ~160), none of the batch behind it."""
    _batches(live, 1, 2)
    runner = _runner(live, ScaledClock(c.NOW, SPEED), _dead_url())
    deadline = time.monotonic() + 8
    while time.monotonic() < deadline:
        runner.send_batches()
        time.sleep(0.05)
    runner.close()
    first, second = _batch_rows(live)
    assert 1 <= first.attempts <= 4 and first.sent_at is None and first.dead_at is None
    assert first.next_attempt_at is not None and second.attempts == 0


def test_a_batch_the_dsp_refuses_is_dead_lettered_and_resent_by_hand(live: Live) -> None:
    """The DSP refuses the batch's signature (401) three times: it is dead-lettered, the batches behind it
    wait (the DSP applies them in order), and `resend_dead_batches` sends it again."""
    _batches(live, 1, 2)
    runner = _runner(live, None, live.url, key=b"not the region's key")
    for _ in range(4):
        runner.send_batches()
        live.clock.advance(3600)
    first, second = _batch_rows(live)
    assert first.dead_at is not None and first.attempts == 3 and "HTTP 401" in (first.last_error or "")
    assert second.attempts == 0 and second.sent_at is None
    runner.close()
    with live.engine.begin() as conn:
        assert resend_dead_batches(conn, live.clock.now(), "Central") == 1
    good = _runner(live, None, live.url)
    assert good.send_batches() == 2
    good.close()
    assert all(b.sent_at is not None for b in _batch_rows(live))
