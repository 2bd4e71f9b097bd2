"""Property-based tests of the allocator over random sites and random days: arrivals,
departures, building measurements and stations that stop obeying."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from save_server.domain.load.allocator import (
    Allocation,
    BuildingLoad,
    ConnectorDemand,
    allocate,
)
from save_server.domain.load.model import (
    PHASES,
    ROOT,
    Circuit,
    ConnectorSupply,
    ElectricalModel,
    Supply,
    check_model,
)
from save_server.domain.load.rotation import DEFAULT_SLOT, Turn

T0 = datetime(2026, 12, 5, 0, 0, tzinfo=UTC)
MAX_STEP = timedelta(minutes=5)
EPS = 1e-6


@st.composite
def sites(draw: st.DrawFn, metered: bool = True) -> ElectricalModel:
    limit = draw(st.sampled_from([16.0, 25.0, 32.0, 40.0, 63.0, 100.0]))
    circuits: list[Circuit] = []
    for i in range(draw(st.integers(0, 3))):
        parent = draw(st.sampled_from([None, *(c.circuit_id for c in circuits)]))
        ceiling = limit if parent is None else next(c.limit_a for c in circuits
                                                    if c.circuit_id == parent)
        circuits.append(Circuit(f"c{i}", draw(st.floats(6.4, ceiling)), parent))
    connectors = []
    for i in range(draw(st.integers(1, 14))):
        phases = draw(st.sampled_from([PHASES, ("L1",), ("L2",), ("L3",), ("L3", "L1", "L2")]))
        circuit = draw(st.sampled_from([None, *(c.circuit_id for c in circuits)]))
        connectors.append(ConnectorSupply(
            f"CP{i}", draw(st.integers(1, 2)), phases, circuit,
            max_a=draw(st.sampled_from([16.0, 32.0])), priority=draw(st.sampled_from([0, 0, 1]))))
    return check_model(ElectricalModel("site", Supply.THREE_PHASE, 220.0, limit,
                                       circuits=tuple(circuits), connectors=tuple(connectors),
                                       building_metered=metered and draw(st.booleans())))


def check_limits(model: ElectricalModel, result: Allocation) -> None:
    """Every node and phase stays within its usable limit, building and reserved included,
    unless it was already over before any controllable charger (then those on it are 0)."""
    load = {(n, p): 0.0 for n in (ROOT, *(c.circuit_id for c in model.circuits))
            for p in model.supply.phases}
    for phase, amps in result.building_a.items():
        load[(ROOT, phase)] += amps
    for connector in model.connectors:
        amps = result.limits.get(connector.key, 0.0) + result.reserved.get(connector.key, 0.0)
        for node in model.path(connector):
            for phase in connector.phases:
                load[(node, phase)] += amps
    for (node, phase), amps in load.items():
        if (node, phase) in result.overloaded:
            assert all(result.limits.get(c.key, 0.0) == 0.0 for c in model.connectors
                       if node in model.path(c) and phase in c.phases)
        else:
            assert amps <= model.usable(node) + EPS, (node, phase, amps)


def check_minimums(model: ElectricalModel, demands: dict, result: Allocation) -> None:
    for key, amps in result.limits.items():
        connector = model.connector(key)
        assert connector is not None and demands[key].charging
        cap = min(connector.max_a, demands[key].car_max_a or connector.max_a)
        if amps == 0.0 and connector.min_a > 0:
            assert key in result.queue
        else:
            assert connector.min_a - EPS <= amps <= max(cap, connector.min_a) + EPS
            assert key not in result.queue


@settings(max_examples=150, deadline=None)
@given(model=sites(), seed=st.integers(0, 2**32 - 1), steps=st.integers(5, 60))
def test_a_random_day_never_exceeds_a_limit_and_never_starves_a_minimum(
        model: ElectricalModel, seed: int, steps: int) -> None:
    rng = random.Random(seed)
    demands: dict = {}
    turns: dict = {}
    measured: BuildingLoad | None = None
    now = T0
    for _ in range(steps):
        now += timedelta(seconds=rng.randint(1, int(MAX_STEP.total_seconds())))
        connector = rng.choice(model.connectors)
        roll = rng.random()
        if roll < 0.45:
            demands[connector.key] = ConnectorDemand(
                connector.key, True, car_max_a=rng.choice([None, 8.0, 16.0, 32.0]),
                priority=rng.choice([None, None, 0, 2]))  # an id tag group's priority
        elif roll < 0.7:
            demands.pop(connector.key, None)
        elif roll < 0.8:
            demands[connector.key] = ConnectorDemand(connector.key, rng.random() < 0.5,
                                                     controllable=False)
        else:
            measured = BuildingLoad({p: rng.uniform(0, model.limit_a) for p in PHASES},
                                    now - timedelta(seconds=rng.choice([0, 10, 900])))
        result = allocate(model, demands, measured, turns, now)
        check_limits(model, result)
        check_minimums(model, demands, result)
        assert allocate(model, dict(reversed(list(demands.items()))), measured, turns,
                        now) == result  # equal inputs, equal allocation
        turns = result.turns


@settings(max_examples=150, deadline=None)
@given(model=sites(metered=False), seed=st.integers(0, 2**32 - 1), steps=st.integers(10, 120))
def test_nobody_waits_longer_than_the_rotation_promises(
        model: ElectricalModel, seed: int, steps: int) -> None:
    """With a constant capacity, a connector paused at queue position k charges again
    within (k + 1) slots (each recomputation may come up to one step late)."""
    rng = random.Random(seed)
    demands: dict = {}
    turns: dict[tuple[str, int], Turn] = {}
    deadline: dict[tuple[str, int], datetime] = {}
    now = T0
    for _ in range(steps):
        now += timedelta(seconds=rng.randint(1, int(MAX_STEP.total_seconds())))
        connector = rng.choice(model.connectors)
        if rng.random() < 0.7:
            demands[connector.key] = ConnectorDemand(  # a charge's priority stays
                connector.key, True, priority=demands[connector.key].priority
                if connector.key in demands else rng.choice([None, 0, 3]))
        else:
            demands.pop(connector.key, None)
            deadline.pop(connector.key, None)
        result = allocate(model, demands, None, turns, now)
        for position, key in enumerate(result.queue):
            deadline.setdefault(key, now + (position + 1) * (DEFAULT_SLOT + MAX_STEP))
            assert now <= deadline[key], f"{key} waits since {result.turns[key].since}"
        for key in [k for k in deadline if k not in result.queue]:
            del deadline[key]
        turns = result.turns
