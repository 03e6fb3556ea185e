"""A supplier endpoint's answer is read the way it meant it: a Retry-After that is not an ASCII number is
ignored, and a 2xx is a delivery whatever its Retry-After says."""

from __future__ import annotations

from typing import Any

import crafted
from alerts.alerts_testkit import Store, pending
from hanota.retry import retry_after_seconds as _retry_after


def test_retry_after_that_is_not_an_ascii_number_is_ignored() -> None:
    """Retry-After '²' (a Unicode digit float() refuses) is ignored like any other unusable value, instead of
    raising: a raise turned the receiver's 2xx into a failed attempt and a resend."""
    assert _retry_after("²") is None
    assert _retry_after("٣") is None
    assert _retry_after(" 12 ") == 12.0
    assert _retry_after("1e3") is None and _retry_after("-1") is None


def test_a_2xx_with_an_odd_retry_after_header_marks_the_alert_delivered(store: Store) -> None:
    """A receiver that answers 204 with 'Retry-After: ²' has the alert: it is marked delivered, not resent."""
    posts: list[str] = []

    async def odd_receiver(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        while (await receive()).get("more_body"):
            pass
        posts.append(dict(scope["headers"]).get(b"x-dcc-alert-id", b"").decode())
        await send({"type": "http.response.start", "status": 204,
                    "headers": [(b"retry-after", "²".encode())]})  # fmt: skip
        await send({"type": "http.response.body", "body": b""})

    from hanota.supplier.receiver import RunningReceiver

    running = RunningReceiver(odd_receiver, "127.0.0.1", 0).start()  # type: ignore[arg-type]
    try:
        store.set_endpoint(crafted.S1, f"{running.url}/alerts")
        store.write([pending(1, crafted.S1)])
        worker = store.worker(timeout_seconds=5, lease_seconds=30)
        assert worker.run_once() == 1
        row = store.rows()[f"t1:1:{crafted.S1}"]
        assert row.delivered_at is not None, row.last_error
        assert posts == [f"t1:1:{crafted.S1}"]
    finally:
        running.stop()
