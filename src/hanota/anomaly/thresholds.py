"""Thresholds: the DCC's policy per SRV and each User's own thresholds, within the DCC's bounds.

The model
---------
For every SRV served at ``/api/v1/serviceD`` the DCC keeps a **policy** (`DCCPolicy`):

- a **default User threshold** (``default_max_requests``, ``default_max_devices`` over ``window_hours``):
  applies to every User without its own. 11.4 and 11.1 always have one, so they are never unguarded;
- **bounds** on what a User may set: ``cap_max_requests`` / ``cap_max_devices`` per ``window_hours`` (a rate),
  windows of 1–168 hours, values of at least 1;
- a **DCC-wide threshold** (``dcc_max_requests``, ``dcc_max_devices`` over ``window_hours``): all Users
  together;
- **attribute limits** for 11.4 / 11.1: ``max_image_bytes`` and ``max_devices_per_request``.

Absent an operator's row in ``anomaly_dcc_policies``, the code defaults below apply. A **User threshold**
(``anomaly_user_thresholds``) replaces the default for that User and SRV, field by field: a field left
NULL takes the default's value. "Devices" counts the distinct Device IDs of an 11.4 / 11.1 request; other
SRVs have only a request count.

Bounds are rates. Over a window of ``W`` hours against a policy window of ``P`` hours a User may set at most
``cap × min(W, P) / P`` (rounded down, at least 1): a shorter window gets a proportionally smaller bound, a
longer one no larger bound than ``P`` hours would — so no choice of window loosens the DCC's bound on a
burst. A default field a User leaves NULL is scaled the same way. If the operator later lowers a cap, a
User's stored value above it is clamped when checked (and the effective value says so).

Defaults and why (figures from domain.md §7 and capacity-parameters.md)
-----------------------------------------------------------------------
11.4 (PPMID/IHD firmware): a request carries up to 50,000 devices. GB has ~1.5–2.5 M PPMIDs and ~10–12 M
IHDs (N6, N7) across 21 suppliers (N9); a 50,000-device campaign takes 1–3 days to deliver (the WAN, not the
DSP, is the bottleneck). Default per User: **250,000 devices (five full requests) and 20 requests per 24 h**
— the largest supplier (~25 % share, ~500,000 PPMIDs) can refresh its whole PPMID fleet in two days, while a
compromised key cannot push an image to millions of homes in one day. Users may raise it to **1,000,000
devices / 200 requests per 24 h**. DCC-wide: **2,000,000 devices / 500 requests per 24 h** — about the
whole PPMID population in one day, i.e. more than any plausible coordinated campaign.
Attribute limits: the image at most **2 MiB** (twice the largest of 111 consumer ZigBee OTA images, 1.14 MB
(F1), eight times the 250 kB planning size; DUIS itself allows 10,240,000 octets, which would pass an
anomalous image unnoticed) and at most **50,000 devices per request** (the schema's cap, kept so the operator
can lower it).

11.1 (ESME/GSME firmware): ~32 M meters on the DCC (N3), so larger numbers: **500,000 devices / 20 requests
per 24 h** per User (bound 2,000,000 / 200), DCC-wide **5,000,000 devices / 1,000 requests**; images up to
**4 MiB** (meter images carry the GBCS signature trailer and tend to be larger; F2).

8.2, 8.4, 12.2 have no default threshold (no device list, no firmware): a User or the operator may set one.
Their bounds: 8.2 up to 10,000,000 requests per 24 h (the DSP serves ~700 8.2/s, ~60 M a day), 8.4 and 12.2
up to 1,000,000.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from datetime import datetime
from typing import Literal

from sqlalchemy import Connection, bindparam, delete, select

from hanota.anomaly import audit
from hanota.anomaly.access import actor, require_operator
from hanota.anomaly.errors import NotFound, NotPermitted, OutOfBounds
from hanota.db.bulk import upsert
from hanota.db.models import AnomalyDCCPolicy, AnomalyUserThreshold, User
from hanota.duis import codes
from hanota.duis.values import MAX_DEVICE_IDS, MAX_IMAGE_OCTETS

#: SRVs whose requests carry a device list (and an image): they have device thresholds and attribute limits.
DEVICE_SRVS = frozenset({"11.4", "11.1"})
MIN_WINDOW_HOURS = 1
MAX_WINDOW_HOURS = 168  # a week; usage buckets older than this are pruned
DEFAULT_WINDOW_HOURS = 24
SYSTEM = "system"  # `updated_by` of the code defaults


def served_srvs() -> tuple[str, ...]:
    return tuple(row.srv for row in codes.served_srvs())


@dataclass(frozen=True)
class DCCPolicy:
    """The DCC's anomaly-detection policy for one SRV (see the module docstring). None = no such limit."""

    srv: str
    window_hours: int
    default_max_requests: int | None
    default_max_devices: int | None
    cap_max_requests: int | None
    cap_max_devices: int | None
    dcc_max_requests: int | None
    dcc_max_devices: int | None
    max_image_bytes: int | None
    max_devices_per_request: int | None
    source: Literal["default", "operator"] = "default"
    updated_at: datetime | None = None
    updated_by: str = SYSTEM

    @property
    def dcc_guarded(self) -> bool:
        return self.dcc_max_requests is not None or self.dcc_max_devices is not None


