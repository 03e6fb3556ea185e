"""A live DSP with the SSI over real HTTP, on the crafted estate, with SSI passwords for its Users.

Users: S1, S2, S3 (suppliers, see tests/crafted.py), OTHER (an Other User) and the DCC operator. Every
password is `PASSWORDS[eui]`.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, insert

import crafted as c
from hanota.api.app import create_app
from hanota.bootstrap import AppContext, build_context
from hanota.clock import ManualClock
from hanota.db.models import RequestDevice, ServiceRequest, User
from hanota.estate.catalogue import DCC_OPERATOR_EUI
from hanota.estate.pki import init_pki
from hanota.settings import Settings
from hanota.ssi.auth import set_password
from liveserver import LiveServer

OPERATOR = DCC_OPERATOR_EUI
PASSWORDS = {eui: f"pw-{eui[-5:]}-long-enough" for eui in (c.S1, c.S2, c.S3, c.OTHER, OPERATOR)}
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass
class SSILive:
    url: str
    engine: Engine
    pki: Path
    clock: ManualClock
    ctx: AppContext

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30, follow_redirects=False)

    @contextmanager
    def sign_in(self, eui: str, password: str | None = None) -> Iterator[httpx.Client]:
        """A client with a session for `eui` (fails the test if sign-in does not succeed)."""
        with self.client() as client:
            r = sign_in(client, eui, PASSWORDS[eui] if password is None else password)
            assert r.status_code == 303, r.text
            yield client


def csrf_of(html: str) -> str:
    m = _CSRF.search(html)
    assert m, "the page has no CSRF token"
    return m.group(1)


def sign_in(client: httpx.Client, eui: str, password: str) -> httpx.Response:
    form = client.get("/ssi/login")
    assert form.status_code == 200
    return client.post("/ssi/login", data={"user": eui, "password": password, "csrf": csrf_of(form.text)})


def seed_users(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(
            User.__table__.insert().values(
                eui=OPERATOR, name="DCC Service Desk", roles="DCC", status="Active"
            )
        )
        for eui, pw in PASSWORDS.items():
            set_password(conn, eui, pw, c.NOW)


@pytest.fixture
def ssi(db_url: str, engine: Engine, tmp_path: Path) -> Iterator[SSILive]:
    c.build(engine)
    seed_users(engine)
    clock = ManualClock(c.NOW)
    init_pki(engine, tmp_path / "pki", now=c.NOW)
    settings = Settings(data_dir=tmp_path, database_url=db_url, environment="test")
    ctx = build_context(settings, clock=clock, migrate=False)
    with LiveServer(create_app(ctx)) as server:
        yield SSILive(server.url, engine, tmp_path / "pki", clock, ctx)
    ctx.engine.dispose()


def submit_11_4(live: SSILive, sender: str, ids: tuple[str, ...]) -> str:
    """Send a signed SR 11.4 with the crafted NEW image to the live DSP; returns the DUIS response code."""
    from duisclient import request, signed, signer_for
    from hanota.duis.requests import UpdatePPMIDFirmware

    body = signed(
        signer_for(live.pki, sender),
        request(sender, "11.4", UpdatePPMIDFirmware(c.NEW_IMAGE, c.NEW_VERSION, ids)),
    )
    r = httpx.post(
        f"{live.url}/api/v1/serviceD", content=body, headers={"content-type": "application/xml"}, timeout=60
    )
    assert r.status_code == 200, r.text
    return r.headers["x-duis-response-code"]


def fake_request(engine: Engine, originator: str, devices: list[dict[str, object]], *, srv: str = "11.4",
                 received: datetime | None = None, status: str = "accepted") -> int:  # fmt: skip
    """Record a request with the given request_devices rows directly (as the DSP and CSP events would)."""
    received = received or c.NOW
    with engine.begin() as conn:
        pk = conn.execute(
            insert(ServiceRequest)
            .values(
                request_id=f"{originator}:90-B3-D5-1F-30-00-00-02:{next(_counter)}", originator_eui=originator, srv=srv,
                received_at=received, status=status, response_code="I0", firmware_version=c.NEW_VERSION,
                device_count=len(devices), accepted_count=sum(1 for d in devices if d.get("outcome", "Accepted") == "Accepted"),
            )
            .returning(ServiceRequest.id)
        ).scalar_one()  # fmt: skip
        if devices:
            conn.execute(
                insert(RequestDevice),
                [
                    {
                        "request_pk": pk, "device_type": "PPMID", "hub_id": None, "region": "Central",
                        "outcome": "Accepted", "reason": None, "state": "accepted", "failure": None,
                        "updated_at": received, "sent_at": None, "transferred_at": None, "finished_at": None, **d,
                    }
                    for d in devices
                ],
            )  # fmt: skip
    return int(pk)


_counter = itertools.count(1)
