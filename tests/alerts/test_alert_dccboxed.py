"""Alerts a DCC Boxed-style receiver accepts (issue 13), and what the worker makes of each HTTP answer.

`DCCBoxedReceiver` behaves as the reference receiver of DCC Boxed does (SmartDCCInnovation's
dccboxed-nodered-nodes, node `dccboxed-config`: an Express route on the configured "Response" path, default
``/smartdcc/duis``, with ``bodyParser.text({type: 'application/xml'})``, then ``validateDuis`` — verify the
XML signature, remove it, validate against the DUIS XSD — then "is it a DUIS Response?"): 204 with an empty
body, or 400 with an empty body. A body of another media type is not parsed and falls through (404). It is a
plain `http.server` on a real port, independent of hanota's own sample receiver.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from cryptography import x509
from lxml import etree
from sqlalchemy import insert, select

import crafted
from alerts.alerts_testkit import RID, Store, pending
from duisclient import signer_for
from hanota.alerts.outbox import AlertWriter
from hanota.db.models import AlertOutbox, AlertRecipient
from hanota.duis import Response, StaticTrustStore, Verifier, codes, parse_response, validate_schema
from hanota.duis.responses import ResponseMessage, render_response_element
from hanota.duis.xmlparse import SR
from hanota.errors import HanotaError
from hanota.retry import RetryPolicy

PATH = "/smartdcc/duis"


class DCCBoxedReceiver:
    """A receiver answering exactly as DCC Boxed's Node-RED flow: 204 or 400, empty bodies (see above)."""

    def __init__(self, dsp_certificate: x509.Certificate, store: Store) -> None:
        self.verifier = Verifier(StaticTrustStore(pinned=[dsp_certificate]),
                                 accepted_roles=(codes.ROLE_DSP_XML_SIGNING,))  # fmt: skip
        self.clock = store.clock
        self.accepted: list[tuple[str, bytes]] = []  # (response code or alert code, sha256 of the body)
        self.refused = 0
        self.statuses: list[int] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                media = (self.headers.get("content-type") or "").split(";")[0].strip().lower()
                if self.path.rstrip("/") != PATH or media != "application/xml":
                    self._answer(404)  # Express: no body parsed, next() -> nothing else matches
                    return
                self._answer(receiver.validate(body))

            def _answer(self, status: int) -> None:
                with receiver.lock:
                    receiver.statuses.append(status)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}{PATH}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def validate(self, body: bytes) -> int:
        """validateDuis + isSimplifiedDuisOutputResponse: 204 if all hold, else 400."""
        try:
            verified = self.verifier.verify(body, now=self.clock.now())
            validate_schema(verified.root)  # the document with its signature removed
            response = parse_response(verified.root)
        except (HanotaError, ValueError):
            with self.lock:
                self.refused += 1
            return 400
        code = getattr(response.body, "code", response.response_code)
        with self.lock:
            self.accepted.append((code, hashlib.sha256(body).digest()))
        return 204


@pytest.fixture
def boxed(store: Store) -> Iterator[DCCBoxedReceiver]:
    r = DCCBoxedReceiver(store.signer.certificate, store)
    r.thread.start()
    yield r
    r.server.shutdown()
    r.server.server_close()


def _post(url: str, body: bytes, media: str = "application/xml") -> int:
    return httpx.post(url, content=body, headers={"content-type": media}, timeout=10).status_code


def _async_response(store: Store, code: str = "E43") -> bytes:
    """A signed DUIS Response (not an alert), as the DSP sends when the DCC deletes a quarantined request."""
    return store.signer.sign_element(
        render_response_element(Response(RID, code, store.clock.now(), ResponseMessage("11.4")))
    )


def test_the_dccboxed_style_receiver_checks_signature_schema_and_media(
    store: Store, boxed: DCCBoxedReceiver
) -> None:
    """The stand-in is no stub: our signed alert gets 204; the same alert signed by a User (not the DSP),
    altered after signing, signed but schema-invalid, or sent as text/plain, does not."""
    a = pending(1, crafted.S1)
    _, body = AlertWriter(store.signer).render(a, store.clock.now())
    assert _post(boxed.url, body) == 204
    forged = AlertWriter(signer_for(store.pki, crafted.S1)).render(a, store.clock.now())[1]
    assert _post(boxed.url, forged) == 400
    assert b"ActivationSuccess" in body  # alert 1 is a PPMIDAlert
    assert _post(boxed.url, body.replace(b"ActivationSuccess", b"ActivationFailure")) == 400
    element = render_response_element(Response(RID, "I0", store.clock.now(), ResponseMessage("11.4")))
    etree.SubElement(element.find(f"{SR}Body"), f"{SR}NotInTheSchema")
    invalid = store.signer.sign_element(element)
    assert boxed.verifier.verify(invalid, now=store.clock.now())  # the signature itself holds
    assert _post(boxed.url, invalid) == 400  # the signature holds; the schema check refuses it
    assert _post(boxed.url, body, "text/plain") == 404
    assert len(boxed.accepted) == 1


