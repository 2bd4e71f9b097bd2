"""The dashboard's 24-hour line charts, drawn by pygal as standalone SVG documents.

Each chart is served by its own route and shown with `<img>` (an SVG loaded as an image runs
no script). pygal's SVG carries an inline `<style>`, so only these responses get a policy that
allows it (`CHART_POLICY`); every page keeps the strict one of `rendering.py`.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import pygal
from fastapi.responses import Response
from pygal.style import Style

from save_server.infrastructure.dashboard.i18n import Formatter

# pygal puts a legacy import hook for its map plugins on sys.meta_path (find_module only, no
# find_spec), which breaks code that asks every finder for a spec (pytest's collection did).
# We use no pygal maps: take the hook out again.
sys.meta_path[:] = [f for f in sys.meta_path if type(f).__module__ != "pygal"]

CHART_POLICY = "default-src 'none'; style-src 'unsafe-inline'"
SVG_TYPE = "image/svg+xml"


@dataclass(frozen=True)
class Series:
    label: str
    unit: str
    colour: str
    points: Sequence[tuple[datetime, float]]
    secondary: bool = False  # drawn against the right-hand axis (another unit)


def svg(series: Sequence[Series], end: datetime, title: str, fmt: Formatter, zone: str,
        span: timedelta = timedelta(hours=24), no_data: str = "") -> bytes:
    """A time chart of `series` from `end - span` to `end`, times shown in `zone`."""
    start = end - span
    shown = [(line, [(at, v) for at, v in line.points if start <= at <= end])
             for line in series]
    shown = [(line, points) for line, points in shown if points]
    # The 24 h axis (five labels) only with data: pygal cannot place labels on an empty chart.
    axis = {"x_labels": [end - span * i / 4 for i in range(4, -1, -1)],
            "xrange": (start, end)} if shown else {}
    chart = pygal.DateTimeLine(
        title=title, width=720, height=280, js=[], show_dots=True, dots_size=2, fill=False,
        include_x_axis=True,
        x_label_rotation=0, truncate_legend=-1, legend_at_bottom=True,
        x_value_formatter=lambda at: fmt.when(at, zone)[-5:],
        value_formatter=lambda v: fmt.number(v, 1),
        no_data_text=no_data or fmt.gettext("No data"),
        style=Style(colors=tuple(line.colour for line, _ in shown), background="white",
                    plot_background="white"), **axis)
    for line, points in shown:
        chart.add(f"{line.label} ({line.unit})", points, secondary=line.secondary)
    return chart.render()  # type: ignore[no-any-return]


def response(document: bytes, status_code: int = 200) -> Response:
    return Response(document, status_code=status_code, media_type=SVG_TYPE,
                    headers={"Content-Security-Policy": CHART_POLICY})
