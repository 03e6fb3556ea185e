"""What the parts of `hanota demo` share: the records of what it submitted and who may sign in, and its
output, which is complete lines when piped (no live display, tables as aligned text that is never cut)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from rich.table import Table

from hanota.cli.common import console
from hanota.estate.campaign import Campaign


@dataclass
class Submitted:
    """One request the demo sent: its campaign, the DSP's row and answer, and when (virtual time)."""

    campaign: Campaign
    request_pk: int
    request_id: str
    code: str
    submitted_at: datetime


@dataclass
class Login:
    """A User who may sign in to the web SSI, and the password the demo gave them."""

    who: str
    eui: str
    password: str | None  # None: the User had one already (from an earlier run)


# --- output: complete lines when piped ------------------------------------------------------------------


def plain() -> bool:
    """Plain output: stdout is not a terminal."""
    return not console.is_terminal


def say(line: str = "") -> None:
    """Print one line as it is: never wrapped, cropped or styled when piped."""
    console.print(line, soft_wrap=plain(), markup=False, highlight=False, emoji=False)


@dataclass
class Grid:
    """A table: a Rich table on a terminal, aligned plain lines (never cut) when piped."""

    title: str
    columns: list[tuple[str, bool]]  # (header, right-aligned)
    rows: list[list[str]] = field(default_factory=list)

    def lines(self) -> list[str]:
        widths = [len(h) for h, _ in self.columns]
        for row in self.rows:
            widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]

        def fmt(cells: list[str]) -> str:
            parts = [
                cell.rjust(w) if right else cell.ljust(w)
                for cell, w, (_, right) in zip(cells, widths, self.columns, strict=True)
            ]
            return ("  " + "  ".join(parts)).rstrip()

        return [self.title, fmt([h for h, _ in self.columns]), *(fmt(r) for r in self.rows)]

    def show(self) -> None:
        if plain():
            for line in self.lines():
                say(line)
            return
        table = Table(title=self.title, title_justify="left")
        for header, right in self.columns:
            table.add_column(header, justify="right" if right else "left")
        for row in self.rows:
            table.add_row(*row)
        console.print(table)


def fmt_virtual(seconds: float) -> str:
    d, rem = divmod(int(seconds), 86400)
    h, rem = divmod(rem, 3600)
    return f"{d}d {h:02d}:{rem // 60:02d}"


def quantiles(times: list[float]) -> str:
    """50 % / 90 % / all of `times` (seconds), or '-'."""
    if not times:
        return "-"
    times = sorted(times)
    return " / ".join(fmt_virtual(times[min(len(times) - 1, int(q * len(times)))]) for q in (0.5, 0.9, 1.0))


def pct(n: int, total: int) -> str:
    if not total:
        return "-"
    share = 100 * n / total
    return "<1 %" if 0 < share < 0.5 else f"{share:.0f} %"