#: The policy fields an operator sets (everything but the SRV and the bookkeeping).
POLICY_FIELDS: tuple[str, ...] = tuple(
    f.name for f in fields(DCCPolicy) if f.name not in {"srv", "source", "updated_at", "updated_by"}
)
_MIB = 1024 * 1024


def _defaults() -> dict[str, DCCPolicy]:
    def plain(srv: str, cap: int) -> DCCPolicy:
        return DCCPolicy(srv, DEFAULT_WINDOW_HOURS, None, None, cap, None, None, None, None, None)

    ppmid = DCCPolicy(
        srv="11.4",
        window_hours=DEFAULT_WINDOW_HOURS,
        default_max_requests=20,
        default_max_devices=250_000,
        cap_max_requests=200,
        cap_max_devices=1_000_000,
        dcc_max_requests=500,
        dcc_max_devices=2_000_000,
        max_image_bytes=2 * _MIB,
        max_devices_per_request=MAX_DEVICE_IDS,
    )
    meters = DCCPolicy(
        srv="11.1",
        window_hours=DEFAULT_WINDOW_HOURS,
        default_max_requests=20,
        default_max_devices=500_000,
        cap_max_requests=200,
        cap_max_devices=2_000_000,
        dcc_max_requests=1_000,
        dcc_max_devices=5_000_000,
        max_image_bytes=4 * _MIB,
        max_devices_per_request=MAX_DEVICE_IDS,
    )
    return {
        "11.4": ppmid,
        "11.1": meters,
        "8.2": plain("8.2", 10_000_000),
        "8.4": plain("8.4", 1_000_000),
        "12.2": plain("12.2", 1_000_000),
    }


#: The code defaults (module docstring), used for every SRV without an operator's row.
DEFAULT_POLICIES: Mapping[str, DCCPolicy] = _defaults()


# Built once: these run on every request (see hanota.anomaly.counting).
_POLICY_ROW = select(AnomalyDCCPolicy).where(AnomalyDCCPolicy.srv == bindparam("srv"))
_USER_ROW = select(
    AnomalyUserThreshold.max_requests, AnomalyUserThreshold.max_devices, AnomalyUserThreshold.window_hours
).where(AnomalyUserThreshold.user_eui == bindparam("user_eui"), AnomalyUserThreshold.srv == bindparam("srv"))


def _check_srv(srv: str) -> None:
    if srv not in DEFAULT_POLICIES:
        raise NotFound(f"SRV {srv!r} is not served here (served: {', '.join(DEFAULT_POLICIES)})")


def dcc_policy(conn: Connection, srv: str) -> DCCPolicy:
    """The DCC's effective policy for `srv`: the operator's, else the code default. NotFound for an SRV
    not served here."""
    _check_srv(srv)
    row = conn.execute(_POLICY_ROW, {"srv": srv}).first()
    if row is None:
        return DEFAULT_POLICIES[srv]
    values = {name: getattr(row, name) for name in POLICY_FIELDS}
    return DCCPolicy(
        srv=srv, source="operator", updated_at=row.updated_at, updated_by=row.updated_by, **values
    )


def dcc_policies(conn: Connection) -> list[DCCPolicy]:
    """The effective policy of every served SRV."""
    return [dcc_policy(conn, srv) for srv in DEFAULT_POLICIES]


def _positive(name: str, value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise OutOfBounds(f"{name} must be a whole number, not {value!r}")
    if value < 1 or value > 2**31 - 1:
        raise OutOfBounds(f"{name} must be between 1 and {2**31 - 1:,}, not {value:,}")
    return value


def _check_window(value: object) -> int:
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or not MIN_WINDOW_HOURS <= value <= MAX_WINDOW_HOURS
    ):
        raise OutOfBounds(f"window_hours must be {MIN_WINDOW_HOURS}–{MAX_WINDOW_HOURS} hours, not {value!r}")
    return value


