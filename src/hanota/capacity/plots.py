"""PNG plots of a planner run and of a sweep, drawn with matplotlib's Agg canvas.

Figures are built as `matplotlib.figure.Figure` objects on their own `FigureCanvasAgg`: pyplot is never
imported, so no global backend is selected and no figure registry is touched; matplotlib itself is
imported only when a plot is drawn.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hanota.capacity.planner import STAGES, PlanResult
from hanota.capacity.sweep import SweepResult
from hanota.lifecycle import Region
from hanota.network import FailureReason

if TYPE_CHECKING:
    from matplotlib.figure import Figure

REGION_COLOURS = {Region.NORTH: "#1f77b4", Region.CENTRAL: "#ff7f0e", Region.SOUTH: "#2ca02c"}
# Regions with the same parameters draw the same curve: a line style and a marker each keep all three
# visible where they overlap.
REGION_LINES = {Region.NORTH: "-", Region.CENTRAL: "--", Region.SOUTH: ":"}
REGION_MARKERS = {Region.NORTH: "o", Region.CENTRAL: "s", Region.SOUTH: "^"}
LOG_SCALE_RATIO = 20.0
"""A sweep plot switches to a logarithmic y axis when its largest value is this many times its smallest."""


def _style(region: Region) -> dict[str, Any]:
    return {"color": REGION_COLOURS[region], "linestyle": REGION_LINES[region]}


def _figure(rows: int = 1, height: float = 4.2) -> tuple[Figure, list[Any]]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9.0, height * rows), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    axes = [fig.add_subplot(rows, 1, k + 1) for k in range(rows)]
    return fig, axes


def _save(fig: Figure, path: Path) -> Path:
    fig.savefig(path, format="png")
    return path


def _shade_windows(ax: Any, result: PlanResult) -> None:
    """Shade the night windows on an axis whose x is hours after the epoch."""
    window = result.scenario.profile.window
    if window.always_open or not len(result.series.hours):
        return
    end_h = float(result.series.hours[-1]) + 1.0
    for day in range(int(end_h // 24) + 2):
        lo = day * 24 + window.start_h
        hi = lo + window.hours_per_day
        if lo < end_h:
            ax.axvspan(lo, min(hi, end_h), color="#999999", alpha=0.12, linewidth=0)


def completion_plot(result: PlanResult, path: Path) -> Path:
    """Share of each region's devices updated against hours since submission, with p50/p90/p99 marks."""
    fig, (ax,) = _figure()
    for r in result.regions:
        done = r.han.completion_h
        if not len(done):
            continue
        share = np.arange(1, len(done) + 1) / r.han.targets
        ax.plot(done, share * 100, **_style(r.region), label=f"{r.region.key} ({r.devices:,} devices)")
        for p, v in r.han.percentiles_h.items():
            ax.plot(
                [v],
                [p * r.han.updated_share],
                marker=REGION_MARKERS[r.region],
                color=REGION_COLOURS[r.region],
                markersize=5,
            )
    ax.set_xlabel("hours since the HAN distributions were submitted")
    ax.set_ylabel("devices updated (%)")
    ax.set_ylim(0, 100)
    ax.set_xlim(left=0)
    ax.set_title(f"{result.scenario.name}: completion (dots: p50/p90/p99 of updated devices)")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    return _save(fig, path)


def done_per_hour_plot(result: PlanResult, path: Path) -> Path:
    """Devices updated per hour, per region; night windows shaded."""
    fig, (ax,) = _figure()
    hours = result.series.hours
    for region, counts in result.series.updated.items():
        ax.step(hours, counts, where="post", **_style(region), label=region.key)
    _shade_windows(ax, result)
    ax.set_xlabel("hours after the epoch (shaded: WAN window)")
    ax.set_ylabel("devices updated per hour")
    ax.set_title(f"{result.scenario.name}: devices updated per hour")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper right")
    return _save(fig, path)


def utilisation_plot(result: PlanResult, path: Path) -> Path:
    """Three panels over time: WAN sessions busy, HAN downloads in progress, hub cache fill.

    The HAN panel counts downloads rather than showing them as a share of every hub's download slots:
    with one device per hub that share is a fraction of a percent even when the HAN carries thousands of
    downloads (the slot share is in `hourly.csv`, and slot waits in the bottleneck table).
    """
    fig, axes = _figure(rows=3, height=2.8)
    hours = result.series.hours
    panels = (
        (result.series.wan_busy, 100.0, "WAN sessions busy (%)"),
        (result.series.han_downloads, 1.0, "HAN downloads\nin progress"),
        (result.series.cache_fill, 100.0, "hub cache fill (%)"),
    )
    for ax, (series, scale, label) in zip(axes, panels, strict=True):
        for region, values in series.items():
            ax.step(hours, values * scale, where="post", **_style(region), label=region.key)
        _shade_windows(ax, result)
        ax.set_ylabel(label)
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
    axes[0].set_ylim(0, 105)
    axes[0].set_title(f"{result.scenario.name}: utilisation of each bottleneck (hourly means)")
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center", ncols=3)
    axes[-1].set_xlabel("hours after the epoch (shaded: WAN window)")
    return _save(fig, path)


