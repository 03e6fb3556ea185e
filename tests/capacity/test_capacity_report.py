"""Outputs: terminal tables, CSV, PNG and one self-contained HTML file; and the CLI entry function."""

from __future__ import annotations

import csv
import html
import io
import re
import sys
from pathlib import Path

import pytest
from capacity_testkit import small_scenario
from rich.console import Console

from hanota.capacity import (
    PlanResult,
    SweepResult,
    parse_sweep,
    print_result,
    print_sweep,
    run_cli_scenario,
    run_scenario,
    run_sweep,
)
from hanota.capacity.report import headline, write_report

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def result_and_sweep() -> tuple[PlanResult, SweepResult]:
    s = small_scenario({"competing": {"hub_share": 0.2}}, devices=1_500)
    return run_scenario(s), run_sweep(s, [parse_sweep("image_size=250kB,500kB")])


def test_write_report_writes_csv_png_and_self_contained_html(
    tmp_path: Path, result_and_sweep: tuple[PlanResult, SweepResult]
) -> None:
    """The report writes the six CSV files (regions by their profile names), valid PNGs, and an HTML page that
    embeds every plot and links to nothing outside itself."""
    result, sweep = result_and_sweep
    files = write_report(result, tmp_path / "out", sweep)
    names = {p.name for p in files.csv}
    assert names == {
        "completion.csv",
        "stages.csv",
        "bottlenecks.csv",
        "failures.csv",
        "hourly.csv",
        "sweep.csv",
    }
    for p in files.png:
        assert p.read_bytes().startswith(PNG)
    assert {p.name for p in files.png} >= {"completion.png", "utilisation.png", "sweep.png"}

    with (tmp_path / "out" / "completion.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert {r["region"] for r in rows} == {"north", "central", "south", "all"}
    assert {r["class"] for r in rows} == {"HAN", "ESME_GSME"}
    assert all(float(r["p50_h"]) <= float(r["p90_h"]) <= float(r["p99_h"]) for r in rows)

    page = files.html.read_text(encoding="utf-8")
    assert page.count("data:image/png;base64,") == len(files.png)
    assert not re.search(r"""(src|href)\s*=\s*["'](?!data:)""", page)
    assert "http://" not in page and "https://" not in page
    assert "Completion" in page and "HardwareVersionMismatch" in page


def test_the_html_report_leads_with_the_answer_per_region(
    tmp_path: Path, result_and_sweep: tuple[PlanResult, SweepResult]
) -> None:
    """Before any table, one line per region gives p50/p90/p99 and the binding bottleneck; shares are
    shown as percentages, not fractions."""
    result, _ = result_and_sweep
    page = write_report(result, tmp_path).html.read_text(encoding="utf-8")
    lines = headline(result)
    assert len(lines) == 3
    for r, line in zip(result.regions, lines, strict=True):
        assert line.startswith(f"{r.region.key}: ")
        assert f"90 % within {r.han.percentiles_h[90]:,.1f} h" in line
        assert line.endswith(f"binding bottleneck: {r.binding_label}")
        assert html.escape(line) in page
        assert page.index(html.escape(line)) < page.index("<table")
        assert f"<td>{r.han.updated_share * 100:.1f} %</td>" in page


def test_terminal_tables(result_and_sweep: tuple[PlanResult, SweepResult]) -> None:
    """The terminal output has the completion, bottleneck and failure tables and the sweep table with its labels."""
    result, sweep = result_and_sweep
    out = io.StringIO()
    console = Console(file=out, width=200)
    print_result(result, console)
    print_sweep(sweep, console)
    text = out.getvalue()
    for needle in ("Completion", "p90 h", "Bottlenecks", "FileTransferFailure", "Sweep", "500kB"):
        assert needle in text


def test_plots_do_not_touch_pyplot(tmp_path: Path, result_and_sweep: tuple[PlanResult, SweepResult]) -> None:
    """Figures are drawn on their own Agg canvas; pyplot (global backend state) is never imported."""
    had_pyplot = "matplotlib.pyplot" in sys.modules
    write_report(result_and_sweep[0], tmp_path)
    assert ("matplotlib.pyplot" in sys.modules) == had_pyplot


def test_cli_entry_runs_a_scenario_file_with_a_sweep(tmp_path: Path) -> None:
    """The CLI entry runs a scenario file with a sweep, exits 0, and writes the HTML report and sweep.csv."""
    path = tmp_path / "s.toml"
    path.write_text('[scenario]\nname = "tiny"\nseed = 3\n[fleet]\ndevices = 300\n')
    out = io.StringIO()
    code = run_cli_scenario(
        path, tmp_path / "report", ["block_size=32,63"], console=Console(file=out, width=160)
    )
    assert code == 0
    assert (tmp_path / "report" / "report.html").is_file()
    assert (tmp_path / "report" / "sweep.csv").is_file()
    assert "tiny" in out.getvalue()


@pytest.mark.parametrize(
    ("scenario", "sweep", "message"),
    [
        ("no-such", (), "no scenario file"),
        ("default-50k", ("wat=1",), "unknown sweep parameter"),
        ("default-50k", ("block_size=1", "block_size=2", "block_size=3"), "one or two"),
        ("default-50k", ("csp_concurrency=10,0",), "sessions"),
    ],
)
def test_cli_entry_refuses_bad_input_with_exit_code_2(
    tmp_path: Path, scenario: str, sweep: tuple[str, ...], message: str
) -> None:
    """A missing scenario, an unknown sweep parameter, too many sweeps or a bad sweep value exits 2 with the
    reason, and nothing is written."""
    out = io.StringIO()
    assert run_cli_scenario(scenario, tmp_path, sweep, console=Console(file=out, width=160)) == 2
    assert message in out.getvalue()
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("table", "line", "key"),
    [
        ("scenario", "submit_at_h = inf", "scenario.submit_at_h"),
        ("competing", "submit_at_h = inf", "competing.submit_at_h"),
        ("network.han", "query_interval_s = inf", "han.query_interval_s"),
        ("network.wan", "overhead = inf", "wan.overhead"),
    ],
)
def test_cli_entry_refuses_an_infinite_value_with_exit_code_2(
    tmp_path: Path, table: str, line: str, key: str
) -> None:
    """An infinite time or factor never reaches the engine (which would not finish): exit 2, no report."""
    path = tmp_path / "s.toml"
    head = '[scenario]\nname = "tiny"\n[fleet]\ndevices = 30\n'
    if table == "scenario":
        path.write_text(head.replace("\n[fleet]", f"\n{line}\n[fleet]"))
    else:
        path.write_text(f"{head}[{table}]\n{line}\n")
    out = io.StringIO()
    report = tmp_path / "report"
    assert run_cli_scenario(path, report, console=Console(file=out, width=160)) == 2
    assert key in out.getvalue() and "finite" in out.getvalue()
    assert not report.exists()


def test_cli_entry_reports_an_unwritable_output_with_exit_code_1(tmp_path: Path) -> None:
    """An output directory that cannot be created exits 1 with 'cannot write'."""
    blocker = tmp_path / "file"
    blocker.write_text("x")
    path = tmp_path / "s.toml"
    path.write_text('[scenario]\nname = "tiny"\n[fleet]\ndevices = 30\n')
    out = io.StringIO()
    assert run_cli_scenario(path, blocker / "sub", console=Console(file=out, width=160)) == 1
    assert "cannot write" in out.getvalue()
