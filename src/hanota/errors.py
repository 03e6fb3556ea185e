"""One coded error tree.

Every domain error carries the DUIS response code it is answered with, so that a request that fails
gets that code, never a stack trace::

    HanotaError                      (code E100 unless a subclass or the raiser says otherwise)
    ├── InputError                   malformed or hostile input (not XML, not DUIS, schema-invalid)
    │   └── TooLarge                 the body or an attribute exceeds a limit
    ├── SignatureError               the XML signature does not verify, or is not the DUIS profile
    ├── AccessError                  the originator may not do this (E1, E2, E3, E4, E12, E13)
    ├── ReplayError                  the RequestID counter is not greater than the last accepted one
    ├── ValidationError              the request is well formed but cannot be served (SR-specific codes)
    ├── ConfigError                  the service is misconfigured (never the caller's fault)
    ├── HTTPRefusal                  refused at an interface that answers an HTTP status, not DUIS (`http_status`)
    └── Unavailable                  a service hanota calls did not answer or did not take the request (`status`)

The code table itself (which code means what, public or assumed) lives in `hanota.duis.codes`.
"""

from __future__ import annotations


class HanotaError(Exception):
    """Base of every domain error; `code` is the DUIS response code the caller receives."""

    code: str = "E100"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class InputError(HanotaError):
    """Malformed or hostile input: not XML, a DOCTYPE, not DUIS, schema-invalid."""

    code = "E100"


class TooLarge(InputError):
    """A body, an image or a list is over its limit."""

    code = "E44"


class SignatureError(HanotaError):
    """The XML signature is absent, malformed, not the DUIS profile, or does not verify."""

    code = "E40"


class AccessError(HanotaError):
    """Access control refused the request (E1 unknown user, E2 role, E3 status, E4 device, E12, E13)."""

    code = "E1"


class ReplayError(HanotaError):
    """The RequestID counter is not strictly greater than the last accepted from that originator."""

    code = "E41"


class ValidationError(HanotaError):
    """A well-formed, authorised request that cannot be served (SR-specific codes)."""


class ConfigError(HanotaError):
    """The service is misconfigured; never the caller's fault."""

    code = "E100"


class HTTPRefusal(HanotaError):
    """Refused at an interface that answers with an HTTP status rather than a DUIS code (the CSP interface,
    the SSI's pages): `http_status` is that status; the HTTP layer, and only it, turns it into an answer."""

    http_status: int = 400

    def __init__(self, message: str, *, http_status: int | None = None, code: str | None = None) -> None:
        super().__init__(message, code=code)
        if http_status is not None:
            self.http_status = http_status


class Unavailable(HanotaError):
    """A service hanota calls (a CSP gateway) did not answer, or answered other than 200: `status` is the
    HTTP status it answered, None when it did not answer. Its text is the message alone (it is logged and
    stored as a job's last error, not answered to a caller)."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status

    def __str__(self) -> str:
        return self.message
