"""A CSP gateway run on its own (`hanota csp serve --region central`, another process) receives the DSP's
file over HTTP, drives its network and reports the events back to the DSP over HTTP: the deployment
"beyond one machine", where only the URLs change."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

import crafted as c
from duisclient import request, signed, signer_for
from hanota.api.app import create_app
from hanota.bootstrap import build_context, make_router
from hanota.clock import ManualClock
from hanota.db.engine import make_engine
from hanota.db.migrate import upgrade
from hanota.db.models import AlertOutbox, CSPEventCursor, RequestDevice
from hanota.duis.requests import UpdatePPMIDFirmware
from hanota.estate.pki import init_pki
from hanota.settings import Settings
from liveserver import LiveServer

pytestmark = pytest.mark.slow
FINAL = ("transfer_failed", "activated", "activation_failed")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_standalone_gateway_delivers_and_reports_over_http(tmp_path: Path) -> None:
    """`hanota csp serve --region central` in its own process takes the DSP's file over HTTP, drives its
    network and reports the events to the DSP over HTTP: every device ends final and the DSP writes two
    alerts per event (S1 and S2 interested)."""
    url = f"sqlite:///{tmp_path / 'hanota.db'}"
    upgrade(url)
    engine = make_engine(url)
    c.build(engine)
    init_pki(engine, tmp_path / "pki", now=c.NOW)
    port = free_port()
    settings = Settings(data_dir=tmp_path, database_url=url, csp_central_url=f"http://127.0.0.1:{port}")
    ctx = build_context(settings, clock=ManualClock(c.NOW), migrate=False)
    log = tmp_path / "gateway.log"
    with LiveServer(create_app(ctx)) as server, log.open("wb") as out:
        env = {**os.environ, "HANOTA_DATA_DIR": str(tmp_path), "HANOTA_DATABASE_URL": url,
               "HANOTA_CLOCK_SPEED": "20000", "HANOTA_DSP_URL": server.url, "HANOTA_WORKER_POLL_SECONDS": "0.05"}  # fmt: skip
        gateway = subprocess.Popen(
            [sys.executable, "-m", "hanota.cli.main", "csp", "serve", "--region", "central", "--port", str(port)],
            env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/v1/openapi.json", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline or gateway.poll() is not None:
                    pytest.fail(f"the gateway did not start: {log.read_text()[-2000:]}")
                time.sleep(0.1)
            body = signed(
                signer_for(tmp_path / "pki", c.S1),
                request(
                    c.S1, "11.4", UpdatePPMIDFirmware(c.NEW_IMAGE, c.NEW_VERSION, (c.P_OK, c.I_OK, c.P_GAS))
                ),
            )
            r = httpx.post(
                f"{server.url}/api/v1/serviceD", content=body, headers={"content-type": "application/xml"}
            )
            assert r.headers["x-duis-response-code"] == "I0"
            router = make_router(ctx, server.url, name="test")
            assert router.run_once() == 1
            router.close()
            deadline = time.monotonic() + 90
            while True:
                with engine.connect() as conn:
                    states = dict(conn.execute(select(RequestDevice.device_id, RequestDevice.state)).all())
                if all(s in FINAL for s in states.values()):
                    break
                if time.monotonic() > deadline:
                    pytest.fail(f"not finished: {states}; gateway log {log.read_text()[-2000:]}")
                time.sleep(0.2)
        finally:
            gateway.terminate()
            gateway.wait(timeout=20)
    with engine.connect() as conn:
        cursor = conn.execute(
            select(CSPEventCursor.last_seq).where(CSPEventCursor.region == "Central")
        ).scalar_one()
        alerts = conn.execute(select(func.count()).select_from(AlertOutbox)).scalar_one()
    assert set(states) == {c.P_OK, c.I_OK, c.P_GAS}
    assert cursor >= 1, "the events came over the DSP's HTTP interface"
    expected = sum(
        2 * (1 if s == "transfer_failed" else 2) for s in states.values()
    )  # S1 and S2 both interested
    assert alerts == expected
    ctx.engine.dispose()
    engine.dispose()
