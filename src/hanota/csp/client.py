"""The DSP's side of the CSP interface over HTTP: the deployment's `CSPTransport` (`hanota.csp.transport`),
one URL per region, each file HMAC-signed under its region's key."""

from __future__ import annotations

import httpx

from hanota.csp.interface import SIGNATURE_HEADER, Distribution, DistributionAnswer, region_key, sign_body
from hanota.csp.transport import CSPUnavailable as CSPUnavailable


class CSPClient:
    """A `CSPTransport` over HTTP: `POST {url of the region}/v1/distributions`."""

    def __init__(self, urls: dict[str, str], secret: str, *, timeout: float = 120.0) -> None:
        self.urls = {k.lower(): v.rstrip("/") for k, v in urls.items()}
        self.secret = secret
        self._http = httpx.Client(timeout=timeout)

    def send(self, region: str, dist: Distribution) -> DistributionAnswer:
        url = self.urls.get(region.lower())
        if url is None:
            raise CSPUnavailable(f"no CSP URL for region {region}")
        body = dist.model_dump_json().encode()
        headers = {
            "content-type": "application/json",
            SIGNATURE_HEADER: sign_body(region_key(self.secret, region), body),
        }
        try:
            r = self._http.post(f"{url}/v1/distributions", content=body, headers=headers)
        except httpx.HTTPError as e:
            raise CSPUnavailable(f"{region}: {type(e).__name__}: {e}") from e
        if r.status_code != 200:
            raise CSPUnavailable(f"{region}: HTTP {r.status_code}: {r.text[:300]}", status=r.status_code)
        return DistributionAnswer.model_validate_json(r.content)

    def close(self) -> None:
        self._http.close()
