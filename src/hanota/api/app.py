"""The HTTP API: DUIS at `POST /api/v1/serviceD`, `/serviceS` and `/serviceT`, health, and (later issues)
CSP events, alert mailboxes and the SSI. Entry points only translate HTTP into calls of the layer below; the
context they run on (store, clock, DSP service, gateways, workers) is built by `hanota.bootstrap`."""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import anyio
from anyio import to_thread
from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse, Response

from hanota import __version__
from hanota.api.alerts import mailbox_router
from hanota.api.anomaly import anomaly_router
from hanota.api.body_guard import BodyGuard
from hanota.api.csp_events import csp_events_router
from hanota.api.nul_guard import RefuseNul
from hanota.bootstrap import AppContext, build_context, make_delivery, make_router, make_runners
from hanota.csp.gateway import gateway_router
from hanota.csp.interface import API_VERSION
from hanota.dsp.service import unread
from hanota.duis.codes import WebService
from hanota.logs import configure_logging, get_logger
from hanota.settings import Settings
from hanota.ssi import ssi_router

log = get_logger("hanota.api")
XML_TYPES = ("application/xml", "text/xml")


async def _read_limited(request: Request, limit: int) -> bytes | None:
    """The body, or None as soon as it is over `limit` (never buffers more than limit + one chunk)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _refused(status: int, reason: str, t0: float) -> Response:
    """A DUIS request refused before it is read: logged and answered as the DSP refuses an unreadable one."""
    answer = unread(status, reason, t0)
    return Response(answer.body, status_code=answer.status, media_type=answer.media_type)


def create_app(ctx: AppContext) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        gc.freeze()  # start-up objects (schema, models, keys) never need collecting: keep GC passes short
        stop = threading.Event()
        thread = None
        workers: list[Callable[[threading.Event, float], None]] = [r.run_forever for r in ctx.runners]
        if ctx.router is not None:
            workers.append(ctx.router.run_forever)
        if ctx.delivery is not None:
            workers.append(ctx.delivery.run_forever)
        threads = [
            threading.Thread(target=w, args=(stop, ctx.settings.worker_poll_seconds), daemon=True)
            for w in workers
        ]
        for thread in threads:
            thread.start()
        yield
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
        if ctx.router is not None:
            ctx.router.close()
        for runner in ctx.runners:
            runner.close()
        if ctx.delivery is not None:
            ctx.delivery.close()
        ctx.dsp.close()

    app = FastAPI(
        title="hanota DSP", version=__version__, docs_url="/api/docs", openapi_url="/api/openapi.json",
        lifespan=lifespan,
    )  # fmt: skip
    for gw in ctx.gateways:
        sub = FastAPI(title=f"hanota CSP gateway {gw.region}", version=API_VERSION, openapi_url="/v1/openapi.json",
                      docs_url="/v1/docs")  # fmt: skip
        sub.include_router(gateway_router(gw))
        app.mount(f"/csp/{gw.region.lower()}", sub)
    app.state.ctx = ctx
    app.add_middleware(RefuseNul)
    # outermost: bodies get a read timeout and a cap; a client that leaves mid-body is one info line
    app.add_middleware(
        BodyGuard,
        idle_timeout=ctx.settings.body_idle_timeout_seconds,
        total_timeout=ctx.settings.body_timeout_seconds,
        max_incomplete=ctx.settings.max_incomplete_requests,
    )
    app.include_router(mailbox_router(ctx.engine, ctx.clock, ctx.dsp.verifier.trust))
    app.include_router(anomaly_router(ctx))  # thresholds and quarantine JSON API (issue 6)
    if ctx.intake is not None:
        app.include_router(csp_events_router(ctx.intake, ctx.settings.csp_secret))
    # DUIS requests run on worker threads in two lanes, so that a large or hostile request never holds the
    # small ones: `duis_threads` (default 1) for requests of up to `duis_bulk_bytes` (8.2, 8.4, 12.2: a few
    # ms of CPU each, and more threads only convoy on the GIL and the store's write lock), and
    # `duis_bulk_threads` (default 1) for larger ones (a full 11.4 is ~15 MB and most of a second). Before,
    # one thread took both, so every 8.2 waited behind a whole 11.4 or a pathological request. Parsing,
    # verification, schema validation and signing run outside any lock (libxml2's parse, C14N and
    # validation release the GIL); the store's own locking decides the rest (on SQLite one writer at a time:
    # an 8.2 still waits for the 11.4's write transaction). Scale out with `hanota serve --workers N`.
    lanes: dict[str, anyio.CapacityLimiter] = {}

    def lane(size: int) -> anyio.CapacityLimiter:
        """The limiter of the lane a body of `size` bytes goes to (made on first use, in the event loop)."""
        name = "bulk" if size > ctx.settings.duis_bulk_bytes else "small"
        limiter = lanes.get(name)
        if limiter is None:
            threads = ctx.settings.duis_bulk_threads if name == "bulk" else ctx.settings.duis_threads
            limiter = lanes[name] = anyio.CapacityLimiter(threads)
        return limiter

    def duis_endpoint(service: WebService) -> Callable[[Request], Awaitable[Response]]:
        """The handler of one DUIS URL: same body guard, size cap and thread lanes for all three."""

        async def endpoint(request: Request) -> Response:
            t0 = time.perf_counter()
            media = request.headers.get("content-type", "").split(";")[0].strip().lower()
            if media not in XML_TYPES:
                return _refused(415, "send the DUIS request as application/xml", t0)
            body = await _read_limited(request, ctx.settings.max_body_bytes)
            if body is None:
                return _refused(413, f"request body over {ctx.settings.max_body_bytes} bytes", t0)
            answer = await to_thread.run_sync(ctx.dsp.handle, body, service, limiter=lane(len(body)))
            headers = {"X-DUIS-Response-Code": answer.code} if answer.code else None
            return Response(
                answer.body, status_code=answer.status, media_type=answer.media_type, headers=headers
            )

        return endpoint

    # The three DUIS web services at DCC Boxed's URLs. Every SRV of the DUIS 5.4 schema is answered in signed
    # DUIS on each of them (`hanota.duis.codes.routing_code`): a DCC Boxed-configured adapter never sees a 404.
    for service, summary in (
        (
            WebService.NON_DEVICE,
            "Non-Device Service (command variants 8, 2, 6): serves 8.2, 8.4, 11.1, 11.4, 12.2",
        ),
        (
            WebService.SEND_COMMAND,
            "Send Command Service (command variants 1, 3, 5, 7): answered E45, no devices",
        ),
        (WebService.TRANSFORM, "Transform Service (command variant 4): answered E45, no Pre-Commands"),
    ):
        app.post(
            service.path,
            summary=f"DUIS {summary}; signed sr:Request in, signed sr:Response out",
            response_class=Response,
            responses={200: {"content": {"application/xml": {}}}, 400: {}, 413: {}, 415: {}},
            name=f"duis_{service.value}",
        )(duis_endpoint(service))

    app.include_router(ssi_router(ctx))  # the web SSI under /ssi/ (issue 7)

    @app.get("/healthz", summary="liveness", response_class=PlainTextResponse)
    async def healthz() -> str:
        return "ok\n"

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> PlainTextResponse:
        log.error("unexpected error", path=request.url.path, error=type(exc).__name__)
        return PlainTextResponse("internal error (logged)\n", status_code=500)

    return app


def app_from_env() -> FastAPI:
    """uvicorn factory (`hanota.api.app:app_from_env`) for multi-process serving: settings from HANOTA_*."""
    settings = Settings()
    configure_logging(settings.log_level, json=settings.log_json)
    ctx = build_context(settings, migrate=False)
    if settings.run_worker:
        ctx.router = make_router(ctx)
        ctx.delivery = make_delivery(ctx)
    if settings.run_network:
        ctx.runners = make_runners(ctx)
    return create_app(ctx)
