"""The anomaly JSON API over real HTTP (/api/v1/anomaly): bearer tokens per User, a User on its own
thresholds and quarantined requests only, operator-only decisions and policies, refusals as 4xx."""

from __future__ import annotations

from typing import Any

import httpx
from anomaly_testkit import OPERATOR, add_operator
from sqlalchemy import select

import crafted as c
from api.conftest import Live
from duisclient import request, signed, signer_for
from hanota.anomaly.access import issue_token, revoke_tokens
from hanota.db.models import AnomalyApiToken, ServiceRequest
from hanota.duis.requests import ReadInventory, UpdatePPMIDFirmware

BASE = "/api/v1/anomaly"


def tokens(live: Live) -> dict[str, str]:
    add_operator(live.engine)
    with live.engine.begin() as conn:
        return {eui: issue_token(conn, user_eui=eui, issued_by=OPERATOR, reason="test", now=c.NOW)
                for eui in (c.S1, c.S2, OPERATOR)}  # fmt: skip


def call(live: Live, token: str | None, method: str, path: str, **kwargs: Any) -> httpx.Response:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    return live.client.request(method, f"{live.url}{BASE}{path}", headers=headers, **kwargs)


def test_no_or_unknown_or_revoked_token_is_401_and_tokens_are_stored_hashed(live: Live) -> None:
    """A request without a bearer token, with an unknown one or with a revoked one is refused with 401; a valid
    token names its User, roles and operator flag, and the store keeps only the tokens' hashes."""
    t = tokens(live)
    assert call(live, None, "GET", "/me").status_code == 401
    assert call(live, "not-a-token", "GET", "/me").status_code == 401
    r = call(live, t[c.S1], "GET", "/me")
    assert r.status_code == 200 and r.json() == {"eui": c.S1, "roles": ["GS", "IS"], "operator": False}
    with live.engine.connect() as conn:
        stored = conn.execute(select(AnomalyApiToken.token_sha256)).scalars().all()
    assert t[c.S1] not in stored and len(stored) == 3
    with live.engine.begin() as conn:
        assert revoke_tokens(conn, user_eui=c.S1, revoked_by=OPERATOR, reason="left", now=c.NOW) == 1
    assert call(live, t[c.S1], "GET", "/me").status_code == 401


def test_a_user_reads_and_sets_its_own_thresholds_within_bounds(live: Live) -> None:
    """A User reads its own thresholds (another User's: 403) and sets one within the DCC bound (above it, a value of
    the wrong type or an unknown field: 422; an unknown SRV: 404; another User: 403); the DSP applies it at
    once (the next 11.4 over it is quarantined, E43), the usage counts it, and clearing it brings back the
    DCC default."""
    t = tokens(live)
    r = call(live, t[c.S1], "GET", f"/thresholds/{c.S1}")
    assert r.status_code == 200
    assert r.json()["11.4"]["source"] == "dcc-default" and r.json()["11.4"]["max_devices"] == 250_000
    assert call(live, t[c.S2], "GET", f"/thresholds/{c.S1}").status_code == 403
    too_many = call(live, t[c.S1], "PUT", f"/thresholds/{c.S1}/11.4", json={"max_devices": 2_000_000})
    assert too_many.status_code == 422 and "above the DCC bound of 1,000,000" in too_many.json()["detail"]
    assert (
        call(live, t[c.S1], "PUT", f"/thresholds/{c.S1}/11.4", json={"max_requests": "5"}).status_code == 422
    )
    assert (
        call(live, t[c.S1], "PUT", f"/thresholds/{c.S1}/11.4", json={"max_requests": True}).status_code == 422
    )
    assert call(live, t[c.S1], "PUT", f"/thresholds/{c.S1}/11.4", json={"colour": 1}).status_code == 422
    assert call(live, t[c.S1], "PUT", f"/thresholds/{c.S1}/99.9", json={"max_requests": 1}).status_code == 404
    assert call(live, t[c.S2], "PUT", f"/thresholds/{c.S1}/11.4", json={"max_requests": 1}).status_code == 403
    ok = call(live, t[c.S1], "PUT", f"/thresholds/{c.S1}/11.4", json={"max_requests": 1, "reason": "pilot"})
    assert ok.status_code == 200 and ok.json()["max_requests"] == 1 and ok.json()["source"] == "user"
    # the DSP applies it at once: the second 11.4 is held
    s1 = signer_for(live.pki, c.S1)
    for expected in ("I0", "E43"):
        body = UpdatePPMIDFirmware(c.NEW_IMAGE, c.NEW_VERSION, (c.P_OK,) if expected == "I0" else (c.I_OK,))
        assert live.post(signed(s1, request(c.S1, "11.4", body))).headers["x-duis-response-code"] == expected
    used = call(live, t[c.S1], "GET", f"/thresholds/{c.S1}").json()["11.4"]["used"]
    assert used == {"requests": 1, "devices": 1}
    cleared = call(live, t[c.S1], "DELETE", f"/thresholds/{c.S1}/11.4", params={"reason": "pilot over"})
    assert cleared.status_code == 200 and cleared.json()["source"] == "dcc-default"


