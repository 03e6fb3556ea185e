"""`hanota quarantine …` and `hanota thresholds …`: the DCC operator's side of anomaly detection.

Operator actions act as `--operator` (default: the estate's DCC operator, 90-B3-D5-1F-60-00-00-01), which
must be an Active User with role DCC; every change is audited with that identity and the `--reason`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import typer
from rich.table import Table
from sqlalchemy import Connection, Engine

from hanota.anomaly import audit, counting, quarantine, thresholds
from hanota.anomaly.access import issue_token, require_operator, revoke_tokens
from hanota.anomaly.errors import AnomalyError
from hanota.bootstrap import build_context
from hanota.cli.common import EXIT_REFUSED, console, fail, load_settings, migrated_engine
from hanota.clock import SystemClock
from hanota.errors import HanotaError
from hanota.estate.catalogue import DCC_OPERATOR_EUI
from hanota.lifecycle import QuarantineStatus

quarantine_app = typer.Typer(
    help="Requests held by anomaly detection: list, release (process as if just received) or delete.",
    no_args_is_help=True,
)
thresholds_app = typer.Typer(
    help="Anomaly-detection thresholds per User, the DCC's policies, the audit trail, API tokens.",
    no_args_is_help=True,
)
T = TypeVar("T")

OperatorOpt = Annotated[str, typer.Option("--operator", help="the acting DCC operator's EUI")]
ReasonOpt = Annotated[str, typer.Option("--reason", help="why (goes into the audit trail)")]


def _n(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"


def _limits(max_requests: int | None, max_devices: int | None, window_hours: int) -> str:
    """`at most 1 request and 2,000 devices per 24 h`; `no limit per 24 h`."""
    parts = [
        f"{v:,} {noun}{'' if v == 1 else 's'}"
        for v, noun in ((max_requests, "request"), (max_devices, "device"))
        if v is not None
    ]
    return (
        f"at most {' and '.join(parts)} per {window_hours} h" if parts else f"no limit per {window_hours} h"
    )


def _detail(detail: dict[str, Any]) -> str:
    """An audit entry's detail as text, not a Python dict: `key=value, …`; a nested record (before/after)
    as `key: k=v, …` and records separated by `; `."""

    def value(v: Any) -> str:
        if v is None:
            return "none"
        if isinstance(v, list):
            return ",".join(value(x) for x in v)
        return str(v)

    def flat(d: dict[str, Any]) -> str:
        return ", ".join(f"{k}={value(v)}" for k, v in sorted(d.items()) if not isinstance(v, dict))

    parts = [flat(detail)] if any(not isinstance(v, dict) for v in detail.values()) else []
    parts += [f"{k}: {flat(v)}" for k, v in sorted(detail.items()) if isinstance(v, dict)]
    return "; ".join(parts)


def _in_store(work: Callable[[Connection], T], engine: Engine | None = None) -> T:
    """Run `work` in one transaction on the configured store; a refusal is printed and exits 1."""
    eng = engine if engine is not None else migrated_engine(load_settings())
    try:
        with eng.begin() as conn:
            return work(conn)
    except (AnomalyError, HanotaError) as e:
        fail(f"refused: {e.message}", EXIT_REFUSED)
    finally:
        eng.dispose()


# -- quarantine ---------------------------------------------------------------------------------------------


@quarantine_app.command("list")
def quarantine_list(
    user: Annotated[str | None, typer.Option(help="only this User's requests")] = None,
    status: Annotated[
        str, typer.Option(help=" | ".join([*QuarantineStatus, "all"]))
    ] = QuarantineStatus.QUARANTINED.value,
    srv: Annotated[str | None, typer.Option(help="only this SRV")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 100,
) -> None:
    """List quarantined requests (by default those awaiting a decision), oldest first."""
    entries = _in_store(
        lambda conn: quarantine.list_quarantined(
            conn, user_eui=user, status=None if status == "all" else status, srv=srv, limit=limit
        )
    )
    t = Table(title=f"Quarantined requests ({status})")
    for col in ("ref", "received", "request ID", "SRV", "breach", "devices", "status", "decided", "why held"):
        t.add_column(col)
    for e in entries:
        decided = f"{e.decided_by} {e.decided_at:%Y-%m-%d %H:%M} → {e.outcome_code}" if e.decided_at else ""
        t.add_row(str(e.event_ref), f"{e.received_at:%Y-%m-%d %H:%M:%S}", e.request_id, e.srv, e.kind,
                  f"{e.device_count:,}", e.status, decided, e.reason)  # fmt: skip
    console.print(t)
    console.print(f"{len(entries)} shown")


def _decide(action: str, event_ref: int, operator: str, reason: str) -> None:
    settings = load_settings()
    ctx = build_context(settings, clock=SystemClock())
    decide = quarantine.release if action == "release" else quarantine.delete
    d = _in_store(
        lambda conn: decide(conn, ctx.dsp, event_ref=event_ref, operator_eui=operator, reason=reason,
                            now=ctx.clock.now()),
        ctx.engine,
    )  # fmt: skip
    console.print(
        f"quarantine event {event_ref} ({d.entry.request_id}, SRV {d.entry.srv}) {d.entry.status} by "
        f"{operator}; the User was answered {d.response_code} (outbox alert {d.notice_alert_id})"
    )


@quarantine_app.command("release")
def quarantine_release(
    event_ref: Annotated[int, typer.Argument(help="the QuarantineEventRef")],
    reason: ReasonOpt,
    operator: OperatorOpt = DCC_OPERATOR_EUI,
) -> None:
    """Release a quarantined request: it is processed exactly as if just received, counted, and its
    answer goes to the User through the alert outbox."""
    _decide("release", event_ref, operator, reason)


@quarantine_app.command("delete")
def quarantine_delete(
    event_ref: Annotated[int, typer.Argument(help="the QuarantineEventRef")],
    reason: ReasonOpt,
    operator: OperatorOpt = DCC_OPERATOR_EUI,
) -> None:
    """Delete a quarantined request: never processed; the User gets a final E43 answer."""
    _decide("delete", event_ref, operator, reason)


# -- thresholds ---------------------------------------------------------------------------------------------


@thresholds_app.command("show")
def thresholds_show(user: Annotated[str, typer.Argument(help="the User's EUI")]) -> None:
    """The thresholds that apply to a User (its own or the DCC default), with what it used in each window."""
    now = SystemClock().now()

    def work(conn: Connection) -> list[tuple[thresholds.Threshold, counting.Usage]]:
        return [
            (t, counting.window_usage(conn, user, srv, t.window_hours, now))
            for srv, t in thresholds.effective_thresholds(conn, user).items()
        ]

    rows = _in_store(work)
    t = Table(title=f"Thresholds of {user}")
    for col in (
        "SRV",
        "source",
        "max requests",
        "max devices",
        "window",
        "used (requests / devices)",
        "bound",
    ):
        t.add_column(col)
    for th, used in rows:
        t.add_row(th.srv, th.source + (" (clamped)" if th.clamped else ""), _n(th.max_requests),
                  _n(th.max_devices), f"{th.window_hours} h", f"{used.requests:,} / {used.devices:,}",
                  f"{_n(th.bound_max_requests)} / {_n(th.bound_max_devices)}")  # fmt: skip
    console.print(t)


@thresholds_app.command("set")
def thresholds_set(
    user: Annotated[str, typer.Argument(help="the User's EUI")],
    srv: Annotated[str, typer.Argument(help="the SRV, e.g. 11.4")],
    reason: ReasonOpt,
    max_requests: Annotated[int | None, typer.Option(help="requests per window (none: the default)")] = None,
    max_devices: Annotated[
        int | None, typer.Option(help="devices per window, 11.4/11.1 (none: default)")
    ] = None,
    window_hours: Annotated[int, typer.Option(help="rolling window, 1–168 hours")] = 24,
    operator: OperatorOpt = DCC_OPERATOR_EUI,
) -> None:
    """Set a User's own threshold on its behalf (within the DCC bounds)."""
    now = SystemClock().now()
    th = _in_store(lambda conn: thresholds.set_user_threshold(
        conn, user_eui=user, srv=srv, max_requests=max_requests, max_devices=max_devices,
        window_hours=window_hours, actor_eui=operator, reason=reason, now=now,
    ))  # fmt: skip
    console.print(f"{user} SRV {srv}: {_limits(th.max_requests, th.max_devices, th.window_hours)}")


