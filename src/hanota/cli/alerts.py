"""`hanota alerts …`: pull your mailbox, run a sample receiver, look at the outbox."""

from __future__ import annotations

import base64
import random
import re
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from cryptography import x509
from rich.table import Table
from sqlalchemy import case, func, select

from hanota.alerts import mailbox
from hanota.cli.common import EXIT_REFUSED, check_can_listen, console, fail, load_settings, migrated_engine
from hanota.clock import SystemClock
from hanota.db.models import AlertOutbox, AlertRecipient
from hanota.duis import (
    Signer,
    StaticTrustStore,
    Verifier,
    codes,
    load_certificate,
    load_private_key,
    parse_response,
)
from hanota.duis.alerts import DCCAlertMessage
from hanota.errors import HanotaError
from hanota.retry import RetryPolicy, is_permanent, retry_after_seconds
from hanota.supplier.receiver import Receiver

alerts_app = typer.Typer(
    help="DCC Alerts: pull a mailbox, run a sample supplier endpoint, see the outbox.", no_args_is_help=True
)


def _dsp_certificate(path: Path | None) -> x509.Certificate:
    if path is not None:
        return load_certificate(path)
    from hanota.dsp.trust import dsp_signer

    engine = migrated_engine(load_settings())
    try:
        return dsp_signer(engine).certificate
    finally:
        engine.dispose()


class _Counter:
    """RequestID counters: milliseconds now (as `hanota sr build`), strictly increasing within a run."""

    def __init__(self) -> None:
        self.last = 0

    def next(self) -> int:
        self.last = max(int(time.time() * 1000), self.last + 1)
        return self.last


def _post(
    client: httpx.Client, url: str, body: Callable[[], bytes], *, retries: int, policy: RetryPolicy
) -> dict[str, Any]:
    """POST a freshly signed mailbox request (`body()` signs a new one, with a new counter, for each try:
    the DSP refuses a replayed counter). A DSP that does not answer, or answers 5xx, 408, 425 or 429, is
    tried again after the policy's wall-clock backoff (or its Retry-After), at most `retries` more times;
    anything else, or the last failure, ends the command in one line (exit 1)."""
    rng = random.Random()  # noqa: S311 - jitter, not a secret
    for attempt in range(1, retries + 2):
        try:
            r = client.post(url, content=body(), headers={"content-type": "application/xml"})
        except (httpx.TransportError, httpx.TimeoutException) as e:
            if isinstance(e, httpx.UnsupportedProtocol) or attempt > retries:
                raise  # the CLI's error rule words it: one line, exit 1 (2 for a URL that is not http)
            time.sleep(policy.delay(attempt, rng))  # quietly: a failing command says one line, at the end
            continue
        if r.status_code == 200:
            try:
                data: dict[str, Any] = r.json()
            except ValueError:
                fail(f"the answer from {url} is not JSON: is that a hanota DSP?", EXIT_REFUSED)
            return data
        problem = f"the DSP answered HTTP {r.status_code} at {url}: {r.text.strip()[:500]}"
        if is_permanent(r.status_code) or attempt > retries:
            tried = f" (after {retries} retries)" if retries and not is_permanent(r.status_code) else ""
            fail(problem + tried, EXIT_REFUSED)
        time.sleep(policy.delay(attempt, rng, retry_after_seconds(r.headers.get("retry-after"))))
    raise AssertionError("unreachable: the last attempt returns or fails")


