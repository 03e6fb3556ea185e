"""The network engine: one CSP region's WAN, its Comms Hubs and their HANs, as a discrete-event model.

Users
-----
- A **CSP gateway** (live): `submit(distribution, at=t)` as distributions arrive, then, as its clock
  moves, `advance_to(t)`, which returns the per-target events with time ≤ t in time order.
- The **capacity planner** (batch): submits a whole fleet and calls `run_until_idle()` with
  `emit_events=False`, then reads the per-target times with `results()`.

Both run the same code; only whether `Event` objects are built differs.

Model (parameters in `profile.toml`)
------------------------------------
::

    submit ─▶ arrival ─▶ hub transfer queued (ESME/GSME before HAN; FIFO within class)
                            │  WAN session free and the night window open (sessions only start in it)
                            ▼
                     WAN transfer: setup + size × 8 × overhead / bitrate  ─▶ image in the hub's cache
                            │  (once per hub and image; later targets of a cached image skip the WAN)
                            ▼
              per target: next client query (random phase + jitter) ─▶ hub download slot (H9: 5)
                            ▼
              download: ceil(size / block) × per-block time ─▶ transferred ─▶ activation ─▶ activated

A region has two WAN links, each with its own session pool, queue (same discipline) and transfer time: its
own WAN (`wan.<region>`: 2G/3G or long-range radio) and its 4G link (`wan.lte`) for the targets whose hub is
a 4G Comms Hub (`TargetTable.four_g`); a hub's transfers all use the link of its first target. The night
window and everything after the image reaches the hub are the same for both.

Event granularity (docs/gotchas.md, "Event simulation scale"): every stage of every target is recorded
(`results()`: WAN start, image at hub, pick-up, download start, transfer end, activation), but the heap
only holds the events where a shared resource decides something: one per arrival, one per hub transfer
(its WAN end; the next transfer starts inside that handler), one per window opening and one per target
pick-up (where it claims a hub download slot). The download, its outcome and the activation then follow
in closed form; a hub frees a slot by the end time it recorded, so nothing is ever scheduled per block or
per download end. About 2 heap events per target: 1,000,000 targets run in ~10 s.

Example (a gateway)::

    engine = NetworkEngine(load_profile(), Region.SOUTH, seed=42)
    engine.submit(Distribution.of("req-1", PriorityClass.HAN, 250_000, targets, hw_range=(0x1111, 0x1211)), 0.0)
    for event in engine.advance_to(3_600.0):        # events with time ≤ 3,600 s, in time order
        ...                                         # event.kind, event.target_id, event.reason, event.time
    engine.queue_state()                            # pending / queued / in flight / done per class

The hub caches are `cache.HubCache`; what the engine reports (`TargetResults`, `EngineStats`, its
output codes) is in `results`.

Memory grows with the targets submitted (about 0.5 kB each at peak), so a long-lived gateway may start
a fresh engine between campaigns.

Determinism and replay
----------------------
Given the same profile, region, seed and the same submissions (same distributions, same `at`, same
order), the engine produces the same events, however `advance_to` calls are interleaved with them:

- each distribution draws its per-target randomness from its own stream, seeded by
  `(seed, region, submission index)`, in bulk at `submit`;
- the heap orders events by (time, sequence number); sequence numbers of model events are assigned in
  processing order, which is itself deterministic, and an arrival sorts after every model event at the
  same time (as if submitted just after `advance_to(at)` returned).

So a gateway need not snapshot the engine: it persists each submission with its `at`, and after a crash
builds a new engine with the same seed, re-submits them in order and calls `advance_to(t)` to where it
was; the events up to `t` are the ones it already had (deduplicate by distribution, target and kind).
"""

from __future__ import annotations

import bisect
import math
from heapq import heappop, heappush
from typing import Any

import numpy as np
import numpy.typing as npt

