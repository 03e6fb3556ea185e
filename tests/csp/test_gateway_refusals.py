"""A CSP gateway's refusals: the domain side (`hanota.csp.acceptance`) refuses with values and coded errors,
and only the HTTP interface (`hanota.csp.gateway`) turns them into HTTP statuses, the same as before."""

from __future__ import annotations

import ast
import asyncio
import base64
import json
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import Engine, func, select

import hanota.csp.acceptance as acceptance
from hanota.clock import ManualClock
from hanota.csp.acceptance import DistributionRefused
from hanota.csp.gateway import Gateway, gateway_router
from hanota.csp.interface import SIGNATURE_HEADER, Distribution, PriorityClass, Target, region_key, sign_body
from hanota.db.models import CSPDistribution
from hanota.errors import HanotaError, HTTPRefusal

KEY = region_key("test-secret", "Central")


def _dist(image: str = base64.b64encode(b"image").decode(), dist_id: str = "d-1") -> Distribution:
    return Distribution(
        distribution_id=dist_id, request_id="r-1", priority=PriorityClass.HAN, firmware_version="00000002",
        firmware_hash="ab" * 32, image=image,
        targets=[Target(device_id="00-00-00-00-00-00-00-01", chf_id="00-00-00-00-00-00-00-0F", device_type="PPMID",
                        hub_region=None, han_hub_id=None, hardware_version=None)],
    )  # fmt: skip


@pytest.fixture
def gateway(engine: Engine) -> Gateway:
    return Gateway("Central", engine, ManualClock(), KEY)


@pytest.fixture
def client(gateway: Gateway) -> FastAPI:
    """The gateway's HTTP interface as an app, called in-process (no socket)."""
    app = FastAPI()
    app.include_router(gateway_router(gateway))
    return app


def _post(app: FastAPI, body: bytes, key: bytes = KEY) -> tuple[int, dict[str, object]]:
    async def call() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://csp") as http:
            return await http.post(
                "/v1/distributions", content=body,
                headers={"content-type": "application/json", SIGNATURE_HEADER: sign_body(key, body)},
            )  # fmt: skip

    r = asyncio.run(call())
    return r.status_code, r.json()


def test_an_image_that_is_not_base64_is_a_coded_refusal_not_an_http_exception(gateway: Gateway) -> None:
    """`Gateway.accept` refuses a non-base64 image with a `HanotaError` carrying HTTP 422, and queues nothing."""
    with pytest.raises(HanotaError) as caught:
        gateway.accept(_dist(image="not base64!"))
    assert isinstance(caught.value, DistributionRefused) and isinstance(caught.value, HTTPRefusal)
    assert caught.value.http_status == 422 and caught.value.message == "image is not base64"
    with gateway.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(CSPDistribution)).scalar_one() == 0


def test_the_http_interface_answers_422_for_an_image_that_is_not_base64(client: FastAPI) -> None:
    """The HTTP status and body are those FastAPI's HTTPException gave before: 422, {"detail": ...}."""
    status, body = _post(client, _dist(image="not base64!").model_dump_json().encode())
    assert (status, body) == (422, {"detail": "image is not base64"})


def test_the_http_interface_answers_401_for_a_wrong_signature_and_422_for_a_non_distribution(
    client: FastAPI,
) -> None:
    """A body signed with another region's key is 401; a signed body that is not a v1 distribution is 422."""
    good = _dist().model_dump_json().encode()
    status, body = _post(client, good, key=region_key("test-secret", "North"))
    assert (status, body) == (401, {"detail": "missing or wrong X-Hanota-Signature"})
    status, body = _post(client, json.dumps({"distribution_id": "x"}).encode())
    assert status == 422 and str(body["detail"]).startswith("not a v1 distribution: ")


def test_an_unrecognised_target_is_a_rejection_value_in_a_200_answer(client: FastAPI) -> None:
    """A target whose Comms Hub is unknown (the file gives it no region) is not an error: the answer (200)
    lists it."""
    status, body = _post(client, _dist().model_dump_json().encode())
    assert status == 200
    assert body["accepted"] == 0 and body["region"] == "Central"
    assert body["rejected"] == [{"device_id": "00-00-00-00-00-00-00-01", "reason": "UnknownCommsHub"}]


def test_the_gateway_domain_module_does_not_import_the_web_framework() -> None:
    """HTTP belongs to `hanota.csp.gateway`: `hanota.csp.acceptance` imports neither FastAPI nor Starlette."""
    tree = ast.parse(Path(acceptance.__file__).read_text())
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert not {m for m in imported if m.split(".")[0] in {"fastapi", "starlette"}}
