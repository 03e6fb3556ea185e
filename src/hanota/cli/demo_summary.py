"""`hanota demo`'s summary, once its requests are done: per request where each listed device went and why,
when devices finished and when images reached the Comms Hubs (per region), which alerts went to whom, and
where to look next."""

from __future__ import annotations

import re
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

from sqlalchemy import func, select

from hanota.bootstrap import AppContext
from hanota.cli.demo_common import Grid, Login, Submitted, fmt_virtual, pct, quantiles, say
from hanota.clock import utc
from hanota.db.models import AlertOutbox, DistributionJob, RequestDevice
from hanota.duis.codes import alert_code, is_known_response_code, response_code
from hanota.lifecycle import HUB_REGIONS, Outcome, distribution_id
from hanota.supplier.receiver import Receiver

#: what each delivery failure means (the network model's vocabulary, `hanota.network.events`)
FAILURES = {
    "DeviceUnreachable": "the device never fetched the image before the hub gave up on it",
    "FileTransferFailure": "the download over the HAN failed",
    "FirmwareImageDiscarded": "the device discarded the downloaded image",
    "HardwareVersionMismatch": "the device's hardware version is outside the image's range",
    "ActivationFailure": "the device took the image but did not activate it",
}
_EUI = re.compile(r"\b(?:[0-9A-F]{2}-){7}[0-9A-F]{2}\b")
_SINGLE_HEX = re.compile(r"(?<![0-9A-Fx–-])0x[0-9A-F]+(?![0-9A-F–-])")


def _reason_kind(reason: str) -> str:
    """A validation reason without the device's own details (its hub's EUI, its hardware version)."""
    return _SINGLE_HEX.sub("<hex>", _EUI.sub("<EUI>", reason))


def _request_report(ctx: AppContext, s: Submitted) -> None:
    c = s.campaign
    with ctx.engine.connect() as conn:
        rows = conn.execute(
            select(RequestDevice.outcome, RequestDevice.reason, RequestDevice.state, RequestDevice.failure,
                   func.count())
            .where(RequestDevice.request_pk == s.request_pk)
            .group_by(RequestDevice.outcome, RequestDevice.reason, RequestDevice.state, RequestDevice.failure)
        ).all()  # fmt: skip
        last = conn.execute(
            select(func.max(RequestDevice.finished_at)).where(RequestDevice.request_pk == s.request_pk)
        ).scalar()
    listed = sum(int(r[4]) for r in rows)
    delivery: Counter[str] = Counter()
    excluded: Counter[tuple[str, str]] = Counter()
    for outcome, reason, state, failure, n in rows:
        if outcome == Outcome.ACCEPTED:
            delivery[f"{state}: {failure}" if failure else state] += int(n)
        else:
            excluded[(outcome, _reason_kind(reason or "-"))] += int(n)
    accepted, n_excluded = sum(delivery.values()), sum(excluded.values())
    meaning = response_code(s.code).meaning if is_known_response_code(s.code) else "not a DUIS answer"
    say()
    say(
        f"SR {c.srv} from {c.sender}: {listed:,} {c.model.device_type}s of model {c.model.model} listed. "
        f"The DSP answered {s.code}: {meaning}"
    )
    say(
        f"  validation: {accepted:,} accepted ({pct(accepted, listed)}), {n_excluded:,} excluded "
        f"({pct(n_excluded, listed)}); the reason of each exclusion is the one recorded per device (the "
        f"SSI's request page and CSV list them); by reason:"
    )
    grid = Grid(
        f"SR {c.srv} ({s.code}): where each listed device went",
        [
            ("devices", True),
            ("share", True),
            ("validation", False),
            ("why excluded / how delivery ended", False),
        ],
    )
    for ended, n in sorted(delivery.items(), key=lambda kv: (-kv[1], kv[0])):
        grid.rows.append([f"{n:,}", pct(n, listed), Outcome.ACCEPTED.value, ended])
    for (outcome, reason), n in sorted(excluded.items(), key=lambda kv: (-kv[1], kv[0])):
        grid.rows.append([f"{n:,}", pct(n, listed), outcome, reason])
    grid.show()
    failures = sorted({k.split(": ", 1)[1] for k in delivery if ": " in k})
    for failure in failures:
        say(f"  {failure}: {FAILURES.get(failure, 'as the CSP reported it')}")
    if last is not None:
        say(
            f"  last device finished {fmt_virtual((utc(last) - s.submitted_at).total_seconds())} (virtual) "
            "after submission"
        )


