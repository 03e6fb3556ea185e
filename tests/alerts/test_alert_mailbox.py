"""The mailbox: a User without an endpoint pulls and acknowledges its alerts, signing each request."""

from __future__ import annotations

import base64
import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlalchemy import delete, select, update
from typer.testing import CliRunner

import crafted
from alerts.alerts_testkit import DSP, Store, pending
from duisclient import signer_for
from hanota.alerts import mailbox
from hanota.cli.main import app
from hanota.db.models import AlertOutbox, RequestCounter, User
from hanota.duis import Signer, StaticTrustStore, Verifier, codes, parse_response
from hanota.duis.alerts import DCCAlertMessage
from hanota.logs import configure_logging

_counter = itertools.count(5_000_000)


def _send(dsp: DSP, action: str, body: bytes, path: str | None = None) -> httpx.Response:
    return dsp.client.post(f"{dsp.url}/api/v1/alerts/{path or action}", content=body,
                           headers={"content-type": "application/xml"})  # fmt: skip


def _signed(store: Store, user: str, action: mailbox.Action, *, signer: Signer | None = None,
            counter: int | None = None, created: datetime | None = None, limit: int = 100,
            ids: tuple[str, ...] = ()) -> bytes:  # fmt: skip
    req = mailbox.new_request(action, user, next(_counter) if counter is None else counter,
                              created or store.clock.now(), limit=limit, alert_ids=ids)  # fmt: skip
    return mailbox.signed_request(signer or signer_for(store.pki, user), req)


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """The CLI points structlog at the sys.stderr of the moment, which CliRunner swaps for a buffer it then
    closes: put logging back on the real stderr after each test."""
    yield
    configure_logging()


@pytest.fixture
def filled(store: Store) -> Store:
    """S1 and S2 have no endpoint: 5 alerts for S1 and 2 for S2 are in their mailboxes."""
    store.write([pending(n, crafted.S1) for n in range(5)] + [pending(n, crafted.S2) for n in range(2)])
    store.worker().run_once()  # moves them to the mailbox
    return store


def test_pull_returns_only_the_users_own_alerts_oldest_first_and_changes_nothing(
    filled: Store, dsp: DSP
) -> None:
    """A pull gives at most Limit of the signer's undelivered mailbox alerts (exact signed bytes, verifying
    with the DSP's certificate) and how many remain; pulling again gives the same ones."""
    r = _send(dsp, "pull", _signed(filled, crafted.S1, "pull", limit=3))
    assert r.status_code == 200, r.text
    page = r.json()
    assert page["user"] == crafted.S1 and page["remaining"] == 2
    ids = [a["alert_id"] for a in page["alerts"]]
    assert ids == [f"t{n % 3}:{n}:{crafted.S1}" for n in range(3)]
    rows = filled.rows()
    verifier = Verifier(
        StaticTrustStore(pinned=[filled.signer.certificate]), accepted_roles=(codes.ROLE_DSP_XML_SIGNING,)
    )
    for item in page["alerts"]:
        body = base64.b64decode(item["body"])
        assert body == rows[item["alert_id"]].body
        message = parse_response(verifier.verify(body, now=filled.clock.now()).root).body
        assert isinstance(message, DCCAlertMessage) and message.code == item["code"]
    again = _send(dsp, "pull", _signed(filled, crafted.S1, "pull", limit=3)).json()
    assert [a["alert_id"] for a in again["alerts"]] == ids
    assert all(row.delivered_at is None for row in filled.rows().values())


def test_ack_marks_own_alerts_delivered_and_never_anothers(filled: Store, dsp: DSP) -> None:
    """An ack delivers the named alerts of the signer; an ID of another User's alert is 'unknown' (as is a
    made-up one) and stays undelivered; a second ack of the same ID is 'already'."""
    mine = [f"t{n % 3}:{n}:{crafted.S1}" for n in range(2)]
    theirs = f"t0:0:{crafted.S2}"
    r = _send(dsp, "ack", _signed(filled, crafted.S1, "ack", ids=(*mine, theirs, "no-such-alert")))
    assert r.status_code == 200, r.text
    assert r.json() == {
        "user": crafted.S1,
        "acknowledged": mine,
        "already": [],
        "unknown": [theirs, "no-such-alert"],
    }
    rows = filled.rows()
    assert all(rows[i].delivered_at == filled.clock.now() for i in mine)
    assert rows[theirs].delivered_at is None
    again = _send(dsp, "ack", _signed(filled, crafted.S1, "ack", ids=(mine[0],))).json()
    assert again["already"] == [mine[0]] and again["acknowledged"] == []
    page = _send(dsp, "pull", _signed(filled, crafted.S1, "pull")).json()
    assert {a["alert_id"] for a in page["alerts"]}.isdisjoint(mine) and page["remaining"] == 0
    assert len(page["alerts"]) == 3


def _self_made_signer(eui: str) -> Signer:
    """A key and certificate with the right subject fields, issued by nobody the DSP trusts."""
    key = ec.generate_private_key(ec.SECP256R1())
    from hanota.estate.pki import _subject

    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, "H1"),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "07"),
        ]
    )
    cert = (
        x509.CertificateBuilder().subject_name(_subject(eui, codes.ROLE_XML_SIGNING)).issuer_name(name)
        .public_key(key.public_key()).serial_number(12345).not_valid_before(crafted.NOW - timedelta(days=1))
        .not_valid_after(crafted.NOW + timedelta(days=30)).sign(key, hashes.SHA256())
    )  # fmt: skip
    return Signer(key, cert)


