"""The WAN and HAN building blocks: night window, transfer time, priority queue, OTA closed forms."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hanota.network.han import block_count, block_time, claim_slot, next_query
from hanota.network.wan import (
    IN_FLIGHT,
    RANK_ESME_GSME,
    RANK_HAN,
    NightWindow,
    Transfer,
    WanQueue,
    wan_transfer_time,
)

DAY = 86_400.0


def test_window_inside_one_day() -> None:
    """A 00:00-06:00 window is open from its start up to (not at) its end, next opens at the following midnight,
    and lasts 6 hours a day."""
    w = NightWindow(0.0, 6.0)
    assert w.is_open(0.0) and w.is_open(5.99 * 3600) and not w.is_open(6 * 3600)
    assert w.next_open(7 * 3600) == DAY
    assert w.next_open(DAY + 3600) == DAY + 3600
    assert w.hours_per_day == 6.0


def test_window_over_midnight() -> None:
    """A 22:00-04:00 window is open late in the evening and early the next morning, not at noon, and lasts 6
    hours a day."""
    w = NightWindow(22.0, 4.0)
    assert w.is_open(23 * 3600) and w.is_open(DAY + 3 * 3600) and not w.is_open(12 * 3600)
    assert w.next_open(12 * 3600) == 22 * 3600
    assert w.hours_per_day == 6.0


def test_always_open_window() -> None:
    """A 0-24 window is always open: a session may start at any moment."""
    w = NightWindow(0.0, 24.0)
    assert w.always_open and w.is_open(12_345.0) and w.next_open(12_345.0) == 12_345.0


@pytest.mark.parametrize(("start", "end"), [(3.0, 3.0), (-1.0, 4.0), (2.0, 25.0), (24.0, 0.0)])
def test_window_refuses_empty_or_out_of_range(start: float, end: float) -> None:
    """A window with equal ends, an hour outside 0..24, or 24 → 0 is refused."""
    with pytest.raises(ValueError, match="window"):
        NightWindow(start, end)


@given(
    st.floats(min_value=0.0, max_value=23.5),
    st.floats(min_value=0.25, max_value=23.75),
    st.floats(min_value=0.0, max_value=30 * DAY),
)
def test_next_open_is_the_first_open_instant(start: float, length: float, t: float) -> None:
    """next_open(t) ≥ t, is open, and nothing between t and it is open (checked on a 60 s grid)."""
    w = NightWindow(start, (start + length) % 24.0 or 24.0)
    nxt = w.next_open(t)
    assert nxt >= t
    assert w.is_open(nxt)
    probe = t
    while probe < nxt - 60.0:
        assert not w.is_open(probe)
        probe += 60.0


def test_wan_transfer_time() -> None:
    """Set-up + size × 8 × overhead / rate: 250 kB at 6 kbps with 20 % overhead is 400 s (+2 s set-up)."""
    assert wan_transfer_time(250_000, 6_000.0, 1.2, 2.0) == pytest.approx(402.0)
    assert wan_transfer_time(250_000, math.inf, 1.2, 2.0) == 2.0


def test_wan_queue_is_strict_priority_then_fifo() -> None:
    """ESME/GSME transfers leave the WAN queue before HAN ones (a promoted HAN transfer with them), each class
    first come first served, and the queue's length counts each transfer once."""
    q = WanQueue()
    han = [Transfer(i, 0, 1, RANK_HAN) for i in range(3)]
    esme = [Transfer(10 + i, 1, 1, RANK_ESME_GSME) for i in range(2)]
    for t in han[:2]:
        q.push(t)
    for t in esme:
        q.push(t)
    q.push(han[2])
    q.promote(han[1])
    assert len(q) == 5  # five transfers wait: a promotion moves one, it does not add one
    order = []
    while (nxt := q.pop()) is not None:
        nxt.state = IN_FLIGHT
        order.append(nxt)
    assert order == [esme[0], esme[1], han[1], han[0], han[2]]
    assert len(q) == 0


def test_transfer_targets() -> None:
    """A transfer lists its attached targets in attachment order; taking them detaches them all."""
    t = Transfer(0, 0, 1, RANK_HAN)
    assert t.targets() == [] and t.take_targets() == []
    for g in (4, 7, 9):
        t.add_target(g)
    assert t.targets() == [4, 7, 9]
    assert t.take_targets() == [4, 7, 9]
    assert t.targets() == []


def test_ota_block_closed_forms() -> None:
    """Blocks round up; per-block time is RTT + throttle (mains) or one poll (sleepy)."""
    assert block_count(250_000, 50) == 5_000
    assert block_count(250_001, 50) == 5_001
    assert block_time(sleepy=False, mains_rtt_s=0.05, throttle_s=0.25, sleepy_poll_s=7.8) == pytest.approx(
        0.3
    )
    assert block_time(sleepy=True, mains_rtt_s=0.05, throttle_s=0.25, sleepy_poll_s=7.8) == 7.8


@given(st.floats(0, 1e6), st.floats(0, 1), st.floats(1, 1e5))
def test_next_query_is_the_next_phase_instant(ready: float, u: float, interval: float) -> None:
    """A client's next query after the image is ready is the first instant of its phase grid at or after that
    moment, less than one interval later."""
    phase = u * interval
    q = next_query(ready, phase, interval)
    assert ready <= q < ready + interval + 1e-6 * interval
    k = (q - phase) / interval
    assert abs(k - round(k)) < 1e-6 or math.isclose(q, ready)


def test_next_query_without_an_interval_is_immediate() -> None:
    """With no query interval, a client picks up the image the moment it is ready."""
    assert next_query(123.0, 0.0, 0.0) == 123.0


def test_claim_slot() -> None:
    """Free slot: start now. All taken: the slot that frees first, at the first 60 s retry after it."""
    assert claim_slot([], 10.0, 5, 60.0) == (10.0, [])
    assert claim_slot([5.0, 50.0], 10.0, 2, 60.0) == (10.0, [50.0])
    start, active = claim_slot([100.0, 50.0, 70.0], 10.0, 3, 60.0)
    assert start == 70.0 and active == [100.0, 70.0]
    start, active = claim_slot([100.0, 50.0], 10.0, 2, 0.0)
    assert start == 50.0 and active == [100.0]
