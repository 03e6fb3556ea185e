"""A CSP gateway's HTTP interface (`POST /v1/distributions`): the one place where the gateway's refusals
become HTTP statuses. What a gateway accepts, rejects and queues is `hanota.csp.acceptance`; `Gateway` and
`REGIONS` are re-exported here for the entry points that mount a gateway.
"""

from __future__ import annotations

import json

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from hanota.csp.acceptance import REGIONS as REGIONS
from hanota.csp.acceptance import Gateway as Gateway
from hanota.csp.interface import SIGNATURE_HEADER, Distribution, DistributionAnswer, check_signature
from hanota.errors import HTTPRefusal


def gateway_router(gateway: Gateway) -> APIRouter:
    """The versioned HTTP interface of one gateway (mount at `/csp/<region>` or serve alone)."""
    router = APIRouter(prefix="/v1", tags=[f"CSP {gateway.region}"])

    @router.post("/distributions", response_model=DistributionAnswer, summary="queue a firmware distribution")
    async def post_distribution(request: Request) -> JSONResponse:
        body = await request.body()
        if not check_signature(gateway.key, body, request.headers.get(SIGNATURE_HEADER)):
            return JSONResponse({"detail": "missing or wrong X-Hanota-Signature"}, status_code=401)
        try:
            dist = Distribution.model_validate(json.loads(body))
        except (ValidationError, ValueError) as e:
            return JSONResponse({"detail": f"not a v1 distribution: {str(e)[:500]}"}, status_code=422)
        try:
            answer = await run_in_threadpool(gateway.accept, dist)
        except HTTPRefusal as e:
            return JSONResponse({"detail": e.message}, status_code=e.http_status)
        return JSONResponse(answer.model_dump(mode="json"))

    return router