def test_our_signed_alerts_and_responses_are_delivered_to_a_dccboxed_receiver(
    store: Store, boxed: DCCBoxedReceiver
) -> None:
    """The worker POSTs every kind of alert the product sends, and a signed DUIS Response (a quarantine
    decision), to a receiver behaving as DCC Boxed's: each is answered 204, accepted after its signature and
    schema checks, byte for byte, and recorded delivered on the first try."""
    store.set_endpoint(crafted.S1, boxed.url)
    store.write([pending(n, crafted.S1) for n in range(6)])
    with store.engine.begin() as conn:
        conn.execute(insert(AlertOutbox).values(
            alert_id="quarantine:1:deleted", recipient_eui=crafted.S1, code="E43", kind="QuarantineDecision",
            request_pk=None, device_id=None, created_at=store.clock.now(), body=_async_response(store),
            attempts=0, next_attempt_at=store.clock.now(), mailbox=False))  # fmt: skip
    worker = store.worker(batch_size=50)
    assert worker.run_once() == 7
    rows = store.rows()
    assert all(
        r.delivered_at == store.clock.now() and r.tries == 1 and r.last_error is None for r in rows.values()
    )
    assert boxed.statuses == [204] * 7 and boxed.refused == 0
    assert sorted(digest for _, digest in boxed.accepted) == sorted(
        hashlib.sha256(r.body).digest() for r in rows.values()
    )
    assert sorted(code for code, _ in boxed.accepted) == ["E43", "N61", "N61", "N62", "N62", "N63", "N63"]
    assert worker.run_once() == 0


def test_a_400_from_the_dccboxed_receiver_is_a_permanent_failure(
    store: Store, boxed: DCCBoxedReceiver
) -> None:
    """DCC Boxed answers 400 to what fails its validation (here: it trusts another DSP certificate). Per the
    retry policy that is a permanent refusal: the endpoint is up, so the recipient is not paused; the alert is
    tried `permanent_attempts` (3) times and then dead-lettered with the reason."""
    boxed.verifier = Verifier(StaticTrustStore(pinned=[signer_for(store.pki, crafted.S2).certificate]),
                              accepted_roles=(codes.ROLE_DSP_XML_SIGNING,))  # fmt: skip
    store.set_endpoint(crafted.S1, boxed.url)
    store.write([pending(1, crafted.S1)])
    worker = store.worker()
    for _ in range(RetryPolicy().permanent_attempts):
        assert worker.run_once() == 1
        with store.engine.connect() as conn:
            paused = conn.execute(
                select(AlertRecipient).where(AlertRecipient.recipient_eui == crafted.S1)
            ).first()
        assert paused is None or paused.failures == 0
        store.clock.advance(3600)
    (row,) = store.rows().values()
    assert boxed.statuses == [400, 400, 400]
    assert row.delivered_at is None and row.dead_at is not None and row.tries == 3
    assert row.last_error == "HTTP 400; dead-lettered: refused with HTTP 400 3 times"
    assert worker.run_once() == 0


class _Answering:
    """A real HTTP server that answers every POST with the status it is given (no body)."""

    def __init__(self) -> None:
        self.status = 204
        self.posts = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length", "0")))
                outer.posts += 1
                self.send_response(outer.status)
                if 300 <= outer.status < 400:
                    self.send_header("Location", "https://elsewhere.example/alerts")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/smartdcc/duis"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def answering() -> Iterator[_Answering]:
    a = _Answering()
    yield a
    a.close()


@pytest.mark.parametrize("status", [200, 201, 202, 204])
def test_every_2xx_is_delivered(store: Store, answering: _Answering, status: int) -> None:
    """A supplier endpoint answering any 2xx (200, 201, 202, 204) has the alert: each is posted once and
    marked delivered with no error."""
    answering.status = status
    store.set_endpoint(crafted.S1, answering.url)
    store.write([pending(n, crafted.S1) for n in range(3)])
    worker = store.worker()
    assert worker.run_once() == 3
    assert all(r.delivered_at is not None and r.last_error is None for r in store.rows().values())
    assert answering.posts == 3


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_redirect_is_not_followed_and_not_delivered_the_recipient_waits_for_a_new_address(
    store: Store, answering: _Answering, status: int
) -> None:
    """A 3xx is a failed try like a 5xx (the recipient pauses, the alert is not dead-lettered after three
    tries), the redirect is not followed (one POST, nothing sent elsewhere), and the error says what to do."""
    answering.status = status
    store.set_endpoint(crafted.S1, answering.url)
    store.write([pending(1, crafted.S1)])
    worker = store.worker()
    for _ in range(4):
        worker.run_once()
        store.clock.advance(3600)
    (row,) = store.rows().values()
    assert row.delivered_at is None and row.dead_at is None and row.tries == 4 and answering.posts == 4
    assert row.last_error == (
        f"HTTP {status} (a redirect, not followed: set the endpoint to the address it redirects to)"
    )
    assert store.recipient(crafted.S1).failures == 4