@alerts_app.command("pull")
def pull(
    user: Annotated[str, typer.Option(help="your User ID (EUI)")],
    url: Annotated[str | None, typer.Option(help="the DSP (default http://HANOTA_HOST:HANOTA_PORT)")] = None,
    key: Annotated[Path | None, typer.Option(help="your XML-signing key (default: this store's PKI)")] = None,
    cert: Annotated[Path | None, typer.Option(help="its certificate (default: this store's PKI)")] = None,
    dsp_cert: Annotated[
        Path | None, typer.Option(help="the DSP's certificate (default: this store's)")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=mailbox.MAX_PULL, help="alerts per pull")] = 100,
    all_: Annotated[bool, typer.Option("--all", help="pull (and ack) until the mailbox is empty")] = False,
    ack: Annotated[bool, typer.Option(help="acknowledge the alerts that verified")] = True,
    out: Annotated[Path | None, typer.Option(help="write each alert to OUT/<alert id>.xml")] = None,
    retries: Annotated[
        int, typer.Option(min=0, max=10, help="tries again when the DSP is away or busy (wall-clock backoff)")
    ] = 2,
) -> None:
    """Read your undelivered DCC Alerts from the DSP's mailbox, verify each, and acknowledge them.

    The mailbox also holds the DSP's asynchronous answers to your requests that anomaly detection held and the
    DCC then released or deleted (the request's own signed DUIS response): they are verified and acknowledged
    like alerts.

    The requests are signed with your XML-signing key (the one you sign DUIS requests with); each alert is
    verified against the DSP's certificate before it is acknowledged, and only verified ones are.
    """
    settings = load_settings()
    eui = user.upper()
    stem = eui.replace("-", "")
    for path, what, option in ((key, "XML-signing key", "--key"), (cert, "certificate", "--cert")):
        default = settings.pki_dir / "users" / f"{stem}{'.key.pem' if option == '--key' else '.pem'}"
        if path is None and not default.exists():
            fail(
                f"no {what} for {eui} in this store's PKI ({default}): give {option}, or run `hanota pki init`"
            )
    key = key or settings.pki_dir / "users" / f"{stem}.key.pem"
    cert = cert or settings.pki_dir / "users" / f"{stem}.pem"
    signer = Signer(load_private_key(key), load_certificate(cert))
    verifier = Verifier(
        StaticTrustStore(pinned=[_dsp_certificate(dsp_cert)]), accepted_roles=(codes.ROLE_DSP_XML_SIGNING,)
    )
    base = (url or f"http://{settings.host}:{settings.port}").rstrip("/") + "/api/v1/alerts"
    counter = _Counter()
    clock = SystemClock()
    policy = RetryPolicy(base_seconds=1.0, max_seconds=30.0)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    table = Table(title=f"Mailbox of {eui}", show_header=True)
    for column in ("alert ID", "code", "kind", "created", "signature"):
        table.add_column(column)
    pulled = acked = bad = 0
    with httpx.Client(timeout=60) as client:
        while True:
            page = _post(
                client, f"{base}/pull", retries=retries, policy=policy,
                body=lambda: mailbox.signed_request(
                    signer, mailbox.new_request("pull", eui, counter.next(), clock.now(), limit=limit)
                ),
            )  # fmt: skip
            good: list[str] = []
            for item in page["alerts"]:
                body = base64.b64decode(item["body"])
                try:
                    verified = verifier.verify(body, now=clock.now())
                    answer = parse_response(verified.root)
                    message = answer.body
                    code = message.code if isinstance(message, DCCAlertMessage) else answer.response_code
                    ok = code == item["code"]
                except HanotaError:
                    ok = False
                if ok:
                    good.append(item["alert_id"])
                else:
                    bad += 1
                if out is not None:
                    (out / (re.sub(r"[^A-Za-z0-9._-]", "_", item["alert_id"]) + ".xml")).write_bytes(body)
                table.add_row(item["alert_id"], item["code"], item["kind"], item["created_at"],
                              "[green]verified[/green]" if ok else "[red]DOES NOT VERIFY[/red]")  # fmt: skip
            pulled += len(page["alerts"])
            if ack and good:
                ids = tuple(good)
                acked += len(
                    _post(
                        client, f"{base}/ack", retries=retries, policy=policy,
                        body=lambda ids=ids: mailbox.signed_request(  # type: ignore[misc]
                            signer,
                            mailbox.new_request("ack", eui, counter.next(), clock.now(), alert_ids=ids),
                        ),
                    )["acknowledged"]
                )  # fmt: skip
            if not (all_ and ack and good and page["remaining"]):
                break
    console.print(table)
    console.print(
        f"{pulled} pulled, {acked} acknowledged, {bad} did not verify; {page['remaining']} still waiting"
    )
    if bad:
        raise typer.Exit(1)