def test_forged_and_other_user_requests_are_refused_401_and_change_nothing(filled: Store, dsp: DSP) -> None:
    """S2 signing a pull for S1, a self-made certificate, an altered signed request, an unsigned one and a
    stale or post-dated one are refused with 401; the counter of S1 does not move."""

    def counter() -> str | None:
        with filled.engine.connect() as c:
            return c.execute(
                select(RequestCounter.last_counter).where(RequestCounter.originator_eui == crafted.S1)
            ).scalar()

    before = counter()
    as_other = _signed(filled, crafted.S1, "pull", signer=signer_for(filled.pki, crafted.S2))
    assert _send(dsp, "pull", as_other).status_code == 401
    assert (
        _send(
            dsp, "pull", _signed(filled, crafted.S1, "pull", signer=_self_made_signer(crafted.S1))
        ).status_code
        == 401
    )
    good = _signed(filled, crafted.S1, "ack", ids=(f"t0:0:{crafted.S1}",))
    altered = good.replace(f"t0:0:{crafted.S1}".encode(), f"t0:0:{crafted.S2}".encode())
    assert _send(dsp, "ack", altered).status_code == 401
    unsigned = mailbox.render_request(
        mailbox.new_request("pull", crafted.S1, next(_counter), filled.clock.now())
    )
    assert _send(dsp, "pull", unsigned).status_code == 401
    for skew in (-301, 301):
        stale = _signed(filled, crafted.S1, "pull", created=filled.clock.now() + timedelta(seconds=skew))
        assert _send(dsp, "pull", stale).status_code == 401
    assert counter() == before
    assert all(row.delivered_at is None for row in filled.rows().values())


def test_a_replayed_or_reused_counter_is_refused_409(filled: Store, dsp: DSP) -> None:
    """The same signed ack twice: the second is 409 and acknowledges nothing; a counter not above the last
    one accepted from the User (its DUIS requests share the counter) is 409 too."""
    alert_id = f"t0:0:{crafted.S1}"
    body = _signed(filled, crafted.S1, "ack", ids=(alert_id,))
    assert _send(dsp, "ack", body).status_code == 200
    with filled.engine.begin() as c:  # someone acked by hand since; a replay must not re-deliver anything
        c.execute(update(AlertOutbox).where(AlertOutbox.alert_id == alert_id).values(delivered_at=None))
    replay = _send(dsp, "ack", body)
    assert replay.status_code == 409 and "E41" in replay.text
    assert filled.rows()[alert_id].delivered_at is None
    assert _send(dsp, "pull", _signed(filled, crafted.S1, "pull", counter=1)).status_code == 409


def test_malformed_wrong_action_unknown_user_get_4xx(filled: Store, dsp: DSP) -> None:
    """Not XML: 400; a signed pull sent to /ack: 400; JSON: 415; over 256 KiB: 413; a target other than the
    DCC: 400; a signer who is no longer a User, or is Suspended: 403."""
    assert _send(dsp, "pull", b"<oops").status_code == 400
    assert _send(dsp, "pull", _signed(filled, crafted.S1, "pull"), path="ack").status_code == 400
    r = dsp.client.post(
        f"{dsp.url}/api/v1/alerts/pull", content=b"{}", headers={"content-type": "application/json"}
    )
    assert r.status_code == 415
    assert _send(dsp, "pull", b"<a>" + b"x" * 300_000 + b"</a>").status_code == 413
    req = mailbox.MailboxRequest(
        "pull", mailbox.RequestID(crafted.S1, crafted.S2, next(_counter)), filled.clock.now()
    )
    assert (
        _send(dsp, "pull", mailbox.signed_request(signer_for(filled.pki, crafted.S1), req)).status_code == 400
    )
    with filled.engine.begin() as c:
        c.execute(update(User).where(User.eui == crafted.S2).values(status="Suspended"))
        c.execute(delete(User).where(User.eui == crafted.GONE))
    assert _send(dsp, "pull", _signed(filled, crafted.S2, "pull")).status_code == 403
    assert _send(dsp, "pull", _signed(filled, crafted.GONE, "pull")).status_code == 403


def test_hanota_alerts_pull_verifies_writes_and_acknowledges(
    filled: Store, dsp: DSP, tmp_path: object, db_url: str
) -> None:
    """`hanota alerts pull --user S1 --all --out DIR` pulls every S1 alert, verifies each against the DSP's
    certificate, writes it, acknowledges it; a second run finds the mailbox empty."""
    filled.clock.set(datetime.now(UTC))  # the command signs with the system's time
    out = tmp_path / "got"  # type: ignore[operator]
    env = {"HANOTA_DATA_DIR": str(tmp_path), "HANOTA_DATABASE_URL": db_url}
    runner = CliRunner()
    args = [
        "alerts",
        "pull",
        "--user",
        crafted.S1,
        "--url",
        dsp.url,
        "--limit",
        "2",
        "--all",
        "--out",
        str(out),
    ]
    result = runner.invoke(app, args, env=env)
    assert result.exit_code == 0, result.output
    assert "5 pulled, 5 acknowledged, 0 did not verify; 0 still waiting" in " ".join(result.output.split())
    assert len(list(out.iterdir())) == 5
    rows = filled.rows()
    assert all((rows[k].delivered_at is not None) == k.endswith(crafted.S1) for k in rows)
    again = runner.invoke(app, args, env=env)
    assert again.exit_code == 0 and "0 pulled" in again.output
    status = runner.invoke(app, ["alerts", "outbox"], env=env)
    assert status.exit_code == 0
    # rows per recipient: alerts, delivered, to push, retrying, dead-lettered, in mailbox, endpoint health
    cells = [[c.strip() for c in line.split("│")[2:-1]] for line in status.output.splitlines() if "│" in line]
    assert ["5", "5", "0", "0", "0", "0", "ok"] in cells and ["2", "0", "0", "0", "0", "2", "ok"] in cells
