"""The capacity planner: a whole scenario through the network engine, as fast as it goes, and the answers.

`run_scenario(scenario)` builds the fleet, runs one `NetworkEngine` per region (the same engine a live CSP
gateway drives, with `emit_events=False`) until every target has its last event, and reports:

- completion time per region: hours from the HAN submission to `ActivationSuccess`, percentiles
  p50/p90/p99 over the devices that were updated (the failure shares are reported beside them);
- devices updated per hour over time;
- utilisation of each bottleneck over time: WAN sessions busy (fraction of the region's sessions), HAN
  downloads in progress (and as a fraction of the hubs' download slots), hub cache fill (bytes held as a
  fraction of all hubs' cache capacity);
- where the time goes (mean hours per stage) and the **binding bottleneck**: the stage with the largest
  mean among the slowest tenth of updated devices (those at or beyond p90);
- the share of devices that fail, by reason.
"""

from __future__ import annotations

import gc
import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from hanota.capacity.fleet import RegionFleet, iter_fleet
from hanota.capacity.scenario import Scenario
from hanota.lifecycle import Region
from hanota.network import EngineStats, FailureReason, NetworkEngine, TargetResults
from hanota.network.outcomes import OUTCOME_REASONS, SUCCESS

FloatArray = npt.NDArray[np.float64]

PERCENTILES = (50, 90, 99)

STAGES: dict[str, str] = {
    "wan_queue": "WAN queue (sessions, night window)",
    "wan_transfer": "WAN transfer (bit rate)",
    "query_wait": "HAN client query interval",
    "slot_wait": "hub download slots",
    "download": "HAN block download",
    "activation": "activation",
}
"""Stage key → the bottleneck it stands for."""


@dataclass(frozen=True, slots=True)
class Completion:
    """Completion of one class of targets: counts, percentiles (hours) and the sorted completion hours."""

    targets: int
    updated: int
    percentiles_h: dict[int, float]
    completion_h: FloatArray

    @property
    def updated_share(self) -> float:
        """Share of targets updated (activated successfully)."""
        return self.updated / self.targets if self.targets else math.nan

    @classmethod
    def of(cls, targets: int, completion_h: FloatArray) -> Completion:
        """Summarise the completion hours of the updated targets."""
        done = np.sort(completion_h)
        if len(done):
            pct = {p: float(v) for p, v in zip(PERCENTILES, np.percentile(done, PERCENTILES), strict=True)}
        else:
            pct = dict.fromkeys(PERCENTILES, math.nan)
        return cls(targets=targets, updated=len(done), percentiles_h=pct, completion_h=done)


@dataclass(frozen=True, slots=True)
class RegionResult:
    """Everything the planner says about one region."""

    region: Region
    devices: int
    hubs: int
    sessions: int
    bitrate_bps: float
    wan_time_s: float
    han: Completion
    competing: Completion | None
    failures: dict[FailureReason, int]
    stage_mean_h: dict[str, float]
    stage_tail_h: dict[str, float]
    binding: str
    wan_busy_peak: float
    wan_saturated_h: float
    han_downloads_peak: float
    cache_fill_peak: float
    stats: EngineStats

    @property
    def binding_label(self) -> str:
        """The binding bottleneck in words."""
        return STAGES.get(self.binding, self.binding)


@dataclass(frozen=True, slots=True)
class TimeSeries:
    """Hourly series per region; `hours[k]` is the start of bin k, in hours after the epoch."""

    hours: FloatArray
    updated: dict[Region, FloatArray]
    wan_busy: dict[Region, FloatArray]
    han_downloads: dict[Region, FloatArray]
    han_slot_use: dict[Region, FloatArray]
    cache_fill: dict[Region, FloatArray]


@dataclass(frozen=True, slots=True)
class PlanResult:
    """A planner run: per-region results, hourly series, totals and how long it took."""

    scenario: Scenario
    regions: list[RegionResult]
    overall: Completion
    series: TimeSeries
    wall_s: float
    heap_events: int
    target_events: int

    @property
    def events(self) -> int:
        """Heap events handled plus per-target events produced (transferred/failed, activated)."""
        return self.heap_events + self.target_events


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector (the engine builds millions of small acyclic objects)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@dataclass(slots=True)
class _RegionRun:
    """What the summary needs of one region's run: numpy columns only, so the engine can be dropped."""

    region: Region
    devices: int
    hubs: int
    stats: EngineStats
    sessions: int
    han: Completion
    competing: Completion | None
    han_outcome: npt.NDArray[np.int8]
    han_activated: FloatArray
    stage_mean_h: dict[str, float]
    stage_tail_h: dict[str, float]
    wan: tuple[FloatArray, FloatArray]
    downloads: tuple[FloatArray, FloatArray]
    cache: tuple[FloatArray, FloatArray, FloatArray]
    target_events: int


