"""Planner output: a Rich terminal table, CSV files, PNG plots, and one self-contained HTML report.

`write_report(result, out_dir, sweep)` writes into `out_dir`:

| file | content |
|---|---|
| `completion.csv` | per region and class: targets, updated, p50/p90/p99 hours, binding bottleneck |
| `stages.csv` | per region and stage: mean hours, all updated devices and the slowest tenth |
| `bottlenecks.csv` | per region: WAN sessions and peak/saturated hours, HAN downloads, cache fill, counters |
| `failures.csv` | per region and reason: count and share |
| `hourly.csv` | per hour and region: devices updated, WAN busy, HAN downloads and slot use, cache fill |
| `sweep.csv` | (with a sweep) per run and region: parameter values, p50/p90/p99, updated share |
| `*.png` | completion, done per hour, utilisation, stages, failures (and sweep) |
| `report.html` | all of the above in one file, plots embedded as base64, no external assets |
"""

from __future__ import annotations

import base64
import csv
import html
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from hanota.capacity.planner import PERCENTILES, STAGES, PlanResult
from hanota.capacity.sweep import SweepResult
from hanota.network import FailureReason, PriorityClass


@dataclass(frozen=True, slots=True)
class ReportFiles:
    """What `write_report` wrote."""

    out_dir: Path
    csv: list[Path]
    png: list[Path]
    html: Path


def _h(value: float) -> str:
    return "–" if math.isnan(value) else f"{value:,.1f}"


def _pct(value: float) -> str:
    return "–" if math.isnan(value) else f"{value * 100:.1f} %"


# ---------------------------------------------------------------------------------------------- tables


def completion_rows(result: PlanResult) -> list[dict[str, Any]]:
    """One row per region and class (HAN, then competing ESME/GSME), then all regions' HAN devices."""
    rows: list[dict[str, Any]] = []
    for r in result.regions:
        classes = [(PriorityClass.HAN, r.han, r.binding_label)]
        if r.competing is not None:
            classes.append((PriorityClass.ESME_GSME, r.competing, ""))
        for cls, done, binding in classes:
            rows.append(
                {
                    "region": r.region.key,
                    "class": cls.value,
                    "targets": done.targets,
                    "updated": done.updated,
                    "updated_share": done.updated_share,
                    **{f"p{p}_h": done.percentiles_h[p] for p in PERCENTILES},
                    "binding": binding,
                }
            )
    o = result.overall
    rows.append(
        {
            "region": "all",
            "class": PriorityClass.HAN.value,
            "targets": o.targets,
            "updated": o.updated,
            "updated_share": o.updated_share,
            **{f"p{p}_h": o.percentiles_h[p] for p in PERCENTILES},
            "binding": "",
        }
    )
    return rows


def stage_rows(result: PlanResult) -> list[dict[str, Any]]:
    """One row per region and stage."""
    return [
        {
            "region": r.region.key,
            "stage": key,
            "bottleneck": label,
            "mean_h": r.stage_mean_h[key],
            "slowest_tenth_mean_h": r.stage_tail_h[key],
        }
        for r in result.regions
        for key, label in STAGES.items()
    ]


def bottleneck_rows(result: PlanResult) -> list[dict[str, Any]]:
    """One row per region: the capacity of each bottleneck and how hard it was used."""
    return [
        {
            "region": r.region.key,
            "hubs": r.hubs,
            "wan_sessions": r.sessions,
            "wan_bitrate_bps": r.bitrate_bps,
            "wan_time_per_hub_s": r.wan_time_s,
            "hub_transfers": r.stats.hub_transfers,
            "wan_busy_peak": r.wan_busy_peak,
            "wan_saturated_hours": r.wan_saturated_h,
            "han_downloads_peak": r.han_downloads_peak,
            "max_downloads_one_hub": r.stats.max_hub_downloads,
            "hub_busy_waits": r.stats.busy_waits,
            "cache_fill_peak": r.cache_fill_peak,
            "cache_hits": r.stats.cache_hits,
            "cache_evictions": r.stats.cache_evictions,
            "cache_overflows": r.stats.cache_overflows,
        }
        for r in result.regions
    ]


