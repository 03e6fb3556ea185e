"""The web Self Service Interface: server-rendered pages (Jinja2) with htmx, under `/ssi/`.

`ssi_router` builds the SSI (`pages.SSI`: templates, sessions, the guard every page goes through) and
registers the page modules' routes on one router, in this order: the door and the account
(`account_pages`), home and inventory (`inventory_pages`), requests (`request_pages`), alerts
(`alert_pages`), the CPL, billing and extract (`billing_pages`), anomaly thresholds and quarantine
(`anomaly_pages`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import APIRouter

from hanota.ssi.account_pages import add_account_routes
from hanota.ssi.alert_pages import add_alert_routes
from hanota.ssi.anomaly_pages import add_anomaly_routes
from hanota.ssi.billing_pages import add_billing_routes
from hanota.ssi.inventory_pages import add_inventory_routes
from hanota.ssi.pages import SSI
from hanota.ssi.request_pages import add_request_routes

if TYPE_CHECKING:
    from hanota.bootstrap import AppContext


def ssi_router(ctx: AppContext) -> APIRouter:
    """The SSI's routes for the app of `ctx` (mounted by `hanota.api.app.create_app`)."""
    ssi = SSI(ctx.settings, ctx.engine, ctx.clock)
    r = APIRouter(include_in_schema=False)
    add_account_routes(r, ssi)
    add_inventory_routes(r, ssi)
    add_request_routes(r, ssi)
    add_alert_routes(r, ssi)
    add_billing_routes(r, ssi)
    add_anomaly_routes(r, ssi, ctx.dsp)
    return r
