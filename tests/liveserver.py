"""A real uvicorn server on a free loopback port, in a background thread (real HTTP in tests)."""

from __future__ import annotations

from fastapi import FastAPI

from hanota.background import ServerThread


class LiveServer(ServerThread):
    def __init__(self, app: FastAPI) -> None:
        super().__init__(app, name="live-server")

    def __enter__(self) -> LiveServer:
        super().__enter__()
        return self
