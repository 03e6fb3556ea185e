"""The anomaly JSON API refuses hostile strings: NUL characters (which PostgreSQL text cannot hold) in paths,
query parameters and bodies are a 4xx on both stores and change nothing."""

from __future__ import annotations

from typing import Any

import httpx
from anomaly_testkit import OPERATOR, add_operator
from sqlalchemy import func, select

import crafted as c
from api.conftest import Live
from hanota.anomaly.access import issue_token
from hanota.db.models import AnomalyAudit, AnomalyUserThreshold

BASE = "/api/v1/anomaly"


def _tokens(live: Live) -> dict[str, str]:
    add_operator(live.engine)
    with live.engine.begin() as conn:
        return {eui: issue_token(conn, user_eui=eui, issued_by=OPERATOR, reason="test", now=c.NOW)
                for eui in (c.S1, c.S2, OPERATOR)}  # fmt: skip


def _call(live: Live, token: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
    headers = {"authorization": f"Bearer {token}"}
    return live.client.request(method, f"{live.url}{BASE}{path}", headers=headers, **kwargs)


def _counts(live: Live) -> tuple[int, int]:
    with live.engine.connect() as conn:
        audit = conn.execute(select(func.count()).select_from(AnomalyAudit)).scalar_one()
        thresholds = conn.execute(select(func.count()).select_from(AnomalyUserThreshold)).scalar_one()
    return int(audit), int(thresholds)


def test_nul_characters_anywhere_are_refused_with_4xx_and_change_nothing(live: Live) -> None:
    """A NUL in a path segment, a query parameter or a JSON string is a 4xx (PostgreSQL cannot store or
    compare it: it used to be a 500 there), and no threshold or audit row is written."""
    t = _tokens(live)
    before = _counts(live)
    nul = "%00"
    cases: list[tuple[str, str, str, dict[str, Any]]] = [
        (OPERATOR, "GET", f"/thresholds/{nul}", {}),
        (OPERATOR, "GET", f"/thresholds/{c.S1}{nul}", {}),
        (OPERATOR, "PUT", f"/thresholds/{c.S1}/11.4{nul}", {"json": {"max_requests": 1}}),
        (OPERATOR, "DELETE", f"/thresholds/{nul}/11.4", {}),
        (OPERATOR, "PUT", f"/policies/8.2{nul}", {"json": {"changes": {}, "reason": "x"}}),
        (c.S1, "GET", "/quarantine", {"params": {"srv": "\x00"}}),
        (OPERATOR, "GET", "/quarantine", {"params": {"user_eui": "\x00"}}),
        (OPERATOR, "GET", "/audit", {"params": {"target": "\x00"}}),
        (OPERATOR, "GET", "/audit", {"params": {"actor_eui": "a\x00b"}}),
        (c.S1, "PUT", f"/thresholds/{c.S1}/11.4", {"json": {"max_requests": 1, "reason": "pilot\x00"}}),
        (OPERATOR, "PUT", "/policies/8.2", {"json": {"changes": {"default_max_requests": 5},
                                                      "reason": "why\x00"}}),
        (OPERATOR, "DELETE", "/policies/8.2", {"params": {"reason": "\x00"}}),
        (c.S1, "DELETE", f"/thresholds/{c.S1}/11.4", {"params": {"reason": "\x00"}}),
    ]  # fmt: skip
    for who, method, path, kwargs in cases:
        r = _call(live, t[who], method, path, **kwargs)
        assert 400 <= r.status_code < 500, (method, path, kwargs, r.status_code, r.text)
    assert _counts(live) == before