def validate_policy(p: DCCPolicy) -> DCCPolicy:
    """Refuse a policy that breaks the model's rules (OutOfBounds, with the rule); return it otherwise."""
    _check_window(p.window_hours)
    for name in POLICY_FIELDS:
        if name != "window_hours":
            _positive(name, getattr(p, name))
    devices = p.srv in DEVICE_SRVS
    if devices:
        for name in ("default_max_requests", "default_max_devices", "cap_max_requests", "cap_max_devices"):
            if getattr(p, name) is None:
                raise OutOfBounds(f"SRV {p.srv} is never unguarded: {name} must be set")
    else:
        for name in ("default_max_devices", "cap_max_devices", "dcc_max_devices", "max_image_bytes",
                     "max_devices_per_request"):  # fmt: skip
            if getattr(p, name) is not None:
                raise OutOfBounds(f"SRV {p.srv} carries no devices or image: {name} does not apply")
    for default, cap in (
        ("default_max_requests", "cap_max_requests"),
        ("default_max_devices", "cap_max_devices"),
    ):
        d, c = getattr(p, default), getattr(p, cap)
        if d is not None and c is not None and d > c:
            raise OutOfBounds(f"{default} ({d:,}) is above {cap} ({c:,})")
    if p.max_image_bytes is not None and p.max_image_bytes > MAX_IMAGE_OCTETS:
        raise OutOfBounds(f"max_image_bytes is above the DUIS limit of {MAX_IMAGE_OCTETS:,} octets")
    if p.max_devices_per_request is not None and p.max_devices_per_request > MAX_DEVICE_IDS:
        raise OutOfBounds(f"max_devices_per_request is above the DUIS limit of {MAX_DEVICE_IDS:,}")
    return p


def set_dcc_policy(
    conn: Connection,
    *,
    srv: str,
    changes: Mapping[str, int | None],
    operator_eui: str,
    reason: str,
    now: datetime,
) -> DCCPolicy:
    """Change fields of the DCC policy of `srv` (others keep their effective values); operator only.

    `changes` maps names of `POLICY_FIELDS` to a value or None (no such limit; refused where the model
    requires one, e.g. 11.4's default threshold). Audited as ``policy.set`` with before and after."""
    require_operator(conn, operator_eui)
    _require_reason(reason)
    unknown = set(changes) - set(POLICY_FIELDS)
    if unknown:
        raise OutOfBounds(f"unknown policy fields: {', '.join(sorted(unknown))}")
    before = dcc_policy(conn, srv)
    stamped = replace(before, source="operator", updated_at=now, updated_by=operator_eui)
    after = validate_policy(_with_values(stamped, changes))
    values = {name: getattr(after, name) for name in POLICY_FIELDS}
    upsert(
        conn,
        AnomalyDCCPolicy,
        ("srv",),
        {"srv": srv, "updated_at": now, "updated_by": operator_eui, **values},
    )
    audit.record(conn, actor=operator_eui, action="policy.set", target=f"srv:{srv}", reason=reason,
                 detail={"before": _policy_values(before), "after": values}, now=now)  # fmt: skip
    return after


def reset_dcc_policy(
    conn: Connection, *, srv: str, operator_eui: str, reason: str, now: datetime
) -> DCCPolicy:
    """Drop the operator's policy for `srv`: the code default applies again. Operator only; audited."""
    require_operator(conn, operator_eui)
    _require_reason(reason)
    before = dcc_policy(conn, srv)
    conn.execute(delete(AnomalyDCCPolicy).where(AnomalyDCCPolicy.srv == srv))
    after = DEFAULT_POLICIES[srv]
    audit.record(conn, actor=operator_eui, action="policy.reset", target=f"srv:{srv}", reason=reason,
                 detail={"before": _policy_values(before), "after": _policy_values(after)}, now=now)  # fmt: skip
    return after


