"""The CSP WAN: a nightly window, sessions of a fixed bit rate, and a strict-priority queue of hub transfers.

- A region's WAN carries at most `sessions` image transfers at once, each at `bitrate_bps`, inflated by a
  protocol `overhead` factor, after a fixed `session_setup_s`.
- The unit of WAN work is a **hub transfer**: one image to one Comms Hub. The image crosses the WAN once
  per hub however many targets sit behind that hub; targets that ask for an image already queued or in
  flight to their hub wait for that transfer, and targets whose hub holds the image in its cache need none.
- Sessions only **start** inside the nightly window; a session that started runs to its end.
- ESME/GSME transfers (SR 11.1) are always served before HAN transfers (SR 11.4): a waiting ESME/GSME
  transfer takes the next free session before any waiting HAN transfer, even one queued earlier. Within a
  class the queue is first come, first served.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

DAY_S = 86_400.0
_EDGE_S = 1e-6  # the window opens this much early, so that rounding in t % DAY_S never misses the opening

# Transfer states.
QUEUED = 0
IN_FLIGHT = 1
CACHED = 2
EVICTED = 3

# Priority class ranks, also indices of per-class counters.
RANK_ESME_GSME = 0
RANK_HAN = 1


@dataclass(frozen=True, slots=True)
class NightWindow:
    """The daily window in which WAN sessions may start, in hours of the day after the epoch's midnight.

    `start_h < end_h` is a window inside one day, `start_h > end_h` wraps over midnight (22 → 4), and
    `start_h = 0, end_h = 24` is always open.
    """

    start_h: float
    end_h: float

    def __post_init__(self) -> None:
        if not (0.0 <= self.start_h <= 24.0 and 0.0 <= self.end_h <= 24.0):
            raise ValueError(f"window hours must be within 0..24, got {self.start_h}..{self.end_h}")
        if self.start_h == self.end_h or (self.start_h == 24.0 and self.end_h == 0.0):
            raise ValueError(f"window {self.start_h}..{self.end_h} is empty")

    @property
    def always_open(self) -> bool:
        """True when sessions may start at any time of day."""
        return self.start_h == 0.0 and self.end_h == 24.0

    @property
    def hours_per_day(self) -> float:
        """Length of the window in hours."""
        return (self.end_h - self.start_h) % 24.0 or 24.0

    def is_open(self, t: float) -> bool:
        """Whether a session may start at virtual second `t` (the opening instant counts as open)."""
        if self.always_open:
            return True
        tod = t % DAY_S
        start = self.start_h * 3600.0 - _EDGE_S
        end = self.end_h * 3600.0
        if self.start_h < self.end_h:
            return start <= tod < end
        return tod >= start or tod < end

    def next_open(self, t: float) -> float:
        """The first virtual second at or after `t` at which a session may start."""
        if self.is_open(t):
            return t
        day = math.floor(t / DAY_S)
        start = day * DAY_S + self.start_h * 3600.0
        return start if start >= t else start + DAY_S


def wan_transfer_time(image_size: int, bitrate_bps: float, overhead: float, setup_s: float) -> float:
    """Seconds one session needs to carry an image of `image_size` bytes to one hub.

    `setup_s + image_size × 8 × overhead / bitrate_bps`; an infinite bit rate leaves only the set-up.
    """
    if math.isinf(bitrate_bps):
        return setup_s
    return setup_s + image_size * 8.0 * overhead / bitrate_bps


class Transfer:
    """One image to one hub: queued, in flight, then held in the hub's cache until evicted.

    The engine's indices of the targets waiting for the image are `first` (-1 for none) and `more`
    (most hubs serve a single target, so no list is built for them); `waiting_esme` / `waiting_han`
    count them per priority class for the queue report. `pending` counts targets that have the image at
    their hub but have not yet picked it up, and `in_use_until` is the end of the last download committed
    from it: the cache never evicts an image while either says it is in use.
    """

    __slots__ = (
        "end",
        "evicted",
        "first",
        "hub",
        "image",
        "in_use_until",
        "link",
        "more",
        "pending",
        "rank",
        "ready",
        "size",
        "start",
        "state",
        "waiting_esme",
        "waiting_han",
    )

    def __init__(self, hub: int, image: int, size: int, rank: int, link: int = 0) -> None:
        self.hub = hub
        self.link = link  # which WAN carries it: 0 the region's, 1 its 4G link
        self.image = image
        self.size = size
        self.rank = rank
        self.state = QUEUED
        self.first = -1
        self.more: list[int] | None = None
        self.waiting_esme = 0
        self.waiting_han = 0
        self.start = math.nan
        self.end = math.nan
        self.ready = math.nan
        self.evicted = math.inf
        self.pending = 0
        self.in_use_until = -math.inf

    def add_target(self, g: int) -> None:
        """Attach target `g` to this transfer (it waits for the image)."""
        if self.first < 0:
            self.first = g
        elif self.more is None:
            self.more = [g]
        else:
            self.more.append(g)

    def take_targets(self) -> list[int]:
        """The attached targets, in the order they were attached; detaches them."""
        if self.first < 0:
            return []
        targets = [self.first] if self.more is None else [self.first, *self.more]
        self.first = -1
        self.more = None
        return targets

    def targets(self) -> list[int]:
        """The attached targets, in the order they were attached."""
        if self.first < 0:
            return []
        return [self.first] if self.more is None else [self.first, *self.more]


class WanQueue:
    """Hub transfers waiting for a WAN session: strict priority between classes, FIFO within a class.

    A HAN transfer that an ESME/GSME distribution also needs is promoted: it joins the ESME/GSME queue and
    its stale HAN entry is skipped when reached.
    """

    __slots__ = ("_live", "_queues")

    def __init__(self) -> None:
        self._queues: tuple[deque[Transfer], deque[Transfer]] = (deque(), deque())
        self._live = 0

    def push(self, transfer: Transfer) -> None:
        """Queue `transfer` at the back of its class."""
        self._queues[transfer.rank].append(transfer)
        self._live += 1

    def promote(self, transfer: Transfer) -> None:
        """Move a queued HAN transfer to the back of the ESME/GSME queue."""
        if transfer.rank != RANK_ESME_GSME and transfer.state == QUEUED:
            transfer.rank = RANK_ESME_GSME
            self._queues[RANK_ESME_GSME].append(transfer)

    def pop(self) -> Transfer | None:
        """The next transfer to start (removed from the queue), or None when none waits."""
        for rank, queue in enumerate(self._queues):
            while queue:
                transfer = queue.popleft()
                if transfer.state == QUEUED and transfer.rank == rank:
                    self._live -= 1
                    return transfer
        return None

    def __len__(self) -> int:
        """How many hub transfers wait for a session."""
        return self._live
