"""A delivery campaign on the live DSP's manual clock, for the event-intake tests and the 4G hub tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

import crafted as c
from api.conftest import Live
from api.test_routing import submit
from hanota.bootstrap import make_runners
from hanota.csp.runner import GatewayRunner
from hanota.db.models import RequestDevice
from hanota.lifecycle import IN_FLIGHT, DeviceState

#: where a device the CSP accepted ends: its image never arrived, or it did and activation succeeded or failed
FINAL = {DeviceState.TRANSFER_FAILED, DeviceState.ACTIVATED, DeviceState.ACTIVATION_FAILED}
HOUR = 3600.0


def run_campaign(live: Live, runners: list[GatewayRunner], *, max_hours: int = 24 * 8) -> None:
    """Advance the manual clock an hour at a time, ticking every gateway, until every sent device is final."""
    for _ in range(max_hours):
        live.clock.advance(HOUR)
        for r in runners:
            r.tick()
        with live.engine.connect() as conn:
            open_ = conn.execute(select(func.count()).where(RequestDevice.state.in_(IN_FLIGHT))).scalar_one()
        if not open_:
            return
    pytest.fail("the campaign did not finish in the time allowed")


@pytest.fixture
def campaign(live: Live) -> Iterator[list[GatewayRunner]]:
    """The crafted estate's mixed 11.4 sent, routed and delivered to the end; its runners, closed after."""
    ids = tuple(e.device_id for e in c.MIXED)
    assert submit(live, ids) == "W110401"
    assert live.router().run_once() == 1
    runners = make_runners(live.ctx, live.url)
    run_campaign(live, runners)
    yield runners
    for r in runners:
        r.close()