def failures_plot(result: PlanResult, path: Path) -> Path:
    """Share of each region's devices that failed, stacked by reason."""
    fig, (ax,) = _figure(height=3.2)
    names = [r.region.key for r in result.regions]
    left = np.zeros(len(result.regions))
    for reason in FailureReason:
        shares = np.array([r.failures[reason] / r.devices * 100 for r in result.regions])
        ax.barh(names, shares, left=left, label=reason.value)
        left += shares
    ax.set_xlabel("devices failed (%)")
    ax.set_title(f"{result.scenario.name}: failures by reason")
    fig.legend(loc="outside lower center", ncols=3, fontsize="small")
    ax.grid(alpha=0.3, axis="x")
    return _save(fig, path)


def stages_plot(result: PlanResult, path: Path) -> Path:
    """Where the time goes: mean hours per stage, all updated devices and the slowest tenth."""
    fig, (ax,) = _figure(height=3.6)
    labels = []
    rows = []
    for r in result.regions:
        labels += [f"{r.region.key} (mean)", f"{r.region.key} (≥ p90)"]
        rows += [r.stage_mean_h, r.stage_tail_h]
    left = np.zeros(len(rows))
    for key, label in STAGES.items():
        values = np.nan_to_num(np.array([row[key] for row in rows]))
        ax.barh(labels, values, left=left, label=label)
        left += values
    ax.invert_yaxis()
    ax.set_xlabel("hours")
    ax.set_title(f"{result.scenario.name}: time per stage")
    fig.legend(loc="outside lower center", ncols=3, fontsize="small")
    ax.grid(alpha=0.3, axis="x")
    return _save(fig, path)


def sweep_plot(sweep: SweepResult, path: Path) -> Path:
    """Completion time against the swept parameter(s).

    One parameter: p50 (dashed) and p90 (solid) per region. Two parameters: overall p90 against the
    first, one line per value of the second.
    """
    fig, (ax,) = _figure()
    first = sweep.params[0]
    x = list(range(len(first.values)))
    drawn: list[float] = []
    if len(sweep.params) == 1:
        for region in Region:
            p90 = [pt.regions[region].percentiles_h[90] for pt in sweep.points if region in pt.regions]
            p50 = [pt.regions[region].percentiles_h[50] for pt in sweep.points if region in pt.regions]
            if p90:
                colour, marker = REGION_COLOURS[region], REGION_MARKERS[region]
                ax.plot(x, p90, marker=marker, color=colour, label=f"{region.key} p90")
                ax.plot(x, p50, marker=marker, linestyle="--", color=colour, label=f"{region.key} p50")
                drawn += p90 + p50
    else:
        second = sweep.params[1]
        n2 = len(second.values)
        for k, label in enumerate(second.labels):
            p90 = [sweep.points[i * n2 + k].overall.percentiles_h[90] for i in x]
            ax.plot(x, p90, marker="o", label=f"{second.name}={label} (p90, all regions)")
            drawn += p90
    finite = [v for v in drawn if np.isfinite(v) and v > 0]
    if finite and max(finite) >= LOG_SCALE_RATIO * min(finite):
        from matplotlib.ticker import FuncFormatter

        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.yaxis.set_minor_formatter(FuncFormatter(_minor_log_label))
        ax.set_ylabel("completion (hours since submission, log scale)")
    else:
        ax.set_ylim(bottom=0)
        ax.set_ylabel("completion (hours since submission)")
    ax.set_xticks(x, list(first.labels))
    ax.set_xlabel(first.name)
    ax.set_title(f"{sweep.scenario.name}: completion against {' × '.join(p.name for p in sweep.params)}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    return _save(fig, path)


def _minor_log_label(value: float, _pos: int) -> str:
    """Label the 2× and 5× minor ticks of a log axis in plain numbers; leave the rest blank."""
    if value <= 0:
        return ""
    mantissa = value / 10 ** math.floor(math.log10(value))
    return f"{value:g}" if any(abs(mantissa - m) < 1e-6 for m in (2.0, 5.0)) else ""


def write_plots(result: PlanResult, out_dir: Path) -> list[Path]:
    """Write every plot of a run into `out_dir`; returns the paths."""
    return [
        completion_plot(result, out_dir / "completion.png"),
        done_per_hour_plot(result, out_dir / "done_per_hour.png"),
        utilisation_plot(result, out_dir / "utilisation.png"),
        stages_plot(result, out_dir / "stages.png"),
        failures_plot(result, out_dir / "failures.png"),
    ]
