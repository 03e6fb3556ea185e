"""The store's tables (SQLAlchemy 2.0 declarative). Identical behaviour on SQLite and PostgreSQL.

Identifiers on the wire are kept as they are written there: EUI-64 Device IDs and User IDs as
`XX-XX-XX-XX-XX-XX-XX-XX` strings (23 characters), firmware versions and hashes as hex strings.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from hanota.db.types import UTCDateTime

EUI = String(23)

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Role(StrEnum):
    """User roles (DUIS), plus the DCC operator who runs the SSI's quarantine and thresholds."""

    IS = "IS"  # Import Supplier
    ES = "ES"  # Export Supplier
    GS = "GS"  # Gas Supplier
    RSA = "RSA"  # Registered Supplier Agent
    ED = "ED"  # Electricity Distributor (network operator)
    GT = "GT"  # Gas Transporter
    OU = "OU"  # Other User
    DCC = "DCC"  # DCC operator (SSI only; never sends DUIS)


class UserStatus(StrEnum):
    ACTIVE = "Active"
    SUSPENDED = "Suspended"
    WITHDRAWN = "Withdrawn"


class HANVariant(StrEnum):
    """The Comms Hub's HAN radio: 2.4 GHz only, or 2.4 GHz and 868 MHz (dual-band hubs)."""

    SINGLE_BAND = "Single Band"
    DUAL_BAND = "Dual Band"


class DeviceType(StrEnum):
    ESME = "ESME"
    GSME = "GSME"
    CHF = "CHF"
    GPF = "GPF"
    PPMID = "PPMID"
    IHD = "IHD"
    HCALCS = "HCALCS"
    CAD = "CAD"


class SMIStatus(StrEnum):
    PENDING = "Pending"
    WHITELISTED = "Whitelisted"
    INSTALLED_NOT_COMMISSIONED = "InstalledNotCommissioned"
    COMMISSIONED = "Commissioned"
    DECOMMISSIONED = "Decommissioned"
    WITHDRAWN = "Withdrawn"
    SUSPENDED = "Suspended"
    RECOVERY = "Recovery"
    RECOVERED = "Recovered"


class CPLStatus(StrEnum):
    ACTIVE = "Active"
    CANCELLED = "Cancelled"
    EXPIRED = "Expired"
    WITHDRAWN = "Withdrawn"


