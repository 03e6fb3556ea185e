"""Helpers for the alert tests: outbox alerts of the three firmware-campaign kinds, and the store under test."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlalchemy import Engine, func, select, update

import crafted
from hanota.alerts.delivery import DeliveryWorker
from hanota.alerts.outbox import AlertWriter, PendingAlert
from hanota.bootstrap import AppContext
from hanota.clock import ManualClock
from hanota.db.models import AlertOutbox, AlertRecipient, User
from hanota.duis import RequestID, Signer, codes
from hanota.duis.alerts import (
    CommsHubAlert,
    CSPFirmwareDeliveryStatus,
    FirmwareTransferAlert,
    PPMIDAlert,
    PPMIDFirmwareUpgradeAlert,
)
from hanota.duis.values import ActivationResult, TransferResponseCode, TransferStatus

RID = RequestID(crafted.S1, codes.DCC_EUI, 77)


def device(n: int) -> str:
    return f"BB-00-00-00-00-{(n >> 16) & 255:02X}-{(n >> 8) & 255:02X}-{n & 255:02X}"


def pending(n: int, recipient: str, *, kind: int | None = None) -> PendingAlert:
    """Alert n for `recipient`: kinds rotate over the three the product sends for a firmware campaign."""
    dev = device(n)
    k = n % 3 if kind is None else kind
    alert: CommsHubAlert | PPMIDAlert | CSPFirmwareDeliveryStatus
    if k == 0:
        alert = CommsHubAlert(crafted.H1, 0x8F8A, crafted.NOW, FirmwareTransferAlert(
            dev, crafted.NEW_VERSION, TransferResponseCode.FILE_TRANSFER_SUCCESS, RID))  # fmt: skip
    elif k == 1:
        alert = PPMIDAlert(dev, 0x8F8B, crafted.NOW,
                           PPMIDFirmwareUpgradeAlert(crafted.NEW_VERSION, ActivationResult.SUCCESS))  # fmt: skip
    else:
        alert = CSPFirmwareDeliveryStatus(RID, crafted.H1, dev, crafted.NEW_VERSION, crafted.NOW,
                                          TransferStatus.FAILURE)  # fmt: skip
    return PendingAlert(f"t{k}:{n}:{recipient}", recipient, alert, request_id=RID, device_id=dev)


@dataclass
class Store:
    engine: Engine
    clock: ManualClock
    pki: Path
    signer: Signer
    workers: list[DeliveryWorker] = field(default_factory=list)

    def set_endpoint(self, user: str, url: str | None) -> None:
        with self.engine.begin() as conn:
            conn.execute(update(User).where(User.eui == user).values(alert_endpoint=url))

    def write(self, alerts: list[PendingAlert]) -> int:
        """Write through AlertWriter; returns the outbox size after (AlertWriter.write's own count is -1 on
        PostgreSQL, where executemany has no rowcount)."""
        with self.engine.begin() as conn:
            AlertWriter(self.signer).write(conn, alerts, self.clock.now())
            return int(conn.execute(select(func.count()).select_from(AlertOutbox)).scalar_one())

    def worker(self, name: str = "w", **kw: object) -> DeliveryWorker:
        w = DeliveryWorker(self.engine, self.clock, name=name, **kw)  # type: ignore[arg-type]
        self.workers.append(w)
        return w

    def recipient(self, eui: str) -> AlertRecipient:
        with self.engine.connect() as conn:
            row = conn.execute(select(AlertRecipient).where(AlertRecipient.recipient_eui == eui)).one()
            return row  # type: ignore[return-value]

    def rows(self) -> dict[str, AlertOutbox]:
        with self.engine.connect() as conn:
            return {r.alert_id: r for r in conn.execute(select(AlertOutbox)).all()}  # type: ignore[misc]


@dataclass
class DSP:
    url: str
    ctx: AppContext
    client: httpx.Client
