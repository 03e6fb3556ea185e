"""NUL characters get HTTP 400 at the door, on every route and both stores (PostgreSQL text cannot hold
them, so one reaching a query would otherwise be a driver error)."""

from __future__ import annotations

import pytest

from api.conftest import Live


@pytest.mark.parametrize(
    "path",
    [
        "/ssi/?q=%00",
        "/ssi/inventory?q=%00",
        "/ssi/requests/%00",
        "/api/v1/anomaly/quarantine?srv=%00",
        "/healthz?%00",
    ],
)
def test_a_nul_in_the_path_or_query_is_400(live: Live, path: str) -> None:
    """A NUL character in the path or query of any route (SSI, anomaly API, health) is answered 400 before the
    route runs."""
    r = live.client.get(live.url + path)
    assert r.status_code == 400


def test_a_nul_in_a_form_is_400_and_other_forms_pass(live: Live) -> None:
    """A NUL in a form field is answered 400; the same form without it reaches the route (the sign-in refuses
    it, 401 or 403)."""
    form = {"user": "90-B3-D5-1F-70-00-00-01\x00", "password": "x", "csrf": "y"}
    assert live.client.post(live.url + "/ssi/login", data=form).status_code == 400
    ok = live.client.post(live.url + "/ssi/login", data={"user": "a", "password": "b", "csrf": "c"})
    assert ok.status_code in (401, 403)  # refused by the sign-in itself, not by the guard
