"""The web Self Service Interface (SSI): sign-in per User, inventory, reports, request progress, alerts,
anomaly thresholds and quarantine, the CPL, billing counts and the ESI inventory extract."""

from __future__ import annotations

from hanota.ssi.web import ssi_router

__all__ = ["ssi_router"]
