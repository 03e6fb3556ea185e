"""Helpers tests import (`tests/` is on pytest's pythonpath)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
VENDORED = REPO / "tests" / "data"
"""Holds the public DUIS test material vendored with the tests (sources: tests/data/README.md)."""


def need(condition: bool, reason: str) -> None:
    """Skip (developer machine) or fail (CI) unless `condition`."""
    if condition:
        return
    if os.environ.get("CI"):
        pytest.fail(f"CI must not skip: {reason}")
    pytest.skip(reason)


def shared_path() -> Path:
    """The folder holding `duis/` (DCC Boxed PKI, request samples, golden responses).

    `tests/data` (vendored, so a plain clone has it), unless $HANOTA_SHARED_DIR names another folder of the
    same layout (e.g. the fuller ../shared reference folder)."""
    configured = os.environ.get("HANOTA_SHARED_DIR")
    return Path(configured) if configured else VENDORED
