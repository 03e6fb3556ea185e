"""The simulated network behind each CSP: WAN → Comms Hub → ZigBee HAN.

Pure: no database, no HTTP, no wall clock; it imports nothing of hanota but `hanota.clock`,
`hanota.errors` and `hanota.lifecycle` (its `Region`, re-exported here, and the target states its events
report). The engine (`NetworkEngine`) is shared by the live CSP gateways and the capacity planner:

    engine = NetworkEngine(default_profile(), Region.SOUTH, seed=7)
    engine.submit(distribution, at=0.0)
    for event in engine.advance_to(3600.0):
        ...

A region's 4G Comms Hubs (DUIS CSP region `4G <region>`) are served by the same engine over a 4G WAN link
of their own (`wan.lte`: its own sessions and bit rate, the same night window and queue discipline); a
target is behind a 4G hub when `TargetTable.four_g` says so.

Parameters live in `profile.toml` (loaded by `load_profile`); see `engine` for the model, event
granularity, determinism and replay, and `live` for driving an engine from an injected clock.
"""

from hanota.lifecycle import Region
from hanota.network.distribution import DeviceClass, Distribution, PriorityClass, Target, TargetTable
from hanota.network.engine import NetworkEngine
from hanota.network.events import ClassQueueState, Event, EventKind, FailureReason, QueueState
from hanota.network.live import ClockDriver
from hanota.network.outcomes import OUTCOME_REASONS, OutcomeRates
from hanota.network.profile import (
    HanProfile,
    HubProfile,
    NetworkProfile,
    ProfileError,
    RegionWan,
    WanLink,
    WanProfile,
    default_profile,
    load_profile,
)
from hanota.network.results import EngineStats, TargetResults
from hanota.network.wan import NightWindow

__all__ = [
    "OUTCOME_REASONS",
    "ClassQueueState",
    "ClockDriver",
    "DeviceClass",
    "Distribution",
    "EngineStats",
    "Event",
    "EventKind",
    "FailureReason",
    "HanProfile",
    "HubProfile",
    "NetworkEngine",
    "NetworkProfile",
    "NightWindow",
    "OutcomeRates",
    "PriorityClass",
    "ProfileError",
    "QueueState",
    "Region",
    "RegionWan",
    "Target",
    "TargetResults",
    "TargetTable",
    "WanLink",
    "WanProfile",
    "default_profile",
    "load_profile",
]