def run_region(scenario: Scenario, fleet: RegionFleet) -> NetworkEngine:
    """Submit one region's requests to a fresh engine and run it until idle."""
    engine = NetworkEngine(scenario.profile, fleet.region, seed=scenario.seed, emit_events=False)
    for dist in fleet.competing:
        engine.submit(dist, scenario.competing.submit_at_s)
    for dist in fleet.han:
        engine.submit(dist, scenario.submit_at_s)
    engine.run_until_idle()
    return engine


def run_scenario(scenario: Scenario) -> PlanResult:
    """Run a scenario through the network model and summarise it.

    Regions run one after the other, each on a fresh engine that is dropped once its numbers are taken,
    so peak memory is that of the largest region.
    """
    started = time.perf_counter()
    runs: list[_RegionRun] = []
    with gc_paused():
        for fleet in iter_fleet(scenario):
            runs.append(_measure(fleet, run_region(scenario, fleet)))
            del fleet  # before the next region is built
        return _summarise(scenario, runs, started)


def _measure(fleet: RegionFleet, engine: NetworkEngine) -> _RegionRun:
    han = [engine.results(d.distribution_id) for d in fleet.han]
    competing = [engine.results(d.distribution_id) for d in fleet.competing]
    everyone = han + competing
    dl_s = _cat([p.download_start for p in everyone])
    dl_e = _cat([p.transfer_end for p in everyone])
    has = ~np.isnan(dl_s)
    mean, tail = _stages(han)
    return _RegionRun(
        region=fleet.region,
        devices=fleet.devices,
        hubs=fleet.hubs,
        stats=engine.stats(),
        sessions=engine.sessions,
        han=_completion(han),
        competing=_completion(competing) if competing else None,
        han_outcome=np.concatenate([p.outcome for p in han]),
        han_activated=_cat([p.activated for p in han]),
        stage_mean_h=mean,
        stage_tail_h=tail,
        wan=engine.wan_intervals(),
        downloads=(dl_s[has], dl_e[has]),
        cache=engine.cache_intervals(),
        target_events=sum(
            int((~np.isnan(p.transfer_end)).sum() + (~np.isnan(p.activated)).sum()) for p in everyone
        ),
    )


def _cat(columns: list[FloatArray]) -> FloatArray:
    """One column of several distributions' `TargetResults`, end to end (empty for none)."""
    if not columns:
        return np.zeros(0)
    return np.concatenate(columns)


def _completion(parts: list[TargetResults]) -> Completion:
    n = sum(len(p.outcome) for p in parts)
    if not parts:
        return Completion.of(0, np.zeros(0))
    outcome = np.concatenate([p.outcome for p in parts])
    activated = _cat([p.activated for p in parts])
    submitted = np.concatenate([np.full(len(p.outcome), p.submitted) for p in parts])
    ok = outcome == SUCCESS
    return Completion.of(n, (activated[ok] - submitted[ok]) / 3600.0)


def occupancy(starts: FloatArray, ends: FloatArray, edges: FloatArray) -> FloatArray:
    """Mean number of intervals [start, end) in progress over each bin between consecutive `edges`."""
    return _weighted_occupancy(starts, ends, np.ones(len(starts)), edges)


def _stages(parts: list[TargetResults]) -> tuple[dict[str, float], dict[str, float]]:
    nothing = dict.fromkeys(STAGES, math.nan)
    if not parts:
        return nothing, dict(nothing)
    outcome = np.concatenate([p.outcome for p in parts])
    ok = outcome == SUCCESS
    if not ok.any():
        return nothing, dict(nothing)
    submitted = np.concatenate([np.full(len(p.outcome), p.submitted) for p in parts])[ok]
    wan_start = _cat([p.wan_start for p in parts])[ok]
    ready = _cat([p.ready for p in parts])[ok]
    pickup = _cat([p.pickup for p in parts])[ok]
    dl_start = _cat([p.download_start for p in parts])[ok]
    end = _cat([p.transfer_end for p in parts])[ok]
    act = _cat([p.activated for p in parts])[ok]
    spans = {
        "wan_queue": wan_start - submitted,
        "wan_transfer": ready - wan_start,
        "query_wait": pickup - ready,
        "slot_wait": dl_start - pickup,
        "download": end - dl_start,
        "activation": act - end,
    }
    total = act - submitted
    tail = total >= np.percentile(total, 90)
    mean = {k: float(v.mean()) / 3600.0 for k, v in spans.items()}
    tail_mean = {k: float(v[tail].mean()) / 3600.0 for k, v in spans.items()}
    return mean, tail_mean


