"""The sample supplier endpoint: verifies, deduplicates by alert ID, stores, counts, fails on request."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

import crafted
from alerts.alerts_testkit import RID, Store, pending
from duisclient import signer_for
from hanota.alerts.outbox import AlertWriter
from hanota.supplier.receiver import MAX_ALERT_BYTES, Receiver, RunningReceiver


def _alert(store: Store, n: int, recipient: str = crafted.S1) -> tuple[str, bytes]:
    a = pending(n, recipient)
    return a.alert_id, AlertWriter(store.signer).render(a, store.clock.now())[1]


def _post(
    url: str, alert_id: str | None, body: bytes, content_type: str = "application/xml"
) -> httpx.Response:
    headers = {"content-type": content_type}
    if alert_id is not None:
        headers["X-DCC-Alert-ID"] = alert_id
    return httpx.post(url, content=body, headers=headers, timeout=10)


def test_an_alert_is_stored_once_and_a_resend_of_its_id_is_acknowledged(
    store: Store, receiver: RunningReceiver
) -> None:
    """First POST: 204 and stored under the supplier of the path; the same ID and bytes again: 200, not stored
    again; the same ID with other (validly signed) content: 409, counted as a conflict."""
    url = receiver.endpoint_for(crafted.S1)
    alert_id, body = _alert(store, 1)
    assert _post(url, alert_id, body).status_code == 204
    assert _post(url, alert_id, body).status_code == 200
    _, other = _alert(store, 2)
    assert _post(url, alert_id, other).status_code == 409
    r = receiver.receiver
    assert r.unique == 1 and r.duplicates == 1 and r.conflicts == 1 and r.posts_of(alert_id) == 3
    assert r.by_supplier() == {crafted.S1: {"N63": 1}} and r.counts() == {"N63": 1}
    summary = httpx.get(f"{receiver.url}/counts").json()
    assert summary["unique"] == 1 and summary["by_code"] == {"N63": 1}


def test_forged_or_altered_alerts_are_refused_and_not_stored(store: Store, receiver: RunningReceiver) -> None:
    """An alert signed by a User's key (not the DSP's), an altered alert, a non-alert and garbage get 400."""
    url = receiver.endpoint_for(crafted.S1)
    a = pending(1, crafted.S1)
    forged = AlertWriter(signer_for(store.pki, crafted.S1)).render(a, store.clock.now())[1]
    assert _post(url, "forged", forged).status_code == 400
    _, body = _alert(store, 4)  # a PPMIDAlert: ActivationSuccess
    altered = body.replace(b"ActivationSuccess", b"ActivationFailure")
    assert altered != body
    assert _post(url, "altered", altered).status_code == 400
    assert _post(url, "junk", b"<not-xml").status_code == 400
    assert _post(url, "doctype", b'<!DOCTYPE x [<!ENTITY a "b">]><x>&a;</x>').status_code == 400
    r = receiver.receiver
    assert r.unique == 0 and r.rejected == 4


def test_requests_that_are_not_alerts_get_4xx(store: Store, receiver: RunningReceiver) -> None:
    """No alert ID or a bad one: 400; not XML media: 415; over 16 MiB (MAX_ALERT_BYTES): 413; another
    path: 404."""
    url = receiver.endpoint_for(crafted.S1)
    alert_id, body = _alert(store, 1)
    assert _post(url, None, body).status_code == 400
    assert _post(url, "has space", body).status_code == 400
    assert _post(url, "x" * 201, body).status_code == 400
    assert _post(url, alert_id, body, "application/json").status_code == 415
    assert _post(url, alert_id, b"<a>" + b"x" * MAX_ALERT_BYTES + b"</a>").status_code == 413
    assert _post(f"{receiver.url}/elsewhere", alert_id, body).status_code == 404
    assert httpx.get(f"{receiver.url}/healthz").text == "ok\n"
    assert receiver.receiver.unique == 0


def test_it_fails_on_request_with_retry_after(store: Store, receiver: RunningReceiver) -> None:
    """fail_next(n) answers the next n alert POSTs 503 (with Retry-After), then it accepts again;
    set_failing holds until cleared."""
    url = receiver.endpoint_for(crafted.S1)
    alert_id, body = _alert(store, 1)
    r = receiver.receiver
    r.fail_next(2, retry_after=7)
    first = _post(url, alert_id, body)
    assert first.status_code == 503 and first.headers["retry-after"] == "7"
    assert _post(url, alert_id, body).status_code == 503
    assert _post(url, alert_id, body).status_code == 204
    r.set_failing(True)
    assert _post(url, "other", body).status_code == 503
    r.set_failing(False)
    assert r.failed_on_purpose == 3 and r.unique == 1


def test_a_sqlite_store_keeps_alerts_and_deduplication_across_a_restart(store: Store, tmp_path: Path) -> None:
    """With store=FILE the alerts are written to SQLite and read back on start: a resend after a restart is
    recognised as a duplicate and the counts are as before."""
    db = tmp_path / "received.db"
    alert_id, body = _alert(store, 1, crafted.S2)
    first = Receiver(store.signer.certificate, store=db, clock=store.clock)
    with first.serve_in_thread() as running:
        assert _post(running.endpoint_for(crafted.S2), alert_id, body).status_code == 204
    first.close()
    second = Receiver(store.signer.certificate, store=db, clock=store.clock)
    with second.serve_in_thread() as running:
        assert _post(running.endpoint_for(crafted.S2), alert_id, body).status_code == 200
    second.close()
    assert second.unique == 1 and second.duplicates == 1 and second.by_supplier() == {crafted.S2: {"N63": 1}}


def test_hanota_alerts_receive_runs_standalone(store: Store, tmp_path: Path) -> None:
    """`hanota alerts receive --port N --dsp-cert CERT` serves the endpoint until SIGTERM and prints a summary."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    exe = Path(sys.executable).parent / "hanota"
    env = {**os.environ, "HANOTA_DATA_DIR": str(tmp_path / "data")}
    proc = subprocess.Popen(
        [str(exe), "alerts", "receive", "--port", str(port), "--dsp-cert", str(store.pki / "dsp.pem")],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                pytest.fail(f"receiver did not start: {proc.stdout.read() if proc.stdout else ''}")
            time.sleep(0.1)
        # the standalone receiver checks the DSP certificate at the system's time: it is valid for 10 years
        alert_id, body = _alert(store, 3)
        assert _post(f"http://127.0.0.1:{port}/alerts/{crafted.S1}", alert_id, body).status_code == 204
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    assert "'unique': 1" in out and "N62" in out


def _schema_invalid(store: Store) -> bytes:
    """A DUIS Response the DSP really signed, with an element the DUIS 5.4 schema does not allow."""
    from lxml import etree

    from hanota.duis import Response
    from hanota.duis.responses import ResponseMessage, render_response_element
    from hanota.duis.xmlparse import SR

    element = render_response_element(Response(RID, "I0", store.clock.now(), ResponseMessage("11.4")))
    etree.SubElement(element.find(f"{SR}Header"), f"{SR}NotInTheSchema").text = "x"
    return store.signer.sign_element(element)


def test_the_dccboxed_path_answers_204_or_400_with_the_reason(
    store: Store, receiver: RunningReceiver
) -> None:
    """POST /smartdcc/duis, as DCC Boxed's receiver: a signed alert with no X-DCC-Alert-ID (DCC Boxed sends
    none) gets 204 and an empty body, so does a resend of the same bytes (stored once) and a signed DUIS
    Response; a forged, an altered or a schema-invalid (but validly signed) document gets 400 with the
    reason; the old /alerts path still works."""
    from hanota.duis import Response
    from hanota.duis.responses import ResponseMessage, render_response_element

    url = receiver.dccboxed_endpoint
    assert url.endswith("/smartdcc/duis")
    alert_id, body = _alert(store, 1)
    first = _post(url, None, body)
    assert first.status_code == 204 and first.content == b""
    assert _post(url, None, body).status_code == 204
    assert _post(url + "/", alert_id, body).status_code == 204  # with our ID header: known by that ID
    answer = store.signer.sign_element(
        render_response_element(Response(RID, "E43", store.clock.now(), ResponseMessage("11.4")))
    )
    assert _post(url, None, answer).status_code == 204
    forged = AlertWriter(signer_for(store.pki, crafted.S1)).render(pending(1, crafted.S1), store.clock.now())[
        1
    ]
    refused = _post(url, None, forged)
    assert refused.status_code == 400 and refused.text.strip()
    assert _post(url, None, body.replace(b"ActivationSuccess", b"ActivationFailure")).status_code == 400
    invalid = _post(url, None, _schema_invalid(store))
    assert invalid.status_code == 400 and "duis-5.4.xsd" in invalid.text
    assert _post(url, None, body, "application/json").status_code == 415
    assert _post(receiver.endpoint_for(crafted.S2), "old-path", body).status_code == 204
    r = receiver.receiver
    assert r.unique == 4 and r.duplicates == 1 and r.rejected == 4
    assert r.by_supplier() == {"": {"E43": 1, "N63": 2}, crafted.S2: {"N63": 1}}


def test_a_validly_signed_but_schema_invalid_document_is_refused_on_every_path(
    store: Store, receiver: RunningReceiver
) -> None:
    """The schema is checked after the signature, as DCC Boxed's validateDuis does: 400 on /alerts too."""
    r = _post(receiver.endpoint_for(crafted.S1), "invalid-1", _schema_invalid(store))
    assert r.status_code == 400 and "duis-5.4.xsd" in r.text
    assert receiver.receiver.unique == 0
