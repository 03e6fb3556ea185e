"""Helpers tests import (`tests/` is on pytest's pythonpath)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def need(condition: bool, reason: str) -> None:
    """Skip (developer machine) or fail (CI) unless `condition`."""
    if condition:
        return
    if os.environ.get("CI"):
        pytest.fail(f"CI must not skip: {reason}")
    pytest.skip(reason)


def shared_path() -> Path:
    """Where the shared reference folder is: $HANOTA_SHARED_DIR, else ../shared beside the checkout."""
    return Path(os.environ.get("HANOTA_SHARED_DIR", REPO.parent / "shared"))
