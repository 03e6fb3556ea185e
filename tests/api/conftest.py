"""A live DSP over real HTTP on a crafted estate with a fresh PKI."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine

import crafted
from hanota.api.app import create_app
from hanota.bootstrap import AppContext, build_context, make_router
from hanota.clock import ManualClock
from hanota.dsp.router import Router
from hanota.estate.pki import init_pki
from hanota.settings import Settings
from liveserver import LiveServer


@dataclass
class Live:
    url: str
    engine: Engine
    pki: Path
    clock: ManualClock
    client: httpx.Client
    ctx: AppContext
    routers: list[Router] = field(default_factory=list)

    def router(self, name: str = "test") -> Router:
        r = make_router(self.ctx, self.url, name=name)
        self.routers.append(r)
        return r

    def post(self, body: bytes, content_type: str = "application/xml") -> httpx.Response:
        return self.client.post(
            f"{self.url}/api/v1/serviceD", content=body, headers={"content-type": content_type}
        )


@contextmanager
def running_live(db_url: str, engine: Engine, tmp_path: Path, **settings: Any) -> Iterator[Live]:
    """A live DSP on the crafted estate with a fresh PKI; `settings` override the defaults (secrets, limits)."""
    crafted.build(engine)
    clock = ManualClock(crafted.NOW)
    init_pki(engine, tmp_path / "pki", now=crafted.NOW)
    ctx = build_context(
        Settings(data_dir=tmp_path, database_url=db_url, **settings), clock=clock, migrate=False
    )
    with LiveServer(create_app(ctx)) as server, httpx.Client(timeout=30) as client:
        live = Live(server.url, engine, tmp_path / "pki", clock, client, ctx)
        yield live
        for r in live.routers:
            r.close()
    ctx.engine.dispose()


@pytest.fixture
def live(db_url: str, engine: Engine, tmp_path: Path) -> Iterator[Live]:
    with running_live(db_url, engine, tmp_path) as live:
        yield live
