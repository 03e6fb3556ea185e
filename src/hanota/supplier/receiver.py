"""A sample supplier endpoint for DCC Alerts: what a User would run to receive what the DSP pushes.

Two paths take the same POST — the signed DUIS ``sr:Response`` as the body, ``Content-Type:
application/xml``:

- ``POST /smartdcc/duis``, answered as the DCC Boxed receiver answers (its Node-RED flow's default
  "Response" path): **204** with no body when the document verifies and is schema-valid, **400** when it
  does not (here with the reason as ``text/plain``; DCC Boxed's body is empty). ``X-DCC-Alert-ID`` is
  optional there (DCC Boxed sends none): without it a document is known by its SHA-256, and a resend of
  the same bytes is answered 204 again (stored once). A DCC Boxed-configured adapter points its DSP at
  ``http://HOST:PORT/smartdcc/duis`` unchanged;
- ``POST /alerts`` or ``POST /alerts/<User EUI>`` (one receiver can stand in for many suppliers: the path
  names whose endpoint it is; ``/smartdcc/duis`` counts under the supplier ``''``), with the alert's ID in
  ``X-DCC-Alert-ID`` (required); a resend of a stored ID is answered 200.

The receiver

1. refuses what is not an alert: a bad ID (400; on ``/alerts`` also a missing one), not ``application/xml``
   or ``text/xml`` (415), over 16 MiB (413);
2. verifies the XML signature against the DSP's certificate (`hanota.duis.Verifier`, role 137), validates
   the signed content without its signature against the DUIS 5.4 schema (as DCC Boxed's ``validateDuis``
   does) and reads the alert from the signed content only (400 if it does not verify, is schema-invalid or
   is not a DUIS ``Response``). Two kinds arrive: DCC Alerts (a ``DCCAlertMessage``, counted under its
   DCCAlertCode) and DUIS Responses — e.g. the asynchronous answer to a request that was held and then
   released or deleted by the DCC (quarantine: the request's own DUIS response, counted under its response
   code, e.g. ``I0`` or ``E43``). Such an answer lists every device of a 50,000-device request, hence the
   16 MiB limit;
3. deduplicates by alert ID: a resend of an ID it has (same bytes) is acknowledged and not stored again;
   the same ID with different bytes is refused (409) and counted as a conflict;
4. stores the alert (in memory: ID, supplier, code; with ``store=`` also in a SQLite file, which is read
   back on start so deduplication survives a restart) and answers 204.

``GET /counts`` gives the counts as JSON, ``GET /healthz`` says ok. It can be told to fail: ``fail_next(n)``
answers the next n alert POSTs with 503 (``Retry-After`` if given), ``set_failing(True)`` until told
otherwise (``status=`` another status, e.g. 400), ``stall(supplier, seconds)`` holds that supplier's POSTs
before answering — to exercise the DSP's retries, dead letters and per-recipient isolation.

From Python: ``Receiver(dsp_certificate)`` is the ASGI app; ``counts()``, ``by_supplier()``, ``posts_of(id)``
report what arrived; ``serve_in_thread()`` runs it on a real port (``with receiver.serve_in_thread() as
running: running.url``). ``Receiver(None)`` skips signature verification and schema validation (the
documents are still parsed with the hardened parser): only for measuring the sender
(``bench/bench_alerts.py``), never for real use.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sqlite3
import threading
from collections import Counter
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509

from hanota.background import ServerThread
from hanota.clock import Clock, SystemClock
from hanota.duis import StaticTrustStore, Verifier, codes, parse_document, parse_response, validate_schema
from hanota.duis.alerts import DCCAlertMessage
from hanota.duis.xmlparse import SR
from hanota.errors import HanotaError

MAX_ALERT_BYTES = 16 * 1024 * 1024
DCCBOXED_PATH = "/smartdcc/duis"  # DCC Boxed's receiver default ("Response" of its dccboxed-config node)
_MAX_ID = 200

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


@dataclass(frozen=True)
class Stored:
    alert_id: str
    supplier: str
    code: str
    digest: bytes


def _valid_id(value: str) -> bool:
    return 0 < len(value) <= _MAX_ID and value.isascii() and value.isprintable() and " " not in value


class Receiver:
    """The ASGI app of a sample supplier endpoint (see the module docstring)."""

    def __init__(
        self,
        dsp_certificate: x509.Certificate | None,
        *,
        store: Path | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.clock = clock or SystemClock()
        self._verifier = (
            Verifier(
                StaticTrustStore(pinned=[dsp_certificate]),
                accepted_roles=(codes.ROLE_DSP_XML_SIGNING,),
                max_bytes=MAX_ALERT_BYTES,
            )
            if dsp_certificate is not None
            else None
        )
        self._lock = threading.Lock()
        self._stored: dict[str, Stored] = {}
        self._counts: Counter[tuple[str, str]] = Counter()
        self._posts: Counter[str] = Counter()
        self.duplicates = 0
        self.rejected = 0
        self.conflicts = 0
        self.failed_on_purpose = 0
        self._fail_next = 0
        self._failing = False
        self._retry_after: int | None = None
        self._fail_status = 503
        self._stalls: dict[str, float] = {}
        self._db: sqlite3.Connection | None = None
        if store is not None:
            self._open_store(store)

    # -- control and reports (thread-safe) ----------------------------------------------------------------
    def fail_next(self, n: int, *, retry_after: int | None = None, status: int = 503) -> None:
        """Answer the next `n` alert POSTs with `status` (before looking at them)."""
        with self._lock:
            self._fail_next = n
            self._retry_after = retry_after
            self._fail_status = status

    def set_failing(self, failing: bool, *, retry_after: int | None = None, status: int = 503) -> None:
        """Answer every alert POST with `status` while `failing`."""
        with self._lock:
            self._failing = failing
            self._retry_after = retry_after
            self._fail_status = status

    def stall(self, supplier: str, seconds: float) -> None:
        """Hold each POST to `supplier`'s path `seconds` before answering it (0: no more stalling)."""
        with self._lock:
            if seconds > 0:
                self._stalls[supplier] = seconds
            else:
                self._stalls.pop(supplier, None)

    def counts(self) -> dict[str, int]:
        """Alerts stored, per DCCAlertCode (each alert ID once)."""
        with self._lock:
            out: Counter[str] = Counter()
            for (_supplier, code), n in self._counts.items():
                out[code] += n
            return dict(sorted(out.items()))

    def by_supplier(self) -> dict[str, dict[str, int]]:
        """Alerts stored, per supplier (the EUI in the path; '' for plain /alerts), then per code."""
        with self._lock:
            out: dict[str, dict[str, int]] = {}
            for (supplier, code), n in sorted(self._counts.items()):
                out.setdefault(supplier, {})[code] = n
            return out

    @property
    def unique(self) -> int:
        with self._lock:
            return len(self._stored)

    @property
    def posts(self) -> int:
        """Alert POSTs that reached the receiver (resends and refusals included)."""
        with self._lock:
            return sum(self._posts.values())

    def posts_of(self, alert_id: str) -> int:
        with self._lock:
            return self._posts[alert_id]

    def alert_ids(self) -> set[str]:
        with self._lock:
            return set(self._stored)

    def stored(self, alert_id: str) -> Stored | None:
        with self._lock:
            return self._stored.get(alert_id)

    def summary(self) -> dict[str, Any]:
        return {
            "unique": self.unique,
            "posts": self.posts,
            "duplicates": self.duplicates,
            "rejected": self.rejected,
            "conflicts": self.conflicts,
            "failed_on_purpose": self.failed_on_purpose,
            "by_code": self.counts(),
            "by_supplier": self.by_supplier(),
        }

    def endpoint_for(self, base_url: str, supplier: str) -> str:
        """The URL to record as `supplier`'s alert endpoint when this receiver serves at `base_url`."""
        return f"{base_url.rstrip('/')}/alerts/{supplier}"

    def dccboxed_endpoint(self, base_url: str) -> str:
        """The DCC Boxed-style URL of this receiver at `base_url` (one supplier per receiver)."""
        return f"{base_url.rstrip('/')}{DCCBOXED_PATH}"

    def serve_in_thread(self, host: str = "127.0.0.1", port: int = 0) -> RunningReceiver:
        """Start uvicorn on a thread (port 0: a free one); use as a context manager or call `stop()`."""
        return RunningReceiver(self, host, port).start()

    # -- storage ------------------------------------------------------------------------------------------
    def _open_store(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute(
            "CREATE TABLE IF NOT EXISTS received (alert_id TEXT PRIMARY KEY, supplier TEXT NOT NULL, "
            "code TEXT NOT NULL, digest BLOB NOT NULL, received_at TEXT NOT NULL, body BLOB NOT NULL)"
        )
        for alert_id, supplier, code, digest in db.execute(
            "SELECT alert_id, supplier, code, digest FROM received"
        ):
            self._stored[alert_id] = Stored(alert_id, supplier, code, bytes(digest))
            self._counts[(supplier, code)] += 1
        self._db = db

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    # -- HTTP ---------------------------------------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        method, path = scope["method"], scope["path"].rstrip("/")
        if method == "GET" and path == "/healthz":
            await _answer(send, 200, b"ok\n", "text/plain")
        elif method == "GET" and path == "/counts":
            await _answer(send, 200, json.dumps(self.summary()).encode(), "application/json")
        elif method == "POST" and path == DCCBOXED_PATH:
            status, text, extra = await self._alert(scope, receive, "", dccboxed=True)
            await _answer(send, status, text, "text/plain", extra)
        elif method == "POST" and (path == "/alerts" or path.startswith("/alerts/")):
            supplier = path[len("/alerts/") :] if path.startswith("/alerts/") else ""
            status, text, extra = await self._alert(scope, receive, supplier)
            await _answer(send, status, text, "text/plain", extra)
        else:
            await _answer(send, 404, b"not found\n", "text/plain")

    async def _alert(
        self, scope: Scope, receive: Receive, supplier: str, *, dccboxed: bool = False
    ) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
        headers = {k.lower(): v for k, v in scope["headers"]}
        with self._lock:
            stall = self._stalls.get(supplier, 0.0)
        if stall:
            await asyncio.sleep(stall)
        with self._lock:
            if self._failing or self._fail_next > 0:
                self._fail_next = max(0, self._fail_next - 1)
                self.failed_on_purpose += 1
                alert_id = headers.get(b"x-dcc-alert-id", b"").decode("latin-1").strip()
                if alert_id:
                    self._posts[alert_id] += 1
                retry = (
                    [] if self._retry_after is None else [(b"retry-after", str(self._retry_after).encode())]
                )
                return self._fail_status, b"told to fail\n", retry
        if len(supplier) > _MAX_ID or "/" in supplier:
            return 404, b"not found\n", []
        alert_id = headers.get(b"x-dcc-alert-id", b"").decode("latin-1").strip()
        if alert_id:
            with self._lock:
                self._posts[alert_id] += 1
        media = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        declared = headers.get(b"content-length", b"")
        if declared.isdigit() and int(declared) > MAX_ALERT_BYTES:
            return self._refuse(413, b"alert over 16 MiB\n")
        body = await _read(receive, MAX_ALERT_BYTES)
        if body is None:
            return self._refuse(413, b"alert over 16 MiB\n")
        digest = hashlib.sha256(body).digest()
        if dccboxed and not alert_id:  # DCC Boxed sends no ID: the document is known by its bytes
            alert_id = "sha256:" + digest.hex()
            with self._lock:
                self._posts[alert_id] += 1
        if not _valid_id(alert_id):
            return self._refuse(
                400, b"X-DCC-Alert-ID missing or not a printable ID of at most 200 characters\n"
            )
        if media not in (b"application/xml", b"text/xml"):
            return self._refuse(415, b"send the alert as application/xml\n")
        # a resend is acknowledged: 204 where DCC Boxed's answers are mimicked, 200 (and a word) elsewhere
        resent: tuple[int, bytes, list[tuple[bytes, bytes]]] = (
            (204, b"", []) if dccboxed else (200, b"duplicate: already stored\n", [])
        )
        with self._lock:
            have = self._stored.get(alert_id)
            if have is not None:
                if have.digest == digest:
                    self.duplicates += 1
                    return resent
                self.conflicts += 1
                return 409, b"this alert ID was stored with different content\n", []
        try:
            code = self._code_of(body)
        except HanotaError as e:
            return self._refuse(400, f"{e.message}\n".encode())
        except ValueError as e:  # a typed-model check the parser did not turn into an InputError
            return self._refuse(400, f"not a DCC alert: {str(e)[:200]}\n".encode())
        with self._lock:
            have = self._stored.get(alert_id)
            if have is not None:  # a concurrent POST of this ID got there first
                if have.digest == digest:
                    self.duplicates += 1
                    return resent
                self.conflicts += 1
                return 409, b"this alert ID was stored with different content\n", []
            if self._db is not None:  # durable first: never remember (and so acknowledge) what is not kept
                try:
                    self._db.execute(
                        "INSERT OR IGNORE INTO received VALUES (?, ?, ?, ?, ?, ?)",
                        (alert_id, supplier, code, digest, self.clock.now().isoformat(), body),
                    )
                except sqlite3.Error as e:
                    return (
                        503,
                        f"could not store the alert ({type(e).__name__}); send it again\n".encode(),
                        [],
                    )
            self._stored[alert_id] = Stored(alert_id, supplier, code, digest)
            self._counts[(supplier, code)] += 1
        return 204, b"", []

    def _refuse(self, status: int, text: bytes) -> tuple[int, bytes, list[tuple[bytes, bytes]]]:
        with self._lock:
            self.rejected += 1
        return status, text, []

    def _code_of(self, body: bytes) -> str:
        """The DCCAlertCode of an alert, or the response code of a DUIS response, read from the signed
        content only once it is schema-valid (or, unverified, from the parsed document)."""
        if self._verifier is None:
            root = parse_document(body, max_bytes=MAX_ALERT_BYTES)
            code = root.findtext(f"{SR}Body/{SR}DCCAlertMessage/{SR}DCCAlertCode") or root.findtext(
                f"{SR}Header/{SR}ResponseCode"
            )
            if not code:
                raise HanotaError("not a DCC alert or DUIS response")
            return code
        verified = self._verifier.verify(body, now=self.clock.now())
        validate_schema(verified.root)  # what DCC Boxed's validateDuis checks after the signature
        response = parse_response(verified.root)
        if isinstance(response.body, DCCAlertMessage):
            return response.body.code
        return response.response_code


async def _read(receive: Receive, limit: int) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return b"".join(chunks)
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


async def _answer(
    send: Send, status: int, body: bytes, media: str, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    headers = [(b"content-type", media.encode()), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers + (extra or [])})
    await send({"type": "http.response.body", "body": body})


class RunningReceiver(ServerThread):
    """A `Receiver` served by uvicorn on a background thread."""

    def __init__(self, receiver: Receiver, host: str, port: int) -> None:
        super().__init__(receiver, host=host, port=port, name="alert-receiver")
        self.receiver = receiver

    def start(self, timeout: float = 10.0) -> RunningReceiver:  # type: ignore[override]
        super().start(timeout)
        return self

    def endpoint_for(self, supplier: str) -> str:
        return self.receiver.endpoint_for(self.url, supplier)

    @property
    def dccboxed_endpoint(self) -> str:
        return self.receiver.dccboxed_endpoint(self.url)

    def __enter__(self) -> RunningReceiver:
        super().__enter__()
        return self
