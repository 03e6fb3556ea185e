"""Work on background threads, as every long-running piece does it: a worker's polling loop, and an ASGI app
served by uvicorn on a thread (the demo's DSP, the sample supplier endpoint, live servers in tests)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

import uvicorn

from hanota.logs import get_logger
from hanota.settings import UvicornOptions, uvicorn_options

log = get_logger("hanota.background")


def poll_until_stopped(
    step: Callable[[], int], stop: threading.Event, poll_seconds: float, *, what: str
) -> None:
    """Run `step` until `stop` is set: again at once while it reports work done (a positive count), after
    `poll_seconds` when it reports none or fails. A failure is logged, never raised: a worker thread must
    outlive one bad cycle (the store or a peer being away for a moment)."""
    while not stop.is_set():
        try:
            busy = step()
        except Exception as e:
            log.error(f"{what} cycle failed", error=f"{type(e).__name__}: {e}")
            busy = 0
        if not busy:
            stop.wait(poll_seconds)


class ServerThread:
    """An ASGI app served by uvicorn on a daemon thread; port 0 takes a free one. `start()` returns once
    it listens; `url` is then its base URL. Usable as a context manager. `options` are uvicorn's connection
    limits (`Settings.uvicorn_options()`; default: the settings' defaults)."""

    def __init__(
        self,
        app: Any,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        name: str = "server",
        options: UvicornOptions | None = None,
    ) -> None:
        config = uvicorn.Config(
            app, host=host, port=port, log_level="warning", lifespan="on", access_log=False,
            **(options or uvicorn_options()),
        )  # fmt: skip
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name=name, daemon=True)
        self.name = name
        self.url = ""

    def start(self, timeout: float = 20.0) -> str:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError(f"{self.name} did not start")
            time.sleep(0.01)
        host, port = self.server.servers[0].sockets[0].getsockname()[:2]
        self.url = f"http://{host}:{port}"
        return self.url

    def stop(self, timeout: float = 30.0) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=timeout)

    def __enter__(self) -> ServerThread:
        if not self.url:
            self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
