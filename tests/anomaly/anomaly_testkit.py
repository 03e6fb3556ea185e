"""Helpers for the anomaly tests: a DSP over the crafted estate (with the DCC operator), sending signed
requests and reading the signed answers and alerts back."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, Row, select, text

import crafted as c
from duisclient import request, signed, signer_for
from hanota.clock import ManualClock
from hanota.db.models import AlertOutbox, User
from hanota.dsp.service import DSPService
from hanota.dsp.trust import DbTrustStore, dsp_signer
from hanota.duis import MAX_RESPONSE_BYTES, Response, StaticTrustStore, Verifier, codes, parse_response
from hanota.duis.requests import ReadInventory, RequestBody, UpdatePPMIDFirmware
from hanota.estate.catalogue import DCC_OPERATOR_EUI
from hanota.estate.pki import init_pki

OPERATOR = DCC_OPERATOR_EUI


def add_operator(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO users (eui, name, roles, status) VALUES (:e, 'DCC Service Desk', 'DCC', 'Active')"
            ),
            {"e": OPERATOR},
        )


def make_dsp(engine: Engine, clock: ManualClock) -> DSPService:
    return DSPService(engine=engine, clock=clock, signer=dsp_signer(engine), trust=DbTrustStore(engine),
                      max_body_bytes=16 * 1024 * 1024)  # fmt: skip


@dataclass
class Env:
    engine: Engine
    clock: ManualClock
    dsp: DSPService
    pki: Path

    def signed(self, eui: str, srv: str, body: RequestBody, counter: int | None = None) -> bytes:
        return signed(signer_for(self.pki, eui), request(eui, srv, body, counter=counter))

    def send_bytes(self, data: bytes, dsp: DSPService | None = None) -> Response:
        answer = (dsp or self.dsp).handle(data)
        assert answer.status == 200, answer.body
        resp = self.verify(answer.body)
        assert resp.response_code == answer.code
        return resp

    def send(self, eui: str, srv: str, body: RequestBody) -> Response:
        return self.send_bytes(self.signed(eui, srv, body))

    def ppmid(self, ids: Sequence[str] = (c.P_OK,), eui: str = c.S1, image: bytes = c.NEW_IMAGE) -> str:
        return self.send(eui, "11.4", UpdatePPMIDFirmware(image, c.NEW_VERSION, tuple(ids))).response_code

    def read(self, eui: str = c.S1) -> str:
        return self.send(eui, "8.2", ReadInventory(device_id=c.P_OK)).response_code

    def verify(self, body: bytes) -> Response:
        """Parse a DSP answer or alert after checking the DSP's signature over it."""
        verifier = Verifier(StaticTrustStore(pinned=[self.dsp.signer.certificate]),
                            accepted_roles=(codes.ROLE_DSP_XML_SIGNING,), max_bytes=MAX_RESPONSE_BYTES)  # fmt: skip
        return parse_response(verifier.verify(body, now=self.clock.now()).root)

    def outbox(self, alert_id: str) -> tuple[Row[Any], Response]:
        with self.engine.connect() as conn:
            row = conn.execute(select(AlertOutbox).where(AlertOutbox.alert_id == alert_id)).one()
        return row, self.verify(row.body)

    def suspend(self, eui: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(User.__table__.update().where(User.eui == eui).values(status="Suspended"))


def build_env(engine: Engine, pki_dir: Path) -> Env:
    c.build(engine)
    add_operator(engine)
    init_pki(engine, pki_dir, now=c.NOW)
    clock = ManualClock(c.NOW)
    return Env(engine, clock, make_dsp(engine, clock), pki_dir)
