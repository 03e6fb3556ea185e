"""One typed settings object, read from `HANOTA_*` environment variables and passed down explicitly.

Nothing in hanota reads the environment at import time: entry points build a `Settings` and hand it to
what they start.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, TypedDict

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from hanota.lifecycle import Region

DEV_SESSION_SECRET = "hanota-development-only-secret"  # noqa: S105 - refused outside development
DEV_CSP_SECRET = "hanota-development-only-csp-secret"  # noqa: S105 - refused outside development


class UvicornOptions(TypedDict):
    """uvicorn's connection limits (keyword arguments of `uvicorn.run` and `uvicorn.Config`)."""

    limit_concurrency: int
    timeout_keep_alive: int


class Settings(BaseSettings):
    """hanota's configuration. Every field can be set as `HANOTA_<FIELD>` in the environment."""

    model_config = SettingsConfigDict(env_prefix="HANOTA_", extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    data_dir: Path = Field(default=Path(".hanota"), description="keys, the SQLite file and extracts")
    database_url: str = Field(default="", description="SQLAlchemy URL; default: SQLite in data_dir")
    host: str = "127.0.0.1"
    port: int = 8079
    log_level: str = "info"
    log_json: bool = False
    max_body_bytes: int = Field(
        default=16 * 1024 * 1024,
        description="largest DUIS request accepted (a full 11.4 is ~15 MB: 13.65 MB of base64 + 1.2 MB IDs)",
    )
    # -- the shape of a DUIS document, bounded while it is parsed (before the signature check) -----------
    xml_max_depth: int = Field(
        default=64, ge=16, le=2048, description="deepest element nesting a DUIS document may have (DUIS: ~10)"
    )
    xml_max_elements: int = Field(
        default=100_000, ge=1_000, le=10_000_000,
        description="most elements in one DUIS document (a full 11.4 has ~40: its 50,000 IDs are one text node)",
    )  # fmt: skip
    xml_max_attributes: int = Field(
        default=32, ge=8, le=10_000, description="most attributes on one element (DUIS: at most 3)"
    )
    xml_max_namespace_declarations: int = Field(
        default=32, ge=8, le=10_000, description="most namespace declarations on one element (DUIS: ~6)"
    )
    # -- the DUIS thread model ------------------------------------------------------------------------------
    duis_threads: int = Field(
        default=1, ge=1, le=64,
        description="DUIS requests of up to duis_bulk_bytes handled at once per process (8.2, 8.4, 12.2: a few "
        "ms of CPU each; more threads convoy on the GIL and the store's write lock: 16 clients, 2 processes, "
        "SQLite: 1 thread 400 req/s, 2 threads 300, 4 threads 230)",
    )  # fmt: skip
    duis_bulk_threads: int = Field(
        default=1, ge=1, le=16,
        description="DUIS requests over duis_bulk_bytes (11.4, 11.1) handled at once per process, in a lane "
        "of their own: a large or hostile request never holds the small ones",
    )  # fmt: skip
    duis_bulk_bytes: int = Field(default=256 * 1024, ge=4096, description="where the bulk lane starts")
    # -- request bodies and connections -----------------------------------------------------------------------
    body_idle_timeout_seconds: float = Field(
        default=20.0, gt=0.0, le=3600.0,
        description="a request body that sends nothing for this long is answered 408 and its connection closed",
    )  # fmt: skip
    body_timeout_seconds: float = Field(
        default=120.0, gt=0.0, le=3600.0,
        description="a request body not complete this long after its headers is answered 408 (a 16 MB body "
        "needs ~1.1 Mbit/s)",
    )  # fmt: skip
    max_incomplete_requests: int = Field(
        default=64, ge=1, le=100_000,
        description="requests whose body is still arriving, at once, per process; more are answered 503",
    )  # fmt: skip
    http_max_connections: int = Field(
        default=1024, ge=8, le=1_000_000,
        description="open connections and requests per process (uvicorn limit_concurrency); more get 503",
    )  # fmt: skip
    http_keep_alive_seconds: int = Field(
        default=5, ge=1, le=3600, description="an idle keep-alive connection is closed after this (uvicorn)"
    )
    session_secret: str = DEV_SESSION_SECRET
    session_ttl_seconds: int = 30 * 60
    worker_poll_seconds: float = 0.2
    run_worker: bool = Field(default=True, description="`hanota serve` also runs the distribution worker")
    inprocess_gateways: bool = Field(
        default=True, description="serve the three CSP gateways under /csp/<region>"
    )
    csp_secret: str = DEV_CSP_SECRET
    csp_north_url: str = ""
    csp_central_url: str = ""
    csp_south_url: str = ""
    dsp_url: str = Field(
        default="", description="where a standalone CSP gateway reports events; default: this server"
    )
    alert_lease_seconds: float = Field(
        default=120.0, gt=10.0, le=3600.0,
        description="wall seconds a delivery worker holds claimed alerts; a crashed worker's are resent after it",
    )  # fmt: skip
    run_network: bool = Field(
        default=True, description="in-process gateways drive the simulated network and report events"
    )
    network_profile: Path | None = Field(
        default=None, description="network profile TOML; default: the shipped one"
    )
    network_seed: int = Field(default=1, ge=0, description="seed of the simulated network's randomness")
    clock_speed: float = Field(
        default=0.0, ge=0.0, le=1e7,
        description="0: real time; N > 0: virtual time runs N times faster than wall time (demos, tests). "
        "The anchor is kept in the store, so a restarted process carries on the same virtual time",
    )  # fmt: skip

    @model_validator(mode="after")
    def _defaults(self) -> Settings:
        if not self.database_url:
            self.database_url = f"sqlite:///{(self.data_dir / 'hanota.db').as_posix()}"
        if self.environment == "production" and self.session_secret == DEV_SESSION_SECRET:
            raise ValueError("HANOTA_SESSION_SECRET must be set outside development")
        if self.environment == "production" and self.csp_secret == DEV_CSP_SECRET:
            raise ValueError("HANOTA_CSP_SECRET must be set outside development")
        return self

    @property
    def pki_dir(self) -> Path:
        """Where `hanota pki init` writes keys and certificates, and the DSP's signing identity lives."""
        return self.data_dir / "pki"

    def uvicorn_options(self) -> UvicornOptions:
        """The connection limits every uvicorn server of the DSP runs with (`hanota serve`, the demo)."""
        return uvicorn_options(self.http_max_connections, self.http_keep_alive_seconds)

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def csp_urls(self, base_url: str | None = None) -> dict[str, str]:
        """Where each region's gateway is: HANOTA_CSP_<REGION>_URL, else in-process under this server."""
        base = (base_url or f"http://{self.host}:{self.port}").rstrip("/")
        given = {Region.NORTH: self.csp_north_url, Region.CENTRAL: self.csp_central_url,
                 Region.SOUTH: self.csp_south_url}  # fmt: skip
        return {region.value: url or f"{base}/csp/{region.key}" for region, url in given.items()}


def uvicorn_options(
    max_connections: int | None = None, keep_alive_seconds: int | None = None
) -> UvicornOptions:
    """uvicorn's connection limits, from settings or their defaults (test and helper servers)."""
    fields = Settings.model_fields
    return UvicornOptions(
        limit_concurrency=max_connections or int(fields["http_max_connections"].default),
        timeout_keep_alive=keep_alive_seconds or int(fields["http_keep_alive_seconds"].default),
    )
