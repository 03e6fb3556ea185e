"""Sensitivity sweeps: run a scenario over one or two parameters, `name=v1,v2,...` each.

Named parameters (values take the units shown; plain numbers are bytes, seconds or shares):

| name | scenario key | example |
|---|---|---|
| `image_size` | `image.size_bytes` | `image_size=250kB,500kB,1MB` |
| `block_size` | `network.han.block_size_bytes` | `block_size=32,50,63` |
| `csp_concurrency` | `network.wan.<every region>.sessions` | `csp_concurrency=10,100,1000` |
| `sleepy_share` | `fleet.sleepy_share` | `sleepy_share=0,10%,50%` |
| `query_interval` | `network.han.query_interval_s` | `query_interval=5min,1h,24h` |
| `devices` | `fleet.devices` | `devices=10k,50k` |
| `competing_share` | `competing.hub_share` | `competing_share=0,0.2` |

Any other name is taken as a dotted scenario key, e.g. `network.wan.north.bitrate_bps=2400,9600`.
With two parameters every combination runs (at most `MAX_POINTS`).
"""

from __future__ import annotations

import itertools
import math
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass

from hanota.capacity.planner import Completion, run_scenario
from hanota.capacity.scenario import Scenario, ScenarioError
from hanota.lifecycle import Region

MAX_POINTS = 100

_REGION_SESSIONS = tuple(("network", "wan", region.key, "sessions") for region in Region)

_ALIASES: dict[str, tuple[tuple[tuple[str, ...], ...], str]] = {
    "image_size": ((("image", "size_bytes"),), "bytes"),
    "block_size": ((("network", "han", "block_size_bytes"),), "bytes"),
    "csp_concurrency": (_REGION_SESSIONS, "count"),
    "sleepy_share": ((("fleet", "sleepy_share"),), "share"),
    "query_interval": ((("network", "han", "query_interval_s"),), "seconds"),
    "devices": ((("fleet", "devices"),), "count"),
    "competing_share": ((("competing", "hub_share"),), "share"),
}

_SUFFIXES: dict[str, dict[str, float]] = {
    "bytes": {"": 1, "b": 1, "k": 1e3, "kb": 1e3, "m": 1e6, "mb": 1e6},
    "count": {"": 1, "k": 1e3, "m": 1e6},
    "seconds": {"": 1, "s": 1, "ms": 1e-3, "min": 60, "h": 3600, "d": 86400},
    "share": {"": 1, "%": 0.01},
    "number": {"": 1},
}
_INTEGER_UNITS = ("bytes", "count")
_VALUE = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*([a-zA-Z%]*)\s*$")


@dataclass(frozen=True, slots=True)
class SweepParam:
    """One swept parameter: the name as given, the scenario keys it sets, its values and their labels."""

    name: str
    paths: tuple[tuple[str, ...], ...]
    values: tuple[float | int, ...]
    labels: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SweepPoint:
    """One run of a sweep: the parameter labels and values, and its completion per region and overall."""

    labels: tuple[str, ...]
    values: tuple[float | int, ...]
    overall: Completion
    regions: dict[Region, Completion]
    binding: dict[Region, str]
    wall_s: float


@dataclass(frozen=True, slots=True)
class SweepResult:
    """All runs of a sweep, in parameter order (the last parameter varies fastest)."""

    scenario: Scenario
    params: tuple[SweepParam, ...]
    points: list[SweepPoint]


def parse_value(text: str, unit: str) -> float | int:
    """A number with an optional unit suffix (`250kB`, `5min`, `10%`); integers for bytes and counts."""
    match = _VALUE.match(text)
    if match is None:
        raise ScenarioError(f"not a number: {text!r}")
    number, suffix = match.groups()
    factor = _SUFFIXES[unit].get(suffix.lower())
    if factor is None:
        raise ScenarioError(f"unknown unit {suffix!r} in {text!r} (known: {sorted(_SUFFIXES[unit])})")
    value = float(number) * factor
    if not math.isfinite(value):
        raise ScenarioError(f"not a finite number: {text!r}")
    if unit in _INTEGER_UNITS or (unit == "number" and re.fullmatch(r"[-+]?\d+", number)):
        if not value.is_integer():
            raise ScenarioError(f"{text!r} must be a whole number")
        return int(value)
    return value


def parse_sweep(spec: str) -> SweepParam:
    """Parse `name=v1,v2,...`."""
    name, sep, rest = spec.partition("=")
    name = name.strip()
    labels = tuple(v.strip() for v in rest.split(",") if v.strip())
    if not sep or not name or not labels:
        raise ScenarioError(f"a sweep is name=v1,v2,..., got {spec!r}")
    if name in _ALIASES:
        paths, unit = _ALIASES[name]
    else:
        path = tuple(part for part in name.split(".") if part)
        if len(path) < 2:
            known = ", ".join(sorted(_ALIASES))
            raise ScenarioError(
                f"unknown sweep parameter {name!r} (named: {known}; or a dotted scenario key)"
            )
        paths, unit = (path,), "number"
    return SweepParam(name, paths, tuple(parse_value(v, unit) for v in labels), labels)


def apply(scenario: Scenario, param: SweepParam, value: float | int) -> Scenario:
    """`scenario` with every key of `param` set to `value`."""
    for path in param.paths:
        scenario = scenario.with_value(path, value)
    return scenario


def run_sweep(scenario: Scenario, params: Sequence[SweepParam]) -> SweepResult:
    """Run `scenario` at every combination of the parameters' values."""
    if not 1 <= len(params) <= 2:
        raise ScenarioError(f"a sweep takes one or two parameters, got {len(params)}")
    combos = list(itertools.product(*(range(len(p.values)) for p in params)))
    if len(combos) > MAX_POINTS:
        raise ScenarioError(f"a sweep of {len(combos)} runs is over the limit of {MAX_POINTS}")
    points = []
    for combo in combos:
        varied = scenario
        for param, k in zip(params, combo, strict=True):
            varied = apply(varied, param, param.values[k])
        started = time.perf_counter()
        result = run_scenario(varied)
        points.append(
            SweepPoint(
                labels=tuple(p.labels[k] for p, k in zip(params, combo, strict=True)),
                values=tuple(p.values[k] for p, k in zip(params, combo, strict=True)),
                overall=result.overall,
                regions={r.region: r.han for r in result.regions},
                binding={r.region: r.binding for r in result.regions},
                wall_s=time.perf_counter() - started,
            )
        )
    return SweepResult(scenario=scenario, params=tuple(params), points=points)
