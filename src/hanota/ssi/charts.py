"""Server-rendered SVG charts (no JavaScript): cumulative lines over virtual time and stacked bars.

Every chart carries a `<title>` and `<desc>` and is drawn with presentation attributes only (no inline
style, so the Content-Security-Policy can forbid it). Each page also shows the same numbers as a table.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from html import escape

from markupsafe import Markup

from hanota.lifecycle import DeviceState

SERIES_COLOURS: dict[str, str] = {
    DeviceState.TRANSFERRED: "#1f6fb2",
    DeviceState.ACTIVATED: "#2e7d32",
    "failed": "#c62828",
    "in flight": "#9e9e9e",
    "upgradeable": "#2e7d32",
    "not upgradeable": "#b0892a",
    DeviceState.REJECTED: "#6d4c41",
}
"""A series' colour by its name (the request pages name theirs after the lifecycle's states)."""


def duration_label(seconds: float) -> str:
    """0 s, 45 s, 12 min, 3.5 h, 2 d: the coarsest unit that keeps a digit or two."""
    s = abs(seconds)
    if s < 90:
        return f"{seconds:.0f} s"
    if s < 90 * 60:
        return f"{seconds / 60:.0f} min"
    if s < 48 * 3600:
        h = seconds / 3600
        return f"{h:.1f} h" if h < 10 else f"{h:.0f} h"
    return f"{seconds / 86400:.1f} d"


def _nice_max(v: int) -> int:
    if v <= 5:
        return 5
    mag: int = 10 ** (len(str(v)) - 1)
    for m in (1, 1.2, 1.6, 2, 2.4, 3, 4, 5, 6, 8, 10):  # close above the data, on round numbers
        top = int(m * mag)
        if top >= v:
            return top
    return 10 * mag


def line_chart(
    series: Mapping[str, Sequence[int]],
    *,
    bucket_seconds: float,
    title: str,
    width: int = 720,
    height: int = 260,
) -> Markup:
    """Cumulative counts per bucket of virtual time, one polyline per series, with axes and a legend."""
    names = list(series)
    uid = "c" + hashlib.sha256(title.encode()).hexdigest()[:8]  # ids unique per chart on a page
    n = max((len(v) for v in series.values()), default=0)
    top = _nice_max(max((max(v) if v else 0 for v in series.values()), default=0))
    left, right, upper, lower = 56, 12, 28, 34
    pw, ph = width - left - right, height - upper - lower
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" class="chart" role="img" '
        f'aria-labelledby="{uid}t {uid}d" preserveAspectRatio="xMidYMid meet">',
        f'<title id="{uid}t">{escape(title)}</title>',
        f'<desc id="{uid}d">'
        + escape(
            "; ".join(f"{k}: {v[-1] if v else 0}" for k, v in series.items())
            + f" after {duration_label(bucket_seconds * n)}"
        )
        + "</desc>",
    ]
    for i in range(5):
        y = upper + ph - ph * i / 4
        value = top * i / 4
        parts.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{left + pw}" y2="{y:.1f}" stroke="#d0d7de" stroke-width="1"/>'
        )
        parts.append(
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11" fill="#444">{value:,.0f}</text>'
        )
    for i in range(5):
        x = left + pw * i / 4
        label = duration_label(bucket_seconds * n * i / 4)
        anchor = "end" if i == 4 else "start" if i == 0 else "middle"
        parts.append(
            f'<text x="{x:.1f}" y="{upper + ph + 16}" text-anchor="{anchor}" font-size="11" fill="#444">'
            f"{escape(label)}</text>"
        )
    parts.append(
        f'<text x="{left + pw / 2:.1f}" y="{height - 3}" text-anchor="middle" font-size="11" fill="#444">'
        "virtual time since the request was received</text>"
    )
    for name in names:
        values = series[name]
        if not values:
            continue
        pts = [f"{left:.1f},{upper + ph:.1f}"]
        for i, v in enumerate(values):
            x = left + pw * (i + 1) / max(n, 1)
            y = upper + ph - ph * v / top
            pts.append(f"{x:.1f},{y:.1f}")
        colour = SERIES_COLOURS.get(name, "#555")
        parts.append(
            f'<polyline fill="none" stroke="{colour}" stroke-width="2.5" points="{" ".join(pts)}">'
            f"<title>{escape(name)}: {values[-1]:,}</title></polyline>"
        )
    x = left
    for name in names:
        colour = SERIES_COLOURS.get(name, "#555")
        last = series[name][-1] if series[name] else 0
        label = f"{name} {last:,}"
        parts.append(f'<rect x="{x}" y="8" width="12" height="12" fill="{colour}"/>')
        parts.append(f'<text x="{x + 16}" y="18" font-size="12" fill="#222">{escape(label)}</text>')
        x += 28 + 7 * len(label)
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every interpolated text is escaped above


def stacked_bars(
    rows: Sequence[tuple[str, Mapping[str, int]]],
    *,
    keys: Sequence[str],
    title: str,
    width: int = 720,
    bar: int = 22,
) -> Markup:
    """One horizontal bar per row, split by `keys` (counts), scaled to the largest row."""
    label_w, right, upper = 170, 60, 30
    height = upper + len(rows) * (bar + 8) + 8
    biggest = max((sum(v.get(k, 0) for k in keys) for _, v in rows), default=0) or 1
    pw = width - label_w - right
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" class="chart" role="img" '
        f'aria-label="{escape(title)}" preserveAspectRatio="xMidYMid meet">',
        f"<title>{escape(title)}</title>",
    ]
    x = label_w
    for k in keys:
        colour = SERIES_COLOURS.get(k, "#555")
        parts.append(f'<rect x="{x}" y="6" width="12" height="12" fill="{colour}"/>')
        parts.append(f'<text x="{x + 16}" y="16" font-size="12" fill="#222">{escape(k)}</text>')
        x += 32 + 7 * len(k)
    for i, (label, values) in enumerate(rows):
        y = upper + i * (bar + 8)
        parts.append(
            f'<text x="{label_w - 6}" y="{y + bar * 0.7:.1f}" text-anchor="end" font-size="12" fill="#222">'
            f"{escape(label)}</text>"
        )
        x0 = float(label_w)
        total = 0
        for k in keys:
            v = values.get(k, 0)
            total += v
            w = pw * v / biggest
            if w > 0:
                colour = SERIES_COLOURS.get(k, "#555")
                parts.append(
                    f'<rect x="{x0:.1f}" y="{y}" width="{w:.1f}" height="{bar}" fill="{colour}">'
                    f"<title>{escape(label)} — {escape(k)}: {v:,}</title></rect>"
                )
            x0 += w
        parts.append(
            f'<text x="{x0 + 4:.1f}" y="{y + bar * 0.7:.1f}" font-size="12" fill="#222">{total:,}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every interpolated text is escaped above