@thresholds_app.command("clear")
def thresholds_clear(
    user: Annotated[str, typer.Argument(help="the User's EUI")],
    srv: Annotated[str, typer.Argument(help="the SRV")],
    reason: ReasonOpt,
    operator: OperatorOpt = DCC_OPERATOR_EUI,
) -> None:
    """Remove a User's own threshold: the DCC default applies again."""
    now = SystemClock().now()
    th = _in_store(lambda conn: thresholds.clear_user_threshold(
        conn, user_eui=user, srv=srv, actor_eui=operator, reason=reason, now=now
    ))  # fmt: skip
    console.print(
        f"{user} SRV {srv}: {th.source} applies ({_limits(th.max_requests, th.max_devices, th.window_hours)})"
    )


@thresholds_app.command("policy")
def thresholds_policy() -> None:
    """The DCC policy of every SRV: default User threshold, User bounds, DCC-wide threshold, attribute limits."""
    policies = _in_store(thresholds.dcc_policies)
    t = Table(title="DCC anomaly-detection policies (per window)")
    for col in ("SRV", "window", "default req / dev", "User bound req / dev", "DCC-wide req / dev",
                "max image", "max devices / request", "source"):  # fmt: skip
        t.add_column(col)
    for p in policies:
        t.add_row(p.srv, f"{p.window_hours} h", f"{_n(p.default_max_requests)} / {_n(p.default_max_devices)}",
                  f"{_n(p.cap_max_requests)} / {_n(p.cap_max_devices)}",
                  f"{_n(p.dcc_max_requests)} / {_n(p.dcc_max_devices)}", _n(p.max_image_bytes),
                  _n(p.max_devices_per_request), f"{p.source} ({p.updated_by})")  # fmt: skip
    console.print(t)