def _summarise(scenario: Scenario, runs: list[_RegionRun], started: float) -> PlanResult:
    last = 0.0
    for run in runs:
        if run.han.updated:
            last = max(last, scenario.submit_at_s + 3600.0 * float(run.han.completion_h[-1]))
        if run.competing is not None and run.competing.updated:
            last = max(last, scenario.competing.submit_at_s + 3600.0 * float(run.competing.completion_h[-1]))
    n_bins = max(1, math.ceil(last / 3600.0))
    edges = np.arange(n_bins + 1, dtype=np.float64) * 3600.0
    hours = edges[:-1] / 3600.0

    series = TimeSeries(
        hours=hours, updated={}, wan_busy={}, han_downloads={}, han_slot_use={}, cache_fill={}
    )
    regions: list[RegionResult] = []
    profile = scenario.profile
    for run in runs:
        region = run.region
        failures = dict.fromkeys(FailureReason, 0)
        for code, count in zip(*np.unique(run.han_outcome, return_counts=True), strict=True):
            reason = OUTCOME_REASONS[int(code)]
            if reason is not None:
                failures[reason] = int(count)

        act = run.han_activated[(run.han_outcome == SUCCESS) & ~np.isnan(run.han_activated)]
        series.updated[region] = np.histogram(act, bins=edges)[0].astype(np.float64)
        busy = occupancy(*run.wan, edges) / run.sessions
        series.wan_busy[region] = busy
        downloads = occupancy(*run.downloads, edges)
        series.han_downloads[region] = downloads
        series.han_slot_use[region] = downloads / (run.hubs * profile.hub.max_concurrent_downloads)
        c_from, c_to, c_bytes = run.cache
        fill = _weighted_occupancy(c_from, np.minimum(c_to, edges[-1]), c_bytes, edges) / max(
            1, run.hubs * profile.hub.cache_bytes
        )
        series.cache_fill[region] = fill

        tail = run.stage_tail_h
        binding = max(tail, key=lambda k: -math.inf if math.isnan(tail[k]) else tail[k])
        wan = profile.wan.region(region)
        regions.append(
            RegionResult(
                region=region,
                devices=run.devices,
                hubs=run.hubs,
                sessions=wan.sessions,
                bitrate_bps=wan.bitrate_bps,
                wan_time_s=profile.wan_time(region, scenario.image.size_bytes),
                han=run.han,
                competing=run.competing,
                failures=failures,
                stage_mean_h=run.stage_mean_h,
                stage_tail_h=tail,
                binding=binding,
                wan_busy_peak=float(busy.max()),
                wan_saturated_h=float((busy >= 0.99).sum()),
                han_downloads_peak=float(downloads.max()),
                cache_fill_peak=float(fill.max()),
                stats=run.stats,
            )
        )
    overall = Completion.of(
        sum(r.han.targets for r in regions), np.concatenate([r.han.completion_h for r in regions])
    )
    return PlanResult(
        scenario=scenario,
        regions=regions,
        overall=overall,
        series=series,
        wall_s=time.perf_counter() - started,
        heap_events=sum(run.stats.heap_events for run in runs),
        target_events=sum(run.target_events for run in runs),
    )


def _weighted_occupancy(
    starts: FloatArray, ends: FloatArray, weights: FloatArray, edges: FloatArray
) -> FloatArray:
    """Like `occupancy`, each interval counting `weights[i]` instead of 1."""
    if len(starts) == 0:
        return np.zeros(len(edges) - 1)
    order_s = np.argsort(starts)
    order_e = np.argsort(ends)
    s, ws = starts[order_s], weights[order_s]
    e, we = ends[order_e], weights[order_e]
    cws = np.concatenate([[0.0], np.cumsum(ws)])
    cwe = np.concatenate([[0.0], np.cumsum(we)])
    cs = np.concatenate([[0.0], np.cumsum(ws * s)])
    ce = np.concatenate([[0.0], np.cumsum(we * e)])
    ks = np.searchsorted(s, edges, side="right")
    ke = np.searchsorted(e, edges, side="right")
    integral = (cws[ks] * edges - cs[ks]) - (cwe[ke] * edges - ce[ke])
    return np.asarray(np.diff(integral) / np.diff(edges), dtype=np.float64)