def _with_values(p: DCCPolicy, values: Mapping[str, object]) -> DCCPolicy:
    """`p` with `values` (names of POLICY_FIELDS) checked for type and written in."""
    checked: dict[str, int | None] = {}
    for name in POLICY_FIELDS:
        value = values.get(name, getattr(p, name))
        checked[name] = _check_window(value) if name == "window_hours" else _positive(name, value)
    return DCCPolicy(
        srv=p.srv,
        window_hours=_check_window(checked["window_hours"]),
        default_max_requests=checked["default_max_requests"],
        default_max_devices=checked["default_max_devices"],
        cap_max_requests=checked["cap_max_requests"],
        cap_max_devices=checked["cap_max_devices"],
        dcc_max_requests=checked["dcc_max_requests"],
        dcc_max_devices=checked["dcc_max_devices"],
        max_image_bytes=checked["max_image_bytes"],
        max_devices_per_request=checked["max_devices_per_request"],
        source=p.source,
        updated_at=p.updated_at,
        updated_by=p.updated_by,
    )


def _policy_values(p: DCCPolicy) -> dict[str, int | None]:
    return {name: getattr(p, name) for name in POLICY_FIELDS}


def _require_reason(reason: str) -> None:
    if not reason or not reason.strip():
        raise OutOfBounds("a reason is required (it goes into the audit trail)")
    if len(reason) > 2000:
        raise OutOfBounds("the reason is over 2,000 characters")


# -- User thresholds -----------------------------------------------------------------------------------