def _finish_table(ctx: AppContext, submitted: list[Submitted]) -> None:
    with ctx.engine.connect() as conn:
        finish = conn.execute(
            select(RequestDevice.request_pk, RequestDevice.region, RequestDevice.finished_at).where(
                RequestDevice.request_pk.in_([s.request_pk for s in submitted]),
                RequestDevice.outcome == Outcome.ACCEPTED,
                RequestDevice.finished_at.is_not(None),
            )
        ).all()
    grid = Grid(
        "devices finished (last event), per region: 50 % / 90 % / all, virtual time after submission",
        [("request", False), *((r, True) for r in HUB_REGIONS)],
    )
    for s in submitted:
        cells = [
            quantiles(
                [(utc(f) - s.submitted_at).total_seconds() for pk, region, f in finish
                 if pk == s.request_pk and region == r and f is not None]
            )
            for r in HUB_REGIONS
        ]  # fmt: skip
        grid.rows.append([f"SR {s.campaign.srv} {s.campaign.model.device_type}", *cells])
    grid.show()


def _wan_table(ctx: AppContext, submitted: list[Submitted]) -> None:
    """When the image reached the targets' Comms Hubs, per region and priority class: the CSP queue at work.

    Only this run's distributions: a gateway's network engine knows only its current generation's (earlier
    runs' distributions went to earlier engines). Times count from the request's submission."""
    by_pk = {s.request_pk: s for s in submitted}
    with ctx.engine.connect() as conn:
        jobs = conn.execute(
            select(DistributionJob.id, DistributionJob.request_pk, DistributionJob.region).where(
                DistributionJob.request_pk.in_(list(by_pk))
            )
        ).all()
    times: dict[tuple[str, str], list[float]] = defaultdict(list)
    unknown = 0
    runners = {r.region: r for r in ctx.runners}
    for job_id, pk, region in jobs:
        runner = runners.get(region)
        if runner is None or runner.engine is None or runner.epoch is None:
            unknown += 1
            continue
        try:
            res = runner.engine.results(distribution_id(job_id))
        except KeyError:  # not in this engine (a rebuilt gateway replays only its current generation)
            unknown += 1
            continue
        offset = (runner.epoch - by_pk[pk].submitted_at).total_seconds()
        times[(res.priority.value, region)].extend(
            offset + float(t) for t in res.ready if t == t
        )  # NaN: never
    grid = Grid(
        "image at the Comms Hubs (WAN), per region and firmware class: 50 % / 90 % / all, virtual time after "
        "submission (ESME/GSME images go first)",
        [("firmware class", False), *((r, True) for r in HUB_REGIONS)],
    )
    for priority in ("ESME_GSME", "HAN"):
        if any(k[0] == priority for k in times):
            grid.rows.append([priority, *(quantiles(times.get((priority, r), [])) for r in HUB_REGIONS)])
    grid.show()
    if unknown:
        say(f"  ({unknown} distribution(s) of this run are not in their gateway's current network engine)")


