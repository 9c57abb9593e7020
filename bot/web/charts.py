"""Charts as server-rendered SVG: no script, no library, no inline style (CSP-clean).

Every text that goes into the markup is escaped; colours are presentation attributes picked
from a fixed palette, and the stylesheet does the rest.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from markupsafe import Markup, escape

PALETTE = (
    "#2563eb",
    "#16a34a",
    "#dc2626",
    "#d97706",
    "#7c3aed",
    "#0891b2",
    "#db2777",
    "#65a30d",
    "#9333ea",
    "#475569",
    "#ea580c",
    "#0d9488",
)
WIDTH, HEIGHT = 720, 220
LEFT, BOTTOM, TOP = 44, 28, 10


def _colour(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def _frame(title: str, body: list[str], legend: Sequence[tuple[str, str]], peak: float) -> Markup:
    """The chart's box, y axis and legend around `body` (already escaped markup)."""
    plot_h = HEIGHT - BOTTOM - TOP
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT + 24 * ((len(legend) + 3) // 4)}" '
        f'role="img" aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
        f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{TOP + plot_h}" class="axis"/>',
        f'<line x1="{LEFT}" y1="{TOP + plot_h}" x2="{WIDTH}" y2="{TOP + plot_h}" class="axis"/>',
    ]
    for fraction in (0.0, 0.5, 1.0):
        y = TOP + plot_h * (1 - fraction)
        value = peak * fraction
        label = f"{value:.0f}" if peak >= 10 or value == 0 else f"{value:.1f}"
        parts.append(
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" class="tick" text-anchor="end">{label}</text>'
        )
    parts += body
    for i, (name, colour) in enumerate(legend):
        x, y = LEFT + (i % 4) * 170, HEIGHT + 8 + 24 * (i // 4)
        parts.append(f'<rect x="{x}" y="{y}" width="12" height="12" fill="{colour}"/>')
        parts.append(f'<text x="{x + 18}" y="{y + 11}" class="legend">{escape(name)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 (every piece above is escaped or numeric)


def stacked_bars(title: str, columns: dict[str, dict[str, int]], label_every: int = 4) -> Markup:
    """One bar per column (e.g. an hour), stacked by series (e.g. a decision reason)."""
    series = sorted({name for values in columns.values() for name in values})
    peak = max((sum(v.values()) for v in columns.values()), default=0) or 1
    plot_w, plot_h = WIDTH - LEFT - 8, HEIGHT - BOTTOM - TOP
    step = plot_w / max(1, len(columns))
    body = []
    for i, (column, values) in enumerate(columns.items()):
        x, base = LEFT + 4 + i * step, float(TOP + plot_h)
        for j, name in enumerate(series):
            h = plot_h * values.get(name, 0) / peak
            if h > 0:
                base -= h
                body.append(
                    f'<rect x="{x:.1f}" y="{base:.1f}" width="{max(1.0, step - 3):.1f}" '
                    f'height="{h:.1f}" fill="{_colour(j)}"><title>{escape(column)} '
                    f"{escape(name)}: {values[name]}</title></rect>"
                )
        if i % label_every == 0:
            body.append(
                f'<text x="{x:.1f}" y="{HEIGHT - 10}" class="tick">{escape(column[-5:])}</text>'
            )
    return _frame(title, body, [(n, _colour(j)) for j, n in enumerate(series)], peak)


def grouped_bars(title: str, groups: dict[str, dict[str, float]], unit: str = "") -> Markup:
    """Side-by-side bars per group (e.g. p50 and p95 per tier, decisions per moderator)."""
    series = sorted({name for values in groups.values() for name in values})
    peak = max((v for values in groups.values() for v in values.values()), default=0) or 1
    plot_w, plot_h = WIDTH - LEFT - 8, HEIGHT - BOTTOM - TOP
    step = plot_w / max(1, len(groups))
    bar = max(2.0, (step - 12) / max(1, len(series)))
    body = []
    for i, (group, values) in enumerate(groups.items()):
        x0 = LEFT + 6 + i * step
        for j, name in enumerate(series):
            value = values.get(name, 0.0)
            h = plot_h * value / peak
            body.append(
                f'<rect x="{x0 + j * bar:.1f}" y="{TOP + plot_h - h:.1f}" width="{bar - 2:.1f}" '
                f'height="{h:.1f}" fill="{_colour(j)}"><title>{escape(group)} {escape(name)}: '
                f"{value:.2f}{escape(unit)}</title></rect>"
            )
        body.append(f'<text x="{x0:.1f}" y="{HEIGHT - 10}" class="tick">{escape(group)}</text>')
    return _frame(title, body, [(n, _colour(j)) for j, n in enumerate(series)], peak)


def line(title: str, points: list[tuple[datetime, int]]) -> Markup:
    """One line over time (e.g. the review queue's depth)."""
    peak = max((v for _, v in points), default=0) or 1
    plot_w, plot_h = WIDTH - LEFT - 8, HEIGHT - BOTTOM - TOP
    step = plot_w / max(1, len(points) - 1)
    coords = " ".join(
        f"{LEFT + i * step:.1f},{TOP + plot_h * (1 - v / peak):.1f}"
        for i, (_, v) in enumerate(points)
    )
    body = [f'<polyline points="{coords}" fill="none" stroke="{_colour(0)}" stroke-width="2"/>']
    for i, (t, _) in enumerate(points):
        if i % max(1, len(points) // 6) == 0:
            body.append(
                f'<text x="{LEFT + i * step:.1f}" y="{HEIGHT - 10}" class="tick">'
                f"{t.strftime('%H:%M')}</text>"
            )
    return _frame(title, body, [("waiting for review", _colour(0))], peak)
