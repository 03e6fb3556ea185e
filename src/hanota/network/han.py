"""The HAN: ZigBee OTA from the Comms Hub (the OTA server) to each device (the client).

ZigBee OTA is client-pulled (capacity-parameters.md section 2):

1. Once the image is at the hub, the device's client finds it at its **next query**. Each target queries
   every `query_interval_s` at a uniformly random phase of its own, plus up to `query_jitter_s` of jitter.
2. The hub serves at most `max_concurrent_downloads` clients at once (H9: 5); a client that finds every
   slot taken is told to wait `busy_retry_s` (H9: 60 s) and asks again. The model serves waiting clients
   first come, first served, each starting at its first retry after a slot frees.
3. The client downloads `ceil(image_size / block_size)` blocks, one at a time: a mains-powered device
   takes one round trip plus the server throttle per block (H7), a sleepy device one poll interval (H15).

These functions are the closed forms the engine applies, and it calls them: `download_time` (via
`HanProfile`) per distribution, `next_query` per target, and `claim_slot` when a client finds every slot
taken (a free slot needs no more than filtering the hub's end times, which the engine does inline).
"""

from __future__ import annotations

import math


def block_count(image_size: int, block_size: int) -> int:
    """Image Block requests needed for an image: `ceil(image_size / block_size)`."""
    return -(-image_size // block_size)


def block_time(*, sleepy: bool, mains_rtt_s: float, throttle_s: float, sleepy_poll_s: float) -> float:
    """Seconds per block: round trip plus server throttle (mains), or one poll interval (sleepy)."""
    return sleepy_poll_s if sleepy else mains_rtt_s + throttle_s


def next_query(ready: float, phase: float, interval: float) -> float:
    """The first nominal query instant `phase + k × interval` at or after `ready` (no jitter).

    With `interval <= 0` the client is taken to query continuously: it finds the image at once.
    """
    if interval <= 0.0:
        return ready
    return ready + (phase - ready) % interval


def claim_slot(ends: list[float], t: float, limit: int, retry_s: float) -> tuple[float, list[float]]:
    """A client asks at `t`: when does its download start, and which downloads are then active?

    `ends` holds the end times of downloads committed at this hub. The client starts at `t` when fewer
    than `limit` are active at `t`; otherwise it takes the slot that frees first, starting at its first
    retry (`t + k × retry_s`) at or after that moment. Returns the start and the still-active end times
    with the freed slot removed (the caller appends the new download's end).
    """
    active = [end for end in ends if end > t]
    if len(active) < limit:
        return t, active
    first = min(active)
    active.remove(first)
    if retry_s <= 0.0:
        return first, active
    return t + retry_s * math.ceil((first - t) / retry_s), active
