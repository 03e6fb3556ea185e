"""One exception tree: the errors that once stood outside it (the CSP client's `CSPUnavailable`, the SSI's
`SignInFailed`, the CSP gateway's refusal) are `HanotaError`s, each carrying its DUIS code or HTTP status,
and every caller still sees what it saw before (the text a job records, the CLI's exit class)."""

from __future__ import annotations

import socket
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine

from hanota.cli.common import EXIT_REFUSED, EXIT_USAGE, describe_error
from hanota.csp.client import CSPClient, CSPUnavailable
from hanota.csp.interface import Distribution, PriorityClass, Target
from hanota.errors import AccessError, HanotaError, HTTPRefusal, InputError, Unavailable
from hanota.ssi.auth import SignInFailed, authenticate

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _dist() -> Distribution:
    return Distribution(
        distribution_id="d-1", request_id="r-1", priority=PriorityClass.HAN, firmware_version="00000002",
        firmware_hash="ab" * 32, image="aW1hZ2U=",
        targets=[Target(device_id="00-00-00-00-00-00-00-01", chf_id="00-00-00-00-00-00-00-0F", device_type="PPMID",
                        hub_region="Central", han_hub_id="00-00-00-00-00-00-00-0F", hardware_version=1)],
    )  # fmt: skip


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_a_csp_without_a_url_is_caught_as_a_hanota_error_whose_text_is_the_message_alone() -> None:
    """The router records `str(e)` as the job's last error: no DUIS code is prefixed to it."""
    client = CSPClient({"north": "http://127.0.0.1:1"}, "secret")
    try:
        with pytest.raises(HanotaError) as caught:
            client.send("South", _dist())
    finally:
        client.close()
    e = caught.value
    assert isinstance(e, CSPUnavailable) and isinstance(e, Unavailable)
    assert e.status is None and str(e) == "no CSP URL for region South" == e.message


def test_a_csp_that_does_not_answer_is_caught_as_a_hanota_error() -> None:
    """A refused connection is `CSPUnavailable` (no status), raised from the transport error."""
    client = CSPClient({"central": f"http://127.0.0.1:{_closed_port()}"}, "secret", timeout=5)
    try:
        with pytest.raises(HanotaError) as caught:
            client.send("Central", _dist())
    finally:
        client.close()
    assert isinstance(caught.value, CSPUnavailable) and caught.value.status is None
    assert str(caught.value).startswith("Central: ConnectError: ")


def test_a_csp_unavailable_reaching_the_cli_is_exit_1_refused_or_unreachable() -> None:
    """Not exit 2 (usage), which other `HanotaError`s get: a server that could not be reached is exit 1."""
    message, code = describe_error(CSPUnavailable("North: HTTP 503: busy\nmore", status=503))
    assert (message, code) == ("North: HTTP 503: busy", EXIT_REFUSED)
    assert describe_error(InputError("bad input")) == ("bad input", EXIT_USAGE)


def test_a_failed_sign_in_is_an_access_error_coded_e1(engine: Engine) -> None:
    """An unknown User (or a malformed User ID) fails sign-in as an `AccessError`, DUIS code E1."""
    for eui in ("90-B3-D5-1F-30-01-00-00", "not an EUI"):
        with pytest.raises(AccessError) as caught:
            authenticate(engine, eui, "some password", NOW)
        assert isinstance(caught.value, SignInFailed) and caught.value.code == "E1"
        assert caught.value.message


def test_an_http_refusal_carries_its_status_and_a_coded_error_its_duis_code() -> None:
    """`HTTPRefusal` takes its class's status unless the raiser gives one; the DUIS code stays E100."""
    assert HTTPRefusal("no").http_status == 400
    refused = HTTPRefusal("gone", http_status=409)
    assert refused.http_status == 409 and refused.code == "E100" and str(refused) == "E100: gone"


def test_the_ssi_problem_and_a_refused_event_batch_are_http_refusals() -> None:
    """Every domain error is a HanotaError: the SSI's 4xx answer and the DSP's refusal of a CSP event batch
    carry their HTTP status (403 and 409 here) as HTTPRefusals."""
    from hanota.csp.interface import BatchAnswer
    from hanota.dsp.events import BatchRefused
    from hanota.errors import HanotaError, HTTPRefusal
    from hanota.ssi.pages import Problem

    problem = Problem(403, "only the DCC operator may")
    assert isinstance(problem, HTTPRefusal) and isinstance(problem, HanotaError)
    assert (problem.status, problem.http_status, problem.message) == (403, 403, "only the DCC operator may")
    answer = BatchAnswer(region="Central", last_seq=3, detail="expected batch 4")
    refused = BatchRefused(answer)
    assert isinstance(refused, HTTPRefusal) and refused.http_status == 409 and refused.answer is answer