class User(Base):
    __tablename__ = "users"

    eui: Mapped[str] = mapped_column(EUI, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    roles: Mapped[str] = mapped_column(String(64), doc="space-separated Role codes, e.g. 'IS GS'")
    status: Mapped[str] = mapped_column(String(16), default=UserStatus.ACTIVE.value)
    alert_endpoint: Mapped[str | None] = mapped_column(String(500), default=None)
    market_share: Mapped[float | None] = mapped_column(default=None, doc="synthetic estates only")

    def role_set(self) -> frozenset[str]:
        return frozenset(self.roles.split())


class Certificate(Base):
    """A certificate the DSP trusts: a CA, a pinned leaf (DCC Boxed) or a User's XML-signing leaf."""

    __tablename__ = "certificates"
    __table_args__ = (UniqueConstraint("issuer", "serial", name="issuer_serial"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    issuer: Mapped[str] = mapped_column(String(200), doc="RFC 4514 issuer name as written in KeyInfo")
    serial: Mapped[str] = mapped_column(String(50), index=True, doc="decimal serial number")
    kind: Mapped[str] = mapped_column(String(16), doc="ca | pinned | leaf")
    subject_eui: Mapped[str | None] = mapped_column(EUI, index=True)
    role_code: Mapped[int | None] = mapped_column(Integer)
    not_before: Mapped[datetime] = mapped_column(UTCDateTime())
    not_after: Mapped[datetime] = mapped_column(UTCDateTime())
    pem: Mapped[str] = mapped_column(Text)


class Premises(Base):
    __tablename__ = "premises"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uprn: Mapped[str] = mapped_column(String(12), unique=True)
    postcode: Mapped[str] = mapped_column(String(10))
    region: Mapped[str] = mapped_column(String(8))
    prepayment: Mapped[bool] = mapped_column(Boolean, default=False)


class CommsHub(Base):
    __tablename__ = "comms_hubs"

    chf_id: Mapped[str] = mapped_column(EUI, primary_key=True)
    gpf_id: Mapped[str] = mapped_column(EUI, unique=True)
    premises_id: Mapped[int] = mapped_column(ForeignKey("premises.id"), index=True)
    region: Mapped[str] = mapped_column(
        String(16),
        index=True,
        doc="the CSP region DUIS reports: one of HUB_REGIONS ('4G Central' for 4G hubs)",
    )
    firmware_version: Mapped[str] = mapped_column(String(8))
    gbcs_version: Mapped[str] = mapped_column(String(8))
    han_ota: Mapped[bool] = mapped_column(Boolean, doc="hub firmware supports HAN-device OTA (MP7)")
    chts_version: Mapped[str | None] = mapped_column(
        String(20), default=None, doc="SMETSCHTSVersion, e.g. 'CHTS V1.4' (None: not known)"
    )
    han_variant: Mapped[str | None] = mapped_column(
        String(16), default=None, doc="HANVariant: 'Single Band' or 'Dual Band' (2.4 GHz + 868 MHz)"
    )
    connectivity: Mapped[str | None] = mapped_column(
        String(16), default=None, doc="Connectivity: 'Cellular' | 'Virtual'; None for a long-range-radio hub"
    )


class Device(Base):
    __tablename__ = "devices"
    __table_args__ = (Index("ix_devices_hub_type", "hub_id", "device_type"),)

    device_id: Mapped[str] = mapped_column(EUI, primary_key=True)
    device_type: Mapped[str] = mapped_column(String(8))
    smi_status: Mapped[str | None] = mapped_column(String(32), doc="None for Type 2 devices (IHD)")
    manufacturer: Mapped[str] = mapped_column(String(30), doc="ZigBee manufacturer code, 4 hex digits")
    model: Mapped[str] = mapped_column(String(30), doc="model code, hex (DUIS allows up to 30 characters)")
    hardware_version: Mapped[int | None] = mapped_column(Integer, doc="None: not known (pre-notified)")
    firmware_version: Mapped[str | None] = mapped_column(String(8), doc="None: not recorded (A-001)")
    hub_id: Mapped[str | None] = mapped_column(ForeignKey("comms_hubs.chf_id"))
    premises_id: Mapped[int | None] = mapped_column(ForeignKey("premises.id"), index=True)
    date_commissioned: Mapped[date | None] = mapped_column(Date)


class SupplierRegistration(Base):
    """Who is the import supplier of an ESME or the gas supplier of a GSME, and since when."""

    __tablename__ = "supplier_registrations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.device_id"), index=True)
    supplier_eui: Mapped[str] = mapped_column(ForeignKey("users.eui"), index=True)
    role: Mapped[str] = mapped_column(String(4), doc="IS for an ESME, GS for a GSME")
    effective_from: Mapped[datetime] = mapped_column(UTCDateTime())
    effective_to: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


class CPLEntry(Base):
    """One firmware version of one device model on the Central Products List: at most one entry per
    (manufacturer, model, firmware version) — the seed's A-005 read per model (migration 0013 says why)."""

    __tablename__ = "cpl_entries"
    __table_args__ = (UniqueConstraint("manufacturer", "model", "firmware_version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    device_type: Mapped[str] = mapped_column(String(8))
    manufacturer: Mapped[str] = mapped_column(String(4))
    model: Mapped[str] = mapped_column(String(8))
    hw_version_min: Mapped[int] = mapped_column(Integer)
    hw_version_max: Mapped[int] = mapped_column(Integer)
    firmware_version: Mapped[str] = mapped_column(String(8), index=True)
    firmware_hash: Mapped[str] = mapped_column(
        String(64), index=True, doc="SHA-256 of the Manufacturer Image"
    )
    gbcs_version: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(16))
    upgradeable: Mapped[bool] = mapped_column(Boolean, doc="devices on this version accept OTA updates")
    image_type: Mapped[int | None] = mapped_column(Integer, doc="ZigBee OTA image type of the image")


class FirmwareHistory(Base):
    __tablename__ = "firmware_history"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.device_id"), index=True)
    firmware_version: Mapped[str] = mapped_column(String(8))
    previous_version: Mapped[str | None] = mapped_column(String(8))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime())
    source: Mapped[str] = mapped_column(String(120), doc="estate | SR 8.4 <RequestID> | SR 11.4 <RequestID>")


class RequestCounter(Base):
    """The last RequestID counter accepted from each originator (a uint64, see `counter_key`)."""

    __tablename__ = "request_counters"

    originator_eui: Mapped[str] = mapped_column(EUI, primary_key=True)
    last_counter: Mapped[str] = mapped_column(String(20))


class Setting(Base):
    """Small key/value facts about this DSP instance (e.g. which key signs responses)."""

    __tablename__ = "dsp_settings"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


# --- requests, distributions, alerts (issues 3–5) ------------------------------------------------


class FirmwareImageBlob(Base):
    """A firmware image as received, stored once however many requests carry it."""

    __tablename__ = "firmware_images"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    file_hash: Mapped[str] = mapped_column(String(64), unique=True, doc="SHA-256 of the whole OTA file")
    firmware_hash: Mapped[str] = mapped_column(String(64), doc="SHA-256 of the Manufacturer Image")
    size: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ServiceRequest(Base):
    """Every DUIS request the DSP accepted for processing (also those rejected after verification)."""

    __tablename__ = "service_requests"
    __table_args__ = (Index("ix_service_requests_originator_received", "originator_eui", "received_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    request_id: Mapped[str] = mapped_column(String(80), unique=True, doc="originator:target:counter")
    originator_eui: Mapped[str] = mapped_column(EUI)
    srv: Mapped[str] = mapped_column(String(10))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[str] = mapped_column(String(16), doc="accepted | rejected | quarantined | deleted")
    response_code: Mapped[str] = mapped_column(String(10))
    firmware_version: Mapped[str | None] = mapped_column(String(8))
    firmware_hash: Mapped[str | None] = mapped_column(String(64))
    image_id: Mapped[int | None] = mapped_column(ForeignKey("firmware_images.id"))
    device_count: Mapped[int] = mapped_column(Integer, default=0)
    accepted_count: Mapped[int] = mapped_column(Integer, default=0)
    detail: Mapped[str | None] = mapped_column(Text)


class RequestDevice(Base):
    """One device of an 11.4 / 11.1 request: where validation put it, and how far delivery got."""

    __tablename__ = "request_devices"

    request_pk: Mapped[int] = mapped_column(ForeignKey("service_requests.id"), primary_key=True)
    device_id: Mapped[str] = mapped_column(EUI, primary_key=True)
    device_type: Mapped[str | None] = mapped_column(String(8))
    hub_id: Mapped[str | None] = mapped_column(EUI)
    region: Mapped[str | None] = mapped_column(String(16), doc="the hub's CSP region ('4G Central' for 4G)")
    outcome: Mapped[str] = mapped_column(String(40), doc="Accepted, or the warning list it went to")
    reason: Mapped[str | None] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(
        String(24),
        doc="rejected | accepted | sent | csp_rejected | transferred | transfer_failed | activated "
        "| activation_failed",
    )
    failure: Mapped[str | None] = mapped_column(String(40))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    transferred_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class DistributionJob(Base):
    """One file per CSP region per request, sent to that CSP's gateway by a worker."""

    __tablename__ = "distribution_jobs"
    __table_args__ = (Index("ix_distribution_jobs_status_next", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    request_pk: Mapped[int] = mapped_column(ForeignKey("service_requests.id"), index=True)
    region: Mapped[str] = mapped_column(
        String(8), doc="the geographic region whose CSP gateway takes the file (its 4G hubs included)"
    )
    priority: Mapped[int] = mapped_column(
        Integer, doc="0 = ESME/GSME firmware (11.1), 1 = HAN firmware (11.4)"
    )
    target_count: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), doc="pending | sending | sent | dead")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    claimed_by: Mapped[str | None] = mapped_column(String(80))
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime())
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    rejected_count: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    failing_since: Mapped[datetime | None] = mapped_column(UTCDateTime())
    dead_at: Mapped[datetime | None] = mapped_column(
        UTCDateTime(), doc="dead-lettered after the retry cap; `hanota jobs retry` sends it again"
    )


class AlertOutbox(Base):
    """A signed DCC Alert waiting for (or done with) delivery; `alert_id` is stable across retries."""

    __tablename__ = "alert_outbox"
    __table_args__ = (
        Index("ix_alert_outbox_pending", "delivered_at", "next_attempt_at"),
        Index("ix_alert_outbox_dead", "dead_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    alert_id: Mapped[str] = mapped_column(String(80), unique=True)
    recipient_eui: Mapped[str] = mapped_column(EUI, index=True)
    code: Mapped[str] = mapped_column(String(8))
    kind: Mapped[str] = mapped_column(String(40))
    request_pk: Mapped[int | None] = mapped_column(ForeignKey("service_requests.id"), index=True)
    device_id: Mapped[str | None] = mapped_column(EUI)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    body: Mapped[bytes] = mapped_column(LargeBinary, doc="the signed sr:Response, exactly the bytes sent")
    attempts: Mapped[int] = mapped_column(
        Integer, default=0, doc="claims: the delivery lease's fencing token"
    )
    tries: Mapped[int] = mapped_column(
        Integer,
        default=0,
        server_default="0",
        doc="POSTs made and answered or failed (the retry cap counts these)",
    )
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    dead_at: Mapped[datetime | None] = mapped_column(
        UTCDateTime(), doc="dead-lettered: no more automatic attempts; kept, and redeliverable by hand"
    )
    mailbox: Mapped[bool] = mapped_column(Boolean, default=False, doc="no endpoint: held for pulling")
    last_error: Mapped[str | None] = mapped_column(Text)


class AlertRecipient(Base):
    """A recipient's endpoint health: after a failed POST none of its alerts is sent before `paused_until`
    (wall-clock backoff, `hanota.retry`), and then one at a time until one is delivered."""

    __tablename__ = "alert_recipients"

    recipient_eui: Mapped[str] = mapped_column(EUI, primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, doc="consecutive failed POSTs (0: healthy)")
    paused_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    failing_since: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


# --- CSP gateway side (each gateway owns these rows for its region) ---


class CSPDistribution(Base):
    """A distribution a CSP gateway accepted: the image (once) and the file's header fields."""

    __tablename__ = "csp_distributions"
    __table_args__ = (UniqueConstraint("region", "distribution_id", name="region_distribution"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    region: Mapped[str] = mapped_column(String(8))
    distribution_id: Mapped[str] = mapped_column(String(80), doc="the DSP's idempotency key")
    request_id: Mapped[str] = mapped_column(String(80))
    priority: Mapped[str] = mapped_column(String(12), doc="ESME_GSME | HAN")
    firmware_version: Mapped[str] = mapped_column(String(8))
    firmware_hash: Mapped[str] = mapped_column(String(64))
    image_size: Mapped[int] = mapped_column(Integer)
    image: Mapped[bytes] = mapped_column(LargeBinary)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    accepted_count: Mapped[int] = mapped_column(Integer)
    answer: Mapped[str] = mapped_column(Text, doc="the JSON answer given, repeated verbatim on a resend")
    engine_seq: Mapped[int | None] = mapped_column(
        Integer, doc="order of submission to the region's network engine (replayed in this order)"
    )
    engine_at_s: Mapped[float | None] = mapped_column(
        Float, doc="virtual seconds after the gateway's epoch at which it was submitted to the network"
    )
    engine_generation: Mapped[int | None] = mapped_column(
        Integer, doc="which of the gateway's successive network engines it went to (a new one once idle)"
    )


class CSPTarget(Base):
    """One target of a CSP distribution and how far delivery got."""

    __tablename__ = "csp_targets"
    __table_args__ = (Index("ix_csp_targets_state", "state"),)

    distribution_pk: Mapped[int] = mapped_column(ForeignKey("csp_distributions.id"), primary_key=True)
    device_id: Mapped[str] = mapped_column(EUI, primary_key=True)
    chf_id: Mapped[str] = mapped_column(EUI)
    device_type: Mapped[str] = mapped_column(String(8))
    state: Mapped[str] = mapped_column(
        String(24), doc="queued | transferred | transfer_failed | activated | ..."
    )
    reason: Mapped[str | None] = mapped_column(String(40))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    hub_region: Mapped[str | None] = mapped_column(
        String(16), doc="its hub's CSP region as the file said ('4G Central': over the 4G WAN)"
    )
    hardware_version: Mapped[int | None] = mapped_column(Integer, doc="as the file said (None: not known)")


# --- CSP delivery events (issue 5): the gateway's event outbox and the DSP's intake cursor ---


class CSPGatewayState(Base):
    """What a region's gateway needs to rebuild its network engine after a restart."""

    __tablename__ = "csp_gateway_state"

    region: Mapped[str] = mapped_column(String(8), primary_key=True)
    epoch: Mapped[datetime] = mapped_column(UTCDateTime(), doc="virtual second 0 of the network engine")
    seed: Mapped[int] = mapped_column(Integer)
    reported_until_s: Mapped[float] = mapped_column(Float, doc="events up to here are in csp_event_batches")
    next_batch_seq: Mapped[int] = mapped_column(Integer)
    generation: Mapped[int] = mapped_column(Integer, default=0, doc="the current engine's generation")


class CSPEventBatch(Base):
    """A batch of per-target events, numbered per region, waiting for (or done with) the DSP's receipt."""

    __tablename__ = "csp_event_batches"
    __table_args__ = (Index("ix_csp_event_batches_unsent", "region", "sent_at"),)

    region: Mapped[str] = mapped_column(String(8), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    event_count: Mapped[int] = mapped_column(Integer)
    body: Mapped[bytes] = mapped_column(LargeBinary, doc="the JSON batch, exactly the bytes signed and sent")
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    failing_since: Mapped[datetime | None] = mapped_column(UTCDateTime())
    dead_at: Mapped[datetime | None] = mapped_column(
        UTCDateTime(), doc="dead-lettered: the DSP refused it for good; later batches wait behind it"
    )


class CSPEventCursor(Base):
    """The DSP's side: the last event batch applied from each region (batches apply in order, once)."""

    __tablename__ = "csp_event_cursors"

    region: Mapped[str] = mapped_column(String(8), primary_key=True)
    last_seq: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


# --- self service interface (issue 7) ---


class WebCredential(Base):
    """A User's SSI sign-in: a scrypt password hash and the throttle on failed attempts.

    Keyed by the User's EUI without a foreign key, so that an estate regenerated with `--replace` (which
    deletes and recreates the users) keeps the passwords of the Users it recreates.
    """

    __tablename__ = "web_credentials"

    eui: Mapped[str] = mapped_column(EUI, primary_key=True)
    password_hash: Mapped[str] = mapped_column(String(200), doc="scrypt$N$r$p$salt$hash (base64)")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    failed_count: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    sessions_after: Mapped[datetime | None] = mapped_column(
        UTCDateTime(), default=None, doc="sessions issued before this (a sign-out) are no longer valid"
    )


# The SSI's paged lists: a User's alerts newest first, and homes found by postcode.
Index("ix_alert_outbox_recipient_id", AlertOutbox.recipient_eui, AlertOutbox.id)
Index("ix_premises_postcode", Premises.postcode)


# --- anomaly detection (issue 6) ---------------------------------------------------------------


class AnomalyDCCPolicy(Base):
    """The DCC's anomaly-detection policy for one SRV, as the operator last set it. An SRV without a row
    uses the code defaults in `hanota.anomaly.thresholds.DEFAULT_POLICIES` (NULL = no such limit)."""

    __tablename__ = "anomaly_dcc_policies"

    srv: Mapped[str] = mapped_column(String(10), primary_key=True)
    window_hours: Mapped[int] = mapped_column(Integer, doc="period of the default and DCC-wide thresholds")
    default_max_requests: Mapped[int | None] = mapped_column(Integer, doc="per User without its own")
    default_max_devices: Mapped[int | None] = mapped_column(Integer, doc="per User without its own")
    cap_max_requests: Mapped[int | None] = mapped_column(Integer, doc="highest a User may set")
    cap_max_devices: Mapped[int | None] = mapped_column(Integer, doc="highest a User may set")
    dcc_max_requests: Mapped[int | None] = mapped_column(Integer, doc="DCC-wide, all Users together")
    dcc_max_devices: Mapped[int | None] = mapped_column(Integer, doc="DCC-wide, all Users together")
    max_image_bytes: Mapped[int | None] = mapped_column(Integer, doc="attribute limit")
    max_devices_per_request: Mapped[int | None] = mapped_column(Integer, doc="attribute limit")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_by: Mapped[str] = mapped_column(EUI)


class AnomalyUserThreshold(Base):
    """A User's own threshold for one SRV (NULL field: the DCC default for that field applies)."""

    __tablename__ = "anomaly_user_thresholds"

    user_eui: Mapped[str] = mapped_column(ForeignKey("users.eui"), primary_key=True)
    srv: Mapped[str] = mapped_column(String(10), primary_key=True)
    max_requests: Mapped[int | None] = mapped_column(Integer)
    max_devices: Mapped[int | None] = mapped_column(Integer)
    window_hours: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_by: Mapped[str] = mapped_column(EUI)


class AnomalyMeter(Base):
    """One per (subject, SRV): the row a threshold check locks (race-free counting), the hour of the
    newest usage bucket and lifetime totals. Subject: a User's EUI, or 'DCC' for the DCC-wide count."""

    __tablename__ = "anomaly_meters"

    subject: Mapped[str] = mapped_column(String(23), primary_key=True)
    srv: Mapped[str] = mapped_column(String(10), primary_key=True)
    hour: Mapped[datetime] = mapped_column(UTCDateTime())
    requests_total: Mapped[int] = mapped_column(BigInteger)
    devices_total: Mapped[int] = mapped_column(BigInteger)


class AnomalyUsage(Base):
    """Requests and devices counted for (subject, SRV) in one clock hour; windows are sums of these."""

    __tablename__ = "anomaly_usage"

    subject: Mapped[str] = mapped_column(String(23), primary_key=True)
    srv: Mapped[str] = mapped_column(String(10), primary_key=True)
    hour: Mapped[datetime] = mapped_column(UTCDateTime(), primary_key=True)
    requests: Mapped[int] = mapped_column(Integer)
    devices: Mapped[int] = mapped_column(Integer)


class QuarantinedRequestRow(Base):
    """A request held by anomaly detection: the signed bytes as received (to release it exactly as if just
    received), why it was held, and the operator's decision. `id` is the QuarantineEventRef."""

    __tablename__ = "quarantined_requests"
    __table_args__ = (Index("ix_quarantined_requests_status_received", "status", "received_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    request_id: Mapped[str] = mapped_column(String(80), unique=True)
    originator_eui: Mapped[str] = mapped_column(EUI, index=True)
    srv: Mapped[str] = mapped_column(String(10))
    kind: Mapped[str] = mapped_column(String(32), doc="ADUserThresholdBreach | ADDCCThresholdBreach | ...")
    reason: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    device_count: Mapped[int] = mapped_column(Integer)
    image_size: Mapped[int] = mapped_column(Integer)
    body: Mapped[bytes] = mapped_column(LargeBinary, doc="the signed sr:Request, exactly the bytes received")
    status: Mapped[str] = mapped_column(String(16), doc="quarantined | released | deleted")
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decided_by: Mapped[str | None] = mapped_column(EUI)
    decision_reason: Mapped[str | None] = mapped_column(Text)
    outcome_code: Mapped[str | None] = mapped_column(String(10), doc="the answer of the released request")


class AnomalyAudit(Base):
    """Every anomaly-detection decision: who, when, what, why (and the values before and after)."""

    __tablename__ = "anomaly_audit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    actor_eui: Mapped[str] = mapped_column(EUI)
    action: Mapped[str] = mapped_column(String(40))
    target: Mapped[str] = mapped_column(String(120), index=True)
    reason: Mapped[str] = mapped_column(Text)
    detail: Mapped[str] = mapped_column(Text, doc="JSON")


class AnomalyApiToken(Base):
    """A bearer token of the anomaly JSON API (only its SHA-256 is kept), issued to a User or operator."""

    __tablename__ = "anomaly_api_tokens"

    token_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_eui: Mapped[str] = mapped_column(ForeignKey("users.eui"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(80))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
