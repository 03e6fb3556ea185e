"""Kill -9 the whole service (DSP, in-process gateways and their networks, workers) at random points of a
running campaign, restart it, let it finish: no accepted device is lost, no alert is lost, none reaches the
supplier under a second ID, and the inventory matches the devices' final states."""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, func, select, text, update

from hanota.clock import SystemClock
from hanota.db.engine import make_engine
from hanota.db.migrate import upgrade
from hanota.db.models import AlertOutbox, Device, FirmwareHistory, RequestDevice, User
from hanota.dsp.trust import dsp_signer
from hanota.duis import Request, RequestID, Signer, load_certificate, load_private_key, render_request
from hanota.duis.codes import DCC_EUI, service_reference_of
from hanota.duis.requests import UpdatePPMIDFirmware
from hanota.estate.campaign import model_of, plan
from hanota.estate.generate import generate
from hanota.estate.pki import init_pki
from hanota.inventory.interest import interested_suppliers
from hanota.supplier.receiver import Receiver

pytestmark = pytest.mark.slow
FINAL = {"transfer_failed", "activated", "activation_failed", "csp_rejected"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Service:
    """`hanota serve` as a child process on a fixed port."""

    def __init__(self, data_dir: Path, port: int) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.env = {
            **os.environ,
            "HANOTA_DATA_DIR": str(data_dir),
            "HANOTA_CLOCK_SPEED": "4000",
            "HANOTA_WORKER_POLL_SECONDS": "0.05",
            "HANOTA_LOG_LEVEL": "warning",
            "HANOTA_ALERT_LEASE_SECONDS": "15",  # alerts claimed by a killed process are resent after this
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = data_dir / "serve.log"

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "hanota.cli.main", "serve", "--port", str(self.port)],
                env=self.env, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.proc.poll() is not None:
                pytest.fail(f"hanota serve exited: {self.log.read_text()[-2000:]}")
            time.sleep(0.1)
        pytest.fail("hanota serve did not start")

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()


def open_work(engine: Engine) -> tuple[int, int]:
    with engine.connect() as conn:
        devices = conn.execute(
            select(func.count()).where(RequestDevice.state.in_(("accepted", "sent", "transferred")))
        ).scalar_one()
        alerts = conn.execute(
            select(func.count()).where(AlertOutbox.delivered_at.is_(None), AlertOutbox.mailbox.is_(False))
        ).scalar_one()
    return int(devices), int(alerts)


def test_kill_9_at_random_points_loses_nothing(tmp_path: Path) -> None:
    """The whole service killed with SIGKILL at least three times at random points of a campaign and restarted
    finishes it: every accepted device in a final state, every interested supplier holding exactly the
    alerts its devices' states call for (none lost, none under a second ID, none refused), the
    inventory's versions and history matching the activations, and no event reported twice."""
    url = f"sqlite:///{tmp_path / 'hanota.db'}"
    upgrade(url)
    engine = make_engine(url)
    generate(engine, homes=800, seed=11)
    now = SystemClock().now()
    init_pki(engine, tmp_path / "pki", now=now)
    receiver = Receiver(dsp_signer(engine).certificate)
    endpoint = receiver.serve_in_thread()
    with engine.begin() as conn:
        for eui in conn.execute(select(User.eui)).scalars().all():
            conn.execute(
                update(User).where(User.eui == eui).values(alert_endpoint=endpoint.endpoint_for(eui))
            )
    campaign = plan(engine, model_of("IHD"), 5_000, now, seed=3)
    assert len(campaign.device_ids) >= 40
    with engine.connect() as conn:
        before = dict(
            conn.execute(
                select(Device.device_id, Device.firmware_version).where(
                    Device.device_id.in_(campaign.device_ids)
                )
            ).all()
        )
    stem = campaign.sender.replace("-", "")
    signer = Signer(
        load_private_key(tmp_path / "pki" / "users" / f"{stem}.key.pem"),
        load_certificate(tmp_path / "pki" / "users" / f"{stem}.pem"),
    )
    request = Request(
        schema_version="5.4", request_id=RequestID(campaign.sender, DCC_EUI, 1), command_variant=8,
        service_reference=service_reference_of("11.4"), srv="11.4",
        body=UpdatePPMIDFirmware(campaign.image, campaign.firmware_version, campaign.device_ids),
    )  # fmt: skip
    service = Service(tmp_path, free_port())
    rng = random.Random(20261121)
    try:
        service.start()
        r = httpx.post(f"{service.url}/api/v1/serviceD", content=signer.sign(render_request(request)),
                       headers={"content-type": "application/xml"}, timeout=60)  # fmt: skip
        assert r.headers["x-duis-response-code"] in ("I0", "W110401")
        kills = 0
        for _ in range(5):
            time.sleep(rng.uniform(0.2, 1.5))
            if open_work(engine) == (0, 0):
                break
            service.kill()
            kills += 1
            service.start()
        deadline = time.monotonic() + 180
        while open_work(engine) != (0, 0):
            if time.monotonic() > deadline:
                pytest.fail(
                    f"campaign did not finish: {open_work(engine)} open; log {service.log.read_text()[-3000:]}"
                )
            time.sleep(0.5)
        assert kills >= 3, (
            "the campaign ended before the service was killed enough times; slow the clock down"
        )
    finally:
        service.stop()
        endpoint.stop()

    with engine.connect() as conn:
        rows = conn.execute(
            select(RequestDevice.device_id, RequestDevice.state).where(RequestDevice.outcome == "Accepted")
        ).all()
        outbox = conn.execute(
            select(AlertOutbox.alert_id, AlertOutbox.device_id, AlertOutbox.recipient_eui).where(
                AlertOutbox.device_id.is_not(None)
            )
        ).all()
        all_ids = set(conn.execute(select(AlertOutbox.alert_id)).scalars())
        firmware = dict(
            conn.execute(
                select(Device.device_id, Device.firmware_version).where(
                    Device.device_id.in_([r[0] for r in rows])
                )
            ).all()
        )
        history = Counter(
            conn.execute(
                select(FirmwareHistory.device_id).where(FirmwareHistory.source.like("SR 11.4 %"))
            ).scalars()
        )
        interested = interested_suppliers(conn, [r[0] for r in rows], now)
        events = conn.execute(text("SELECT body FROM csp_event_batches")).scalars().all()
    states = dict(rows)
    assert rows and all(s in FINAL for s in states.values()), Counter(states.values())
    # every alert exactly as specified: per device and interested supplier, 2 if transferred, else 1
    per = Counter((d, s) for _, d, s in outbox)
    for device, state in states.items():
        for supplier in interested[device]:
            want = 0 if state == "csp_rejected" else (1 if state == "transfer_failed" else 2)
            assert per[(device, supplier)] == want, (device, supplier, state)
    # the receiver holds exactly the outbox's IDs: nothing lost, nothing under a second ID
    assert receiver.alert_ids() == all_ids
    assert receiver.rejected == 0
    # the inventory matches the final states, with one history row per activation
    activated = {d for d, s in states.items() if s == "activated"}
    for device, version in firmware.items():
        assert version == (campaign.firmware_version if device in activated else before[device]), device
    assert set(history) == activated and all(n == 1 for n in history.values())
    keys = [
        (e["distribution_id"], e["device_id"], e["kind"]) for b in events for e in json.loads(b)["events"]
    ]
    assert len(keys) == len(set(keys)), "no event reported twice across restarts"
    receiver.close()
    engine.dispose()
