"""The alert mailbox reads a pull's Limit as ASCII digits only: a validly signed pull whose Limit holds any
other digits or signs is a malformed request (400), never a 500, and spends no counter."""

from __future__ import annotations

import itertools

import httpx
from sqlalchemy import select

import crafted
from alerts.alerts_testkit import DSP, Store
from duisclient import signer_for
from hanota.alerts import mailbox
from hanota.db.models import RequestCounter

_counter = itertools.count(9_000_000)


def _send(dsp: DSP, action: str, body: bytes) -> httpx.Response:
    return dsp.client.post(f"{dsp.url}/api/v1/alerts/{action}", content=body,
                           headers={"content-type": "application/xml"})  # fmt: skip


def _signed_with_limit(store: Store, limit_text: str) -> bytes:
    """A correctly signed pull by S1 whose Limit element holds `limit_text` verbatim."""
    req = mailbox.new_request("pull", crafted.S1, next(_counter), store.clock.now(), limit=7)
    doc = mailbox.render_request(req).replace(b">7</", f">{limit_text}</".encode())
    assert limit_text.encode() in doc
    return signer_for(store.pki, crafted.S1).sign(doc)


def _last_counter(store: Store) -> str | None:
    with store.engine.connect() as c:
        return c.execute(
            select(RequestCounter.last_counter).where(RequestCounter.originator_eui == crafted.S1)
        ).scalar()


def test_a_signed_pull_with_a_non_ascii_digit_limit_is_400_not_500(store: Store, dsp: DSP) -> None:
    """Limit '²' or '١٠' (Unicode digits that str.isdigit() accepts, the first of which int() refuses) in a
    validly signed pull is a malformed request (400 E3-style refusal) and the User's counter does not move."""
    before = _last_counter(store)
    for text in ("²", "١٠", "+5", " 5 5"):
        r = _send(dsp, "pull", _signed_with_limit(store, text))
        assert r.status_code == 400, (text, r.status_code, r.text)
    assert _last_counter(store) == before
    ok = _send(dsp, "pull", _signed_with_limit(store, "5"))
    assert ok.status_code == 200, ok.text
