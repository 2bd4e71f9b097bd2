"""A site's power as the sites page shows it: per phase, the limit, what is allocated and what
is measured (the gauge), and the allocations of the last hours (the history chart).

Made from the load manager's documents: the electrical model (which site phases each
connector uses), the power document (`GET /sites/{id}/power`) and the
`load-management.allocation` event payloads. A connector's allocation counts on every site
phase it uses; an uncontrolled one counts at what the allocator reserves for it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape
from typing import Any

from save_server.infrastructure.dashboard.views import parse_time

WIDTH, ROW, PAD_LEFT, PAD_RIGHT = 640, 44, 40, 12
Key = tuple[str, int]


@dataclass(frozen=True)
class PhaseGauge:
    phase: str
    limit_a: float
    usable_a: float
    building_a: float
    allocated_a: float  # to the chargers (controlled: their limit; uncontrolled: counted)
    measured_a: float | None  # the chargers' measured current plus the building's measured
    # load (None: nothing on this phase is measured)

    @property
    def headroom_a(self) -> float:
        return self.usable_a - self.building_a - self.allocated_a


def phases_of(model: Mapping[str, Any]) -> dict[Key, tuple[str, ...]]:
    return {(str(c["charging_station_id"]), int(c["connector_id"])): tuple(c["phases"])
            for c in model.get("connectors") or ()}


def site_phases(model: Mapping[str, Any]) -> tuple[str, ...]:
    return ("L1",) if model.get("supply") == "single-phase" else ("L1", "L2", "L3")


def _allocated(rows: Iterable[Mapping[str, Any]], phases: Mapping[Key, tuple[str, ...]],
               limit: str, counted: str) -> dict[str, float]:
    per_phase: dict[str, float] = {}
    for row in rows:
        key = (str(row["charging_station_id"]), int(row["connector_id"]))
        amps = row.get(counted) if row.get(counted) is not None else row.get(limit)
        for phase in phases.get(key, ()):
            per_phase[phase] = per_phase.get(phase, 0.0) + float(amps or 0.0)
    return per_phase


def gauges(model: Mapping[str, Any], power: Mapping[str, Any]) -> list[PhaseGauge]:
    phases = phases_of(model)
    rows = power.get("connectors") or ()
    allocated = _allocated(rows, phases, "allocation_a", "counted_a")
    building_doc = power.get("building") or {}
    building = building_doc.get("per_phase_a") or {}
    measured: dict[str, float] = {}
    if building_doc.get("source") == "measured":  # not a fallback: an assumption
        measured = {p: float(a or 0.0) for p, a in building.items()}
    for row in rows:
        key = (str(row["charging_station_id"]), int(row["connector_id"]))
        if row.get("measured_a") is not None:
            for phase in phases.get(key, ()):
                measured[phase] = measured.get(phase, 0.0) + float(row["measured_a"])
    limit = float(model["limit_a"])
    usable = limit * (1.0 - float(model.get("margin") or 0.0))
    return [PhaseGauge(p, limit, usable, float(building.get(p) or 0.0),
                       round(allocated.get(p, 0.0), 1),
                       round(measured[p], 1) if p in measured else None)
            for p in site_phases(model)]


def gauge_svg(phases: Sequence[PhaseGauge], title: str, legend: Mapping[str, str]) -> str:
    """One horizontal bar per phase: the building's load and the chargers' allocation stacked
    on the supply's limit, the usable limit as a dashed line, the measured total as a mark.
    The numbers are also in the table beside it (the drawing alone says nothing exact)."""
    top = max([g.limit_a for g in phases] + [g.building_a + g.allocated_a for g in phases]
              + [g.measured_a or 0.0 for g in phases] + [1.0])
    plot_w = WIDTH - PAD_LEFT - PAD_RIGHT
    height = ROW * len(phases) + 30

    def x(amps: float) -> float:
        return PAD_LEFT + plot_w * max(0.0, amps) / top

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" '
             f'role="img" aria-label="{escape(title)}" class="gauge">',
             f"<title>{escape(title)}</title>"]
    for i, g in enumerate(phases):
        y = 6 + ROW * i
        parts += [
            f'<text x="4" y="{y + 20}" font-size="13" fill="#222">{escape(g.phase)}</text>',
            f'<rect x="{PAD_LEFT}" y="{y}" width="{x(g.limit_a) - PAD_LEFT:.1f}" height="28" '
            f'fill="#eef0f3" stroke="#767676"/>',
            f'<rect x="{PAD_LEFT}" y="{y + 4}" width="{x(g.building_a) - PAD_LEFT:.1f}" '
            f'height="20" fill="#8a8f98"/>',
            f'<rect x="{x(g.building_a):.1f}" y="{y + 4}" '
            f'width="{x(g.building_a + g.allocated_a) - x(g.building_a):.1f}" height="20" '
            f'fill="#2a6ebb"/>',
            f'<line x1="{x(g.usable_a):.1f}" y1="{y - 2}" x2="{x(g.usable_a):.1f}" '
            f'y2="{y + 30}" stroke="#a4121c" stroke-width="2" stroke-dasharray="4 3"/>']
        if g.measured_a is not None:
            parts.append(f'<path d="M{x(g.measured_a):.1f} {y + 2} l-6 -6 h12 z" '
                         f'fill="#111"/><line x1="{x(g.measured_a):.1f}" y1="{y + 2}" '
                         f'x2="{x(g.measured_a):.1f}" y2="{y + 26}" stroke="#111" '
                         f'stroke-width="2"/>')
    keys = (("#8a8f98", "building"), ("#2a6ebb", "allocated"), ("#a4121c", "usable"),
            ("#111", "measured"))
    for i, (colour, name) in enumerate(keys):
        left = PAD_LEFT + i * 150
        parts.append(f'<rect x="{left}" y="{height - 16}" width="12" height="12" '
                     f'fill="{colour}"/><text x="{left + 16}" y="{height - 6}" font-size="12" '
                     f'fill="#222">{escape(legend.get(name, name))}</text>')
    parts.append("</svg>")
    return "".join(parts)


@dataclass(frozen=True)
class HistoryPoint:
    at: datetime
    allocated_a: float  # to the chargers, on the most loaded phase
    building_a: float  # the building, on the most loaded phase
    paused: int  # connectors waiting in the rotation queue


def history(model: Mapping[str, Any], payloads: Iterable[Mapping[str, Any]]
            ) -> list[HistoryPoint]:
    """The allocation events of one site, oldest first."""
    phases = phases_of(model)
    points = []
    for payload in payloads:
        at = parse_time(payload.get("computed_at"))
        if at is None:
            continue
        allocated = _allocated(payload.get("connectors") or (), phases, "limit_a",
                               "reserved_a")
        building = payload.get("building_a") or {}
        points.append(HistoryPoint(at, max(allocated.values(), default=0.0),
                                   max((float(v) for v in building.values()), default=0.0),
                                   len(payload.get("queue") or ())))
    return sorted(points, key=lambda p: p.at)
