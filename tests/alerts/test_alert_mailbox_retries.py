"""`hanota alerts pull` never storms either, and takes what the mailbox holds (issue 12 item 2).

The mailbox is pulled, not pushed: its only loop is the client's. A DSP that is away or busy is tried again
after a wall-clock backoff, at most `--retries` times, each with a freshly signed request; a permanent refusal
is not retried; the `--all` loop ends when a page brings nothing new to acknowledge; and the asynchronous
answer to a released request is verified and acknowledged like an alert (before, it "did not verify" and sat
in the mailbox for ever).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

import crafted
from alerts.alerts_testkit import DSP, Store, pending
from hanota.anomaly.quarantine import RELEASED_KIND
from hanota.background import ServerThread
from hanota.cli.main import app
from hanota.db.models import AlertOutbox
from hanota.duis import RequestID, codes
from hanota.duis.responses import Response, ResponseMessage, render_response_element
from hanota.logs import configure_logging


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    yield
    configure_logging()


class Refusing:
    """An ASGI app answering every POST with `status` (and Retry-After, if given), counting them."""

    def __init__(self, status: int, retry_after: int | None = None) -> None:
        self.status, self.retry_after, self.posts = status, retry_after, 0
        self.times: list[float] = []
        self._lock = threading.Lock()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        while (await receive()).get("more_body"):
            pass
        with self._lock:
            self.posts += 1
            self.times.append(time.monotonic())
        headers = [(b"content-type", b"text/plain")]
        if self.retry_after is not None:
            headers.append((b"retry-after", str(self.retry_after).encode()))
        await send({"type": "http.response.start", "status": self.status, "headers": headers})
        await send({"type": "http.response.body", "body": b"busy\n"})


def _pull(store: Store, tmp_path: Path, db_url: str, url: str, *extra: str) -> Any:
    env = {"HANOTA_DATA_DIR": str(tmp_path), "HANOTA_DATABASE_URL": db_url, "HANOTA_TRACEBACK": None}
    return CliRunner().invoke(app, ["alerts", "pull", "--user", crafted.S1, "--url", url, *extra], env=env)


@pytest.mark.parametrize(("status", "posts"), [(503, 3), (429, 3), (400, 1), (401, 1)])
def test_pull_retries_a_busy_dsp_with_backoff_but_never_a_refusal(
    store: Store, tmp_path: Path, db_url: str, status: int, posts: int
) -> None:
    """--retries 2: a 503/429 gets 3 POSTs in all, ≥ 0.5 s apart (the 1 s backoff's lower half), then one
    line and exit 1; a 400/401 gets one POST."""
    refusing = Refusing(status)
    with ServerThread(refusing) as server:
        r = _pull(store, tmp_path, db_url, server.url, "--retries", "2")
    assert r.exit_code == 1 and "Traceback" not in r.output
    assert len(r.stderr.splitlines()) == 1 and f"HTTP {status}" in r.stderr
    assert refusing.posts == posts
    gaps = [b - a for a, b in zip(refusing.times, refusing.times[1:], strict=False)]
    assert all(g >= 0.5 for g in gaps), gaps


def test_pull_honours_retry_after_in_wall_seconds(store: Store, tmp_path: Path, db_url: str) -> None:
    """`pull` against a DSP answering 503 with Retry-After: 2 waits at least those 2 wall seconds before
    its one retry, then exits 1."""
    refusing = Refusing(503, retry_after=2)
    with ServerThread(refusing) as server:
        r = _pull(store, tmp_path, db_url, server.url, "--retries", "1")
    assert r.exit_code == 1 and refusing.posts == 2
    assert refusing.times[1] - refusing.times[0] >= 2.0


def test_pull_all_acknowledges_a_released_requests_answer_and_ends(
    store: Store, dsp: DSP, tmp_path: Path, db_url: str
) -> None:
    """S1's mailbox: two alerts and the signed answer to a request the DCC released from quarantine. `pull
    --all` verifies and acknowledges all three and stops (three alerts, one page)."""
    store.write([pending(n, crafted.S1) for n in range(2)])
    response = Response(
        RequestID(crafted.S1, codes.DCC_EUI, 77), codes.SUCCESS, crafted.NOW, ResponseMessage("8.2")
    )
    with store.engine.begin() as conn:
        conn.execute(
            AlertOutbox.__table__.insert().values(
                alert_id="adr:9", recipient_eui=crafted.S1, code=codes.SUCCESS, kind=RELEASED_KIND,
                request_pk=None, device_id=None, created_at=store.clock.now(),
                body=store.signer.sign_element(render_response_element(response)), attempts=0, tries=0,
                next_attempt_at=store.clock.now(), mailbox=True,
            )
        )  # fmt: skip
    store.worker().run_once()  # S1 has no endpoint: its alerts go to the mailbox
    store.clock.set(datetime.now(UTC))  # the command signs with the system's time
    r = _pull(store, tmp_path, db_url, dsp.url, "--all")
    assert r.exit_code == 0, r.output
    assert "3 pulled, 3 acknowledged, 0 did not verify; 0 still waiting" in " ".join(r.output.split())
    with store.engine.connect() as conn:
        assert all(d is not None for d in conn.execute(select(AlertOutbox.delivered_at)).scalars())
