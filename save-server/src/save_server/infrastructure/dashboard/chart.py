"""A 24-hour line chart of a station's power and energy, as inline SVG made here.

Hand-made rather than a charting library: the chart is two polylines and a few axis labels;
a library such as pygal writes `<style>` elements and inline styles into its SVG, which the
dashboard's Content-Security-Policy (`style-src 'self'`) refuses. Presentation attributes
(`stroke`, `fill`) are allowed, and everything written here is numbers or escaped labels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from html import escape

WIDTH, HEIGHT, PAD_LEFT, PAD_BOTTOM, PAD_TOP = 640, 220, 56, 28, 12


@dataclass(frozen=True)
class Series:
    label: str
    unit: str
    colour: str
    points: Sequence[tuple[datetime, float]]


def svg(series: Sequence[Series], end: datetime, title: str, axis_labels: Sequence[str],
        span: timedelta = timedelta(hours=24), shared_scale: bool = False) -> str:
    """Each series scaled to its own maximum (power in kW and energy in kWh differ), or all
    to the largest with `shared_scale` (series of one unit); the legend says each maximum.
    `axis_labels`: five time labels, oldest first."""
    start = end - span
    plot_w, plot_h = WIDTH - PAD_LEFT - 8, HEIGHT - PAD_BOTTOM - PAD_TOP
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
             f'role="img" aria-label="{escape(title)}" class="chart">',
             f"<title>{escape(title)}</title>",
             f'<rect x="{PAD_LEFT}" y="{PAD_TOP}" width="{plot_w}" height="{plot_h}" '
             f'fill="none" stroke="#767676"/>']
    for i, label in enumerate(axis_labels):
        x = PAD_LEFT + plot_w * i / max(1, len(axis_labels) - 1)
        parts.append(f'<text x="{x:.1f}" y="{HEIGHT - 8}" font-size="11" fill="#222" '
                     f'text-anchor="middle">{escape(label)}</text>')
    shared = max((v for line in series for _, v in line.points), default=0.0) or 1.0
    for row, line in enumerate(series):
        top = shared if shared_scale else (
            max((v for _, v in line.points), default=0.0) or 1.0)
        coords = []
        for at, value in line.points:
            if start <= at <= end:
                x = PAD_LEFT + plot_w * (at - start) / span
                y = PAD_TOP + plot_h * (1 - value / top)
                coords.append(f"{x:.1f},{y:.1f}")
        if coords:
            parts.append(f'<polyline fill="none" stroke="{line.colour}" stroke-width="2" '
                         f'points="{" ".join(coords)}"/>')
        parts.append(f'<text x="{PAD_LEFT + 6}" y="{PAD_TOP + 14 + 14 * row}" font-size="12" '
                     f'fill="{line.colour}">{escape(line.label)} (max {top:.1f} '
                     f'{escape(line.unit)})</text>')
    parts.append("</svg>")
    return "".join(parts)
