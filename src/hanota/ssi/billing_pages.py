"""The SSI's register pages: the Central Products List, the billing counts and the ESI inventory extract."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse

from hanota.ssi import billing as bill
from hanota.ssi import cpl_queries as q
from hanota.ssi.auth import normalise_eui
from hanota.ssi.esi import ESI_COLUMNS, extract_chunks
from hanota.ssi.pages import (
    PREFIX,
    SSI,
    Ctx,
    Problem,
    _choice,
    _int_cursor,
    _param,
    _size,
)
from hanota.ssi.queries import DEVICE_TYPES


def add_billing_routes(r: APIRouter, ssi: SSI) -> None:
    """The CPL, billing counts and the ESI extract (pages and CSV)."""

    def _cpl_filters(request: Request) -> tuple[str | None, str | None]:
        return _choice(request, "device_type", DEVICE_TYPES), _choice(request, "status", q.CPL_STATUSES)

    @r.get(PREFIX + "/cpl")
    def cpl(request: Request) -> Response:
        def page(c: Ctx) -> Response:
            t, s = _cpl_filters(request)
            size, after = _size(request), _int_cursor(request, "after")
            with ssi.reader.connect() as conn:
                result = q.cpl_page(conn, t, s, after, size)
            return ssi.render("cpl.html", c, request, page=result, device_type=t, status=s, size=size, after=after,
                              types=DEVICE_TYPES, statuses=q.CPL_STATUSES)  # fmt: skip

        return ssi.guard(request, page)

    @r.get(PREFIX + "/cpl.csv")
    def cpl_csv(request: Request) -> Response:
        def page(c: Ctx) -> Response:
            t, s = _cpl_filters(request)
            return ssi.csv("cpl", q.CPL_CSV, ssi.streamed(q.cpl_csv, t, s))

        return ssi.guard(request, page)

    def _billing(request: Request, c: Ctx) -> tuple[list[bill.BillingRow], dict[str, Any]]:
        start_s, end_s = _param(request, "from", 7), _param(request, "to", 7)
        start = bill.parse_month(start_s) if start_s else None
        last = bill.parse_month(end_s) if end_s else None
        if (start_s and start is None) or (end_s and last is None):
            raise Problem(400, "months are written YYYY-MM")
        user = None
        if c.who.is_operator:
            u = _param(request, "user", 30)
            if u:
                user = normalise_eui(u)
                if user is None:
                    raise Problem(400, "user must be a User ID (EUI-64)")
        else:
            user = c.who.eui
        with ssi.reader.connect() as conn:
            rows = bill.billing_rows(
                conn, user=user, start=start, end=bill.next_month(last) if last else None
            )
        return rows, {"start": start_s, "end": end_s, "user": user if c.who.is_operator else None}

    @r.get(PREFIX + "/billing")
    def billing(request: Request) -> Response:
        def page(c: Ctx) -> Response:
            rows, f = _billing(request, c)
            size = _size(request)
            offset = _int_cursor(request, "offset") or 0
            totals = {
                "requests": sum(b.requests for b in rows),
                "devices": sum(b.devices or 0 for b in rows),
                "devices_accepted": sum(b.devices_accepted or 0 for b in rows),
            }
            shown = rows[offset : offset + size]
            next_offset = offset + size if offset + size < len(rows) else None
            return ssi.render("billing.html", c, request, rows=shown, f=f, totals=totals, size=size, offset=offset,
                              next_offset=next_offset, count=len(rows))  # fmt: skip

        return ssi.guard(request, page)

    @r.get(PREFIX + "/billing.csv")
    def billing_csv(request: Request) -> Response:
        def page(c: Ctx) -> Response:
            rows, _ = _billing(request, c)
            return ssi.csv("billing", bill.BILLING_CSV, lambda: bill.billing_csv(rows))

        return ssi.guard(request, page)

    @r.get(PREFIX + "/extract")
    def extract(request: Request) -> Response:
        return ssi.guard(request, lambda c: ssi.render("extract.html", c, request, columns=ESI_COLUMNS))

    @r.get(PREFIX + "/extract.csv")
    def extract_csv(request: Request) -> Response:
        def page(c: Ctx) -> Response:
            stamp = c.now.strftime("%Y%m%dT%H%M%SZ")
            resp = StreamingResponse(
                extract_chunks(ssi.reader, c.scope), media_type="text/csv; charset=utf-8"
            )
            resp.headers["Content-Disposition"] = f'attachment; filename="hanota-esi-extract-{stamp}.csv"'
            return resp

        return ssi.guard(request, page)