def bound(cap: int | None, window_hours: int, policy_window_hours: int) -> int | None:
    """The most a User may set over `window_hours` for a cap per `policy_window_hours` (a rate; see the
    module docstring). None: no bound."""
    if cap is None:
        return None
    return max(1, cap * min(window_hours, policy_window_hours) // policy_window_hours)


@dataclass(frozen=True)
class Threshold:
    """The threshold that applies to one User and SRV, after defaults, scaling and clamping.

    `source` is ``user`` (the User set one), ``dcc-default`` (the DCC default applies) or ``none`` (nothing
    guards this SRV for this User). `bound_*` are the most the User could set over `window_hours`;
    `clamped` is True when a stored User value was above a since-lowered bound."""

    user_eui: str
    srv: str
    max_requests: int | None
    max_devices: int | None
    window_hours: int
    source: Literal["user", "dcc-default", "none"]
    bound_max_requests: int | None
    bound_max_devices: int | None
    clamped: bool = False

    @property
    def guarded(self) -> bool:
        return self.max_requests is not None or self.max_devices is not None


def _scaled_default(value: int | None, window: int, p: DCCPolicy) -> int | None:
    return bound(value, window, p.window_hours)


def _clamp(value: int | None, limit: int | None) -> tuple[int | None, bool]:
    if value is None or limit is None or value <= limit:
        return value, False
    return limit, True


def user_threshold(conn: Connection, user_eui: str, srv: str, policy: DCCPolicy | None = None) -> Threshold:
    """The effective threshold of `user_eui` for `srv` (one query, plus one for the policy if not given)."""
    p = policy if policy is not None else dcc_policy(conn, srv)
    row = conn.execute(_USER_ROW, {"user_eui": user_eui, "srv": srv}).first()
    if row is None:
        source: Literal["user", "dcc-default", "none"] = (
            "dcc-default"
            if p.default_max_requests is not None or p.default_max_devices is not None
            else "none"
        )
        return Threshold(
            user_eui, srv, p.default_max_requests, p.default_max_devices, p.window_hours, source,
            p.cap_max_requests, p.cap_max_devices,
        )  # fmt: skip
    window = int(row.window_hours)
    b_req = bound(p.cap_max_requests, window, p.window_hours)
    b_dev = bound(p.cap_max_devices, window, p.window_hours)
    req = (
        row.max_requests
        if row.max_requests is not None
        else _scaled_default(p.default_max_requests, window, p)
    )
    dev = (
        row.max_devices if row.max_devices is not None else _scaled_default(p.default_max_devices, window, p)
    )
    req, c1 = _clamp(req, b_req)
    dev, c2 = _clamp(dev, b_dev)
    return Threshold(user_eui, srv, req, dev, window, "user", b_req, b_dev, c1 or c2)


def effective_thresholds(conn: Connection, user_eui: str) -> dict[str, Threshold]:
    """The threshold that applies to `user_eui` for every SRV its roles may send, keyed by SRV.

    This is what the SSI's threshold screen shows. NotFound if `user_eui` is not a User."""
    roles = conn.execute(select(User.roles).where(User.eui == user_eui)).scalar_one_or_none()
    if roles is None:
        raise NotFound(f"{user_eui} is not a DCC User")
    mine = frozenset(roles.split())
    out: dict[str, Threshold] = {}
    for row in codes.served_srvs():
        if row.roles & mine:
            out[row.srv] = user_threshold(conn, user_eui, row.srv)
    return out


def _authorise_threshold_change(conn: Connection, user_eui: str, srv: str, actor_eui: str) -> None:
    _check_srv(srv)
    user = actor(conn, user_eui)
    if actor_eui != user_eui and not actor(conn, actor_eui).operator:
        raise NotPermitted(f"{actor_eui} may not change the thresholds of {user_eui}")
    row = codes.srv_row(srv)
    if row is None or not (row.roles & user.roles):
        raise NotPermitted(f"none of the roles of {user_eui} may send SRV {srv}")


def set_user_threshold(
    conn: Connection,
    *,
    user_eui: str,
    srv: str,
    max_requests: int | None,
    max_devices: int | None = None,
    window_hours: int = DEFAULT_WINDOW_HOURS,
    actor_eui: str,
    reason: str = "",
    now: datetime,
) -> Threshold:
    """Set the threshold of `user_eui` for `srv`: at most `max_requests` requests and (11.4 / 11.1 only)
    `max_devices` distinct devices within any `window_hours` (rolling; see `hanota.anomaly.counting`).

    The actor is the User itself or a DCC operator (NotPermitted otherwise). Values outside the DCC's
    bounds are refused with OutOfBounds naming the bound: at least 1; window 1–168 h; at most the policy's
    cap scaled to the window (`bound`). None leaves a field to the DCC default (so 11.4 stays guarded).
    Audited as ``threshold.set``; returns the effective threshold."""
    _authorise_threshold_change(conn, user_eui, srv, actor_eui)
    p = dcc_policy(conn, srv)
    window = _check_window(window_hours)
    req = _positive("max_requests", max_requests)
    dev = _positive("max_devices", max_devices)
    if dev is not None and srv not in DEVICE_SRVS:
        raise OutOfBounds(f"SRV {srv} carries no device list: max_devices does not apply")
    if req is None and dev is None and p.default_max_requests is None and p.default_max_devices is None:
        raise OutOfBounds(f"SRV {srv} has no DCC default: set max_requests")
    for name, value, cap in (
        ("max_requests", req, p.cap_max_requests),
        ("max_devices", dev, p.cap_max_devices),
    ):
        limit = bound(cap, window, p.window_hours)
        if value is not None and limit is not None and value > limit:
            raise OutOfBounds(
                f"{name} {value:,} is above the DCC bound of {limit:,} per {window} h "
                f"({cap:,} per {p.window_hours} h)"
            )
    before = user_threshold(conn, user_eui, srv, p)
    upsert(conn, AnomalyUserThreshold, ("user_eui", "srv"),
           {"user_eui": user_eui, "srv": srv, "max_requests": req, "max_devices": dev, "window_hours": window,
            "updated_at": now, "updated_by": actor_eui})  # fmt: skip
    after = user_threshold(conn, user_eui, srv, p)
    audit.record(conn, actor=actor_eui, action="threshold.set", target=f"user:{user_eui}/srv:{srv}",
                 reason=reason or "set by the User", now=now,
                 detail={"before": _threshold_values(before), "after": _threshold_values(after),
                         "stored": {"max_requests": req, "max_devices": dev, "window_hours": window}})  # fmt: skip
    return after


def clear_user_threshold(
    conn: Connection, *, user_eui: str, srv: str, actor_eui: str, reason: str = "", now: datetime
) -> Threshold:
    """Remove the User's own threshold for `srv`: the DCC default applies again. Same rights as setting."""
    _authorise_threshold_change(conn, user_eui, srv, actor_eui)
    p = dcc_policy(conn, srv)
    before = user_threshold(conn, user_eui, srv, p)
    conn.execute(
        delete(AnomalyUserThreshold).where(
            AnomalyUserThreshold.user_eui == user_eui, AnomalyUserThreshold.srv == srv
        )
    )
    after = user_threshold(conn, user_eui, srv, p)
    audit.record(conn, actor=actor_eui, action="threshold.clear", target=f"user:{user_eui}/srv:{srv}",
                 reason=reason or "cleared by the User", now=now,
                 detail={"before": _threshold_values(before), "after": _threshold_values(after)})  # fmt: skip
    return after


def _threshold_values(t: Threshold) -> dict[str, object]:
    return {"max_requests": t.max_requests, "max_devices": t.max_devices, "window_hours": t.window_hours,
            "source": t.source}  # fmt: skip