def test_quarantine_listing_is_scoped_and_decisions_are_operator_only(live: Live) -> None:
    """A User sees only its own quarantined requests (another User's: 403); only an operator releases or deletes
    one, with a reason (none: 422; an unknown event: 404); a decided request cannot be decided again (409);
    the release is in the audit log, which only operators read, and the released request is recorded as
    accepted."""
    t = tokens(live)
    call(live, t[c.S2], "PUT", f"/thresholds/{c.S2}/8.2", json={"max_requests": 1})
    s2 = signer_for(live.pki, c.S2)
    codes = [live.post(signed(s2, request(c.S2, "8.2", ReadInventory(device_id=c.P_OK)))).headers[
        "x-duis-response-code"] for _ in range(2)]  # fmt: skip
    assert codes == ["I0", "E43"]
    (held,) = call(live, t[OPERATOR], "GET", "/quarantine").json()
    assert held["originator_eui"] == c.S2 and held["kind"] == "ADUserThresholdBreach"
    ref = held["event_ref"]
    assert call(live, t[c.S1], "GET", "/quarantine").json() == [], "S1 sees only its own"
    assert call(live, t[c.S1], "GET", "/quarantine", params={"user_eui": c.S2}).status_code == 403
    assert call(live, t[c.S1], "GET", f"/quarantine/{ref}").status_code == 403
    assert call(live, t[c.S2], "GET", f"/quarantine/{ref}").json()["status"] == "quarantined"
    assert (
        call(live, t[c.S2], "POST", f"/quarantine/{ref}/release", json={"reason": "mine"}).status_code == 403
    )
    assert call(live, t[OPERATOR], "POST", f"/quarantine/{ref}/release", json={}).status_code == 422
    assert (
        call(live, t[OPERATOR], "POST", f"/quarantine/{ref + 9}/release", json={"reason": "x"}).status_code
        == 404
    )
    r = call(
        live, t[OPERATOR], "POST", f"/quarantine/{ref}/release", json={"reason": "a big read is expected"}
    )
    assert r.status_code == 200, r.text
    assert r.json()["response_code"] == "I0" and r.json()["entry"]["status"] == "released"
    again = call(live, t[OPERATOR], "POST", f"/quarantine/{ref}/delete", json={"reason": "too late"})
    assert again.status_code == 409
    audit = call(live, t[OPERATOR], "GET", "/audit", params={"target": f"quarantine:{ref}"}).json()
    assert [(e["action"], e["actor_eui"], e["reason"]) for e in audit] == [
        ("quarantine.release", OPERATOR, "a big read is expected")
    ]
    assert call(live, t[c.S2], "GET", "/audit").status_code == 403
    with live.engine.connect() as conn:
        statuses = (
            conn.execute(select(ServiceRequest.status).where(ServiceRequest.srv == "8.2")).scalars().all()
        )
    assert statuses == ["accepted", "accepted"], (
        "the first 8.2, then the released one; nothing left quarantined"
    )


def test_policies_are_read_by_all_and_changed_by_operators(live: Live) -> None:
    """Every User reads the DCC-wide policies; only an operator changes one (a User: 403), never so that an SRV is
    unguarded (422), and resetting brings back the default."""
    t = tokens(live)
    srvs = {p["srv"]: p for p in call(live, t[c.S1], "GET", "/policies").json()}
    assert srvs["11.4"]["dcc_max_devices"] == 2_000_000 and srvs["11.4"]["source"] == "default"
    body = {"changes": {"dcc_max_devices": 3_000_000}, "reason": "campaign week"}
    assert call(live, t[c.S1], "PUT", "/policies/11.4", json=body).status_code == 403
    bad = {"changes": {"default_max_devices": None}, "reason": "oops"}
    r = call(live, t[OPERATOR], "PUT", "/policies/11.4", json=bad)
    assert r.status_code == 422 and "never unguarded" in r.json()["detail"]
    r = call(live, t[OPERATOR], "PUT", "/policies/11.4", json=body)
    assert r.status_code == 200 and r.json()["dcc_max_devices"] == 3_000_000
    r = call(live, t[OPERATOR], "DELETE", "/policies/11.4", params={"reason": "week over"})
    assert r.status_code == 200 and r.json()["dcc_max_devices"] == 2_000_000
