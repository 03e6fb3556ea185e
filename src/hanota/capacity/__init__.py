"""The capacity planner: what-if runs of the network model at fleet scale, with tables and plots.

It imports only `hanota.network`, `hanota.clock` and `hanota.errors`. Entry points:

- `run_cli_scenario(scenario, out_dir, sweep)`: the `hanota capacity run` command (exit code);
- `load_scenario(path_or_name)` → `run_scenario(scenario)` → `write_report(result, out_dir)`;
- `parse_sweep("image_size=250kB,1MB")` → `run_sweep(scenario, params)`.

Example scenarios ship in `scenarios/` (`bundled_scenarios()`).
"""

from hanota.capacity.command import run_cli_scenario
from hanota.capacity.fleet import RegionFleet, build_fleet
from hanota.capacity.planner import Completion, PlanResult, RegionResult, run_scenario
from hanota.capacity.report import ReportFiles, print_result, print_sweep, write_report
from hanota.capacity.scenario import Scenario, ScenarioError, bundled_scenarios, load_scenario
from hanota.capacity.sweep import SweepParam, SweepResult, parse_sweep, run_sweep

__all__ = [
    "Completion",
    "PlanResult",
    "RegionFleet",
    "RegionResult",
    "ReportFiles",
    "Scenario",
    "ScenarioError",
    "SweepParam",
    "SweepResult",
    "build_fleet",
    "bundled_scenarios",
    "load_scenario",
    "parse_sweep",
    "print_result",
    "print_sweep",
    "run_cli_scenario",
    "run_scenario",
    "run_sweep",
    "write_report",
]