from hanota.lifecycle import Region
from hanota.network.cache import IMAGE_STRIDE, HubCache
from hanota.network.distribution import Distribution, PriorityClass
from hanota.network.events import ClassQueueState, Event, QueueState
from hanota.network.han import claim_slot, next_query
from hanota.network.outcomes import (
    ACTIVATION_FAILURE,
    HW_MISMATCH,
    SUCCESS,
    TRANSFER_FAILURE,
    UNREACHABLE,
    draw_targets,
    hardware_mismatch,
)
from hanota.network.profile import REGION_CODE, NetworkProfile
from hanota.network.results import (
    OUT_ACTIVATED,
    OUT_ACTIVATION_FAILED,
    OUT_EVENT,
    OUT_TRANSFERRED,
    EngineStats,
    FloatArray,
    TargetResults,
    cache_intervals,
    finished_times,
    wan_intervals,
)
from hanota.network.wan import (
    CACHED,
    IN_FLIGHT,
    QUEUED,
    RANK_ESME_GSME,
    RANK_HAN,
    Transfer,
    WanQueue,
)

__all__ = ["EngineStats", "NetworkEngine", "TargetResults"]  # the results types live in `results`

# WAN links of a region: its own WAN (2G/3G or long-range radio) and its 4G link (`wan.lte`).
_LINK_WAN = 0
_LINK_4G = 1

# Heap event kinds.
_PICKUP = 0
_WAN_END = 1
_ARRIVAL = 2
_WINDOW_OPEN = 3

# Arrivals sort after every model event at the same time (model sequence numbers stay far below this).
_ARRIVAL_SEQ = 1 << 62

_RANK = {PriorityClass.ESME_GSME: RANK_ESME_GSME, PriorityClass.HAN: RANK_HAN}


class _Submission:
    """A submitted distribution and where its targets sit in the engine's per-target columns."""

    __slots__ = ("arrived", "at", "dist", "image", "n", "offset", "rank")

    def __init__(self, dist: Distribution, offset: int, at: float, image: int) -> None:
        self.dist = dist
        self.offset = offset
        self.n = len(dist.targets)
        self.at = at
        self.rank = _RANK[dist.priority]
        self.image = image
        self.arrived = False