@thresholds_app.command("policy-set")
def thresholds_policy_set(
    srv: Annotated[str, typer.Argument(help="the SRV")],
    changes: Annotated[list[str], typer.Argument(help="FIELD=VALUE … (VALUE 'none': no such limit)")],
    reason: ReasonOpt,
    operator: OperatorOpt = DCC_OPERATOR_EUI,
) -> None:
    """Change fields of an SRV's DCC policy, e.g. `dcc_max_devices=3000000 max_image_bytes=1048576`.
    Fields: window_hours, default_max_requests, default_max_devices, cap_max_requests, cap_max_devices,
    dcc_max_requests, dcc_max_devices, max_image_bytes, max_devices_per_request."""
    parsed: dict[str, int | None] = {}
    for item in changes:
        name, sep, value = item.partition("=")
        if not sep or (value != "none" and not value.isdigit()):
            fail(f"refused: {item!r} is not FIELD=NUMBER or FIELD=none")
        parsed[name.strip()] = None if value == "none" else int(value)
    now = SystemClock().now()
    p = _in_store(lambda conn: thresholds.set_dcc_policy(
        conn, srv=srv, changes=parsed, operator_eui=operator, reason=reason, now=now
    ))  # fmt: skip
    console.print(f"SRV {srv} policy set: " + ", ".join(f"{k}={_n(getattr(p, k))}" for k in parsed))


@thresholds_app.command("policy-reset")
def thresholds_policy_reset(
    srv: Annotated[str, typer.Argument(help="the SRV")],
    reason: ReasonOpt,
    operator: OperatorOpt = DCC_OPERATOR_EUI,
) -> None:
    """Drop the operator's policy for an SRV: the code defaults apply again."""
    now = SystemClock().now()
    _in_store(
        lambda conn: thresholds.reset_dcc_policy(conn, srv=srv, operator_eui=operator, reason=reason, now=now)
    )
    console.print(f"SRV {srv}: code default policy")


@thresholds_app.command("audit")
def thresholds_audit(
    target: Annotated[
        str | None, typer.Option(help="e.g. quarantine:7, srv:11.4, user:<EUI>/srv:11.4")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 50,
) -> None:
    """The anomaly-detection audit trail, newest first: who, when, what, why."""
    entries = _in_store(lambda conn: audit.list_audit(conn, target=target, limit=limit))
    t = Table(title="Anomaly-detection audit trail")
    for col in ("when", "who", "action", "target", "why", "detail"):
        t.add_column(col)
    for e in entries:
        t.add_row(f"{e.at:%Y-%m-%d %H:%M:%S}", e.actor_eui, e.action, e.target, e.reason, _detail(e.detail))
    console.print(t)


@thresholds_app.command("token")
def thresholds_token(
    user: Annotated[str, typer.Argument(help="the User the token acts as")],
    reason: ReasonOpt,
    revoke: Annotated[bool, typer.Option(help="revoke the User's tokens instead")] = False,
    operator: OperatorOpt = DCC_OPERATOR_EUI,
) -> None:
    """Issue a bearer token of the anomaly JSON API (/api/v1/anomaly) for a User (printed once), or revoke."""
    now = SystemClock().now()

    def work(conn: Connection) -> str:
        require_operator(conn, operator)
        if revoke:
            return (
                f"revoked {revoke_tokens(conn, user_eui=user, revoked_by=operator, reason=reason, now=now)}"
            )
        return issue_token(conn, user_eui=user, issued_by=operator, reason=reason, now=now)

    out = _in_store(work)
    console.print(out if revoke else f"token for {user} (shown once): {out}", soft_wrap=True)