def failure_rows(result: PlanResult) -> list[dict[str, Any]]:
    """One row per region and failure reason."""
    return [
        {
            "region": r.region.key,
            "reason": reason.value,
            "count": r.failures[reason],
            "share": r.failures[reason] / r.devices,
        }
        for r in result.regions
        for reason in FailureReason
    ]


def hourly_rows(result: PlanResult) -> list[dict[str, Any]]:
    """One row per hour and region."""
    s = result.series
    rows = []
    for region in s.updated:
        cumulative = np.cumsum(s.updated[region])
        for k, hour in enumerate(s.hours.tolist()):
            rows.append(
                {
                    "hour": hour,
                    "region": region.key,
                    "updated": int(s.updated[region][k]),
                    "updated_cumulative": int(cumulative[k]),
                    "wan_busy": float(s.wan_busy[region][k]),
                    "han_downloads": float(s.han_downloads[region][k]),
                    "han_slot_use": float(s.han_slot_use[region][k]),
                    "cache_fill": float(s.cache_fill[region][k]),
                }
            )
    return rows


def sweep_rows(sweep: SweepResult) -> list[dict[str, Any]]:
    """One row per sweep run and region (and `all`)."""
    rows = []
    for pt in sweep.points:
        params = {p.name: label for p, label in zip(sweep.params, pt.labels, strict=True)}
        entries = [(r.key, done, STAGES[pt.binding[r]]) for r, done in pt.regions.items()]
        entries.append(("all", pt.overall, ""))
        for name, done, binding in entries:
            rows.append(
                {
                    **params,
                    "region": name,
                    "updated_share": done.updated_share,
                    **{f"p{p}_h": done.percentiles_h[p] for p in PERCENTILES},
                    "binding": binding,
                }
            )
    return rows


# ---------------------------------------------------------------------------------------------- terminal


_BOTTLENECK_LINES: tuple[tuple[str, str, Callable[[Any], str]], ...] = (
    ("WAN sessions", "wan_sessions", lambda v: f"{v:,}"),
    ("WAN seconds per hub transfer", "wan_time_per_hub_s", lambda v: f"{v:,.0f}"),
    ("WAN sessions busy, busiest hour", "wan_busy_peak", _pct),
    ("WAN hours at ≥ 99 % busy", "wan_saturated_hours", lambda v: f"{v:,.0f}"),
    ("HAN downloads in progress, busiest hour", "han_downloads_peak", lambda v: f"{v:,.0f}"),
    ("HAN downloads at once on one hub, most", "max_downloads_one_hub", str),
    ("HAN clients told to wait (all slots taken)", "hub_busy_waits", lambda v: f"{v:,}"),
    ("hub cache fill, fullest hour", "cache_fill_peak", _pct),
    ("hub cache evictions", "cache_evictions", lambda v: f"{v:,}"),
)
"""The terminal's bottleneck table: label, key of `bottleneck_rows`, format."""


def print_result(result: PlanResult, console: Console) -> None:
    """The headline tables: completion per region, where the time goes, bottlenecks, failures."""
    sc = result.scenario
    console.print(
        f"[bold]{sc.name}[/bold]: {sc.fleet.devices:,} HAN devices, image {sc.image.size_bytes:,} B, "
        f"seed {sc.seed}; ran in {result.wall_s:.2f} s ({result.events / max(result.wall_s, 1e-9):,.0f} events/s)"
    )
    table = Table(title="Completion (hours from submission to activation, over updated devices)")
    for col in ("region", "class", "targets", "updated", "p50 h", "p90 h", "p99 h", "binding bottleneck"):
        if col in ("region", "class", "binding bottleneck"):
            table.add_column(col)
        else:
            table.add_column(col, justify="right", no_wrap=True)
    for row in completion_rows(result):
        table.add_row(
            row["region"],
            row["class"],
            f"{row['targets']:,}",
            _pct(row["updated_share"]),
            *(_h(row[f"p{p}_h"]) for p in PERCENTILES),
            row["binding"],
        )
    console.print(table)

    stages = Table(title="Where the time goes: mean hours per stage (all updated / slowest tenth)")
    stages.add_column("stage")
    for r in result.regions:
        stages.add_column(r.region.key, justify="right")
    for key, label in STAGES.items():
        stages.add_row(
            label, *(f"{_h(r.stage_mean_h[key])} / {_h(r.stage_tail_h[key])}" for r in result.regions)
        )
    console.print(stages)

    bott = Table(title="Bottlenecks: capacity and how hard it was used")
    bott.add_column("bottleneck")
    for r in result.regions:
        bott.add_column(r.region.key, justify="right", no_wrap=True)
    rows = bottleneck_rows(result)
    for label, key, fmt in _BOTTLENECK_LINES:
        bott.add_row(label, *(fmt(b[key]) for b in rows))
    console.print(bott)

    fails = Table(title="Devices failing, by reason (share of the region's devices)")
    fails.add_column("reason")
    for r in result.regions:
        fails.add_column(r.region.key, justify="right")
    for reason in FailureReason:
        fails.add_row(reason.value, *(_pct(r.failures[reason] / r.devices) for r in result.regions))
    console.print(fails)


