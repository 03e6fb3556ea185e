"""The SSI's request pages: a User's service requests, one request's progress over virtual time, and its
distribution status report (per device)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

from fastapi import APIRouter, Request
from fastapi.responses import Response

from hanota.lifecycle import FAILED, HUB_REGIONS, WAITING, DeviceState, Outcome
from hanota.ssi import charts
from hanota.ssi import request_queries as q
from hanota.ssi.pages import (
    PREFIX,
    SSI,
    Ctx,
    Problem,
    _choice,
    _eui_cursor,
    _int_cursor,
    _int_path,
    _size,
)

STATES: Final = tuple(DeviceState)
OUTCOMES: Final = tuple(Outcome)
IN_FLIGHT_BAR: Final = "in flight"
REGION_BARS: Final = (DeviceState.ACTIVATED, DeviceState.TRANSFERRED, q.FAILED_SERIES, IN_FLIGHT_BAR)
"""The bars per CSP region, each accepted device in one segment: activated, transferred (the image on the
device, not activated yet), failed (at any stage, `FAILED`), and waiting for the image (`WAITING`)."""


def _count(counts: Mapping[str, int], states: Iterable[DeviceState]) -> int:
    return sum(counts.get(s, 0) for s in states)


def add_request_routes(r: APIRouter, ssi: SSI) -> None:
    """The requests list, a request's progress and its per-device distribution report."""

    def _request_filters(request: Request) -> tuple[str | None, str | None]:
        srv = _choice(request, "srv", ("11.4", "11.1", "8.2", "8.4", "12.2"))
        status = _choice(request, "status", q.REQUEST_STATUSES)
        return srv, status

    @r.get(PREFIX + "/requests")
    def requests(request: Request) -> Response:
        def page(c: Ctx) -> Response:
            srv, status = _request_filters(request)
            size, before = _size(request), _int_cursor(request, "before")
            with ssi.reader.connect() as conn:
                result = q.requests_page(conn, c.scope, srv, status, before, size)
            return ssi.render("requests.html", c, request, page=result, srv=srv, status=status, size=size,
                              before=before, statuses=q.REQUEST_STATUSES)  # fmt: skip

        return ssi.guard(request, page)

    @r.get(PREFIX + "/requests.csv")
    def requests_csv(request: Request) -> Response:
        def page(c: Ctx) -> Response:
            srv, status = _request_filters(request)
            return ssi.csv("requests", q.REQUEST_CSV, ssi.streamed(q.requests_csv, c.scope, srv, status))

        return ssi.guard(request, page)

    def _request(c: Ctx, pk: str) -> dict[str, Any]:
        n = _int_path(pk)
        with ssi.reader.connect() as conn:
            req = q.get_request(conn, c.scope, n)
        if req is None:
            raise Problem(404, "No request with that number among the requests you may see.")
        return req

    def _progress_values(c: Ctx, req: dict[str, Any]) -> dict[str, Any]:
        with ssi.reader.connect() as conn:
            p = q.progress(conn, req, c.now, scope=c.scope)
        chart = charts.line_chart(p.series, bucket_seconds=p.bucket_seconds,
                                  title=f"Request {req['request_id']}: devices over virtual time")  # fmt: skip
        regions = [
            (
                region,
                {
                    DeviceState.ACTIVATED: _count(counts, (DeviceState.ACTIVATED,)),
                    DeviceState.TRANSFERRED: _count(counts, (DeviceState.TRANSFERRED,)),
                    q.FAILED_SERIES: _count(counts, FAILED),
                    IN_FLIGHT_BAR: _count(counts, WAITING),
                },
            )
            for region, counts in p.by_region.items()
            if region != "-" or any(k != DeviceState.REJECTED for k in counts)
        ]
        region_chart = charts.stacked_bars(regions, keys=REGION_BARS, title="Devices per CSP region")
        return {"p": p, "counters": p.counters, "chart": chart, "region_chart": region_chart, "states": STATES,
                "req": req}  # fmt: skip

    @r.get(PREFIX + "/requests/{pk}")
    def request_page(request: Request, pk: str) -> Response:
        def page(c: Ctx) -> Response:
            req = _request(c, pk)
            return ssi.render("request.html", c, request, **_progress_values(c, req))

        return ssi.guard(request, page)

    @r.get(PREFIX + "/requests/{pk}/progress")
    def request_progress(request: Request, pk: str) -> Response:
        def page(c: Ctx) -> Response:
            req = _request(c, pk)
            return ssi.render("_progress.html", c, request, **_progress_values(c, req))

        return ssi.guard(request, page)

    def _dist_filter(request: Request) -> q.DistFilter:
        return q.DistFilter(
            state=_choice(request, "state", STATES),
            outcome=_choice(request, "outcome", OUTCOMES),
            region=_choice(request, "region", HUB_REGIONS),
        )

    @r.get(PREFIX + "/requests/{pk}/devices")
    def distribution(request: Request, pk: str) -> Response:
        def page(c: Ctx) -> Response:
            req = _request(c, pk)
            f = _dist_filter(request)
            size, after = _size(request), _eui_cursor(request)
            with ssi.reader.connect() as conn:
                result = q.distribution_page(conn, req, f, after, size, c.scope)
            return ssi.render("distribution.html", c, request, req=req, page=result, f=f, size=size, after=after,
                              states=STATES, outcomes=OUTCOMES, regions=HUB_REGIONS)  # fmt: skip

        return ssi.guard(request, page)

    @r.get(PREFIX + "/requests/{pk}/devices.csv")
    def distribution_csv(request: Request, pk: str) -> Response:
        def page(c: Ctx) -> Response:
            req = _request(c, pk)
            f = _dist_filter(request)
            return ssi.csv(
                f"distribution-{req['id']}",
                q.DISTRIBUTION_CSV,
                ssi.streamed(q.distribution_csv, req, f, c.scope),
            )

        return ssi.guard(request, page)
