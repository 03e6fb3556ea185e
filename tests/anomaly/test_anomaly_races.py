"""Counting under concurrency: requests of several Users racing past a DCC-wide threshold, through two DSP
instances with their own engines (two processes' worth), cannot both slip through — on PostgreSQL with
real parallel transactions, on SQLite through its single writer."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from anomaly_testkit import OPERATOR, Env, make_dsp
from sqlalchemy import select

import crafted as c
from hanota.anomaly.counting import DCC_SUBJECT, window_usage
from hanota.anomaly.thresholds import set_dcc_policy
from hanota.db.engine import make_engine
from hanota.db.models import QuarantinedRequestRow
from hanota.duis.requests import ReadInventory, RequestBody, UpdatePPMIDFirmware

ROUNDS = 4


@pytest.mark.parametrize(
    ("srv", "changes", "users", "body", "passed_code"),
    [
        ("8.2", {"dcc_max_requests": 2}, (c.S1, c.S2, c.S3, c.OTHER, c.GONE), ReadInventory(device_id=c.P_OK),
         "I0"),
        ("11.4", {"dcc_max_devices": 2}, (c.S1, c.S2, c.S3, c.GONE),
         UpdatePPMIDFirmware(c.NEW_IMAGE, c.NEW_VERSION, (c.UNKNOWN,)), "E110405"),
    ],
)  # fmt: skip
def test_requests_racing_past_a_dcc_wide_threshold_cannot_all_pass(
    env: Env, db_url: str, srv: str, changes: dict[str, int], users: tuple[str, ...], body: RequestBody,
    passed_code: str,
) -> None:  # fmt: skip
    """Each round every User sends one request at the same moment (a barrier), half through each DSP;
    exactly two pass (the limit) and the rest are quarantined, in every round."""
    with env.engine.begin() as conn:
        set_dcc_policy(
            conn, srv=srv, changes=changes, operator_eui=OPERATOR, reason="race", now=env.clock.now()
        )
    second = make_engine(db_url)
    dsps = [env.dsp, make_dsp(second, env.clock)]
    try:
        for round_ in range(ROUNDS):
            bodies = [env.signed(u, srv, body) for u in users]
            barrier = threading.Barrier(len(users))
            codes: list[str | None] = [None] * len(users)

            def go(i: int, bodies: list[bytes] = bodies, barrier: threading.Barrier = barrier,
                   codes: list[str | None] = codes) -> None:  # fmt: skip
                barrier.wait()
                codes[i] = dsps[i % 2].handle(bodies[i]).code

            threads = [threading.Thread(target=go, args=(i,)) for i in range(len(users))]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert sorted(codes) == sorted([passed_code] * 2 + ["E43"] * (len(users) - 2)), (round_, codes)  # type: ignore[type-var]
            with env.engine.connect() as conn:
                used = window_usage(conn, DCC_SUBJECT, srv, 24, env.clock.now())
            assert (used.requests, used.devices) == ((2, 0) if srv == "8.2" else (2, 2)), round_
            env.clock.advance(timedelta(hours=26).total_seconds())
    finally:
        second.dispose()
    with env.engine.connect() as conn:
        kinds = conn.execute(select(QuarantinedRequestRow.kind)).scalars().all()
    assert kinds == ["ADDCCThresholdBreach"] * ((len(users) - 2) * ROUNDS)