def print_sweep(sweep: SweepResult, console: Console) -> None:
    """Completion against the swept parameters."""
    table = Table(title=f"Sweep of {sweep.scenario.name}: completion hours, p50/p90/p99")
    for p in sweep.params:
        table.add_column(p.name, overflow="fold")
    regions = list(sweep.points[0].regions) if sweep.points else []
    for region in regions:
        table.add_column(region.key, justify="right", no_wrap=True)
    table.add_column("all", justify="right", no_wrap=True)
    for pt in sweep.points:
        cells = [
            "/".join(_h(c.percentiles_h[p]) for p in PERCENTILES)
            for c in [*(pt.regions[r] for r in regions), pt.overall]
        ]
        table.add_row(*pt.labels, *cells)
    console.print(table)


# ---------------------------------------------------------------------------------------------- files


def _write_csv(path: Path, rows: Sequence[dict[str, Any]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        if rows:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    return path


def write_csvs(result: PlanResult, out_dir: Path, sweep: SweepResult | None = None) -> list[Path]:
    """Write the CSV files into `out_dir`."""
    paths = [
        _write_csv(out_dir / "completion.csv", completion_rows(result)),
        _write_csv(out_dir / "stages.csv", stage_rows(result)),
        _write_csv(out_dir / "bottlenecks.csv", bottleneck_rows(result)),
        _write_csv(out_dir / "failures.csv", failure_rows(result)),
        _write_csv(out_dir / "hourly.csv", hourly_rows(result)),
    ]
    if sweep is not None:
        paths.append(_write_csv(out_dir / "sweep.csv", sweep_rows(sweep)))
    return paths


_PERCENT_COLUMNS = ("share", "wan_busy", "han_slot_use", "cache_fill")
"""HTML columns whose values are shares, shown as percentages (a key equal to or ending in one)."""


def _cell(value: Any, key: str = "") -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "–"
        if key.endswith(_PERCENT_COLUMNS) or (key.endswith("_peak") and key != "han_downloads_peak"):
            return f"{value * 100:.1f} %"
        return f"{value:,.3g}" if abs(value) < 1 else f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return html.escape(str(value))


def _html_table(rows: Sequence[dict[str, Any]], caption: str) -> str:
    if not rows:
        return ""
    head = "".join(f"<th>{html.escape(k)}</th>" for k in rows[0])
    body = "".join(
        "<tr>"
        + "".join(
            f"<td class='t'>{_cell(v, k)}</td>" if isinstance(v, str) else f"<td>{_cell(v, k)}</td>"
            for k, v in row.items()
        )
        + "</tr>"
        for row in rows
    )
    return (
        f"<div class='wide'><table><caption>{html.escape(caption)}</caption>"
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"
    )


def _html_img(path: Path, alt: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<figure><img alt="{html.escape(alt)}" src="data:image/png;base64,{data}"></figure>'


def _flatten(prefix: str, value: Any) -> Iterable[tuple[str, Any]]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _flatten(f"{prefix}.{k}" if prefix else str(k), v)
    else:
        yield prefix, value


_CSS = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:70em;color:#222;padding:0 1em}
table{border-collapse:collapse;margin:1em 0;font-size:.9em}caption{text-align:left;font-weight:600;padding:.3em 0}
th,td{border:1px solid #ccc;padding:.25em .6em;text-align:right}th{background:#f3f3f3}
td:first-child,th:first-child{text-align:left}figure{margin:1em 0}img{max-width:100%}
.note{color:#555;font-size:.9em}.wide{overflow-x:auto}td.t{text-align:left}.headline{font-size:1.05em}
"""


def headline(result: PlanResult) -> list[str]:
    """The answer in a sentence per region: p50/p90/p99 in hours and days, updated share, what binds."""
    lines = []
    for r in result.regions:
        p = r.han.percentiles_h
        lines.append(
            f"{r.region.key}: {r.devices:,} devices, {r.han.updated_share:.1%} updated; half of them within "
            f"{_h(p[50])} h, 90 % within {_h(p[90])} h ({_days(p[90])}), 99 % within {_h(p[99])} h "
            f"({_days(p[99])}); binding bottleneck: {r.binding_label}"
        )
    return lines


def _days(hours: float) -> str:
    return "–" if math.isnan(hours) else f"{hours / 24:.1f} days"


def write_html(
    result: PlanResult,
    out_dir: Path,
    plots: Sequence[Path],
    sweep: SweepResult | None = None,
    sweep_png: Path | None = None,
) -> Path:
    """Write `report.html`: every table and plot in one file, no external assets."""
    sc = result.scenario
    parts = [
        f"<h1>Capacity plan: {html.escape(sc.name)}</h1>",
        f"<p>{html.escape(sc.description)}</p>" if sc.description else "",
        f"<p class='note'>{sc.fleet.devices:,} HAN devices, {sc.fleet.devices_per_hub} per Comms Hub, "
        f"image {sc.image.size_bytes:,} B, sleepy share {sc.fleet.sleepy_share:.0%}, "
        f"competing ESME/GSME on {sc.competing.hub_share:.0%} of hubs, seed {sc.seed}. "
        f"Completion is hours from submission (hour {sc.submit_at_h:g} after the epoch's 00:00) to "
        f"ActivationSuccess; percentiles are over the devices that were updated. The binding bottleneck "
        f"is the stage with the largest mean among the slowest tenth of updated devices. "
        f"Run: {result.wall_s:.2f} s wall, {result.events:,} events.</p>",
        "<ul class='headline'>" + "".join(f"<li>{html.escape(x)}</li>" for x in headline(result)) + "</ul>",
        _html_table(completion_rows(result), "Completion (hours)"),
        _html_table(stage_rows(result), "Where the time goes (hours)"),
        _html_table(bottleneck_rows(result), "Bottlenecks"),
        _html_table(failure_rows(result), "Failures by reason"),
        *(_html_img(p, p.stem) for p in plots),
    ]
    if sweep is not None:
        parts.append("<h2>Sweep</h2>")
        parts.append(_html_table(sweep_rows(sweep), "Completion against the swept parameters (hours)"))
        if sweep_png is not None:
            parts.append(_html_img(sweep_png, "sweep"))
    params = [{"parameter": k, "value": v} for k, v in _flatten("", sc.profile.to_mapping())]
    parts.append(_html_table(params, "Network parameters used (profile.toml with the scenario's overrides)"))
    doc = (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>Capacity plan: {html.escape(sc.name)}</title><style>{_CSS}</style></head><body>"
        + "\n".join(p for p in parts if p)
        + "</body></html>"
    )
    path = out_dir / "report.html"
    path.write_text(doc, encoding="utf-8")
    return path


def write_report(result: PlanResult, out_dir: Path, sweep: SweepResult | None = None) -> ReportFiles:
    """Write CSVs, PNGs and the HTML report of a run (and of a sweep) into `out_dir` (created)."""
    from hanota.capacity.plots import sweep_plot, write_plots

    out_dir.mkdir(parents=True, exist_ok=True)
    csvs = write_csvs(result, out_dir, sweep)
    pngs = write_plots(result, out_dir)
    sweep_png = sweep_plot(sweep, out_dir / "sweep.png") if sweep is not None else None
    page = write_html(result, out_dir, pngs, sweep, sweep_png)
    return ReportFiles(out_dir=out_dir, csv=csvs, png=[*pngs, *([sweep_png] if sweep_png else [])], html=page)
