"""Request bodies at the door: a read timeout, a cap on bodies still arriving, and clients that leave.

uvicorn has no body read timeout: a client that sends its headers and part of a body holds its connection,
and the task reading it, for as long as it likes (a thousand such connections were all held open). This
ASGI wrapper, outermost in the app, guards every request that has a body:

- **timeouts** — a body that sends nothing for ``body_idle_timeout_seconds``, or is not complete
  ``body_timeout_seconds`` after the request arrived, is answered 408 with ``Connection: close``;
- **a cap** — at most ``max_incomplete_requests`` requests per process may have a body still arriving; one
  more is answered 503 (``Retry-After``, ``Connection: close``) without reading it;
- **clients that leave** — a client that goes away before its body is complete (it closed, its chunked
  encoding was broken, its Content-Length promised more than it sent) is an ordinary event: one info line,
  nothing sent, no traceback. (Before, Starlette's ``ClientDisconnect`` escaped the route as
  "Exception in ASGI application".)

Connections themselves are capped by uvicorn (``limit_concurrency``, setting ``http_max_connections``) and
idle keep-alive connections closed after ``http_keep_alive_seconds``.
"""

from __future__ import annotations

from dataclasses import dataclass

import anyio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hanota.logs import get_logger

log = get_logger("hanota.api.body")


class BodyTimeout(Exception):
    """Raised into the app by `receive` when the body is late (the guard answers 408)."""


@dataclass
class _Request:
    """One guarded request: how much of its body arrived, and how it ended if it ended early."""

    path: str
    received: int = 0
    complete: bool = False
    counted: bool = True
    outcome: str | None = None  # "gone" (the client left) or "timeout"
    why: str = ""  # of a timeout: "idle" or "total"
    response_started: bool = False
    response_done: bool = False


def has_body(scope: Scope) -> bool:
    """Whether a request announces a body (a non-zero Content-Length, or a Transfer-Encoding)."""
    for name, value in scope.get("headers") or []:
        if name == b"transfer-encoding":
            return True
        if name == b"content-length" and value.strip() not in (b"", b"0"):
            return True
    return False


class BodyGuard:
    def __init__(
        self, app: ASGIApp, *, idle_timeout: float, total_timeout: float, max_incomplete: int
    ) -> None:
        self.app = app
        self.idle_timeout = idle_timeout
        self.total_timeout = total_timeout
        self.max_incomplete = max_incomplete
        self.incomplete = 0  # requests of this process whose body is still arriving (one event loop)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not has_body(scope):
            await self.app(scope, receive, send)
            return
        path = str(scope.get("path", ""))
        if self.incomplete >= self.max_incomplete:
            log.warning("request refused: too many request bodies arriving", path=path,
                        incomplete=self.incomplete, limit=self.max_incomplete)  # fmt: skip
            await answer(send, 503, b"too many requests in progress, try again shortly\n", retry_after=1)
            return
        self.incomplete += 1
        state = _Request(path)
        deadline = anyio.current_time() + self.total_timeout

        def finish() -> None:
            if state.counted:
                state.counted = False
                self.incomplete -= 1

        async def guarded_receive() -> Message:
            if state.complete or state.outcome is not None:
                after = await receive()
                if after["type"] == "http.disconnect" and not state.response_done and state.outcome is None:
                    state.outcome = "gone"
                return after
            wait = min(self.idle_timeout, deadline - anyio.current_time())
            reason = "idle" if wait == self.idle_timeout else "total"
            message: Message | None = None
            with anyio.move_on_after(max(wait, 0.0)):
                message = await receive()
            if message is None:
                state.outcome, state.why = "timeout", reason
                finish()
                raise BodyTimeout(f"request body {reason} timeout")
            if message["type"] == "http.disconnect":
                state.outcome = "gone"
                finish()
            elif message["type"] == "http.request":
                state.received += len(message.get("body", b""))
                if not message.get("more_body", False):
                    state.complete = True
                    finish()
            return message

        async def guarded_send(message: Message) -> None:
            if state.outcome is not None:
                return  # the client left, or is about to be told 408: the app's answer goes nowhere
            if message["type"] == "http.response.start":
                state.response_started = True
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                state.response_done = True
            await send(message)

        try:
            await self.app(scope, guarded_receive, guarded_send)
        except Exception:
            if state.outcome is None:
                raise
            # the app stumbled over the missing body (ClientDisconnect, BodyTimeout): expected, not an error
        finally:
            finish()
        if state.outcome is None:
            return
        if state.outcome == "gone":
            log.info("client left before its request was answered", path=path, body_bytes=state.received)
            return
        log.info("request body timed out", path=path, why=state.why, body_bytes=state.received,
                 idle_timeout=self.idle_timeout, total_timeout=self.total_timeout)  # fmt: skip
        if not state.response_started:
            await answer(send, 408, b"request body not received in time\n")


async def answer(send: Send, status: int, text: bytes, *, retry_after: int | None = None) -> None:
    """A plain-text answer that closes the connection (the rest of the body is never read)."""
    headers = [
        (b"content-type", b"text/plain; charset=utf-8"),
        (b"content-length", str(len(text)).encode()),
        (b"connection", b"close"),
    ]
    if retry_after is not None:
        headers.append((b"retry-after", str(retry_after).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": text})