def _alerts_report(ctx: AppContext, submitted: list[Submitted], receiver: Receiver) -> None:
    pks = [s.request_pk for s in submitted]
    senders = {s.campaign.sender for s in submitted}
    with ctx.engine.connect() as conn:
        outbox = conn.execute(
            select(AlertOutbox.recipient_eui, AlertOutbox.code, func.count())
            .where(AlertOutbox.request_pk.in_(pks))
            .group_by(AlertOutbox.recipient_eui, AlertOutbox.code)
        ).all()
        shared_devices = conn.execute(
            select(func.count(func.distinct(AlertOutbox.device_id))).where(
                AlertOutbox.request_pk.in_(pks), AlertOutbox.recipient_eui.not_in(senders)
            )
        ).scalar_one()
    codes = sorted({code for _, code, _ in outbox})
    per_supplier: dict[str, dict[str, int]] = defaultdict(dict)
    for eui, code, n in outbox:
        per_supplier[eui][code] = int(n)
    received = receiver.by_supplier()
    grid = Grid(
        "DCC alerts this run caused, per supplier: written to the outbox / verified by the supplier's endpoint",
        [("supplier", False), *((c, True) for c in codes), ("total", True)],
    )
    order = sorted(per_supplier, key=lambda e: (e not in senders, e))
    for eui in order:
        written, got = per_supplier[eui], received.get(eui, {})
        grid.rows.append(
            [
                eui + (" (sender)" if eui in senders else ""),
                *(f"{written.get(c, 0):,} / {got.get(c, 0):,}" for c in codes),
                f"{sum(written.values()):,} / {sum(got.values()):,}",
            ]
        )
    say()
    grid.show()
    for code in codes:
        try:
            say(f"  {code}: {alert_code(code).meaning}")
        except KeyError:
            say(f"  {code}: (not in the product's alert code table)")
    others = [e for e in per_supplier if e not in senders]
    if others:
        n_others = sum(sum(per_supplier[e].values()) for e in others)
        say(
            f"  {len(others)} other supplier(s) got {n_others:,} alerts about {shared_devices:,} device(s): an alert "
            "goes to every supplier interested in the device, and for an IHD or PPMID that is both the home's "
            "electricity supplier (of its ESME) and its gas supplier (of its GSME); in those homes the other fuel "
            "has another supplier"
        )
    say(
        f"receiver: {receiver.unique:,} unique alerts verified, {receiver.duplicates:,} duplicate posts, "
        f"{receiver.rejected:,} refused"
    )


def summary(ctx: AppContext, submitted: list[Submitted], receiver: Receiver, wall0: float) -> None:
    start = min(s.submitted_at for s in submitted)
    say()
    say(
        f"=== summary: requests submitted at {start:%Y-%m-%d %H:%M} UTC (virtual); times below are virtual, "
        "after submission"
    )
    for s in submitted:
        _request_report(ctx, s)
    say()
    _finish_table(ctx, submitted)
    say()
    _wan_table(ctx, submitted)
    _alerts_report(ctx, submitted, receiver)
    say(f"wall time {time.monotonic() - wall0:.0f} s")


def next_steps(
    ctx: AppContext, url: str, logins: list[Login], speed: float, exit_when_done: bool, configured_port: int
) -> None:
    settings = ctx.settings
    hanota = command()
    say()
    say("=== where to look next")
    if exit_when_done:
        serve_url = f"http://127.0.0.1:{configured_port}"
        say(
            "  the service stopped with the demo (--exit-when-done). To look around, serve this data folder again: "
            f"`HANOTA_DATA_DIR={settings.data_dir} HANOTA_CLOCK_SPEED={speed:g} {hanota} serve` (port: HANOTA_PORT, "
            f"{configured_port}), or run the demo without --exit-when-done: it stays up after its summary until Ctrl-C"
        )
    else:
        serve_url = url
        say(f"  the service stays up at {url} until Ctrl-C")
    say(f"  web SSI: {serve_url}/ssi/ (requests with per-device outcomes and CSV, alerts, inventory, CPL)")
    for login in logins:
        how = (
            f"with password {login.password}"
            if login.password
            else f"with the password an earlier run printed (`{hanota} users set-password {login.eui}` sets a new one)"
        )
        say(f"    {login.who} signs in as {login.eui} {how}")
    say(
        "  DUIS response and alert codes: src/hanota/duis/codes.py; the README explains the alerts and the estate"
    )
    say(
        f"  data folder: {settings.data_dir} (the next demo reuses it; delete it to start again with a new estate)"
    )


def command() -> str:
    """How the user ran hanota (e.g. `.venv/bin/hanota`), for the commands the demo suggests."""
    argv0 = Path(sys.argv[0]) if sys.argv and sys.argv[0] else Path("hanota")
    return str(argv0) if argv0.name == "hanota" else "hanota"
