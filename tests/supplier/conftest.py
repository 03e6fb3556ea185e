"""Fixtures of the supplier-side tests (the sample alert endpoint): the alerts tests' store and receiver."""

from __future__ import annotations

from alerts.conftest import receiver, store  # noqa: F401 - re-exported fixtures