@alerts_app.command("receive")
def receive(
    host: Annotated[str, typer.Option(help="bind address")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port")] = 8090,
    store: Annotated[Path | None, typer.Option(help="keep the alerts in this SQLite file")] = None,
    dsp_cert: Annotated[
        Path | None, typer.Option(help="the DSP's certificate (default: this store's)")
    ] = None,
    fail_first: Annotated[int, typer.Option(help="answer the first N alerts 503 (to see retries)")] = 0,
) -> None:
    """Run a sample supplier alert endpoint: verifies signature and schema, deduplicates, stores, counts.

    It answers as DCC Boxed's receiver does on http://HOST:PORT/smartdcc/duis (204, or 400 with the reason);
    http://HOST:PORT/alerts/<your EUI> works too. Set it with `hanota users set-endpoint EUI URL --reason …`.
    """
    certificate = _dsp_certificate(dsp_cert)
    check_can_listen(host, port)  # before the receiver opens (and perhaps creates) its store
    receiver = Receiver(certificate, store=store)
    receiver.fail_next(fail_first)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with receiver.serve_in_thread(host, port) as running:
        console.print(
            f"alert receiver on {running.dccboxed_endpoint} and {running.url}/alerts/<User EUI>  "
            f"(counts: {running.url}/counts)",
            soft_wrap=True,
        )
        try:
            while not stop.wait(5):
                console.print(
                    f"{receiver.unique} alerts stored, {receiver.duplicates} duplicates: {receiver.counts()}"
                )
        except KeyboardInterrupt:
            pass
    receiver.close()
    console.print(receiver.summary())


@alerts_app.command("outbox")
def outbox() -> None:
    """The outbox per recipient: delivered, waiting (of which retrying), dead-lettered, in the mailbox.

    Dead-lettered alerts (the retry policy gave up: a 4xx three times, 50 tries or 72 wall hours) are listed
    one by one with their last error by `hanota dead-letters list` and sent again by `hanota dead-letters
    retry alerts`."""
    engine = migrated_engine(load_settings())
    waiting = (
        AlertOutbox.delivered_at.is_(None) & AlertOutbox.dead_at.is_(None) & AlertOutbox.mailbox.is_(False)
    )
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                select(
                    AlertOutbox.recipient_eui,
                    func.count(),
                    func.sum(case((AlertOutbox.delivered_at.is_not(None), 1), else_=0)),
                    func.sum(case((waiting, 1), else_=0)),
                    func.sum(case((waiting & (AlertOutbox.tries > 0), 1), else_=0)),
                    func.sum(
                        case(
                            (AlertOutbox.dead_at.is_not(None) & AlertOutbox.delivered_at.is_(None), 1),
                            else_=0,
                        )
                    ),
                    func.sum(
                        case((AlertOutbox.delivered_at.is_(None) & AlertOutbox.mailbox.is_(True), 1), else_=0)
                    ),
                )
                .group_by(AlertOutbox.recipient_eui)
                .order_by(AlertOutbox.recipient_eui)
            ).all()
            failing = dict(
                conn.execute(
                    select(AlertRecipient.recipient_eui, AlertRecipient.last_error).where(
                        AlertRecipient.failures > 0
                    )
                ).all()
            )
    finally:
        engine.dispose()
    table = Table(title="Alert outbox", show_header=True)
    for column in ("recipient", "alerts", "delivered", "to push", "of which retrying", "dead-lettered", "in mailbox",
                   "endpoint"):  # fmt: skip
        table.add_column(column, justify="left" if column in ("recipient", "endpoint") else "right")
    for row in rows:
        health = f"failing: {' '.join((failing[row[0]] or '').split())[:120]}" if row[0] in failing else "ok"
        table.add_row(row[0], *(f"{int(v or 0):,}" for v in row[1:]), health)
    console.print(table)
