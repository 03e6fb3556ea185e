"""A delivery campaign on the live DSP's manual clock, for the event-intake tests and the 4G hub tests."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from api.conftest import Live
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
