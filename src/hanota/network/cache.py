"""The Comms Hubs' image caches: each hub holds the images that crossed the WAN to it, up to `cache_bytes`,
and evicts the least recently used idle ones to make room for a new one.

An image in use is never evicted: one with targets that have not picked it up yet (`Transfer.pending`) or
a download still running from it (`Transfer.in_use_until`). When the images in use alone exceed the
cache, the hub keeps them all and the overflow is counted.
"""

from __future__ import annotations

from hanota.network.wan import EVICTED, Transfer

IMAGE_STRIDE = 1 << 24
"""A hub transfer's key is hub index × `IMAGE_STRIDE` + image index (so at most this many images)."""


def transfer_key(hub: int, image: int) -> int:
    """The key of the transfer of image `image` to hub `hub` (see `IMAGE_STRIDE`)."""
    return hub * IMAGE_STRIDE + image


class HubCache:
    """The image caches of every hub of one engine.

    `transfers` is the engine's map of live hub transfers (by `transfer_key`); an evicted image leaves it,
    so the next target that needs the image queues a new transfer across the WAN.
    """

    __slots__ = ("_capacity", "_held", "_transfers", "evictions", "overflows")

    def __init__(self, capacity_bytes: int, transfers: dict[int, Transfer]) -> None:
        self._capacity = capacity_bytes
        self._transfers = transfers
        self._held: dict[int, Transfer | list[Transfer]] = {}  # per hub: one image, or several, oldest first
        self.evictions = 0
        self.overflows = 0

    def insert(self, tr: Transfer, t: float) -> None:
        """Put a newly arrived image in its hub's cache, evicting least recently used idle images."""
        cache = self._held
        held = cache.get(tr.hub)
        if held is None:
            cache[tr.hub] = tr
            if tr.size > self._capacity:
                self.overflows += 1
            return
        images = [held, tr] if isinstance(held, Transfer) else [*held, tr]
        total = sum(x.size for x in images)
        if total > self._capacity:
            keep: list[Transfer] = []
            for x in images:  # oldest first
                if total > self._capacity and x is not tr and x.pending == 0 and x.in_use_until <= t:
                    total -= x.size
                    x.state = EVICTED
                    x.evicted = t
                    del self._transfers[transfer_key(x.hub, x.image)]
                    self.evictions += 1
                else:
                    keep.append(x)
            images = keep
            if total > self._capacity:
                self.overflows += 1
        cache[tr.hub] = images[0] if len(images) == 1 else images

    def touch(self, tr: Transfer) -> None:
        """Mark a cached image as just used (most recent in its hub's LRU order)."""
        held = self._held.get(tr.hub)
        if isinstance(held, list) and held[-1] is not tr:
            held.remove(tr)
            held.append(tr)
