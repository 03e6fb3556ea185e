"""Helpers for the capacity tests: small scenarios built from mappings."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hanota.capacity.scenario import Scenario, scenario_from_mapping


def _merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict) and key != "region_shares":
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def small_scenario(extra: Mapping[str, Any] | None = None, *, devices: int = 3_000) -> Scenario:
    """A quick scenario: `devices` HAN devices, a third per region, the shipped network."""
    base: dict[str, Any] = {
        "scenario": {"name": "small", "seed": 7},
        "fleet": {"devices": devices},
    }
    return scenario_from_mapping(_merge(base, extra or {}))