class NetworkEngine:
    """The simulated WAN → Comms Hub → HAN network of one CSP region.

    `submit(distribution, at)` then `advance_to(t) -> list[Event]`; see the module docstring for the
    model and for determinism and replay. Time is virtual seconds (float) from the scenario epoch, whose
    midnight anchors the night window; the engine never reads a clock.
    """

    def __init__(
        self, profile: NetworkProfile, region: Region | str, *, seed: int, emit_events: bool = True
    ) -> None:
        if seed < 0:
            raise ValueError(f"seed must be non-negative, got {seed}")
        self.profile = profile
        self.region = Region.parse(region)
        self.seed = seed
        self.emit_events = emit_events
        wan = profile.wan.region(self.region)
        self.sessions = wan.sessions
        self.sessions_4g = profile.wan.lte.sessions
        self._sessions = (self.sessions, self.sessions_4g)  # per link: the region's WAN, its 4G WAN
        self._window = profile.window
        han = profile.han
        self._query_interval = han.query_interval_s
        self._activation_delay = han.activation_delay_s
        self._unreachable_timeout = han.unreachable_timeout_s
        self._slot_limit = profile.hub.max_concurrent_downloads
        self._busy_retry = profile.hub.busy_retry_s

        self._now = 0.0
        self._heap: list[tuple[float, int, int, Any, Any]] = []
        self._seq = 0
        self._out: list[tuple[float, int, int, int]] = []
        self._busy = [0, 0]  # sessions busy per link
        self._queues = (WanQueue(), WanQueue())  # hub transfers waiting, per link
        self._wake_pending = False
        self._queued_targets = [0, 0]

        self._hub_index: dict[str, int] = {}
        self._image_index: dict[str, int] = {}
        self._image_sizes: list[int] = []
        self._image_wan_time: tuple[list[float], list[float]] = ([], [])  # per link, per image
        self._transfers: dict[int, Transfer] = {}
        self._cache = HubCache(profile.hub.cache_bytes, self._transfers)
        self._hub_slots: dict[int, float | list[float]] = {}
        self._started: list[Transfer] = []

        self._subs: list[_Submission] = []
        self._sub_ids: dict[str, _Submission] = {}
        self._offsets: list[int] = []
        self._n = 0
        self._t_outcome: list[int] = []
        self._t_phase: list[float] = []
        self._t_jitter: list[float] = []
        self._t_hold: list[float] = []
        self._rank = np.zeros(0, np.int8)
        self._wan_start = np.zeros(0)
        self._ready = np.zeros(0)
        self._pickup = np.zeros(0)
        self._dl_start = np.zeros(0)
        self._end = np.zeros(0)
        self._act = np.zeros(0)

        self._heap_events = 0
        self._cache_hits = 0
        self._busy_waits = 0
        self._max_hub_downloads = 0

    # ------------------------------------------------------------------ public API

    @property
    def now(self) -> float:
        """The virtual time the engine has been advanced to."""
        return self._now

    def submit(self, distribution: Distribution, at: float) -> None:
        """Hand the engine a distribution that reaches the CSP at virtual second `at` (≥ `now`).

        Raises ValueError for a time in the past (or not finite), a distribution ID seen before, or an
        image ID seen before with another size.
        """
        if not at >= self._now:
            raise ValueError(f"cannot submit at {at}: the engine is already at {self._now}")
        if not math.isfinite(at):
            raise ValueError(f"cannot submit at {at}")
        did = distribution.distribution_id
        if did in self._sub_ids:
            raise ValueError(f"distribution {did!r} was already submitted")
        image = self._register_image(distribution.image_key, distribution.image_size)
        index = len(self._subs)
        sub = _Submission(distribution, self._n, at, image)
        targets = distribution.targets
        n = sub.n

        rng = np.random.default_rng([self.seed, REGION_CODE[self.region], index])
        draws = draw_targets(
            rng, self.profile.outcomes, hardware_mismatch(targets.hw_versions, distribution.hw_range)
        )
        han = self.profile.han
        size = distribution.image_size
        duration = np.where(
            targets.sleepy, han.download_time(size, sleepy=True), han.download_time(size, sleepy=False)
        )
        hold = np.where(draws.outcome == TRANSFER_FAILURE, draws.abort_at * duration, duration)
        self._t_outcome.extend(draws.outcome.tolist())
        self._t_phase.extend((draws.phase * max(self._query_interval, 0.0)).tolist())
        self._t_jitter.extend((draws.jitter * han.query_jitter_s).tolist())
        self._t_hold.extend(hold.tolist())
        self._grow(self._n + n)
        self._rank[self._n : self._n + n] = sub.rank
        self._n += n

        self._subs.append(sub)
        self._sub_ids[did] = sub
        self._offsets.append(sub.offset)
        heappush(self._heap, (at, _ARRIVAL_SEQ + index, _ARRIVAL, sub, None))

    def advance_to(self, t: float) -> list[Event]:
        """Run the model up to virtual second `t` (≥ `now`); return the target events with time ≤ t.

        Events come in time order (ties in the order the model produced them); every event is returned
        exactly once over successive calls. With `emit_events=False` the list is always empty.
        """
        if not t >= self._now:
            raise ValueError(f"cannot advance to {t}: the engine is already at {self._now}")
        self._process(t)
        self._now = t
        if not self._out:
            return []
        out = self._out
        events: list[Event] = []
        while out and out[0][0] <= t:
            time, _, code, g = heappop(out)
            events.append(self._event(time, code, g))
        return events

    def run_until_idle(self) -> list[Event]:
        """Run until every submitted target has reached its last event; return the remaining events."""
        self._process(math.inf)
        horizon = self._now
        if self._n:
            finished = finished_times(self._end[: self._n], self._act[: self._n])
            if not np.isnan(finished).all():
                horizon = max(horizon, float(np.nanmax(finished)))
        if self._heap:  # pragma: no cover - the loop above empties the heap
            raise RuntimeError("engine did not drain")
        return self.advance_to(horizon)

    def queue_state(self) -> QueueState:
        """How many targets of each class are pending, queued for the WAN, in flight and done at `now`.

        Costs O(targets submitted) (numpy); meant for status pages, not for every event.
        """
        n = self._n
        rank = self._rank[:n]
        done_mask = finished_times(self._end[:n], self._act[:n]) <= self._now
        pending = [0, 0]
        for sub in self._subs:
            if not sub.arrived:
                pending[sub.rank] += sub.n
        states = []
        for r in (RANK_ESME_GSME, RANK_HAN):
            of_rank = rank == r
            total = int(of_rank.sum())
            done = int((done_mask & of_rank).sum())
            queued = self._queued_targets[r]
            states.append(ClassQueueState(pending[r], queued, total - pending[r] - queued - done, done))
        return QueueState(
            time=self._now,
            esme_gsme=states[RANK_ESME_GSME],
            han=states[RANK_HAN],
            transfers_queued=len(self._queues[_LINK_WAN]),
            sessions_busy=self._busy[_LINK_WAN],
            sessions=self.sessions,
            window_open=self._window.is_open(self._now),
            transfers_queued_4g=len(self._queues[_LINK_4G]),
            sessions_busy_4g=self._busy[_LINK_4G],
            sessions_4g=self.sessions_4g,
        )

    def results(self, distribution_id: str) -> TargetResults:
        """Per-target times of one distribution (copies)."""
        sub = self._sub_ids[distribution_id]
        s = slice(sub.offset, sub.offset + sub.n)
        targets = sub.dist.targets
        return TargetResults(
            distribution_id=distribution_id,
            priority=sub.dist.priority,
            submitted=sub.at,
            target_ids=list(targets.target_ids),
            hub_ids=list(targets.hub_ids),
            sleepy=targets.sleepy.copy(),
            outcome=np.array(self._t_outcome[s], dtype=np.int8),
            wan_start=self._wan_start[s].copy(),
            ready=self._ready[s].copy(),
            pickup=self._pickup[s].copy(),
            download_start=self._dl_start[s].copy(),
            transfer_end=self._end[s].copy(),
            activated=self._act[s].copy(),
        )

    def wan_intervals(self, *, four_g: bool = False) -> tuple[FloatArray, FloatArray]:
        """(start, end) of every hub transfer started so far on the region's WAN (on its 4G link with
        `four_g`)."""
        return wan_intervals(self._started, _LINK_4G if four_g else _LINK_WAN)

    def cache_intervals(self) -> tuple[FloatArray, FloatArray, FloatArray]:
        """(cached from, evicted at (inf if still held), bytes) of every image that reached a hub."""
        return cache_intervals(self._started)

    def stats(self) -> EngineStats:
        """Counters so far."""
        return EngineStats(
            heap_events=self._heap_events,
            hub_transfers=len(self._started),
            cache_hits=self._cache_hits,
            cache_evictions=self._cache.evictions,
            cache_overflows=self._cache.overflows,
            busy_waits=self._busy_waits,
            max_hub_downloads=self._max_hub_downloads,
            targets=self._n,
        )

    # ------------------------------------------------------------------ internals

    def _register_image(self, key: str, size: int) -> int:
        image = self._image_index.get(key)
        if image is None:
            image = len(self._image_sizes)
            if image >= IMAGE_STRIDE:
                raise ValueError("too many distinct images for one engine")
            self._image_index[key] = image
            self._image_sizes.append(size)
            self._image_wan_time[_LINK_WAN].append(self.profile.wan_time(self.region, size))
            self._image_wan_time[_LINK_4G].append(self.profile.wan_time(self.region, size, four_g=True))
        elif self._image_sizes[image] != size:
            raise ValueError(f"image {key!r} was submitted with {self._image_sizes[image]} bytes, now {size}")
        return image

    def _grow(self, need: int) -> None:
        cap = len(self._end)
        if need <= cap:
            return
        new_cap = max(need, 2 * cap, 1024)

        def grown(a: npt.NDArray[Any], fill: float) -> npt.NDArray[Any]:
            b = np.full(new_cap, fill, dtype=a.dtype)
            b[: self._n] = a[: self._n]
            return b

        self._rank = grown(self._rank, 0)
        self._wan_start = grown(self._wan_start, math.nan)
        self._ready = grown(self._ready, math.nan)
        self._pickup = grown(self._pickup, math.nan)
        self._dl_start = grown(self._dl_start, math.nan)
        self._end = grown(self._end, math.nan)
        self._act = grown(self._act, math.nan)

    def _event(self, time: float, code: int, g: int) -> Event:
        sub = self._subs[bisect.bisect_right(self._offsets, g) - 1]
        i = g - sub.offset
        kind, reason = OUT_EVENT[code]
        targets = sub.dist.targets
        return Event(time, kind, sub.dist.distribution_id, targets.target_ids[i], targets.hub_ids[i], reason)

    def _process(self, until: float) -> None:
        """Handle heap events with time ≤ `until`, in (time, sequence) order."""
        heap = self._heap
        handled = 0
        while heap and heap[0][0] <= until:
            t, _, kind, a, b = heappop(heap)
            handled += 1
            if kind == _PICKUP:
                self._on_pickup(t, a, b)
            elif kind == _WAN_END:
                self._on_wan_end(t, a)
            elif kind == _ARRIVAL:
                self._on_arrival(t, a)
            else:
                self._wake_pending = False
                self._dispatch(t, force=True)
        self._heap_events += handled

    def _on_arrival(self, t: float, sub: _Submission) -> None:
        """A distribution reaches the CSP: attach each target to its hub's transfer of the image."""
        sub.arrived = True
        hub_index = self._hub_index
        transfers = self._transfers
        queues = self._queues
        four_g = sub.dist.targets.four_g
        links = four_g.tolist() if four_g is not None else None
        wan_start = self._wan_start
        rank = sub.rank
        image = sub.image
        size = self._image_sizes[image]
        queued = 0
        g = sub.offset
        for i, hub_id in enumerate(sub.dist.targets.hub_ids):
            hub = hub_index.get(hub_id)
            if hub is None:
                hub = hub_index[hub_id] = len(hub_index)
            key = hub * IMAGE_STRIDE + image
            tr = transfers.get(key)
            if tr is None:
                link = _LINK_4G if links is not None and links[i] else _LINK_WAN
                tr = transfers[key] = Transfer(hub, image, size, rank, link)
                queues[link].push(tr)
            state = tr.state
            if state == QUEUED:
                if tr.first < 0:
                    tr.first = g
                else:
                    tr.add_target(g)
                if rank == RANK_HAN:
                    tr.waiting_han += 1
                else:
                    tr.waiting_esme += 1
                    if tr.rank == RANK_HAN:
                        queues[tr.link].promote(tr)
                queued += 1
            elif state == IN_FLIGHT:
                tr.add_target(g)
                wan_start[g] = tr.start
            else:  # CACHED: the image is at the hub already
                self._cache_hits += 1
                self._cache.touch(tr)
                wan_start[g] = t
                self._on_ready(t, g, tr)
            g += 1
        self._queued_targets[rank] += queued
        self._dispatch(t, force=False)

    def _dispatch(self, t: float, *, force: bool) -> None:
        """Start queued hub transfers on free WAN sessions of each link, if the window is open (or `force`)."""
        for link in (_LINK_WAN, _LINK_4G):
            queue = self._queues[link]
            if self._busy[link] >= self._sessions[link] or not len(queue):
                continue
            if not force and not self._window.is_open(t):
                if not self._wake_pending:
                    self._wake_pending = True
                    self._seq += 1
                    heappush(self._heap, (self._window.next_open(t), self._seq, _WINDOW_OPEN, None, None))
                return
            self._start_transfers(t, link, queue)

    def _start_transfers(self, t: float, link: int, queue: WanQueue) -> None:
        heap = self._heap
        wan_start = self._wan_start
        wan_time = self._image_wan_time[link]
        queued_targets = self._queued_targets
        started = self._started
        busy = self._busy
        sessions = self._sessions[link]
        while busy[link] < sessions:
            tr = queue.pop()
            if tr is None:
                break
            tr.state = IN_FLIGHT
            tr.start = t
            end = tr.end = t + wan_time[tr.image]
            busy[link] += 1
            self._seq += 1
            heappush(heap, (end, self._seq, _WAN_END, tr, None))
            queued_targets[RANK_ESME_GSME] -= tr.waiting_esme
            queued_targets[RANK_HAN] -= tr.waiting_han
            if tr.more is None:
                wan_start[tr.first] = t
            else:
                for g in tr.targets():
                    wan_start[g] = t
            started.append(tr)

    def _on_wan_end(self, t: float, tr: Transfer) -> None:
        """The image is at the hub: cache it, hand it to its targets, and start the next transfer."""
        tr.state = CACHED
        tr.ready = t
        self._busy[tr.link] -= 1
        self._cache.insert(tr, t)
        if tr.more is None:
            g = tr.first
            tr.first = -1
            self._on_ready(t, g, tr)
        else:
            for g in tr.take_targets():
                self._on_ready(t, g, tr)
        self._dispatch(t, force=False)

    def _on_ready(self, t: float, g: int, tr: Transfer) -> None:
        """Target `g` has its image at the hub at `t`: fail it at once, or schedule its client's query."""
        self._ready[g] = t
        outcome = self._t_outcome[g]
        if outcome == HW_MISMATCH:
            self._end[g] = t
            if self.emit_events:
                self._emit(t, HW_MISMATCH, g)
        elif outcome == UNREACHABLE:
            end = self._end[g] = t + self._unreachable_timeout
            if self.emit_events:
                self._emit(end, UNREACHABLE, g)
        else:
            pickup = next_query(t, self._t_phase[g], self._query_interval)
            tr.pending += 1
            self._seq += 1
            heappush(self._heap, (pickup + self._t_jitter[g], self._seq, _PICKUP, g, tr))

    def _on_pickup(self, t: float, g: int, tr: Transfer) -> None:
        """Target `g`'s client queries at `t`: claim a hub download slot and settle its download."""
        hub = tr.hub
        slots = self._hub_slots
        ends = slots.get(hub)
        start = t
        if ends is None:
            active: list[float] = []
        elif isinstance(ends, float):
            active = [ends] if ends > t else []
        else:
            active = [e for e in ends if e > t]
        if len(active) >= self._slot_limit:  # every slot taken: wait for the first to free (han.claim_slot)
            start, active = claim_slot(active, t, self._slot_limit, self._busy_retry)
            self._busy_waits += 1
        end = start + self._t_hold[g]
        if active:
            active.append(end)
            slots[hub] = active
            if len(active) > self._max_hub_downloads:
                self._max_hub_downloads = len(active)
        else:
            slots[hub] = end
            if not self._max_hub_downloads:
                self._max_hub_downloads = 1
        tr.pending -= 1
        if end > tr.in_use_until:
            tr.in_use_until = end
        self._pickup[g] = t
        self._dl_start[g] = start
        self._end[g] = end
        outcome = self._t_outcome[g]
        if outcome in (SUCCESS, ACTIVATION_FAILURE):
            act = self._act[g] = end + self._activation_delay
            if self.emit_events:
                self._emit(end, OUT_TRANSFERRED, g)
                self._emit(act, OUT_ACTIVATED if outcome == SUCCESS else OUT_ACTIVATION_FAILED, g)
        elif self.emit_events:
            self._emit(end, outcome, g)

    def _emit(self, time: float, code: int, g: int) -> None:
        self._seq += 1
        heappush(self._out, (time, self._seq, code, g))
