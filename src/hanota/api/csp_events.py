"""`POST /api/v1/csp/{region}/events`: where the CSP gateways report what happened to each target.

Authenticated like the distribution interface (HMAC-SHA256 of the body under the region's key, header
`X-Hanota-Signature`); see `hanota.dsp.events` for ordering, replay refusal and what a batch does.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from hanota.clock import utc
from hanota.csp.gateway import REGIONS
from hanota.csp.interface import SIGNATURE_HEADER, BatchAnswer, EventBatch, check_signature, region_key
from hanota.dsp.events import BatchRefused, EventIntake

MAX_BATCH_BYTES = 8 * 1024 * 1024
MAX_SEQ = 2**63 - 1  # the store's BIGINT


def _out_of_range(batch: EventBatch) -> str | None:
    """What the model accepts but the store cannot hold: a seq over 64 bits, a time with no UTC form."""
    if batch.seq > MAX_SEQ:
        return f"seq is above {MAX_SEQ}"
    for i, e in enumerate(batch.events):
        try:
            utc(e.at)
        except OverflowError:
            return f"events[{i}].at {e.at.isoformat()} has no UTC form"
    return None


def csp_events_router(intake: EventIntake, csp_secret: str) -> APIRouter:
    router = APIRouter(prefix="/api/v1/csp", tags=["CSP events"])
    keys = {r.lower(): (r, region_key(csp_secret, r)) for r in REGIONS}

    @router.post(
        "/{region}/events",
        response_model=BatchAnswer,
        summary="a CSP gateway's next batch of per-target events",
        responses={401: {}, 404: {}, 409: {"model": BatchAnswer}, 413: {}, 422: {}},
    )
    async def post_events(region: str, request: Request) -> JSONResponse:
        known = keys.get(region)
        if known is None:
            return JSONResponse({"detail": f"no CSP region {region[:20]!r}"}, status_code=404)
        name, key = known
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BATCH_BYTES:
                return JSONResponse({"detail": f"batch over {MAX_BATCH_BYTES} bytes"}, status_code=413)
        if not check_signature(key, bytes(body), request.headers.get(SIGNATURE_HEADER)):
            return JSONResponse({"detail": "missing or wrong X-Hanota-Signature"}, status_code=401)
        try:
            batch = EventBatch.model_validate_json(bytes(body))
        except ValidationError as e:
            return JSONResponse({"detail": f"not a v1 event batch: {str(e)[:500]}"}, status_code=422)
        if batch.region != name:
            return JSONResponse({"detail": f"batch of {batch.region!r} posted to {name}"}, status_code=422)
        problem = _out_of_range(batch)
        if problem is not None:
            return JSONResponse({"detail": f"not a v1 event batch: {problem}"}, status_code=422)
        try:
            answer = await run_in_threadpool(intake.apply, name, batch)
        except BatchRefused as e:
            return JSONResponse(e.answer.model_dump(mode="json"), status_code=409)
        return JSONResponse(answer.model_dump(mode="json"))

    return router
