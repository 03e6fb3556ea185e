"""Closed-form cases: with randomness switched off, the engine gives the textbook answers."""

from __future__ import annotations

import math

import pytest
from network_testkit import by_target, dist, quiet_profile, table

from hanota.network import EventKind, NetworkEngine, Region

SIZE = 250_000


def test_one_hub_one_device_takes_exactly_wan_plus_han_time() -> None:
    """transferred = submit + WAN time + HAN download time; activated = that + activation delay."""
    profile = quiet_profile()
    engine = NetworkEngine(profile, Region.SOUTH, seed=1)
    engine.submit(dist("d", table(1), size=SIZE), at=0.0)
    events = by_target(engine.run_until_idle())["t0"]

    wan = profile.wan_time(Region.SOUTH, SIZE)
    han = profile.han.download_time(SIZE, sleepy=False)
    assert wan == SIZE * 8 * 1.2 / 30_000  # 80 s at 30 kbps with 20 % overhead, no set-up
    assert han == 5_000 * 0.3  # 5,000 blocks of 50 B at 50 ms + 250 ms throttle: 25 min
    assert events[EventKind.TRANSFERRED].time == wan + han
    assert events[EventKind.ACTIVATED].time == wan + han + profile.han.activation_delay_s


def test_sleepy_device_takes_one_poll_per_block() -> None:
    """A sleepy client fetches one block per poll interval (H15): 5,000 polls of 1 s for 250 kB."""
    profile = quiet_profile()
    engine = NetworkEngine(profile, Region.NORTH, seed=1)
    engine.submit(dist("d", table(1, sleepy=lambda i: True), size=SIZE), at=100.0)
    events = by_target(engine.run_until_idle())["t0"]
    assert events[EventKind.TRANSFERRED].time == 100.0 + profile.wan_time(Region.NORTH, SIZE) + 5_000.0


def test_unlimited_wan_makespan_is_the_han_time() -> None:
    """With a WAN of infinite rate and a session per hub, the makespan is the slowest HAN download."""
    profile = quiet_profile({"wan": {"south": {"sessions": 10_000, "bitrate_bps": math.inf}}})
    engine = NetworkEngine(profile, Region.SOUTH, seed=1)
    # 300 hubs, 3 devices each (under the 5-download cap), every 7th device sleepy.
    targets = table(900, hub=lambda i: f"h{i // 3}", sleepy=lambda i: i % 7 == 0)
    engine.submit(dist("d", targets, size=SIZE), at=0.0)
    events = engine.run_until_idle()

    transferred = [e.time for e in events if e.kind is EventKind.TRANSFERRED]
    assert len(transferred) == 900
    assert max(transferred) == profile.han.download_time(SIZE, sleepy=True)
    assert min(transferred) == profile.han.download_time(SIZE, sleepy=False)
    assert engine.stats().hub_transfers == 300


def test_one_wan_session_makespan_is_the_sum() -> None:
    """With one WAN session, hub transfers run back to back: the last image lands after N × WAN time,
    and the makespan is that plus one HAN download."""
    profile = quiet_profile({"wan": {"central": {"sessions": 1}}})
    engine = NetworkEngine(profile, Region.CENTRAL, seed=1)
    n = 40
    engine.submit(dist("d", table(n), size=SIZE), at=0.0)
    events = engine.run_until_idle()

    wan = profile.wan_time(Region.CENTRAL, SIZE)
    han = profile.han.download_time(SIZE, sleepy=False)
    ready = sorted(engine.results("d").ready)
    assert ready == pytest.approx([(k + 1) * wan for k in range(n)], rel=1e-12)
    makespan = max(e.time for e in events if e.kind is EventKind.TRANSFERRED)
    assert makespan == pytest.approx(n * wan + han, rel=1e-12)


def test_many_devices_behind_one_hub_share_one_wan_transfer_and_five_slots() -> None:
    """The image crosses the WAN once per hub; the hub serves 5 downloads at once (H9) and a client
    that finds them taken retries every 60 s (H9), so the sixth starts at the first retry after a slot
    frees."""
    profile = quiet_profile()
    engine = NetworkEngine(profile, Region.SOUTH, seed=1)
    engine.submit(dist("d", table(12, hub=lambda i: "hub")), at=0.0)
    engine.run_until_idle()
    r = engine.results("d")

    wan = profile.wan_time(Region.SOUTH, SIZE)
    han = profile.han.download_time(SIZE, sleepy=False)
    retry_at = wan + 60.0 * math.ceil(han / 60.0)
    starts = sorted(r.download_start.tolist())
    assert engine.stats().hub_transfers == 1
    assert starts[:5] == [wan] * 5
    assert starts[5:10] == pytest.approx([retry_at] * 5)
    assert starts[10:] == pytest.approx([wan + 60.0 * math.ceil((retry_at + han - wan) / 60.0)] * 2)
    assert engine.stats().busy_waits == 7
    assert engine.stats().max_hub_downloads == 5
