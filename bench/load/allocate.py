"""Allocation time of one site: the pure allocator on a site with N connectors, every one
charging, a circuit tree, three-phase and spread single-phase chargers, a fresh building
measurement, cars with different caps, the rotation turns of the previous round. Same run
baseline: a 20-connector site (how the time grows with the size).

    flock /tmp/csms-bench.lock .venv/bin/python -m bench.load.allocate --connectors 200
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from datetime import UTC, datetime, timedelta

from bench.common.machine import machine_lines
from save_server.domain.load.allocator import BuildingLoad, ConnectorDemand, allocate
from save_server.domain.load.model import (
    PHASES,
    Circuit,
    ConnectorSupply,
    ElectricalModel,
    Supply,
    check_model,
)

T0 = datetime(2026, 12, 5, 18, tzinfo=UTC)


def site(connectors: int, seed: int) -> ElectricalModel:
    """A building with a garage feeder, one circuit per floor and a row per 10 chargers."""
    rng = random.Random(seed)
    limit = max(63.0, connectors * 4.0)
    floors = max(1, connectors // 40)
    circuits = [Circuit("garage", limit * 0.9)]
    circuits += [Circuit(f"floor-{f}", limit * 0.9 / floors * 1.2 if floors > 1
                         else limit * 0.9, "garage") for f in range(floors)]
    rows = []
    for r in range(max(1, connectors // 10)):
        parent = f"floor-{r % floors}"
        rows.append(Circuit(f"row-{r}", min(63.0, next(c.limit_a for c in circuits
                                                       if c.circuit_id == parent)), parent))
    circuits += rows
    chargers = tuple(ConnectorSupply(
        f"CP{i:04d}", 1, PHASES if rng.random() < 0.6 else (PHASES[i % 3],),
        f"row-{i % len(rows)}", max_a=rng.choice([16.0, 32.0]),
        priority=1 if rng.random() < 0.1 else 0) for i in range(connectors))
    return check_model(ElectricalModel("bench", Supply.THREE_PHASE, 220.0, limit,
                                       circuits=tuple(circuits), connectors=chargers,
                                       building_metered=True))


def measure(connectors: int, rounds: int, seed: int) -> list[float]:
    model = site(connectors, seed)
    rng = random.Random(seed)
    demands = {c.key: ConnectorDemand(c.key, True, car_max_a=rng.choice([None, 10.0, 16.0]))
               for c in model.connectors}
    turns: dict = {}
    now, took = T0, []
    for _ in range(rounds):
        now += timedelta(seconds=30)
        load = BuildingLoad({p: rng.uniform(0, model.limit_a * 0.2) for p in PHASES}, now)
        started = time.perf_counter()
        result = allocate(model, demands, load, turns, now)
        took.append((time.perf_counter() - started) * 1000)
        turns = result.turns
    return took


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--connectors", type=int, default=200)
    parser.add_argument("--baseline-connectors", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    for line in machine_lines(sys.argv):
        print(line)
    for size in (args.baseline_connectors, args.connectors):
        took = measure(size, args.rounds, args.seed)
        print(f"{size} connectors, {args.rounds} allocations: p50 {percentile(took, .5):.2f} ms,"
              f" p99 {percentile(took, .99):.2f} ms, max {max(took):.2f} ms")
    target = percentile(measure(args.connectors, args.rounds, args.seed + 1), .99)
    print(f"target ≤ 20 ms p99 at {args.connectors} connectors (second series): "
          f"{target:.2f} ms → {'PASS' if target <= 20 else 'FAIL'}")


if __name__ == "__main__":
    main()
