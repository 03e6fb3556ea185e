"""How the DSP's distribution worker reaches a region's CSP gateway: the `CSPTransport` protocol, and its
in-process implementation. The HTTP one, the deployment's, is `hanota.csp.client.CSPClient`.

`InProcessTransport` calls the gateways' domain objects (`hanota.csp.acceptance.Gateway.accept`) directly,
with no socket and no HMAC, and fails the way the HTTP client does: `CSPUnavailable`, with the HTTP status the
gateway's interface would have answered (a file it refuses: 422; a region without a gateway: no status).
It is for tests and for a process that holds its gateways itself; what a gateway decides is the same.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Protocol

from hanota.csp.acceptance import Gateway
from hanota.csp.interface import Distribution, DistributionAnswer
from hanota.errors import HTTPRefusal, Unavailable


class CSPUnavailable(Unavailable):
    """The CSP did not take the distribution: no answer (network error, timeout; `status` None) or an HTTP
    status other than 200. Whether to try again is the retry policy's call (`hanota.retry`): a 4xx other
    than 408/425/429 will not change by itself."""


class CSPTransport(Protocol):
    """What the distribution worker needs of the CSPs: send one region's file, get the gateway's answer."""

    def send(self, region: str, dist: Distribution) -> DistributionAnswer:
        """The answer of `region`'s gateway to `dist` (a resend gets the first answer); raises
        `CSPUnavailable` when the gateway did not take it."""
        ...

    def close(self) -> None:
        """Release what the transport holds (connections)."""
        ...


class InProcessTransport:
    """The gateways of this process, called directly (no HTTP)."""

    def __init__(self, gateways: Iterable[Gateway]) -> None:
        self.gateways = {g.region.lower(): g for g in gateways}

    def send(self, region: str, dist: Distribution) -> DistributionAnswer:
        gateway = self.gateways.get(region.lower())
        if gateway is None:
            raise CSPUnavailable(f"no CSP gateway in this process for region {region}")
        try:
            return gateway.accept(dist)
        except HTTPRefusal as e:
            answer = json.dumps(
                {"detail": e.message}, ensure_ascii=False, separators=(",", ":")
            )  # as over HTTP
            raise CSPUnavailable(
                f"{region}: HTTP {e.http_status}: {answer[:300]}", status=e.http_status
            ) from e

    def close(self) -> None:
        """Nothing to release: the gateways belong to their owner."""


__all__ = ["CSPTransport", "CSPUnavailable", "InProcessTransport"]
