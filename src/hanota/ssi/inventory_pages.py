"""The SSI's home page, the device inventory (search, device page, firmware history) and the firmware
version report."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from hanota.ssi import charts
from hanota.ssi import inventory_queries as q
from hanota.ssi.alert_queries import alerts_page
from hanota.ssi.auth import normalise_eui
from hanota.ssi.pages import (
    PREFIX,
    SSI,
    Ctx,
    Problem,
    _choice,
    _eui_cursor,
    _int_cursor,
    _param,
    _size,
)
from hanota.ssi.queries import DEVICE_TYPES
from hanota.ssi.request_queries import requests_page


def add_inventory_routes(r: APIRouter, ssi: SSI) -> None:
    """Home, inventory search, a device's page and history, the firmware version report."""

    @r.get(PREFIX + "/")
    def home(request: Request) -> Response:
        def page(c: Ctx) -> Response:
            with ssi.reader.connect() as conn:  # the viewer's five newest requests and alerts
                reqs = requests_page(conn, c.scope, None, None, None, 5).rows
                alerts = alerts_page(conn, c.scope, None, None, 5).rows
            return ssi.render("home.html", c, request, requests=reqs, alerts=alerts)

        return ssi.guard(request, page)

    def _search(request: Request) -> tuple[str, q.Search]:
        text_ = _param(request, "q", 64)
        search = q.parse_search(text_)
        if search is None:
            raise Problem(
                400, "search by a device ID (or its first digits), a hub's CHF/GPF ID, a UPRN or a postcode"
            )
        return text_, search

    @r.get(PREFIX + "/inventory")
    def inventory(request: Request) -> Response:
        def page(c: Ctx) -> Response:
            text_, search = _search(request)
            size, after = _size(request), _eui_cursor(request)
            with ssi.reader.connect() as conn:
                result = q.inventory_page(conn, c.scope, search, after, size)
            return ssi.render("inventory.html", c, request, q=text_, search=search, page=result, size=size,
                              after=after)  # fmt: skip

        return ssi.guard(request, page)

    @r.get(PREFIX + "/inventory.csv")
    def inventory_csv(request: Request) -> Response:
        def page(c: Ctx) -> Response:
            _, search = _search(request)
            return ssi.csv("inventory", q.DEVICE_CSV, ssi.streamed(q.inventory_csv, c.scope, search))

        return ssi.guard(request, page)

    def _device(c: Ctx, device_id: str) -> q.DeviceDetail:
        eui = normalise_eui(device_id)
        detail = None
        if eui is not None:
            with ssi.reader.connect() as conn:
                detail = q.device_detail(conn, c.scope, eui)
        if detail is None:
            # the same answer for "no such device" and "not yours": nothing is learnt about others' devices
            raise Problem(404, "No device with that ID among the devices you may see.")
        return detail

    @r.get(PREFIX + "/devices/{device_id}")
    def device(request: Request, device_id: str) -> Response:
        def page(c: Ctx) -> Response:
            return ssi.render("device.html", c, request, d=_device(c, device_id))

        return ssi.guard(request, page)

    @r.get(PREFIX + "/devices/{device_id}/history.csv")
    def device_history_csv(request: Request, device_id: str) -> Response:
        def page(c: Ctx) -> Response:
            d = _device(c, device_id)
            cols = ("recorded_at", "firmware_version", "previous_version", "source")
            rows = [[h[k] for k in cols] for h in d.history]
            return ssi.csv(f"firmware-history-{d.device['device_id']}", cols, lambda: iter(rows))

        return ssi.guard(request, page)

    # --- firmware version report ---

    def _types(request: Request) -> tuple[str, list[str]]:
        which = _choice(request, "types", ("han", "all", *DEVICE_TYPES)) or "han"
        types: list[str] = (
            list(q.HAN_TYPES) if which == "han" else list(DEVICE_TYPES) if which == "all" else [which]
        )
        return which, types

    @r.get(PREFIX + "/reports/firmware")
    def firmware_report(request: Request) -> Response:
        def page(c: Ctx) -> Response:
            which, types = _types(request)
            with ssi.reader.connect() as conn:
                rows = q.firmware_report(conn, c.scope, types)
            size = _size(request)
            offset = _int_cursor(request, "offset") or 0
            per_model: dict[str, dict[str, int]] = {}
            for x in rows:
                key = f"{x['device_type']} {x['manufacturer']}/{x['model']}"
                m = per_model.setdefault(key, {"upgradeable": 0, "not upgradeable": 0})
                m["upgradeable" if x["upgradeable"] else "not upgradeable"] += x["devices"]
            total = sum(x["devices"] for x in rows)
            ok = sum(x["devices"] for x in rows if x["upgradeable"])
            chart = charts.stacked_bars(
                list(per_model.items()), keys=("upgradeable", "not upgradeable"),
                title="Devices per model: upgradeable or not",
            )  # fmt: skip
            shown = rows[offset : offset + size]
            next_offset = offset + size if offset + size < len(rows) else None
            return ssi.render("firmware.html", c, request, rows=shown, which=which, total=total, upgradeable=ok,
                              chart=chart, size=size, offset=offset, next_offset=next_offset, count=len(rows))  # fmt: skip

        return ssi.guard(request, page)

    @r.get(PREFIX + "/reports/firmware.csv")
    def firmware_report_csv(request: Request) -> Response:
        def page(c: Ctx) -> Response:
            _, types = _types(request)
            with ssi.reader.connect() as conn:
                rows = q.firmware_report(conn, c.scope, types)
            data = [[x[k] for k in q.FIRMWARE_CSV] for x in rows]
            return ssi.csv("firmware-versions", q.FIRMWARE_CSV, lambda: iter(data))

        return ssi.guard(request, page)
