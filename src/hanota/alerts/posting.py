"""How the alert delivery worker POSTs one alert: the headers a receiver sees, and the HTTP transport (aiohttp
on the worker's own event loop; the `Transport` protocol is the seam tests and benchmarks may replace).
`hanota.alerts.delivery` says what a receiver sees and how answers are judged."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Protocol

import aiohttp

from hanota.retry import retry_after_seconds

ALERT_ID_HEADER = "X-DCC-Alert-ID"
ALERT_CODE_HEADER = "X-DCC-Alert-Code"


class Transport(Protocol):
    """How a worker POSTs (the seam tests and benchmarks may replace). Used on the worker's event loop."""

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> tuple[int, float | None]:
        """POST `body`; return (HTTP status, Retry-After seconds or None); raise on no answer."""
        ...

    async def aclose(self) -> None: ...


class AiohttpTransport:
    """Keep-alive HTTP/1.1 with a bounded connection pool; redirects are not followed."""

    def __init__(self, *, concurrency: int, timeout_seconds: float) -> None:
        self._concurrency = concurrency
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=self._concurrency, limit_per_host=self._concurrency)
            self._session = aiohttp.ClientSession(
                connector=connector, timeout=self._timeout, trust_env=False, auto_decompress=False
            )
        return self._session

    async def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> tuple[int, float | None]:
        async with self._open().post(url, data=body, headers=dict(headers), allow_redirects=False) as r:
            await r.release()
            return r.status, retry_after_seconds(r.headers.get("Retry-After"))

    async def aclose(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop where it is installed (it comes with uvicorn[standard]; about a third less CPU per POST)."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - not on every platform
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


__all__ = ["ALERT_CODE_HEADER", "ALERT_ID_HEADER", "AiohttpTransport", "Transport", "new_event_loop"]
