"""Server-side SVG charts for the admin dashboard: no JavaScript, no CDN, nothing to vendor.

Each function returns a complete <svg> element as a string, built from numbers only; every text label is
escaped. They are deliberately plain: axes, a few gridlines, one colour per series, a legend.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from html import escape

# The viewBox is about the size the dashboard shows a chart at (one of two columns), so 12-unit text reads as
# 12-pixel text rather than being scaled down to 7.
WIDTH, HEIGHT = 480, 230
LEFT, RIGHT, TOP, BOTTOM = 52, 12, 14, 44
FONT = 12
COLOURS = ["#2f6fde", "#1a9c5b", "#d1493f", "#c98a0b", "#7b5ea7", "#118a8a"]


def _nice_max(value: float) -> float:
    """The smallest 1, 2, 2.5 or 5 x 10^n at or above `value`: a round top for the y axis."""
    if value <= 0:
        return 1.0
    magnitude = 10 ** math.floor(math.log10(value))
    return next(step * magnitude for step in (1, 2, 2.5, 5, 10) if value <= step * magnitude * (1 + 1e-9))


def _fmt(value: float, unit: str) -> str:
    if unit == "%":
        return f"{value:.0f}%"
    if unit == "$":
        return f"{value:.4g}"
    return f"{value:,.0f}" if value >= 10 else f"{value:g}"


def _frame(title: str, labels: Sequence[str], top: float, unit: str) -> list[str]:
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" role="img" '
        f'aria-label="{escape(title)}" class="commhub-chart">',
        f"<title>{escape(title)}</title>",
    ]
    for i in range(5):  # gridlines and y labels
        y = TOP + plot_h - plot_h * i / 4
        parts.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" stroke="#e5e5e5"/>')
        parts.append(
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" font-size="{FONT}" text-anchor="end" fill="#555">'
            f"{escape(_fmt(top * i / 4, unit))}</text>"
        )
    every = max(1, math.ceil(len(labels) / 7))  # at most 7 labels along the bottom: they never overlap
    for i, label in enumerate(labels):
        if i % every:
            continue
        x = LEFT + plot_w * (i + 0.5) / max(1, len(labels))
        parts.append(
            f'<text x="{x:.1f}" y="{HEIGHT - BOTTOM + 16}" font-size="{FONT}" text-anchor="middle" fill="#555">'
            f"{escape(label)}</text>"
        )
    return parts


def _legend(names: Sequence[str]) -> list[str]:
    parts, x = [], LEFT
    for i, name in enumerate(names):
        colour = COLOURS[i % len(COLOURS)]
        parts.append(f'<rect x="{x}" y="{HEIGHT - 14}" width="10" height="10" fill="{colour}"/>')
        parts.append(f'<text x="{x + 14}" y="{HEIGHT - 4}" font-size="{FONT}" fill="#333">{escape(name)}</text>')
        x += 26 + 7 * len(name)
    return parts


def line_chart(title: str, labels: Sequence[str], series: Mapping[str, Sequence[float]], *, unit: str = "") -> str:
    """One line per series over the labels (days)."""
    top = 100.0 if unit == "%" else _nice_max(max((v for values in series.values() for v in values), default=0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    parts = _frame(title, labels, top, unit)
    for i, (name, values) in enumerate(series.items()):
        colour = COLOURS[i % len(COLOURS)]
        points = [
            (LEFT + plot_w * (j + 0.5) / max(1, len(values)), TOP + plot_h - plot_h * (v / top if top else 0))
            for j, v in enumerate(values)
        ]
        if points:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
            parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
            for (x, y), v in zip(points, values, strict=True):
                parts.append(
                    f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{colour}">'
                    f"<title>{escape(name)}: {escape(_fmt(v, unit))}</title></circle>"
                )
    parts += _legend(list(series))
    parts.append("</svg>")
    return "".join(parts)


def bar_chart(title: str, labels: Sequence[str], values: Sequence[float], *, unit: str = "", name: str = "") -> str:
    """One bar per label."""
    top = _nice_max(max(values, default=0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    parts = _frame(title, labels, top, unit)
    slot = plot_w / max(1, len(values))
    for j, v in enumerate(values):
        h = plot_h * (v / top if top else 0)
        x = LEFT + slot * j + slot * 0.15
        parts.append(
            f'<rect x="{x:.1f}" y="{TOP + plot_h - h:.1f}" width="{slot * 0.7:.1f}" height="{h:.1f}" '
            f'fill="{COLOURS[0]}">'
            f"<title>{escape(labels[j])}: {escape(_fmt(v, unit))}</title></rect>"
        )
    if name:
        parts += _legend([name])
    parts.append("</svg>")
    return "".join(parts)


def hbar_chart(title: str, labels: Sequence[str], values: Sequence[float], *, unit: str = "") -> str:
    """One horizontal bar per label, the label beside it: long names (queues) stay readable."""
    row, label_w, value_w = 24, 130, 56
    height = TOP + row * max(1, len(values)) + 8
    plot_w = WIDTH - label_w - value_w - RIGHT
    top = _nice_max(max(values, default=0))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" width="100%" role="img" '
        f'aria-label="{escape(title)}" class="commhub-chart">',
        f"<title>{escape(title)}</title>",
    ]
    for j, (label, v) in enumerate(zip(labels, values, strict=True)):
        y = TOP + row * j
        w = plot_w * (v / top if top else 0)
        parts.append(
            f'<text x="{label_w - 8}" y="{y + 15}" font-size="{FONT}" text-anchor="end" fill="#333">'
            f"{escape(label)}</text>"
        )
        parts.append(
            f'<rect x="{label_w}" y="{y + 4}" width="{w:.1f}" height="{row - 8}" fill="{COLOURS[0]}">'
            f"<title>{escape(label)}: {escape(_fmt(v, unit))}</title></rect>"
        )
        parts.append(
            f'<text x="{label_w + w + 6:.1f}" y="{y + 15}" font-size="{FONT}" fill="#555">'
            f"{escape(_fmt(v, unit))}</text>"
        )
    parts.append("</svg>")
    return "".join(parts)
