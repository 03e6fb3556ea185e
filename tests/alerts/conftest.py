"""Fixtures for alert delivery: a crafted store with a PKI, a live sample receiver, a live DSP API."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine

import crafted
from alerts.alerts_testkit import DSP, Store
from hanota.api.app import create_app
from hanota.bootstrap import build_context
from hanota.clock import ManualClock
from hanota.dsp.trust import dsp_signer
from hanota.estate.pki import init_pki
from hanota.settings import Settings
from hanota.supplier.receiver import Receiver, RunningReceiver
from liveserver import LiveServer


@pytest.fixture
def store(engine: Engine, tmp_path: Path) -> Iterator[Store]:
    crafted.build(engine)
    init_pki(engine, tmp_path / "pki", now=crafted.NOW)
    s = Store(engine, ManualClock(crafted.NOW), tmp_path / "pki", dsp_signer(engine))
    yield s
    for w in s.workers:
        w.close()


@pytest.fixture
def receiver(store: Store) -> Iterator[RunningReceiver]:
    """A verifying sample receiver on a real port (its clock is the store's, so certificates are valid)."""
    r = Receiver(store.signer.certificate, clock=store.clock)
    with r.serve_in_thread() as running:
        yield running
    r.close()


@pytest.fixture
def dsp(store: Store, db_url: str, tmp_path: Path) -> Iterator[DSP]:
    """The DSP's HTTP API over the store (no workers), on a real port."""
    settings = Settings(data_dir=tmp_path, database_url=db_url, run_worker=False, run_network=False)
    ctx = build_context(settings, clock=store.clock, migrate=False)
    with LiveServer(create_app(ctx)) as server, httpx.Client(timeout=30) as client:
        yield DSP(server.url, ctx, client)
    ctx.engine.dispose()
