"""Helpers for the network tests: a deterministic profile and quick distributions."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from hanota.network import (
    Distribution,
    Event,
    EventKind,
    NetworkProfile,
    PriorityClass,
    TargetTable,
    default_profile,
)

NO_FAILURES = {
    "device_unreachable": 0.0,
    "transfer_failure": 0.0,
    "image_discarded": 0.0,
    "activation_failure": 0.0,
}


def _merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def quiet_profile(overrides: Mapping[str, Any] | None = None) -> NetworkProfile:
    """The shipped profile made deterministic: window always open, no set-up, no failures, clients that
    query continuously (pick-up at once) without jitter. `overrides` go on top."""
    base: dict[str, Any] = {
        "window": {"start_h": 0.0, "end_h": 24.0},
        "wan": {"session_setup_s": 0.0},
        "han": {"query_interval_s": 0.0, "query_jitter_s": 0.0},
        "outcomes": dict(NO_FAILURES),
    }
    return default_profile().with_overrides(_merge(base, overrides or {}))


def table(
    n: int,
    *,
    prefix: str = "t",
    hub: Callable[[int], str] = lambda i: f"h{i}",
    sleepy: Callable[[int], bool] = lambda i: False,
    hw: int = 0x1111,
) -> TargetTable:
    """`n` targets `prefix0..`, each behind `hub(i)`."""
    return TargetTable(
        [f"{prefix}{i}" for i in range(n)],
        [hub(i) for i in range(n)],
        np.array([sleepy(i) for i in range(n)], dtype=np.bool_),
        np.full(n, hw, dtype=np.int64),
    )


def dist(
    did: str,
    targets: TargetTable,
    *,
    priority: PriorityClass = PriorityClass.HAN,
    size: int = 250_000,
    image_id: str | None = None,
    hw_range: tuple[int, int] | None = None,
) -> Distribution:
    """A distribution of one image."""
    return Distribution(did, priority, size, hw_range, targets, image_id)


def by_target(events: list[Event]) -> dict[str, dict[EventKind, Event]]:
    """Events keyed by target ID and kind."""
    out: dict[str, dict[EventKind, Event]] = {}
    for e in events:
        out.setdefault(e.target_id, {})[e.kind] = e
    return out
