"""Build and sign DUIS requests as a supplier would (tests use hanota's own models and signer)."""

from __future__ import annotations

import itertools
from pathlib import Path

from hanota.duis import Request, RequestID, Signer, load_certificate, load_private_key, render_request
from hanota.duis.codes import DCC_EUI, service_reference_of
from hanota.duis.requests import RequestBody

_counter = itertools.count(1_000_000)


def signer_for(pki_dir: Path, eui: str) -> Signer:
    stem = eui.replace("-", "")
    return Signer(
        load_private_key(pki_dir / "users" / f"{stem}.key.pem"),
        load_certificate(pki_dir / "users" / f"{stem}.pem"),
    )


def request(eui: str, srv: str, body: RequestBody, *, counter: int | None = None, target: str = DCC_EUI,
            cv: int = 8) -> Request:  # fmt: skip
    return Request(
        schema_version="5.4",
        request_id=RequestID(eui, target, counter if counter is not None else next(_counter)),
        command_variant=cv,
        service_reference=service_reference_of(srv),
        srv=srv,
        body=body,
    )


def signed(signer: Signer, req: Request) -> bytes:
    return signer.sign(render_request(req))
