"""The allocator: a site's model and state in, a current limit per connector out. Pure.

1. Capacity of every (node, phase): the node's limit less the margin; on the supply, less the
   building's load. Connectors that cannot be controlled (station offline, profile rejected or
   unsupported) are counted at their maximum on every node and phase they use.
2. Active connectors are admitted at their minimum in rotation order (`rotation`); the others
   are paused (0 A).
3. What is left is shared by water-filling: everyone admitted rises together until they reach
   their cap (connector maximum, or the car's observed/declared maximum) or a node on their
   path is full; higher priorities are filled first.
Limits are rounded down to 0.1 A. Equal inputs give equal outputs (everything is sorted).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from save_server.domain.load.model import ROOT, ConnectorKey, ConnectorSupply, ElectricalModel
from save_server.domain.load.rotation import DEFAULT_SLOT, Turn, admit

EPSILON = 1e-9
Resource = tuple[str, str]  # (node, phase)


@dataclass(frozen=True)
class ConnectorDemand:
    """What the site knows of a connector now."""

    key: ConnectorKey
    charging: bool  # a charge runs and may draw power
    controllable: bool = True  # False: offline, profile rejected or unsupported
    car_max_a: float | None = None  # observed or declared ceiling of the car
    priority: int | None = None  # of its charge (id tag group): raises the connector's


@dataclass(frozen=True)
class BuildingLoad:
    per_phase: Mapping[str, float]
    measured_at: datetime


@dataclass(frozen=True)
class Allocation:
    site_id: str
    computed_at: datetime
    limits: dict[ConnectorKey, float]  # controllable charging connectors; 0 = paused
    reserved: dict[ConnectorKey, float]  # uncontrollable, counted at their maximum
    queue: tuple[ConnectorKey, ...]  # paused in rotation, longest waiting first
    turns: dict[ConnectorKey, Turn]
    building_a: dict[str, float]
    building_source: str  # "none" | "measured" | "fallback"
    available_a: dict[str, float]  # per phase of the supply, for the chargers
    overloaded: tuple[Resource, ...] = field(default=())  # already over before any charger


def building_load(model: ElectricalModel, measured: BuildingLoad | None,
                  now: datetime) -> tuple[dict[str, float], str]:
    """The building's load per phase and where it comes from. A stale or missing
    measurement of a metered site falls back to max(fallback, last value) on each phase."""
    phases = model.supply.phases
    if not model.building_metered:
        return {p: 0.0 for p in phases}, "none"
    fresh = (measured is not None and now - measured.measured_at
             <= timedelta(seconds=model.measurement_max_age_s))
    if fresh and measured is not None:
        return {p: max(0.0, float(measured.per_phase.get(p, 0.0))) for p in phases}, "measured"
    fallback = model.fallback_building_a()
    last = measured.per_phase if measured is not None else {}
    return {p: max(fallback, float(last.get(p, 0.0))) for p in phases}, "fallback"


def allocate(model: ElectricalModel, demands: Mapping[ConnectorKey, ConnectorDemand],
             measured: BuildingLoad | None, turns: Mapping[ConnectorKey, Turn],
             now: datetime, slot: timedelta = DEFAULT_SLOT) -> Allocation:
    capacity = {(node, phase): model.usable(node)
                for node in (ROOT, *(c.circuit_id for c in model.circuits))
                for phase in model.supply.phases}
    building, source = building_load(model, measured, now)
    for phase, amps in building.items():
        capacity[(ROOT, phase)] -= amps
    uses = model.uses
    reserved: dict[ConnectorKey, float] = {}
    active: list[ConnectorSupply] = []
    for connector in sorted(model.connectors, key=lambda c: c.key):
        demand = demands.get(connector.key)
        if demand is not None and not demand.controllable:
            reserved[connector.key] = connector.max_a
            _take(capacity, uses[connector.key], connector.max_a)
        elif demand is not None and demand.charging:
            active.append(connector if demand.priority is None else replace(
                connector, priority=max(connector.priority, demand.priority)))
    overloaded = tuple(sorted(r for r, amps in capacity.items() if amps < -EPSILON))
    available = {p: max(0.0, capacity[(ROOT, p)]) for p in model.supply.phases}

    def fits(connector: ConnectorSupply) -> bool:
        needed = connector.min_a - EPSILON
        if any(capacity[r] < needed for r in uses[connector.key]):
            return False
        _take(capacity, uses[connector.key], connector.min_a)
        return True

    admission = admit(active, turns, now, slot, fits)
    caps = {c.key: max(c.min_a, min(c.max_a, demands[c.key].car_max_a or math.inf))
            for c in admission.admitted}
    levels = _water_fill(admission.admitted, uses, capacity, caps)
    limits = {c.key: 0.0 for c in active}
    limits.update({k: math.floor(v * 10 + 1e-6) / 10 for k, v in levels.items()})
    return Allocation(model.site_id, now, limits, reserved, admission.queue, admission.turns,
                      building, source, available, overloaded)


def _take(capacity: dict[Resource, float], uses: tuple[Resource, ...], amps: float) -> None:
    for resource in uses:
        capacity[resource] -= amps


Uses = Mapping[ConnectorKey, tuple[Resource, ...]]


def _water_fill(admitted: tuple[ConnectorSupply, ...], uses: Uses,
                capacity: dict[Resource, float], caps: Mapping[ConnectorKey, float]
                ) -> dict[ConnectorKey, float]:
    """Raise everyone admitted together from their minimum; highest priority tier first.
    Each step raises all rising connectors by the same amount until one reaches its cap or a
    resource fills; at least one of them stops rising per step."""
    levels = {c.key: c.min_a for c in admitted}
    for priority in sorted({c.priority for c in admitted}, reverse=True):
        rising = {c.key for c in admitted if c.priority == priority
                  and levels[c.key] < caps[c.key] - EPSILON}
        users: dict[Resource, int] = {}
        for key in rising:
            for resource in uses[key]:
                users[resource] = users.get(resource, 0) + 1
        while rising:
            step = min(min(max(0.0, capacity[r]) / n for r, n in users.items() if n),
                       min(caps[k] - levels[k] for k in rising))
            for key in rising:
                levels[key] += step
            for resource, n in users.items():
                capacity[resource] -= step * n
            stopped = {k for k in rising if caps[k] - levels[k] <= EPSILON
                       or any(users[r] and capacity[r] <= EPSILON for r in uses[k])}
            for key in stopped:
                for resource in uses[key]:
                    users[resource] -= 1
            rising -= stopped
    return levels
