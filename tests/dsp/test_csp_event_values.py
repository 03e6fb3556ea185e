"""The DSP's CSP event intake over HTTP: a correctly signed batch with values out of range (a seq beyond 64
bits, a time not expressible in UTC, a distribution ID with a Unicode or huge number) is refused (422) or
ignored, never a 500, and the next good batch applies."""

from __future__ import annotations

import json
from typing import Any

import httpx
from sqlalchemy import select

import crafted
from api.conftest import Live
from duisclient import request, signed, signer_for
from hanota.csp.interface import SIGNATURE_HEADER, region_key, sign_body
from hanota.db.models import CSPEventCursor, RequestDevice
from hanota.duis.requests import UpdatePPMIDFirmware


def submit(live: Live, ids: tuple[str, ...]) -> str:
    """Send S1's 11.4 for `ids`; its DUIS response code."""
    body = signed(signer_for(live.pki, crafted.S1),
                  request(crafted.S1, "11.4", UpdatePPMIDFirmware(crafted.NEW_IMAGE, crafted.NEW_VERSION, ids)))  # fmt: skip
    return live.post(body).headers["x-duis-response-code"]


def _post_batch(live: Live, batch: dict[str, Any]) -> httpx.Response:
    body = json.dumps(batch).encode()
    key = region_key(live.ctx.settings.csp_secret, "Central")
    headers = {"content-type": "application/json", SIGNATURE_HEADER: sign_body(key, body)}
    return live.client.post(f"{live.url}/api/v1/csp/central/events", content=body, headers=headers)


def _event(distribution: str = "dsp-job-1", at: str = crafted.NOW.isoformat()) -> dict[str, Any]:
    return {"distribution_id": distribution, "device_id": crafted.P_OK, "chf_id": crafted.H1,
            "kind": "transferred", "reason": None, "at": at}  # fmt: skip


def _cursor(live: Live) -> int | None:
    with live.engine.connect() as conn:
        return conn.execute(
            select(CSPEventCursor.last_seq).where(CSPEventCursor.region == "Central")
        ).scalar()


def test_csp_event_batches_with_out_of_range_values_are_refused_or_ignored_never_500(live: Live) -> None:
    """A correctly signed batch whose seq is beyond 64 bits or whose event time cannot be expressed in UTC
    is refused with 422 and changes nothing; an event whose distribution ID holds a Unicode or huge number
    names no job, so it is ignored like any unknown target (200, nothing applied) — neither is a 500; the
    next good batch applies."""
    assert submit(live, (crafted.P_OK,)) == "I0"
    live.router().run_once()
    refused = [
        {"region": "Central", "seq": 2**63, "events": [_event()]},
        {"region": "Central", "seq": 1, "events": [_event(at="9999-12-31T23:59:59-05:00")]},
        {"region": "Central", "seq": 1, "events": [_event(at="0001-01-01T00:00:00+05:00")]},
    ]
    for batch in refused:
        r = _post_batch(live, batch)
        assert r.status_code == 422, (batch, r.status_code, r.text)
    assert _cursor(live) in (None, 0)
    for seq, distribution in enumerate(("dsp-job-²", "dsp-job-" + "9" * 40, "dsp-job-١"), start=1):
        r = _post_batch(live, {"region": "Central", "seq": seq, "events": [_event(distribution)]})
        assert r.status_code == 200 and r.json()["applied"] == 0, (distribution, r.status_code, r.text)
    with live.engine.connect() as conn:
        state = conn.execute(
            select(RequestDevice.state).where(RequestDevice.device_id == crafted.P_OK)
        ).scalar()
    assert state == "sent"
    ok = _post_batch(live, {"region": "Central", "seq": 4, "events": [_event()]})
    assert ok.status_code == 200 and ok.json()["applied"] == 1
