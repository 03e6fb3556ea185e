"""Fixtures of the CSP tests: the `live` server of tests/api (a real uvicorn server over the crafted estate)."""

from __future__ import annotations

from api.conftest import live  # noqa: F401 - re-exported fixture
from dsp.event_testkit import campaign  # noqa: F401 - re-exported fixture
