"""hanota.duis: the DUIS wire format (pure: imports nothing of hanota but `hanota.errors`).

- `codes`: the SRV matrix, response codes and DCC alert codes, each row public or assumed.
- `xmlparse`: hardened parsing (`parse_document`) and DUIS 5.4 schema validation (`validate_schema`).
- `values`: limits, enumerations, EUIs, device ID lists, times and `RequestID`, the parts every message shares.
- `requests`: the request bodies of the served SRVs and `Request`; `parse_request`, `render_request`.
- `responses`: the payloads, `ResponseMessage` and `Response`; `render_response`, `parse_response`.
- `alerts`: the DCC alerts and `DCCAlertMessage` (sent as the body of a `Response`).
- `models`: the former home of the four above, kept as a facade that re-exports their public names.
- `profile`: the DUIS profile of XMLDSig (its algorithms and its one error); `signing` signs with it
  (`Signer`), `verifying` checks it (`Verifier`), `trust` loads certificates and keys and says whom to trust
  (`TrustStore`); `signing` re-exports the others' public names.

A request is handled as::

    root = parse_document(body, max_bytes=MAX_REQUEST_BYTES)       # hostile input refused here
    verified = verifier.verify(root, now=clock.now(), expected_signer_eui=<originator read from root>)
    validate_schema(verified.root)                                  # the signed content, without signature
    request = parse_request(verified.root)                          # only what the signature covers
"""

from .requests import Request, parse_request, render_request
from .responses import Response, parse_response, render_response
from .signing import Signer
from .trust import StaticTrustStore, TrustStore, load_certificate, load_private_key
from .values import RequestID, eui_bytes, format_eui
from .verifying import Verified, Verifier
from .xmlparse import MAX_REQUEST_BYTES, MAX_RESPONSE_BYTES, parse_document, validate_schema

__all__ = [
    "MAX_REQUEST_BYTES",
    "MAX_RESPONSE_BYTES",
    "Request",
    "RequestID",
    "Response",
    "Signer",
    "StaticTrustStore",
    "TrustStore",
    "Verified",
    "Verifier",
    "eui_bytes",
    "format_eui",
    "load_certificate",
    "load_private_key",
    "parse_document",
    "parse_request",
    "parse_response",
    "render_request",
    "render_response",
    "validate_schema",
]
