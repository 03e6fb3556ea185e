"""The alert mailbox over HTTP: ``POST /api/v1/alerts/pull`` and ``POST /api/v1/alerts/ack``.

Each takes a signed ``mb:MailboxRequest`` (``application/xml``; see `hanota.alerts.mailbox`) and answers
JSON. Refusals are HTTP errors with a one-line reason, never a 500: 400 malformed or the wrong action for
the URL, 401 the signature does not verify or is not the originator's or the request is stale, 403 not an
Active User, 409 a replayed RequestID counter, 413 too large, 415 not XML.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio
from anyio import to_thread
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from sqlalchemy import Engine

from hanota.alerts.mailbox import MAX_MAILBOX_REQUEST_BYTES, Mailbox
from hanota.clock import Clock
from hanota.duis import TrustStore, Verifier, codes
from hanota.errors import AccessError, HanotaError, ReplayError, SignatureError, TooLarge
from hanota.logs import get_logger

log = get_logger("hanota.api.alerts")
XML_TYPES = ("application/xml", "text/xml")


def _status(error: HanotaError) -> int:
    if isinstance(error, TooLarge):
        return 413
    if isinstance(error, SignatureError):
        return 401
    if isinstance(error, AccessError):
        return 403
    if isinstance(error, ReplayError):
        return 409
    return 400


def mailbox_router(engine: Engine, clock: Clock, trust: TrustStore) -> APIRouter:
    """The mailbox routes, verifying Users against `trust` (the DSP's trust store)."""
    verifier = Verifier(trust, accepted_roles=(codes.ROLE_XML_SIGNING,), max_bytes=MAX_MAILBOX_REQUEST_BYTES)
    mailbox = Mailbox(engine, clock, verifier)
    router = APIRouter(prefix="/api/v1/alerts", tags=["alerts"])
    limiter = anyio.CapacityLimiter(2)

    async def handle(request: Request, work: Callable[[bytes], Any], action: str) -> Response:
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media not in XML_TYPES:
            return PlainTextResponse("send the signed MailboxRequest as application/xml\n", status_code=415)
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_MAILBOX_REQUEST_BYTES:
                return PlainTextResponse("mailbox request too large\n", status_code=413)
        try:
            result = await to_thread.run_sync(work, body, limiter=limiter)
        except HanotaError as e:
            status = _status(e)
            log.info("mailbox request refused", action=action, status=status, reason=e.message[:200])
            return PlainTextResponse(f"{e.code}: {e.message}\n", status_code=status)
        log.info("mailbox request", action=action, user=result.user)
        return JSONResponse(result.as_json())

    @router.post(
        "/pull",
        summary="Read your undelivered alerts (signed MailboxRequest action='pull' in, JSON out)",
        responses={200: {}, 400: {}, 401: {}, 403: {}, 409: {}, 413: {}, 415: {}},
    )
    async def pull(request: Request) -> Response:
        return await handle(request, mailbox.pull, "pull")

    @router.post(
        "/ack",
        summary="Acknowledge alerts you have read (signed MailboxRequest action='ack' in, JSON out)",
        responses={200: {}, 400: {}, 401: {}, 403: {}, 409: {}, 413: {}, 415: {}},
    )
    async def ack(request: Request) -> Response:
        return await handle(request, mailbox.ack, "ack")

    return router
