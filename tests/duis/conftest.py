"""Fixtures for the DUIS tests: the public DUIS material, signers, trust stores and a test PKI.

The public material (request samples, golden DCC Boxed responses, DCC Boxed PKI) is the ``shared_dir``
fixture's ``duis/`` folder: the copy vendored in ``tests/data/duis`` (sources and licences in
``tests/data/README.md``), or ``$HANOTA_SHARED_DIR/duis``. Tests that use it are marked ``shared``.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from duis_testkit import Listener, TestPKI

from hanota.duis import signing


@pytest.fixture(scope="session")
def duis_dir(shared_dir: Path) -> Path:
    return shared_dir / "duis"


@pytest.fixture(scope="session")
def pki_dir(duis_dir: Path) -> Path:
    return duis_dir / "pki"


@pytest.fixture(scope="session")
def requests_dir(duis_dir: Path) -> Path:
    return duis_dir / "samples" / "requests"


@pytest.fixture(scope="session")
def responses_dir(duis_dir: Path) -> Path:
    return duis_dir / "samples" / "responses"


@pytest.fixture(scope="session")
def supplier_signer(pki_dir: Path) -> signing.Signer:
    """The DCC Boxed supplier 90-B3-D5-1F-30-01-00-00, role 135 XML signing."""
    return signing.Signer(
        signing.load_private_key(pki_dir / "xml-sign-90B3D51F30010000-ds.key.pem"),
        signing.load_certificate(pki_dir / "xml-sign-90B3D51F30010000-ds.pem"),
    )


@pytest.fixture(scope="session")
def pki_trust(pki_dir: Path) -> signing.StaticTrustStore:
    """Every certificate of the DCC Boxed folder, pinned (the Z1 CA certificate is not published with them)."""
    return signing.StaticTrustStore.from_directory(pki_dir)


@pytest.fixture(scope="session")
def request_verifier(pki_trust: signing.StaticTrustStore) -> signing.Verifier:
    return signing.Verifier(pki_trust)


@pytest.fixture(scope="session")
def test_pki() -> TestPKI:
    """One throwaway PKI (CA, signing identities) for the whole session; a fixture, not a test."""
    return TestPKI()


# ---------------------------------------------------------------------------------------------------
# Network watch: a local TCP listener that records any connection (C-level fetches included)
# ---------------------------------------------------------------------------------------------------


@pytest.fixture
def listener() -> Iterator[Listener]:
    """A local HTTP-ish listener; a test fails if libxml2 (or anything) connects to it."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(5)
    server.settimeout(0.2)
    port = server.getsockname()[1]
    seen: list[str] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, address = server.accept()
            except OSError:
                continue
            seen.append(f"{address[0]}:{address[1]}")
            connection.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield Listener(f"http://127.0.0.1:{port}", seen)
    finally:
        stop.set()
        thread.join(timeout=2)
        server.close()
